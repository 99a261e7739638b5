#include "sessions/sessions_layer.h"

#include "sessions/session_reaper.h"
#include "sessions/sessions_impl.h"

namespace statestore {
namespace internal {
namespace {

class SessionsLayer final : public StoreLayer {
 public:
  SessionsLayer(Store& store, SweepTurn sweep_turn) : sessions_(store) {
    const Options& options = store.options();
    if (!options.read_only && options.sessions.sweep_interval.count() > 0) {
      reaper_ =
          std::make_unique<SessionReaper>(&sessions_, options.sessions.sweep_interval,
                                          &store.logger(), store.path(), std::move(sweep_turn));
    }
  }
  ~SessionsLayer() override { stop(); }

  // The reaper first: its sweeps run transactions. Then the listener thread.
  void stop() noexcept override {
    if (reaper_) reaper_->Stop();
    sessions_.Shutdown();
  }
  void abandon_after_fork() noexcept override {
    static_cast<void>(reaper_.release());
    sessions_.AbandonAfterFork();
  }
  void add_stats(Stats& stats) const override { stats.sweep_runs += sessions_.sweep_runs(); }

  SessionsImpl& sessions() { return sessions_; }

 private:
  SessionsImpl sessions_;
  std::unique_ptr<SessionReaper> reaper_;  // null: read-only, or sweep_interval 0
};

}  // namespace

Options SessionsLayerOptions(const Options& options) {
  ValidateSessionOptions(options.sessions);
  return WithSessionRedaction(options);
}

std::unique_ptr<StoreLayer> MakeSessionsLayer(Store& store, SweepTurn sweep_turn) {
  return std::make_unique<SessionsLayer>(store, std::move(sweep_turn));
}

}  // namespace internal

// Every Store that Store::open returns has the layer (store_open.cc attaches it before the Store
// is shared), so the lookup cannot fail.
Sessions& Store::sessions() {
  return static_cast<internal::SessionsLayer*>(find_layer(internal::kSessionsLayerName))
      ->sessions();
}

}  // namespace statestore

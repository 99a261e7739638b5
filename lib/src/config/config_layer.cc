#include "config/config_layer.h"

#include "config/config_impl.h"

namespace statestore {
namespace internal {
namespace {

class ConfigStoreLayer final : public StoreLayer {
 public:
  explicit ConfigStoreLayer(Store& store)
      : config_(
            store, store.options().config, [&store] { return store.change_counter(); },
            &store.logger()) {}

  // Stops and joins the watch threads (they read history and run callbacks).
  void stop() noexcept override { config_.Shutdown(); }

  ConfigImpl& config() { return config_; }

 private:
  ConfigImpl config_;
};

}  // namespace

void CheckConfigLayerOptions(const Options& options) { ValidateConfigOptions(options.config); }

std::unique_ptr<StoreLayer> MakeConfigLayer(Store& store) {
  return std::make_unique<ConfigStoreLayer>(store);
}

}  // namespace internal

// Every Store that Store::open returns has the layer (store_open.cc attaches it before the Store
// is shared), so the lookup cannot fail.
Config& Store::config() {
  return static_cast<internal::ConfigStoreLayer*>(find_layer(internal::kConfigLayerName))->config();
}

}  // namespace statestore

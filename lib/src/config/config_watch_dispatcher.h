// WatchHub — delivers committed config changes to Config::watch subscribers.
//
// Design note. Watches read the durable history; nothing is pushed by writers, so commits of
// other processes are delivered exactly like this process's, and a watch can start at any
// retained revision.
//
//   poller thread   One per hub, started with the first watch. Every watch_poll_interval it loads
//                   the shared change counter (one atomic load; every writer of every process
//                   bumps it after COMMIT) and only when it moved — or every kFullCheckInterval as
//                   a safety net — reads history_bounds().head. A newer head is published as
//                   observed_head_ and all watch threads are woken. Commits made through this
//                   process's Config publish their revision at once (Nudge).
//   watch threads   One per watch. Each waits until observed_head >= its next revision, reads the
//                   history of keyspace "config" in (next, observed_head] in batches, and calls
//                   its callback once per revision with a matching change — or reads nothing
//                   when Store::known_unchanged says this process committed all of them and
//                   none changed config (session churn: no history read). A slow or throwing
//                   callback holds up only its own thread: writers never wait for watches, and
//                   watches never wait for each other. No lock is held during a callback or a
//                   store call.
//
// Invariants:
//   1. A watch thread delivers revisions in increasing order and advances `next` only past
//      revisions it has scanned: each matching change is delivered exactly once.
//   2. observed_head_ only grows, and every revision <= observed_head_ is committed (revisions are
//      handed out in commit order with no gaps), so a scan of (next, observed_head_] is complete
//      unless history was compacted: a scan counts only if the config keyspace's
//      compacted_through < next after it (compaction only advances; other keyspaces' retention
//      removes no config change: history_log.h invariant 1), otherwise the watch gets
//      kCompacted and stops.
//   3. Every thread the hub starts is joined by Shutdown() (or by the Cancel() of its watch),
//      which ~StoreImpl runs before the connection pool and committer are destroyed. A watch
//      cancelled from inside its own callback cannot join itself: its thread is parked in
//      zombies_ and joined once it has exited (next Add) or at Shutdown.
#ifndef STATESTORE_SRC_CONFIG_WATCH_DISPATCHER_H_
#define STATESTORE_SRC_CONFIG_WATCH_DISPATCHER_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "statestore/config.h"
#include "statestore/store.h"
#include "util/mutex.h"

namespace spdlog {
class logger;
}

namespace statestore::internal {

struct HubCore;

class WatchState : public std::enable_shared_from_this<WatchState> {
 public:
  WatchState(std::shared_ptr<HubCore> core, std::string prefix, WatchCallback callback,
             Revision next);

  void Cancel() noexcept;

  const std::shared_ptr<HubCore> core;
  const std::string prefix;
  const WatchCallback callback;
  const Revision first;  // first revision to deliver

  std::atomic<Revision> delivered_through;
  std::atomic<std::uint64_t> failures{0};
  std::atomic<bool> active{true};
  std::atomic<bool> cancelled{false};  // written under core->mu
  std::atomic<bool> exited{false};     // the thread has left its loop
  // Guarded by core->mu, but not annotated: the hub reaches it as w->thread under its own
  // core_->mu, the same mutex under another name, which the analysis cannot tell.
  std::thread thread;
};

// Shared by the hub and every WatchState, so a Watch handle outliving the Store stays safe.
struct HubCore {
  Mutex mu;
  std::condition_variable cv;
  Revision observed_head GUARDED_BY(mu) = 0;
  bool stopping GUARDED_BY(mu) = false;
  std::vector<std::shared_ptr<WatchState>> watches GUARDED_BY(mu);
  std::vector<std::shared_ptr<WatchState>> zombies GUARDED_BY(mu);
};

class WatchHub {
 public:
  struct Source {
    Store* store;
    std::function<std::uint64_t()> change_counter;
    std::string profile;
    std::chrono::milliseconds poll_interval;
    std::size_t batch;
    spdlog::logger* log;
  };
  static constexpr std::chrono::milliseconds kFullCheckInterval{100};

  explicit WatchHub(Source source);
  ~WatchHub();  // Shutdown()
  WatchHub(const WatchHub&) = delete;
  WatchHub& operator=(const WatchHub&) = delete;

  // REQUIRES: `prefix` validated, `callback` non-empty. from == 0: after the current head.
  // Throws: store errors reading the head; kInvalidArgument after Shutdown.
  std::shared_ptr<WatchState> Add(std::string prefix, WatchCallback callback, Revision from);
  // A commit of this process's Config returned `revision`: wake the watches now.
  void Nudge(Revision revision);
  // Stops and joins every thread. Idempotent. Never throws.
  void Shutdown() noexcept;

 private:
  void PollLoop();
  void RunWatch(const std::shared_ptr<WatchState>& w);
  bool ToEvent(const Commit& commit, const std::string& prefix, WatchEvent* event) const;
  void Deliver(WatchState& w, const WatchEvent& event) const;

  const Source src_;
  const std::shared_ptr<HubCore> core_;
  std::thread poller_ GUARDED_BY(core_->mu);
};

}  // namespace statestore::internal

#endif  // STATESTORE_SRC_CONFIG_WATCH_DISPATCHER_H_

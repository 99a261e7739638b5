// SessionEventHub — delivers session lifecycle events (Sessions::listen, session.h) by following
// the history of keyspace "sessions", as WatchHub (config_watch_dispatcher.h) does for config.
//
// Design note. Nothing is pushed by writers: events are derived from the durable history, so
// commits of other processes, and commits made before this process started (as far back as
// history is retained), are delivered exactly like this process's own.
//
//   One thread per hub (so per Store), started with the first listener. It waits until some
//   listener is behind observed_head_, or for SessionOptions::listener_poll_interval; then loads
//   the shared change counter (every writer of every process bumps it after COMMIT) and reads
//   history_bounds().head only when the counter moved, or every kFullCheckInterval as a safety
//   net. This process's Sessions nudge it with their commit's revision (Nudge), so their events
//   need no poll. For each listener behind the head it reads history (next, head] of the
//   keyspace in batches and calls the listener's callback once per event — or reads nothing when
//   Store::known_unchanged says this process committed all of them without a session change.
//
//   What a commit means (ToEvents): only the s/<id> records count (session_keys.h). Per id, the
//   presence before the commit's first change and after its last one: absent -> present is
//   kCreated, present -> absent is kDestroyed, or kExpired when the commit carries the sweep's
//   origin label, or — one disappearing and one appearing id under the rotate label — one
//   kRotated. Values in a redacted keyspace are digests, so the principal is known only from an
//   unredacted record.
//
// Invariants:
//   1. Only the hub thread reads or writes a listener's `next`; it delivers revisions in
//      increasing order and advances `next` only past revisions it has scanned: within one
//      listener's life every event is delivered once. delivered_through advances after every
//      event of a revision was delivered, so resuming from delivered_through + 1 loses nothing.
//   2. observed_head_ only grows, and every revision <= it is committed (revisions are gapless
//      and in commit order), so a scan of (next, head] is complete — unless retention removed
//      part of it: a scan counts only if compacted_through < next after it; otherwise the
//      listener gets kCompacted for [next, compacted_through] and continues after it.
//   3. A callback runs only while its listener is not stopped, with `running` naming it (under
//      mu); Stop() from another thread waits until `running` is not its listener, so no callback
//      runs once Stop() (the handle's destructor) returned. Stop() on the hub thread (from a
//      callback) cannot wait for itself and does not need to: the check before each call sees
//      `stopped`.
//   4. Shutdown() joins the thread; ~StoreImpl runs it before the pool and committer are
//      destroyed. After fork() the child leaks the hub (its thread does not exist there).
#ifndef STATESTORE_SRC_SESSION_EVENTS_H_
#define STATESTORE_SRC_SESSION_EVENTS_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "statestore/session.h"
#include "statestore/store.h"
#include "util/mutex.h"

namespace spdlog {
class logger;
}

namespace statestore::internal {

struct SessionListenerState;

// Shared by the hub and every listener, so a SessionListener outliving its Store stays safe.
struct SessionEventHubCore {
  Mutex mu;
  std::condition_variable wake;  // the hub thread waits on it
  std::condition_variable idle;  // Stop() waits on it for a running callback to return
  Revision observed_head GUARDED_BY(mu) = 0;
  bool nudged GUARDED_BY(mu) = false;
  bool stopping GUARDED_BY(mu) = false;
  std::vector<std::shared_ptr<SessionListenerState>> listeners GUARDED_BY(mu);
  const SessionListenerState* running GUARDED_BY(mu) = nullptr;  // whose callback runs
  std::thread::id thread_id GUARDED_BY(mu);                      // the hub thread
};

struct SessionListenerState : std::enable_shared_from_this<SessionListenerState> {
  SessionListenerState(std::shared_ptr<SessionEventHubCore> core, SessionEventCallback callback,
                       Revision first);
  void Stop() noexcept;

  const std::shared_ptr<SessionEventHubCore> core;
  const SessionEventCallback callback;
  Revision next;  // the next revision to scan; only the hub thread touches it (invariant 1)
  std::atomic<Revision> delivered_through;
  std::atomic<std::uint64_t> failures{0};
  std::atomic<bool> active{true};
  bool stopped GUARDED_BY(core->mu) = false;
};

class SessionEventHub {
 public:
  struct Source {
    Store* store;
    std::function<std::uint64_t()> change_counter;
    std::chrono::milliseconds poll_interval;
    std::size_t batch;  // commits read per history query
    spdlog::logger* log;
  };
  static constexpr std::chrono::milliseconds kFullCheckInterval{100};
  static constexpr std::chrono::milliseconds kRetryInterval{50};  // after a failed history read

  explicit SessionEventHub(Source source);
  ~SessionEventHub();  // Shutdown()
  SessionEventHub(const SessionEventHub&) = delete;
  SessionEventHub& operator=(const SessionEventHub&) = delete;

  // REQUIRES: `callback` non-empty. from == 0: after the current head.
  // Throws: store errors reading the head; kInvalidArgument after Shutdown.
  SessionListener Add(SessionEventCallback callback, Revision from);
  // A commit of this process's Sessions returned `revision`: deliver without waiting for a poll.
  void Nudge(Revision revision) noexcept;
  // Stops and joins the thread. Idempotent. Never throws. (After fork() the child must not call
  // it — the thread and the state of mu are the parent's: SessionsImpl leaks the hub instead.)
  void Shutdown() noexcept;

  // The events one commit means (see the design note), in the order of the commit's changes.
  // Exposed for tests.
  static std::vector<SessionEvent> ToEvents(const Commit& commit);

 private:
  void Run();
  // Polls the change counter / head; returns the head to deliver up to.
  Revision Poll(std::uint64_t* last_counter, std::chrono::steady_clock::time_point* last_check);
  // Delivers what `l` has not seen up to `head`. Returns false if history could not be read.
  bool CatchUp(SessionListenerState& l, Revision head);
  void Deliver(SessionListenerState& l, const SessionEvent& event);

  const Source src_;
  const std::shared_ptr<SessionEventHubCore> core_;
  std::thread thread_ GUARDED_BY(core_->mu);
};

}  // namespace statestore::internal

#endif  // STATESTORE_SRC_SESSION_EVENTS_H_

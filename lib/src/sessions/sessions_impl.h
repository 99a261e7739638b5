// SessionsImpl — statestore::Sessions on top of the Store's public API.
//
// Design note. Sessions holds no state of its own beyond a small in-process set of sessions
// being touched: every operation is a Store::transact (writes) or a cached Store::get /
// Store::read (reads) on keyspace "sessions" (layout and invariants: session_keys.h; record
// format: session_record.h). So every change is durable, in history and coherent in every
// process's read cache exactly as any other write, and two processes can use one session at once.
//
//   * Reads (get, get_attribute, get_many, exists) are one cached Store::get of s/<id>: no SQLite
//     access on a hit. Expiry is decided on the read, with the injected clock, so an expired
//     session is absent before it is swept.
//   * Writes run their read-check-modify-write inside one transact body, which holds the write
//     lock: no update is lost, across threads or processes. The body re-reads the clock on each
//     run (bodies may be re-run).
//   * A touch triggered by a read is its own small transaction that re-checks, under the write
//     lock, that the touch is still due — concurrent readers of one session write it once. Within
//     a process, readers skip a touch another thread is already making (touching_).
//   * Sweeping takes the soonest-expiring entries of the x/ index, at most sweep_batch per
//     transaction; a cheap read peeks first so that an idle reaper never takes the write lock.
//
// Nothing here logs a token or an attribute value; sessions are named by short id.
#ifndef STATESTORE_SRC_SESSIONS_IMPL_H_
#define STATESTORE_SRC_SESSIONS_IMPL_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "sessions/session_events.h"
#include "sessions/session_record.h"
#include "statestore/options.h"
#include "statestore/session.h"
#include "statestore/store.h"
#include "util/mutex.h"

namespace spdlog {
class logger;
}

namespace statestore::internal {

// Throws Error(kInvalidArgument) for SessionOptions that make no sense.
void ValidateSessionOptions(const SessionOptions& options);

// `options` with kSessionsKeyspace added to redacted_keyspaces unless
// options.sessions.record_values_in_history.
Options WithSessionRedaction(const Options& options);

class SessionsImpl final : public Sessions {
 public:
  struct Dependencies {
    Store* store;  // the Store this layer hangs off; outlives this object
    spdlog::logger* log;
  };

  explicit SessionsImpl(Store& store);

  std::string create(std::chrono::microseconds idle_ttl, const Attributes& attributes,
                     std::string_view principal) override;
  std::string create(const NewSession& session) override;
  std::string create(Transaction& tx, const NewSession& session) override;
  std::optional<Session> get(std::string_view token) override;
  bool exists(std::string_view token) override;
  std::optional<Value> get_attribute(std::string_view token, std::string_view name) override;
  std::optional<Attributes> get_many(std::string_view token,
                                     const std::vector<std::string>& names) override;
  bool set_attribute(std::string_view token, std::string_view name, const Value& value) override;
  bool set_many(std::string_view token, const Attributes& values) override;
  bool erase_attribute(std::string_view token, std::string_view name) override;
  using Sessions::update;  // the template overload (session.h)
  bool update(std::string_view token, const std::function<void(Attributes&)>& fn) override;
  bool update_session(std::string_view token, const std::function<void(SessionRef&)>& fn) override;
  bool touch(std::string_view token) override;
  std::optional<std::string> rotate(std::string_view token) override;
  bool destroy(std::string_view token) override;
  std::uint64_t destroy_all(std::string_view principal) override;
  std::vector<SessionInfo> list(std::string_view principal) override;
  std::uint64_t count() override;
  std::uint64_t sweep(std::size_t max_batches) override;
  SessionListener listen(SessionEventCallback callback, Revision from_revision) override;

  // Stops and joins the listener thread; ~StoreImpl calls it before the pool and committer go.
  void Shutdown() noexcept;
  // In a child after fork(): leaks the listener hub (its thread and mutex state are the parent's).
  void AbandonAfterFork() noexcept;
  std::uint64_t sweep_runs() const { return sweep_runs_.load(std::memory_order_relaxed); }

  // The sweep behind sweep() and the reaper: stops early, between batches, once `stop` (may be
  // null) returns true. Throws: as sweep().
  std::uint64_t Sweep(std::size_t max_batches, const std::function<bool()>& stop);

 private:
  std::int64_t NowMicros() const;
  // Whether an access at `now_us` should touch `record` under the touch policy.
  bool TouchDue(const SessionRecord& record, std::int64_t now_us) const;

  // Read path: the live record of a well-formed token, from the read cache. Sets *id.
  std::optional<SessionRecord> ReadLive(std::string_view token, std::string* id);
  // Read path: touches the session if the policy says so (its own transaction); on success
  // replaces *record with the record as written. Failures are logged, not thrown.
  void TouchAfterRead(const std::string& id, SessionRecord* record);
  void WarnTouchFailed(const std::string& id, const char* why);

  // Write path: in one transaction, loads the live session, applies `change`, touches it (always
  // when `force_touch`, else per policy) and writes it back if anything changed. Returns whether
  // the session was live; false for a malformed token (as for an unknown one).
  bool Mutate(std::string_view token,
              const std::function<void(const SessionRecord&, SessionRecord&)>& change,
              bool force_touch);
  std::string CreateIn(Transaction& tx, const NewSession& session);
  // Inside a create's transaction: makes room for one more session of `principal` under
  // SessionOptions::max_sessions_per_principal (evicts, or throws kConflict, per limit_policy).
  void EnforcePrincipalLimit(Transaction& tx, const std::string& principal, std::int64_t now);

  const Dependencies deps_;
  const SessionOptions& options_;

  // Ids of sessions this process is touching after a read right now.
  Mutex touching_mu_;
  std::unordered_set<std::string> touching_ GUARDED_BY(touching_mu_);
  // steady_clock time (µs) of the last "touch failed" warning: at most one per
  // kTouchWarningInterval, so a Store whose writes fail does not log once per read.
  std::atomic<std::int64_t> last_touch_warning_us_{0};  // 0 = never
  std::atomic<std::uint64_t> touch_failures_{0};        // since the last warning
  std::atomic<std::uint64_t> sweep_runs_{0};  // sweeps that removed something (Stats::sweep_runs)

  // Listeners (session_events.h). Null only after AbandonAfterFork.
  std::unique_ptr<SessionEventHub> events_;
  // Tells the listener thread about a commit of ours that created or removed sessions.
  void Nudge(Revision revision) noexcept {
    if (events_) events_->Nudge(revision);
  }
};

}  // namespace statestore::internal

#endif  // STATESTORE_SRC_SESSIONS_IMPL_H_

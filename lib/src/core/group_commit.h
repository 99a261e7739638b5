// GroupCommitter — the single writer of a Store: runs callers' transaction bodies, several at a
// time inside one engine transaction, and commits them with one fsync. Engine-neutral: the
// engine's part is a GroupWriter (core/group_writer.h; SQLite: sqlite/sqlite_group_writer.h).
//
// Design note. Callers queue a Request. The caller at the front of the queue is the leader: it
// takes up to kMaxGroup queued requests, runs them on its own thread through the GroupWriter
// inside one transaction (SQLite: BEGIN IMMEDIATE ... COMMIT), then wakes the others and hands
// leadership to the next queued caller. Bodies first run back to back; only if one throws is the
// group rolled back and re-run with each body inside its own SAVEPOINT (a SAVEPOINT per body costs
// a statement-journal copy of every page the body touches, for the rare body that fails). A caller
// alone in the queue leads at once: a lone writer never waits for a timer or for company. Under
// load the leader waits briefly for the callers its predecessor just answered (WaitForCompany): at
// most a quarter of the last COMMIT's time and 200 us, only when the last group held more callers
// than are queued.
//
// Invariants:
//   1. A caller returns (or throws) only after the engine transaction holding its body has
//      committed — and, in Durability::kFull, after COMMIT's fsync — or has definitely not
//      committed. No caller is ever told "committed" for a body that was rolled back.
//   2. A body that throws leaves no trace and its caller gets its exception; the other bodies
//      of the group commit as if it had not run. (Without SAVEPOINTs its throw rolls back the
//      whole transaction, and the group runs again with one SAVEPOINT per body, in which the
//      thrower rolls back exactly its own.)
//   3. If the engine rolls back the whole transaction (SQLite: SQLITE_FULL, IOERR, NOMEM, BUSY,
//      INTERRUPT can; GroupWriter::InTransaction() turns false), every request of the group is
//      failed or, for a lock conflict within busy_timeout, re-run from scratch — never
//      acknowledged.
//   4. Bodies run one after another, so revisions are handed out in order with no gaps, and
//      each body that wrote gets exactly one revision and one history commit.
//   5. After a failed COMMIT with an I/O error or a full disk the committer is poisoned: every
//      later Submit fails with kIoError until the Store is reopened. After a failed fsync the
//      durable state is unknown, and carrying on could acknowledge writes that are not on disk
//      (the same choice as LevelDB's DBImpl::Write).
//   6. The read cache is published only after COMMIT succeeded (ReadCache invariants 1 and 4).
//   7. Nothing but the group's own work runs between taking a group and handing leadership on:
//      maintenance (SQLite: WAL checkpoints, history retention) runs on the engine's maintenance
//      thread, which request_maintenance only wakes, never on a leader while followers wait.
//   8. Every group runs on the one GroupWriter, whichever thread leads: leaders take turns under
//      mu_, so it is used by one thread at a time (GroupWriter invariant 1), and its caches stay
//      warm (SQLite drops a connection's page cache whenever another connection wrote, so
//      leading on each leader's own connection re-read the touched B-tree pages every group).
//   9. After a COMMIT, Dependencies::local_commits (if any) records the group's revisions with the
//      keyspaces of all its pending writes (local_commit_log.h invariant 1), and nothing else.
//  10. A caller that is not at the front of the queue sleeps on its thread's Waiter, not on mu_:
//      a leader hands over by setting the request's turn (kLeading to the next leader, kDone to
//      each caller of its group, after writing the outcome) under the Waiter's mutex, then
//      notifies it after unlocking — outside mu_, so the callers it wakes contend for no lock.
//      The Waiter is shared (the leader holds a reference while it signals), because a caller
//      returns as soon as it sees kDone and its Request is gone.
#ifndef STATESTORE_SRC_CORE_GROUP_COMMIT_H_
#define STATESTORE_SRC_CORE_GROUP_COMMIT_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/captured_failure.h"
#include "core/engine_transaction.h"
#include "core/group_writer.h"
#include "core/keyspace_directory.h"
#include "core/local_commit_log.h"
#include "core/read_cache.h"
#include "core/store_counters.h"
#include "statestore/error.h"
#include "statestore/history.h"
#include "statestore/options.h"
#include "statestore/transaction.h"
#include "util/mutex.h"

namespace spdlog {
class logger;
}

namespace statestore::internal {

class GroupCommitter {
 public:
  // Bodies get the engine's EngineTransaction; engine-internal callers (revert, retention) know
  // which engine made it and may downcast it.
  using Body = std::function<void(EngineTransaction&)>;

  struct Dependencies {
    GroupWriter* writer;  // outlives the committer
    KeyspaceDirectory* keyspaces;
    ReadCache* cache;
    StoreCounters* counters;
    const Options* options;
    spdlog::logger* log;
    // Called by a leader after its group, every kCommitsPerMaintenance revisions; must only wake
    // another thread (invariant 7). Empty: never called (a read-only Store).
    std::function<void()> request_maintenance;
    // Told of every group that made revisions, with the keyspaces they changed; null: nobody
    // keeps track (local_commit_log.h invariant 1).
    LocalCommitLog* local_commits = nullptr;
  };

  static constexpr std::size_t kMaxGroup = 64;
  // The longest a leader waits for the callers of the last group to queue again.
  static constexpr std::chrono::microseconds kMaxCompanyWait{200};
  // Revisions between two request_maintenance calls (history retention runs one batch then).
  static constexpr std::uint64_t kCommitsPerMaintenance = 64;

  explicit GroupCommitter(Dependencies deps);

  // Runs `body` as one caller transaction; see Store::transact. Throws: what the body threw, or
  // Error (kBusy, kIoError, kFull, ...).
  Revision Submit(const Body& body, Origin origin);

  // Runs `fn` on the calling thread at the front of the queue, between two groups: callers queued
  // behind it wait as they would for a group, so no writer of this process holds the write
  // lock meanwhile. For the maintenance thread's RESTART checkpoint, which would otherwise lose
  // the race for the write lock to a steady stream of groups. Throws: what fn throws.
  void RunBetweenGroups(const std::function<void()>& fn);

 private:
  struct Request;
  struct Waiter;
  // Where a queued request stands (invariant 10).
  enum class Turn { kQueued, kLeading, kDone };

  // Queues `request` and returns once it was run, by this thread as leader or by another's group.
  void Enqueue(Request& request);
  // Invariant 10: the calling thread's Waiter; sets `request`'s turn and wakes its caller; the
  // caller's side, which sleeps until its turn is no longer kQueued and returns it.
  static std::shared_ptr<Waiter> ThisThreadsWaiter();
  static void Signal(Request& request, Turn turn);
  static Turn AwaitTurn(Request& request);
  // Leader, before taking its group: gives the callers the last group answered a moment to queue
  // again (bounded; see the definition). REQUIRES: mu_ held by `lock`.
  void WaitForCompany(MutexLock& lock) REQUIRES(mu_);
  using Failure = CapturedFailure;

  // What running a group's bodies inside one transaction came to.
  struct BodiesRun {
    enum Outcome {
      kAllRan,               // every body ran (some may have rolled back to their SAVEPOINT)
      kRerunWithSavepoints,  // a body threw without SAVEPOINTs: all rolled back, run again
      kRolledBack,           // the group's only body threw: rolled back, its caller has the error
      kBusy,                 // a lock conflict (SQLITE_BUSY): roll back, retry until the deadline
      kFailed,               // the transaction cannot go on (invariant 3): roll back, fail all
    };
    Outcome outcome = kAllRan;
    Revision head_before = 0;    // the head the transaction began on
    Revision head = 0;           // the head after the last body that wrote
    Failure failure;             // kBusy, kFailed: why
    Request* culprit = nullptr;  // the request whose body failed, if one did (keeps its error)
  };
  enum class CommitOutcome { kCommitted, kRetry, kFailed };

  // The leader's work on one group, in order (invariant numbers above):
  //   RunGroup           Begin; RunBodies; CommitAndPublish — retrying on a lock conflict until
  //                      busy_timeout, re-running with savepoints after a throw (invariant 2).
  //   RunBodies          each body on an EngineTransaction from the head read once (invariant 4).
  //   CommitAndPublish   Commit inside the read cache's protocol, then Publish (invariant 6).
  //   FailAll/AbortGroup nothing of the group committed: tell every caller why (invariant 1).
  void RunGroup(const std::vector<Request*>& group);
  BodiesRun RunBodies(const std::vector<Request*>& group, bool use_savepoints);
  CommitOutcome CommitAndPublish(const std::vector<Request*>& group, Revision head_before,
                                 Revision head, std::chrono::steady_clock::time_point deadline);
  void Publish(const std::vector<Request*>& group, const ReadCache::PublishTicket& ticket);
  // After Publish: tells deps_.local_commits which keyspaces revisions (head_before, head] changed.
  void RecordLocally(const std::vector<Request*>& group, Revision head_before,
                     Revision head) noexcept;
  // Every request gets `error` (a failure before any body ran, or of COMMIT itself).
  void FailAll(const std::vector<Request*>& group, const std::exception_ptr& error);
  // The transaction was rolled back because of `cause`: `culprit` keeps its own error, the
  // others get one that says so; counts the rollbacks and poisons on an I/O error (invariant 5).
  void AbortGroup(const std::vector<Request*>& group, const Failure& cause, const Request* culprit);
  // Leader only, after a group committed something: calls request_maintenance every
  // kCommitsPerMaintenance revisions.
  void RequestMaintenance();
  void Poison(const std::string& reason);

  Dependencies deps_;
  Mutex mu_;
  std::deque<Request*> queue_ GUARDED_BY(mu_);
  std::condition_variable company_cv_;    // with mu_: WaitForCompany's wait for callers to queue
  std::string poisoned_ GUARDED_BY(mu_);  // non-empty = poisoned
  // WaitForCompany: the size of the last group taken, and while a leader waits, the queue length
  // that ends its wait (0: nobody waits).
  std::size_t last_group_size_ GUARDED_BY(mu_) = 0;
  std::size_t company_wanted_ GUARDED_BY(mu_) = 0;
  // How long the last COMMIT took, fsync included. Leader only, like writer_: a leader writes it
  // before it takes mu_ to hand leadership on, and the next leader reads it holding mu_.
  std::chrono::nanoseconds last_commit_duration_{0};
  std::uint64_t commits_since_maintenance_ = 0;  // leader only (one leader at a time)
};

}  // namespace statestore::internal

#endif  // STATESTORE_SRC_CORE_GROUP_COMMIT_H_

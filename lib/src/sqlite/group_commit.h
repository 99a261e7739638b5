// GroupCommitter — the single writer of a Store: runs callers' transaction bodies, several at a
// time inside one SQLite transaction, and commits them with one fsync.
//
// Design note. Callers queue a Request. The caller at the front of the queue is the leader: it
// takes up to kMaxGroup queued requests, runs them on its own thread and connection inside one
// BEGIN IMMEDIATE ... COMMIT, then wakes the others and hands leadership to the next queued
// caller. Bodies first run back to back; only if one throws is the group rolled back and re-run
// with each body inside its own SAVEPOINT (a SAVEPOINT per body costs a statement-journal copy
// of every page the body touches, for the rare body that fails). A caller alone in the queue leads
// at once: a lone writer never waits for a timer or for company. Under load the leader waits
// briefly for the callers its predecessor just answered (WaitForCompany): at most a quarter of
// the last COMMIT's time and 200 us, only when the last group held more callers than are queued.
//
// Invariants:
//   1. A caller returns (or throws) only after the SQLite transaction holding its body has
//      committed — and, in Durability::kFull, after COMMIT's fsync — or has definitely not
//      committed. No caller is ever told "committed" for a body that was rolled back.
//   2. A body that throws leaves no trace and its caller gets its exception; the other bodies
//      of the group commit as if it had not run. (Without SAVEPOINTs its throw rolls back the
//      whole transaction, and the group runs again with one SAVEPOINT per body, in which the
//      thrower rolls back exactly its own.)
//   3. If SQLite rolls back the whole transaction (SQLITE_FULL, IOERR, NOMEM, BUSY, INTERRUPT
//      can do that: sqlite3_get_autocommit() turns 1), every request of the group is failed or,
//      for BUSY within busy_timeout, re-run from scratch — never acknowledged.
//   4. Bodies run one after another, so revisions are handed out in order with no gaps, and
//      each body that wrote gets exactly one revision and one history commit.
//   5. After a failed COMMIT with an I/O error or a full disk the committer is poisoned: every
//      later Submit fails with kIoError until the Store is reopened. After a failed fsync the
//      durable state is unknown, and carrying on could acknowledge writes that are not on disk
//      (the same choice as LevelDB's DBImpl::Write).
//   6. The read cache is published only after COMMIT succeeded (ReadCache invariants 1 and 4).
//   7. Nothing but the group's own work runs between taking a group and handing leadership on:
//      WAL checkpoints and history retention run on the BackgroundMaintenance thread, never on a
//      leader while followers wait.
//   8. Every group runs on one writer connection owned by the committer, whichever thread
//      leads: leaders take turns under mu_, so it is used by one thread at a time, and its page
//      cache stays warm (a connection's cache is dropped whenever another connection wrote, so
//      leading on each leader's own connection re-read the touched B-tree pages every group).
#ifndef STATESTORE_SRC_GROUP_COMMIT_H_
#define STATESTORE_SRC_GROUP_COMMIT_H_

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

#include "core/keyspace_directory.h"
#include "core/read_cache.h"
#include "core/redaction_key.h"
#include "core/store_counters.h"
#include "sqlite/connection_pool.h"
#include "sqlite/sql_transaction.h"
#include "statestore/error.h"
#include "statestore/history.h"
#include "statestore/options.h"
#include "statestore/transaction.h"
#include "util/mutex.h"

namespace spdlog {
class logger;
}

namespace statestore::internal {

class BackgroundMaintenance;
class DamagedRowReporter;
struct RetentionResult;  // history_log.h
class TransactionImpl;

class GroupCommitter {
 public:
  // Bodies get the TransactionImpl so internal callers (revert) can reach its connection.
  using Body = std::function<void(TransactionImpl&)>;

  struct Dependencies {
    ConnectionPool* pool;
    KeyspaceDirectory* keyspaces;
    ReadCache* cache;
    StoreCounters* counters;
    const Options* options;
    spdlog::logger* log;
    std::string wal_path;
    BackgroundMaintenance* maintenance;  // null for a read-only Store
    DamagedRowReporter* damaged_rows;    // told of rows a body's list() skipped
    const RedactionKey* redaction_key;   // digests of redacted history; outlives the committer
  };

  static constexpr std::size_t kMaxGroup = 64;
  // The longest a leader waits for the callers of the last group to queue again.
  static constexpr std::chrono::microseconds kMaxCompanyWait{200};
  // History retention runs one batch after this many commits (and on demand).
  static constexpr std::uint64_t kCommitsPerRetentionBatch = 64;
  static constexpr std::uint64_t kRevisionsPerRetentionBatch = 256;

  explicit GroupCommitter(Dependencies deps);

  // Runs `body` as one caller transaction; see Store::transact. Throws: what the body threw, or
  // Error (kBusy, kIoError, kFull, ...).
  Revision Submit(const Body& body, Origin origin);

  // Runs `fn` on the calling thread at the front of the queue, between two groups: callers queued
  // behind it wait as they would for a group, so no writer of this process holds SQLite's write
  // lock meanwhile. For the maintenance thread's RESTART checkpoint, which would otherwise lose
  // the race for the write lock to a steady stream of groups. Throws: what fn throws.
  void RunBetweenGroups(const std::function<void()>& fn);

  // Runs history retention to completion, batch by batch, through the queue. Returns revisions
  // removed entirely by these batches (history_log.h RetentionResult).
  std::uint64_t CompactHistory();
  // Runs one retention batch (at most kRevisionsPerRetentionBatch revisions of each keyspace)
  // through the queue.
  RetentionResult RetentionBatch();

  // In a fork()ed child releasing an inherited Store: leaks the writer connection instead of
  // closing it (SQLite connections must not be used, closed included, across fork).
  void Abandon() { LeakAfterFork(std::move(writer_)); }

 private:
  struct Request;

  // Queues `request` and returns once it was run, by this thread as leader or by another's group.
  void Enqueue(Request& request);
  // Leader, before taking its group: gives the callers the last group answered a moment to queue
  // again (bounded; see the definition). REQUIRES: mu_ held by `lock`.
  void WaitForCompany(MutexLock& lock) REQUIRES(mu_);
  // An exception caught inside a group, kept as a value: what its caller will get, and what
  // the group decides by (retry on SQLITE_BUSY, poison on I/O error) without rethrowing it.
  struct Failure {
    std::exception_ptr exception;
    ErrorCode code = ErrorCode::kInternal;  // kInternal: not a statestore::Error
    int sqlite_code = 0;
    std::string what = "unknown error";
    bool sqlite_busy() const { return code == ErrorCode::kBusy && sqlite_code != 0; }
    bool poisons() const { return code == ErrorCode::kIoError || code == ErrorCode::kFull; }
    static Failure Unknown();  // inside a catch (...)
  };
  // Runs `f`; returns what it threw, if anything.
  template <typename F>
  static std::optional<Failure> Capture(F&& f);

  // What running a group's bodies inside one transaction came to.
  struct BodiesRun {
    enum Outcome {
      kAllRan,               // every body ran (some may have rolled back to their SAVEPOINT)
      kRerunWithSavepoints,  // a body threw without SAVEPOINTs: all rolled back, run again
      kRolledBack,           // the group's only body threw: rolled back, its caller has the error
      kBusy,                 // a statement got SQLITE_BUSY: roll back, retry until the deadline
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
  //   RunGroup           BEGIN IMMEDIATE; RunBodies; CommitAndPublish — retrying on BUSY until
  //                      busy_timeout, re-running with SAVEPOINTs after a throw (invariant 2).
  //   RunBodies          each body on a TransactionImpl from the head read once (invariant 4).
  //   CommitAndPublish   COMMIT inside the read cache's protocol, then Publish (invariant 6).
  //   FailAll/AbortGroup nothing of the group committed: tell every caller why (invariant 1).
  void RunGroup(const std::vector<Request*>& group);
  void OpenWriter();
  BodiesRun RunBodies(Connection& c, const std::vector<Request*>& group, bool use_savepoints);
  CommitOutcome CommitAndPublish(WriteTransaction& tx, const std::vector<Request*>& group,
                                 Revision head_before, Revision head,
                                 std::chrono::steady_clock::time_point deadline);
  void Publish(const std::vector<Request*>& group, const ReadCache::PublishTicket& ticket);
  // Every request gets `error` (a failure before any body ran, or of COMMIT itself).
  void FailAll(const std::vector<Request*>& group, const std::exception_ptr& error);
  // The transaction was rolled back because of `cause`: `culprit` keeps its own error, the
  // others get one that says so; counts the rollbacks and poisons on an I/O error (invariant 5).
  void AbortGroup(const std::vector<Request*>& group, const Failure& cause, const Request* culprit);
  // The kBusy error of a BEGIN IMMEDIATE that waited busy_timeout.
  std::exception_ptr LockTimeout(const Connection& c, const Failure& busy) const;
  // Leader only, after a group committed something: asks the maintenance thread for a
  // retention batch every kCommitsPerRetentionBatch commits.
  void RequestMaintenance();
  // Whether a retention batch has anything to do, read without the write lock.
  bool RetentionDueNow();
  void Poison(const std::string& reason);

  Dependencies deps_;
  Mutex mu_;
  std::deque<Request*> queue_ GUARDED_BY(mu_);
  std::string poisoned_ GUARDED_BY(mu_);  // non-empty = poisoned
  // WaitForCompany: the size of the last group taken, and while a leader waits, the queue length
  // that ends its wait (0: nobody waits).
  std::size_t last_group_size_ GUARDED_BY(mu_) = 0;
  std::size_t company_wanted_ GUARDED_BY(mu_) = 0;
  // How long the last COMMIT took, fsync included. Leader only, like writer_: a leader writes it
  // before it takes mu_ to hand leadership on, and the next leader reads it holding mu_.
  std::chrono::nanoseconds last_commit_duration_{0};
  std::uint64_t commits_since_retention_ = 0;  // leader only (one leader at a time)
  std::unique_ptr<Connection> writer_;         // leader only; opened by the first group
};

}  // namespace statestore::internal

#endif  // STATESTORE_SRC_GROUP_COMMIT_H_

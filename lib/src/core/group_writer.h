// GroupWriter — what an engine provides the group committer (core/group_commit.h): one writer
// connection that runs a group of callers' bodies inside one engine transaction, with a
// savepoint per body when one of them may fail alone, and commits them together.
//
// The committer owns the protocol — the queue, leadership, revision hand-out, retries, the read
// cache publication, poisoning — and calls these in this order per attempt:
//   Open; Begin; ReadWriteStart; per body: [Savepoint;] NewTransaction … Finish
//   [; ReleaseSavepoint | RollbackToSavepoint]; then Commit, or Rollback; AfterGroup.
//
// Invariants (each engine keeps them; the SQLite engine's is SqliteGroupWriter):
//   1. Used by one thread at a time (the leader); the committer serializes its calls.
//   2. Begin() returns holding the engine's write lock, so revisions read by ReadWriteStart stay
//      the head until Commit; Commit() either commits durably (as Options::durability promises)
//      or throws with nothing committed — an engine that cannot tell must say so (its own error
//      code), never report success.
//   3. InTransaction() turns false when the engine rolled back the whole transaction by itself
//      (a full disk, an I/O error): the committer then fails every body of the group.
//   4. Rollback() never throws and leaves the writer outside any transaction.
#ifndef STATESTORE_SRC_CORE_GROUP_WRITER_H_
#define STATESTORE_SRC_CORE_GROUP_WRITER_H_

#include <cstdint>
#include <exception>
#include <memory>
#include <string>

#include "core/captured_failure.h"
#include "core/engine_transaction.h"
#include "statestore/history.h"
#include "statestore/revision.h"

namespace statestore::internal {

class ChangeFeed;  // core/read_cache.h

class GroupWriter {
 public:
  // Where a group's revisions and commit times start (EngineTransaction invariants 1 and 3).
  struct WriteStart {
    Revision head = 0;
    std::int64_t last_commit_time_us = 0;  // 0: no commit yet
  };

  virtual ~GroupWriter() = default;

  // Opens the writer's connection if it is not open yet. Throws: Error.
  virtual void Open() = 0;
  // Begins the group's transaction holding the write lock (invariant 2). Throws: Error; one for
  // which IsLockConflict() holds when the lock could not be had within Options::busy_timeout.
  virtual void Begin() = 0;
  // REQUIRES: inside the transaction. Throws: Error.
  virtual WriteStart ReadWriteStart() = 0;
  // A transaction for one body, on the writer's transaction (or the current savepoint).
  virtual std::unique_ptr<EngineTransaction> NewTransaction(const Origin& origin) = 0;
  virtual void Savepoint() = 0;
  virtual void ReleaseSavepoint() = 0;
  // Undoes the body since Savepoint() and ends the savepoint.
  virtual void RollbackToSavepoint() = 0;
  virtual bool InTransaction() const = 0;  // invariant 3
  // Reads history inside the writer's transaction: the read cache catches up through it before
  // COMMIT (read_cache.h invariant 4).
  virtual ChangeFeed& WriterFeed() = 0;
  // Throws: Error; the transaction may still be open then (Rollback() ends it).
  virtual void Commit() = 0;
  virtual void Rollback() noexcept = 0;  // invariant 4
  // After every group, committed or not: checks the writer is idle (debug builds).
  virtual void AfterGroup() noexcept = 0;

  // Whether `failure` is a conflict on the engine's write lock that a retry may get past
  // (SQLite: SQLITE_BUSY from a statement), as opposed to a body that threw kBusy itself.
  virtual bool IsLockConflict(const CapturedFailure& failure) const = 0;
  // The error callers get when Begin() could not get the write lock within busy_timeout.
  virtual std::exception_ptr LockTimeout(const CapturedFailure& conflict) const = 0;
  // Names the store in log lines (the SQLite engine: the WAL's path).
  virtual const std::string& name() const = 0;
  // In a fork()ed child releasing an inherited Store: leaks the connection instead of closing it.
  virtual void Abandon() noexcept = 0;
};

}  // namespace statestore::internal

#endif  // STATESTORE_SRC_CORE_GROUP_WRITER_H_

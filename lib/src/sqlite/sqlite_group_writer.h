// SqliteGroupWriter — the SQLite engine's GroupWriter (core/group_writer.h): one unpooled writer
// connection, BEGIN IMMEDIATE per group, a SAVEPOINT per body when bodies may fail alone, and
// TransactionImpl for the bodies.
//
// Invariants (beyond GroupWriter's):
//   1. The connection is opened by the first group and used by the leader only (GroupWriter
//      invariant 1), so its page cache stays warm across groups (group_commit.h invariant 8).
//   2. Before BEGIN IMMEDIATE it yields to another process waiting for the write lock (bounded;
//      writer_turns.h), and announces its own wait while BEGIN blocks.
//   3. Only this writer makes the EngineTransactions of its groups, always TransactionImpls:
//      SQLite-internal bodies (revert, retention, free-space steps) may downcast (AsSqlite).
#ifndef STATESTORE_SRC_SQLITE_SQLITE_GROUP_WRITER_H_
#define STATESTORE_SRC_SQLITE_SQLITE_GROUP_WRITER_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/group_writer.h"
#include "core/keyspace_directory.h"
#include "core/redaction_key.h"
#include "sqlite/connection.h"
#include "sqlite/connection_pool.h"
#include "sqlite/history_change_feed.h"
#include "sqlite/sql_transaction.h"
#include "sqlite/transaction_impl.h"
#include "statestore/lease.h"
#include "statestore/options.h"

namespace statestore::internal {

class SqliteGroupWriter final : public GroupWriter {
 public:
  struct Dependencies {
    ConnectionPool* pool;
    KeyspaceDirectory* keyspaces;
    const Options* options;
    std::string wal_path;
    DamagedRowReporter* damaged_rows;   // told of rows a body's list() skipped
    const RedactionKey* redaction_key;  // digests of redacted history; outlives the writer
  };

  explicit SqliteGroupWriter(Dependencies deps) : deps_(std::move(deps)) {}

  void Open() override;
  void Begin() override;
  WriteStart ReadWriteStart() override;
  std::unique_ptr<EngineTransaction> NewTransaction(const Origin& origin) override;
  void Savepoint() override { writer_->Run("SAVEPOINT request"); }
  void ReleaseSavepoint() override { writer_->Run("RELEASE request"); }
  void RollbackToSavepoint() override;
  bool InTransaction() const override { return writer_->InTransaction(); }
  ChangeFeed& WriterFeed() override { return *writer_feed_; }
  void Commit() override;
  void Rollback() noexcept override { tx_.reset(); }
  void AfterGroup() noexcept override;
  bool IsLockConflict(const CapturedFailure& failure) const override;
  std::exception_ptr LockTimeout(const CapturedFailure& conflict) const override;
  const std::string& name() const override { return deps_.wal_path; }
  void Abandon() noexcept override;

 private:
  Dependencies deps_;
  std::unique_ptr<Connection> writer_;  // invariant 1
  LeaseId lease_id_floor_ = 0;          // TransactionImpl::lease_id_floor_
  std::optional<HistoryChangeFeed> writer_feed_;
  // A unique_ptr, not an optional: Abandon() must be able to forget it without rolling back.
  std::unique_ptr<WriteTransaction> tx_;
};

// The TransactionImpl behind an EngineTransaction of a SQLite group (invariant 3).
inline TransactionImpl& AsSqlite(EngineTransaction& tx) {
  return static_cast<TransactionImpl&>(tx);
}

}  // namespace statestore::internal

#endif  // STATESTORE_SRC_SQLITE_SQLITE_GROUP_WRITER_H_

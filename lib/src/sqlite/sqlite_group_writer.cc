#include "sqlite/sqlite_group_writer.h"

#include <string>
#include <utility>

#include "sqlite/schema_sql.h"
#include "sqlite/sqlite_error.h"
#include "statestore/error.h"

namespace statestore::internal {

void SqliteGroupWriter::Open() {
  if (writer_ != nullptr) return;
  std::unique_ptr<Connection> c = deps_.pool->OpenUnpooled();
  c->set_announces_lock_waits(true);  // invariant 2
  writer_feed_.emplace(c.get());
  writer_ = std::move(c);
}

void SqliteGroupWriter::Begin() {
  tx_.reset();
  writer_->YieldToWaitingWriters();  // invariant 2
  struct EndWait {
    Connection& c;
    ~EndWait() { c.EndLockWait(); }
  } end_wait{*writer_};
  tx_ = std::make_unique<WriteTransaction>(*writer_);
}

GroupWriter::WriteStart SqliteGroupWriter::ReadWriteStart() {
  return CallSqlite("cannot read head revision", [&] {
    StatementUse q(*writer_, sql::kSelectWriteStart);
    q->executeStep();
    if (q->isColumnNull(0)) {
      throw Error(ErrorCode::kCorruption, "meta row 'head_revision' is missing");
    }
    return WriteStart{static_cast<Revision>(q->getColumn(0).getInt64()),
                      q->isColumnNull(1) ? std::int64_t{0} : q->getColumn(1).getInt64()};
  });
}

std::unique_ptr<EngineTransaction> SqliteGroupWriter::NewTransaction(const Origin& origin) {
  return std::make_unique<TransactionImpl>(*writer_, *deps_.keyspaces, /*read_only=*/false, origin,
                                           deps_.options->redacted_keyspaces, deps_.damaged_rows,
                                           deps_.redaction_key, &lease_id_floor_);
}

void SqliteGroupWriter::RollbackToSavepoint() {
  writer_->Run("ROLLBACK TO request");
  writer_->Run("RELEASE request");
}

void SqliteGroupWriter::Commit() {
  tx_->Commit();  // on a throw tx_ stays set: Rollback() (or the next Begin) ends it
  tx_.reset();
}

void SqliteGroupWriter::AfterGroup() noexcept {
  tx_.reset();
  if (writer_ != nullptr) writer_->AssertIdle();
}

bool SqliteGroupWriter::IsLockConflict(const CapturedFailure& failure) const {
  // SQLITE_BUSY from a statement; a body that threw Error(kBusy) itself has no SQLite code.
  return failure.code == ErrorCode::kBusy && failure.engine_code != 0;
}

std::exception_ptr SqliteGroupWriter::LockTimeout(const CapturedFailure& conflict) const {
  return std::make_exception_ptr(
      Error(ErrorCode::kBusy,
            "could not get the write lock on " + writer_->path() + " within " +
                std::to_string(deps_.options->busy_timeout.count()) +
                " ms: another connection held it (raise Options::busy_timeout or shorten its "
                "transactions)",
            conflict.engine_code));
}

void SqliteGroupWriter::Abandon() noexcept {
  // SQLite connections must not be used, closed included, across fork: leak the connection and
  // any transaction open on it (never roll back in the child).
  static_cast<void>(tx_.release());
  writer_feed_.reset();
  LeakAfterFork(std::move(writer_));
}

}  // namespace statestore::internal

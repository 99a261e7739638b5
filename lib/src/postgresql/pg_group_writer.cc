#include "postgresql/pg_group_writer.h"

#include <libpq-fe.h>

#include <cstring>
#include <thread>

#include "postgresql/pg_sql.h"
#include "postgresql/pg_transaction.h"
#include "statestore/error.h"

namespace statestore::internal {

void PgGroupWriter::Reconnect() {
  connection_.reset();
  deps_.listener->SetWriterBackend(0);
  connection_ =
      PgConnection::Connect(deps_.conninfo, deps_.session_sql, deps_.options->busy_timeout);
  deps_.listener->SetWriterBackend(connection_->backend_pid());
}

void PgGroupWriter::Open() {
  if (!connection_ || connection_->broken()) Reconnect();
}

void PgGroupWriter::Begin() {
  for (int attempt = 0;; ++attempt) {
    Open();
    try {
      BeginOnce();
      return;
    } catch (const Error&) {
      // A connection that idled across a server restart is found broken only when used: connect
      // again (waiting up to busy_timeout for the server) and begin once more.
      if (attempt > 0 || !connection_ || !connection_->broken()) throw;
      connection_.reset();
    }
  }
}

void PgGroupWriter::BeginOnce() {
  connection_->ExecScript("cannot begin write transaction", "BEGIN");
  // The write lock (design note), the newest commit's time, our transaction id; and the NOTIFY
  // that every listener gets if (and when) this transaction commits.
  PgResult r = connection_->Exec("cannot take the write lock", pgsql::kLockHead);
  if (r.rows() != 1) throw Error(ErrorCode::kCorruption, "meta row 'head_revision' is missing");
  start_.head = static_cast<Revision>(r.Int(0, 0));
  start_.last_commit_time_us = r.IsNull(0, 1) ? 0 : r.Int(0, 1);
  xid_ = r.Text(0, 2);
  connection_->Exec("cannot queue the commit notification", pgsql::kNotify,
                    PgParams().Text(deps_.channel).Text(""));
}

std::unique_ptr<EngineTransaction> PgGroupWriter::NewTransaction(const Origin& origin) {
  return std::make_unique<PgTransaction>(*connection_, *deps_.keyspaces, /*read_only=*/false,
                                         origin, deps_.options->redacted_keyspaces,
                                         deps_.damaged_rows, deps_.redaction_key);
}

void PgGroupWriter::Savepoint() {
  connection_->ExecScript("cannot begin savepoint", "SAVEPOINT body");
}

void PgGroupWriter::ReleaseSavepoint() {
  connection_->ExecScript("cannot release savepoint", "RELEASE SAVEPOINT body");
}

void PgGroupWriter::RollbackToSavepoint() {
  connection_->DiscardQueued();  // the body's queued writes: undone by the rollback anyway
  connection_->ExecScript("cannot roll back savepoint",
                          "ROLLBACK TO SAVEPOINT body; RELEASE SAVEPOINT body");
}

bool PgGroupWriter::InTransaction() const {
  if (!connection_ || connection_->broken()) return false;
  // ACTIVE: statements of a body that threw are still queued (PgConnection::Queue).
  const PGTransactionStatusType s = PQtransactionStatus(connection_->handle());
  return s == PQTRANS_INTRANS || (s == PQTRANS_ACTIVE && connection_->queued() > 0);
}

void PgGroupWriter::Commit() {
  connection_->Drain();  // empty after every Finish; before COMMIT is sent either way
  if (!InTransaction()) {
    throw Error(ErrorCode::kInternal, "commit of a transaction that is not open or failed",
                kAfterCommitSent);
  }
  PGresult* r = PQexec(connection_->handle(), "COMMIT");
  const bool answered = r != nullptr && PQresultStatus(r) == PGRES_COMMAND_OK;
  // A COMMIT of a transaction the server already aborted answers "ROLLBACK", not an error.
  const bool committed = answered && std::strcmp(PQcmdStatus(r), "COMMIT") == 0;
  std::string message = r ? PQresultErrorMessage(r) : "";
  const char* state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  const std::string sqlstate = state ? state : "";
  if (r) PQclear(r);
  if (committed) return;
  if (answered) {
    throw Error(ErrorCode::kInternal, "COMMIT answered ROLLBACK: the transaction had failed",
                kAfterCommitSent);
  }
  if (!connection_->broken() && !IsConnectionFailure(PackSqlState(sqlstate))) {
    // The server refused the COMMIT (a deferred constraint, say): definitely not committed.
    throw Error(ErrorCode::kInternal, "COMMIT failed: " + message + " (SQLSTATE " + sqlstate + ")",
                kAfterCommitSent);
  }
  if (message.empty()) message = PQerrorMessage(connection_->handle());
  while (!message.empty() && message.back() == '\n') message.pop_back();
  ResolveLostCommit(message);
}

void PgGroupWriter::ResolveLostCommit(const std::string& why) {
  connection_.reset();
  const auto deadline = std::chrono::steady_clock::now() + deps_.options->busy_timeout;
  std::string last = why;
  while (std::chrono::steady_clock::now() < deadline) {
    try {
      Reconnect();
      PgResult r = connection_->Exec("cannot ask for the transaction's status", pgsql::kXactStatus,
                                     PgParams().Text(xid_));
      const std::string status = r.IsNull(0, 0) ? "" : r.Text(0, 0);
      if (status == "committed") return;  // the answer was lost, not the commit
      if (status == "aborted") {
        throw Error(ErrorCode::kUnavailable,
                    "connection to PostgreSQL lost during COMMIT (" + why +
                        "); the server reports the transaction rolled back: nothing committed",
                    kAfterCommitSent);
      }
      last = "the server reports transaction " + xid_ + " as '" + status + "'";
      if (status != "in progress") break;
    } catch (const Error& e) {
      if (e.sqlite_code() == kAfterCommitSent) throw;
      last = e.what();
      connection_.reset();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  throw Error(ErrorCode::kCommitUnknown,
              "connection to PostgreSQL lost after COMMIT was sent (" + why +
                  ") and its outcome could not be learned within busy_timeout (" + last +
                  "): the transaction may or may not have committed",
              kAfterCommitSent);
}

void PgGroupWriter::Rollback() noexcept {
  if (!connection_) return;
  connection_->DiscardQueued();
  if (connection_->broken()) {
    connection_.reset();
    return;
  }
  if (PQtransactionStatus(connection_->handle()) == PQTRANS_IDLE) return;
  try {
    connection_->ExecScript("cannot roll back", "ROLLBACK");
  } catch (...) {
    connection_.reset();
  }
}

bool PgGroupWriter::IsLockConflict(const CapturedFailure& failure) const {
  if (failure.engine_code == kAfterCommitSent) return false;
  if (failure.code == ErrorCode::kBusy) {
    return IsSerializationFailure(failure.engine_code) || IsLockNotAvailable(failure.engine_code) ||
           failure.engine_code == PackSqlState("57014");
  }
  // The connection broke before COMMIT was sent: nothing committed, re-run on a new one.
  return failure.code == ErrorCode::kUnavailable && (!connection_ || connection_->broken());
}

std::exception_ptr PgGroupWriter::LockTimeout(const CapturedFailure& conflict) const {
  if (conflict.code == ErrorCode::kUnavailable) return conflict.exception;
  return std::make_exception_ptr(
      Error(ErrorCode::kBusy,
            "write lock on " + deps_.name + " not acquired within busy_timeout (" +
                std::to_string(deps_.options->busy_timeout.count()) + " ms): " + conflict.what,
            conflict.engine_code));
}

void PgGroupWriter::Abandon() noexcept {
  if (connection_) {
    connection_->Abandon();
    connection_.release();
  }
}

}  // namespace statestore::internal

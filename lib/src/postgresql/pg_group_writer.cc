#include "postgresql/pg_group_writer.h"

#include <libpq-fe.h>
#include <sodium.h>

#include <charconv>
#include <limits>
#include <optional>

#include <cstring>
#include <thread>

#include "postgresql/pg_sql.h"
#include "postgresql/pg_transaction.h"
#include "statestore/error.h"

namespace statestore::internal {

namespace {

// A random, non-zero 63-bit token (a commit row's writer_token).
std::int64_t RandomToken() {
  std::int64_t token = 0;
  while (token == 0) {
    randombytes_buf(&token, sizeof token);
    token &= std::numeric_limits<std::int64_t>::max();
  }
  return token;
}

}  // namespace

PgGroupWriter::PgGroupWriter(Dependencies deps) : deps_(std::move(deps)), feed_(&connection_) {
  // Once here, not per group: randombytes_buf (RandomToken) needs it.
  if (sodium_init() < 0) throw Error(ErrorCode::kInternal, "libsodium failed to initialize");
}

void PgGroupWriter::Reconnect() {
  connection_.reset();
  deps_.listener->SetWriterBackend(0);
  connection_ =
      PgConnection::Connect(deps_.conninfo, deps_.session_sql, deps_.options->busy_timeout);
  deps_.listener->SetWriterBackend(connection_->backend_pid());
  // A connection lost may mean commits lost by the server (ReadCache::Forget); the bodies of the
  // next group must not read a cache that saw them, even before the listener reconnects.
  if (connected_before_ && deps_.cache != nullptr) deps_.cache->Forget();
  connected_before_ = true;
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
  // BEGIN, the write lock (design note) and what the group starts from, in one round trip.
  connection_->Queue("cannot begin write transaction", "BEGIN", PgParams());
  connection_->Queue("cannot take the write lock", pgsql::kLockHead,
                     PgParams().Text(deps_.channel));
  PgResult r = connection_->Exec("cannot read the head revision", pgsql::kWriteStart);
  writer_token_ = RandomToken();
  group_last_ = 0;
  group_unversioned_writes_ = false;
  if (r.rows() != 1 || r.IsNull(0, 0)) {
    throw Error(ErrorCode::kCorruption, "meta row 'head_revision' is missing");
  }
  start_.head = static_cast<Revision>(r.Int(0, 0));
  start_.last_commit_time_us = r.IsNull(0, 1) ? 0 : r.Int(0, 1);
  earliest_lease_deadline_ = r.IsNull(0, 2) ? INT64_MAX : r.Int(0, 2);
  bounded_keyspaces_.clear();
  if (!r.IsNull(0, 3)) {
    const std::string ids = r.Text(0, 3);
    for (std::size_t at = 0; at < ids.size();) {
      std::int64_t id = 0;
      const auto [end, error] = std::from_chars(ids.data() + at, ids.data() + ids.size(), id);
      if (error != std::errc()) {
        throw Error(ErrorCode::kCorruption, "keyspace_bounds holds an id that is not a number");
      }
      bounded_keyspaces_.push_back(id);
      at = static_cast<std::size_t>(end - ids.data()) + 1;  // past the comma
    }
  }
  // The bodies may read through the cache once it has caught up with every commit up to the
  // head just locked (PgCommitGroup); usually it already has (this process wrote the head).
  group_written_.clear();
  cache_coherent_ = false;
  if (deps_.cache != nullptr && deps_.cache->enabled()) {
    deps_.cache->ObserveHead(start_.head, nullptr);
    cache_coherent_ = deps_.cache->coherent_head() == start_.head;
  }
}

std::unique_ptr<EngineTransaction> PgGroupWriter::NewTransaction(const Origin& origin) {
  return std::make_unique<PgTransaction>(
      *connection_, *deps_.keyspaces, /*read_only=*/false, origin,
      deps_.options->redacted_keyspaces, deps_.damaged_rows, deps_.redaction_key,
      PgTransaction::Group{writer_token_, &group_last_, cache_coherent_ ? deps_.cache : nullptr,
                           &group_written_, &earliest_lease_deadline_, &group_unversioned_writes_,
                           &bounded_keyspaces_});
}

void PgGroupWriter::Savepoint() {
  before_savepoint_ = group_last_;
  connection_->ExecScript("cannot begin savepoint", "SAVEPOINT body");
}

void PgGroupWriter::ReleaseSavepoint() {
  connection_->ExecScript("cannot release savepoint", "RELEASE SAVEPOINT body");
}

void PgGroupWriter::RollbackToSavepoint() {
  group_last_ = before_savepoint_;  // the body's commit row is undone with it
  connection_->DiscardQueued();     // the body's queued writes: undone by the rollback anyway
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
  if (!InTransaction()) {
    throw Error(ErrorCode::kInternal, "commit of a transaction that is not open or failed",
                kAfterCommitSent);
  }
  // What the bodies queued (PgTransaction invariant 7) and COMMIT, in one round trip. When a
  // queued statement fails, the server skips the rest of the pipeline, COMMIT included: the
  // group fails as one, or is re-run for a lock or serialization conflict (IsLockConflict). Only
  // a lost connection leaves the outcome open.
  std::optional<PgResult> r;
  try {
    r.emplace(connection_->Exec("cannot commit", "COMMIT"));
  } catch (const Error& e) {
    if (!connection_->broken() && !IsConnectionFailure(e.sqlite_code())) throw;
    std::string message = e.what();
    ResolveLostCommit(message);
    return;
  }
  // A COMMIT of a transaction the server already aborted answers "ROLLBACK", not an error.
  if (std::strcmp(r->command_status(), "COMMIT") != 0) {
    throw Error(ErrorCode::kInternal, "COMMIT answered ROLLBACK: the transaction had failed",
                kAfterCommitSent);
  }
}

void PgGroupWriter::ResolveLostCommit(const std::string& why) {
  connection_.reset();
  if (group_last_ == 0) {
    // Without a revision there is no commit row to look for. Nothing changed, unless a body
    // granted or renewed a lease (they use no revision): whether that committed cannot be told.
    if (!group_unversioned_writes_) return;
    throw Error(ErrorCode::kCommitUnknown,
                "connection to PostgreSQL lost after COMMIT was sent (" + why +
                    "): a lease grant or keep-alive may or may not have committed (it uses no "
                    "revision, so there is no commit row to tell); look the lease up",
                kAfterCommitSent);
  }
  const auto deadline = std::chrono::steady_clock::now() + deps_.options->busy_timeout;
  std::string last = why;
  while (std::chrono::steady_clock::now() < deadline) {
    try {
      Reconnect();
      connection_->Queue("cannot begin", "BEGIN", PgParams());
      connection_->Queue("cannot take the write lock", pgsql::kLockWait, PgParams());
      PgResult r = connection_->Exec("cannot read the commit row", pgsql::kHeadAndToken,
                                     PgParams().Int(static_cast<std::int64_t>(group_last_)));
      const auto head = static_cast<Revision>(r.Int(0, 0));
      const std::optional<std::int64_t> token =
          r.IsNull(0, 1) ? std::nullopt : std::optional<std::int64_t>(r.Int(0, 1));
      connection_->ExecScript("cannot end", "ROLLBACK");
      if (token == writer_token_) return;  // the answer was lost, not the commit
      if (token || head < group_last_) {
        throw Error(ErrorCode::kUnavailable,
                    "connection to PostgreSQL lost during COMMIT (" + why +
                        "); the transaction did not commit: nothing of it was written",
                    kAfterCommitSent);
      }
      last = "revision " + std::to_string(group_last_) +
             " is no longer in history (retention), so whose it was cannot be told";
      break;
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

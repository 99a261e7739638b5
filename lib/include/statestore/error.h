// statestore::Error — the one exception type every public entry point throws.
//
// Contract (held by every public method of the library):
//   * Failures are reported as statestore::Error; no SQLiteCpp, SQLite or Boost exception ever
//     escapes. std::bad_alloc may still escape, as from any C++ library.
//   * An absent key is std::nullopt, never an error. NotFound is used only where absence is an
//     error (reverting an unknown revision, opening a missing file read-only).
//   * A method that throws has changed nothing durable: the transaction it ran in was rolled back.
//     One exception, which no storage engine can avoid: when the fsync of a COMMIT fails
//     (kIoError or kFull from a failed sync), nobody knows what reached the disk, and after a
//     reopen that transaction may turn out to be committed — complete, never in part. Check for
//     it (by revision or a unique key) before retrying such a transaction.
//   * Destructors never throw.
#ifndef STATESTORE_ERROR_H_
#define STATESTORE_ERROR_H_

#include <stdexcept>
#include <string>
#include <string_view>

namespace statestore {

enum class ErrorCode {
  // Another connection held a lock for longer than Options::busy_timeout. Retrying later may work.
  kBusy,
  // A compare-and-set saw another version, or a revert would overwrite a later change.
  kConflict,
  // Something that must exist does not (an unknown revision, a missing file opened read-only).
  kNotFound,
  // The caller passed something the library refuses: bad key, oversize value, wrong type, a
  // nested transact(), options that contradict an already open Store.
  kInvalidArgument,
  // The file is not a statestore database, or SQLite found it damaged.
  kCorruption,
  // The operating system failed a read, write, fsync or lock; or the Store stopped accepting
  // writes after such a failure (see Store: a failed commit poisons the write path).
  kIoError,
  // The disk (or SQLite's size limit) is full.
  kFull,
  // A write was attempted through a read-only Store or on a read-only file.
  kReadOnly,
  // The file was written by a newer statestore; this library will not touch it.
  kSchemaTooNew,
  // A bug in statestore or an unexpected SQLite answer. Please report it.
  kInternal,
  // PostgreSQL engine: the server could not be reached within Options::busy_timeout, or the
  // connection broke (server restart, pg_terminate_backend, network). Nothing of the operation
  // took effect; retrying once the server is back works. (Write bodies interrupted before COMMIT
  // was sent are re-run by the store itself within busy_timeout; callers see this only when the
  // server stays away longer.)
  kUnavailable,
  // PostgreSQL engine: the connection broke after COMMIT was sent and the server could not be
  // asked, within busy_timeout, whether the transaction committed. It may or may not have: read
  // the state (or Store::history) before retrying a write that is not idempotent. The store never
  // reports such a commit as done, and never re-runs its body.
  kCommitUnknown,
};

// Returns a stable lower-case identifier ("busy", "not_found", "io_error", ...), the same as
// statectl prints in --json output; scripts may match on it.
std::string_view ToString(ErrorCode code);

class Error : public std::runtime_error {
 public:
  // `sqlite_code` is SQLite's extended result code when SQLite produced the failure, else 0.
  Error(ErrorCode code, const std::string& message, int sqlite_code = 0);

  ErrorCode code() const noexcept { return code_; }
  // SQLite's extended result code (e.g. 517 = SQLITE_BUSY_SNAPSHOT), or 0.
  int sqlite_code() const noexcept { return sqlite_code_; }

 private:
  ErrorCode code_;
  int sqlite_code_;
};

}  // namespace statestore

#endif  // STATESTORE_ERROR_H_

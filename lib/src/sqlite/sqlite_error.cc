#include "sqlite/sqlite_error.h"

#include <SQLiteCpp/Exception.h>
#include <sqlite3.h>

namespace statestore::internal {

ErrorCode CodeForSqlite(int extended_code) {
  switch (extended_code & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_PROTOCOL:
      return ErrorCode::kBusy;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
    case SQLITE_FORMAT:
      return ErrorCode::kCorruption;
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_NOLFS:
      return ErrorCode::kIoError;
    case SQLITE_FULL:
      return ErrorCode::kFull;
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_AUTH:
      return ErrorCode::kReadOnly;
    case SQLITE_TOOBIG:
    case SQLITE_RANGE:
      return ErrorCode::kInvalidArgument;
    default:
      return ErrorCode::kInternal;
  }
}

namespace {

std::string_view HintFor(int extended_code, ErrorCode code) {
  // A read-only connection cannot roll back a hot journal (one an interrupted write or restore
  // left beside a rollback-journal file): the generic read-only hint would point elsewhere.
  if (extended_code == SQLITE_READONLY_ROLLBACK) {
    return "a journal left by an interrupted write or restore must be rolled back first: open it "
           "read-write once";
  }
  switch (code) {
    case ErrorCode::kBusy:
      return "another connection held the lock for longer than Options::busy_timeout; retry, or "
             "raise busy_timeout";
    case ErrorCode::kCorruption:
      return "the file is damaged or not a database; restore it from a backup";
    case ErrorCode::kIoError:
      return "the operating system failed the operation; check the disk and file permissions";
    case ErrorCode::kFull:
      return "the disk is full; free space and reopen the store";
    case ErrorCode::kReadOnly:
      return "the file or its directory is not writable, or the store was opened read-only";
    default:
      return {};
  }
}

}  // namespace

Error ErrorFromSqlite(int extended_code, std::string_view context,
                      std::string_view sqlite_message) {
  ErrorCode code = CodeForSqlite(extended_code);
  std::string message(context);
  message += ": ";
  message +=
      sqlite_message.empty() ? std::string_view(sqlite3_errstr(extended_code)) : sqlite_message;
  std::string_view hint = HintFor(extended_code, code);
  if (!hint.empty()) {
    message += " (";
    message += hint;
    message += ")";
  }
  return Error(code, message, extended_code);
}

Error ErrorFromSqlite(const SQLite::Exception& e, std::string_view context) {
  int code = e.getExtendedErrorCode();
  if (code <= 0) code = e.getErrorCode();
  if (code <= 0) code = SQLITE_ERROR;
  return ErrorFromSqlite(code, context, e.what());
}

bool MayHaveRolledBackTransaction(int extended_code) {
  switch (extended_code & 0xff) {
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_NOMEM:
    case SQLITE_BUSY:
    case SQLITE_INTERRUPT:
    case SQLITE_CORRUPT:
      return true;
    default:
      return false;
  }
}

}  // namespace statestore::internal

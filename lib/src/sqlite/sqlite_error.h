// Translation of SQLite failures into statestore::Error. Every call into SQLite or SQLiteCpp
// goes through these so that no SQLite::Exception escapes the library.
#ifndef STATESTORE_SRC_SQLITE_ERROR_H_
#define STATESTORE_SRC_SQLITE_ERROR_H_

#include <string>
#include <string_view>

#include "statestore/error.h"

namespace SQLite {
class Exception;
}

namespace statestore::internal {

// Maps an SQLite (extended) result code to the ErrorCode a caller can act on.
ErrorCode CodeForSqlite(int extended_code);

// "<context>: <what SQLite said> (<hint>)". The hint tells the user what to do for the common
// codes (busy: raise busy_timeout; full: free disk space; ...).
Error ErrorFromSqlite(int extended_code, std::string_view context, std::string_view sqlite_message);
Error ErrorFromSqlite(const SQLite::Exception& e, std::string_view context);

// True for the result codes after which SQLite may have rolled back the whole transaction, not
// just the failing statement (SQLite docs: "Possible Errors After ROLLBACK").
bool MayHaveRolledBackTransaction(int extended_code);

}  // namespace statestore::internal

#endif  // STATESTORE_SRC_SQLITE_ERROR_H_

// Helpers shared by the admin functions (statestore/admin.h): a private read-only connection and
// a read transaction that pins one snapshot.
#ifndef STATESTORE_SRC_ADMIN_UTIL_H_
#define STATESTORE_SRC_ADMIN_UTIL_H_

#include <cstdint>
#include <memory>
#include <string>

#include "sqlite/connection.h"
#include "sqlite/sql_transaction.h"  // admin reads pin one snapshot in a ReadTransaction
#include "statestore/options.h"

namespace statestore::internal {

// A read-only connection to `path` (defensive, trusted_schema=OFF) that passed the file checks
// of database_file.h (not ours / hostile schema / too new). Throws: Error.
// Throws: Error(kInvalidArgument) for a PostgreSQL store's path: callers dispatch a PostgreSQL
// store to admin_pg.h first, so reaching this with one is a function without a PostgreSQL path.
void RequireDatabaseFile(const std::string& path);
std::unique_ptr<Connection> OpenAdminConnection(const std::string& path, bool read_only = true);

// Throws Error(kInvalidArgument) when `postgres` names a schema other than the default: an
// admin function given a file path, as Store::open on SQLite refuses it.
void RefuseSchemaForFile(const PostgresOptions& postgres);

// Size of a file in bytes, 0 if it does not exist.
std::uint64_t FileBytes(const std::string& path);

// How a backup gets its name (admin_backup.cc's design note): the copy is made under
// "DIR/.NAME.backup-XXXXXX" (created O_EXCL, mode 0600) beside the destination, fsync'ed, and
// renamed onto the destination only if no file appeared there meanwhile (false then); RemoveCopy
// deletes a copy and its -wal/-shm/-journal. Throw: Error(kIoError, kFull).
std::string CreateTempBeside(const std::string& dest_path);
void SyncPath(const std::string& path, int flags, const std::string& what);
bool RenameNoReplace(const std::string& from, const std::string& to);
void RemoveCopy(const std::string& path);

// The keyspace id of "sessions", or 0 if it does not exist. REQUIRES: in a transaction.
std::int64_t SessionsKeyspaceId(Connection& c);

}  // namespace statestore::internal

#endif  // STATESTORE_SRC_ADMIN_UTIL_H_

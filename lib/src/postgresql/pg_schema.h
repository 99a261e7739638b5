// Opening a PostgreSQL store: the session every connection runs with, and the schema check and
// migration of a writable open.
//
// Invariants:
//   1. Every connection's search_path is exactly the store's schema (validated by
//      ValidatePgSchemaName, then quoted), so the engine's SQL names tables unqualified and two
//      stores in one database never see each other's tables.
//   2. Migrations run in one server transaction holding a transaction-level advisory lock keyed
//      on the schema name, so any number of processes opening at once migrate exactly once; each
//      re-reads meta 'schema_version' after taking the lock.
//   3. A database whose schema_version is newer than this library's is refused (kSchemaTooNew)
//      and left unchanged; a read-only open never migrates (an outdated schema is kReadOnly).
//   4. The redaction key (core/redaction_key.h) is resolved in the same transaction:
//      Options::redaction_key when set, else the key stored in the schema's redaction_key table
//      (created by the first writable open); meta 'redaction_key_fingerprint' records which key
//      the store's digests are made with, and a writable open with another key is refused.
#ifndef STATESTORE_SRC_POSTGRESQL_PG_SCHEMA_H_
#define STATESTORE_SRC_POSTGRESQL_PG_SCHEMA_H_

#include <string>

#include "core/redaction_key.h"
#include "postgresql/pg_connection.h"
#include "statestore/options.h"

namespace statestore::internal {

// The longest schema name: its NOTIFY channel, "statestore_" + schema, must fit PostgreSQL's
// 63-byte identifiers (a longer channel is an error for pg_notify and silently cut by LISTEN).
inline constexpr std::size_t kMaxPgSchemaName = 52;

// Throws: Error(kInvalidArgument) unless `schema` is 1..52 characters of [a-z0-9_] starting with
// a letter or '_' (and not pg_*, which PostgreSQL reserves).
void ValidatePgSchemaName(const std::string& schema);

// The SET statements every connection of the Store runs first (invariant 1; durability:
// synchronous_commit on for Durability::kFull, off for kNormal). `lock_timeout` for the writer.
std::string PgSessionSql(const Options& options, bool writer);

// The NOTIFY channel of the store's commits (postgresql/pg_change_listener.h).
std::string PgChannelName(const std::string& schema);

// Checks the schema and, for a writable open, creates or migrates it (invariants 2-3), and
// resolves the redaction key (invariant 4). Throws: Error (kSchemaTooNew, kNotFound for a
// read-only open of a schema that does not exist, kReadOnly, kInvalidArgument, kUnavailable).
RedactionKey PgCheckAndMigrate(PgConnection& c, const Options& options);

// The number of the newest migration this library knows.
int PgSchemaVersion();

}  // namespace statestore::internal

#endif  // STATESTORE_SRC_POSTGRESQL_PG_SCHEMA_H_

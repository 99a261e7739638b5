// SQL that takes a database file of the current schema back to what an older version wrote, for
// tests of migrations (each test then lowers PRAGMA user_version and undoes the older steps it
// needs). One constant per migration, newest first; every migration that adds a column or an
// index gets one here, because a migration's SQL runs once and is not idempotent.
#ifndef STATESTORE_TESTS_OLD_SCHEMAS_H_
#define STATESTORE_TESTS_OLD_SCHEMAS_H_

namespace statestore::test {

// Schema 8 -> 7: migrations/sqlite/0008_bounded_keyspaces.sql. Only for files without a bound or
// an eviction in history.
inline constexpr char kUndoSchema8[] =
    "DROP INDEX entries_by_write_order; ALTER TABLE entries DROP COLUMN bounded; "
    "DROP TABLE keyspace_bounds; ";

// Schema 7 -> 6: migrations/sqlite/0007_leases.sql. Only for files without a lease.
inline constexpr char kUndoSchema7[] =
    "DROP INDEX entries_by_lease; ALTER TABLE entries DROP COLUMN lease_id; DROP TABLE leases; "
    "DELETE FROM sqlite_sequence WHERE name = 'leases'; ";

// Schema 6 -> 5: migrations/sqlite/0006_time_to_live.sql. Only for files without a key that has
// a time-to-live or an expiry in history (those have no schema 5 form).
inline constexpr char kUndoSchema6[] =
    "DROP INDEX entries_by_expiry; ALTER TABLE entries DROP COLUMN expires_us; "
    "ALTER TABLE changes DROP COLUMN kind; ALTER TABLE changes DROP COLUMN expires_us; ";

}  // namespace statestore::test

#endif  // STATESTORE_TESTS_OLD_SCHEMAS_H_

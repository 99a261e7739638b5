// SQL that takes a database file of the current schema back to what an older version wrote, for
// tests of migrations (each test then lowers PRAGMA user_version and undoes the older steps it
// needs). One constant per migration, newest first; every migration that adds a column or an
// index gets one here, because a migration's SQL runs once and is not idempotent.
#ifndef STATESTORE_TESTS_OLD_SCHEMAS_H_
#define STATESTORE_TESTS_OLD_SCHEMAS_H_

namespace statestore::test {

// Schema 10 -> 9: migrations/sqlite/0010_changes_by_commit_range.sql.
inline constexpr char kUndoSchema10[] =
    "CREATE TABLE changes_9 (revision INTEGER NOT NULL, seq INTEGER NOT NULL, "
    "keyspace_id INTEGER NOT NULL REFERENCES keyspaces (id), key TEXT NOT NULL, "
    "old_type INTEGER CHECK (old_type BETWEEN 0 AND 5), old_value ANY, "
    "new_type INTEGER CHECK (new_type BETWEEN 0 AND 5), new_value ANY, "
    "redacted INTEGER NOT NULL DEFAULT 0 CHECK (redacted IN (0, 1)), "
    "kind INTEGER NOT NULL DEFAULT 0 CHECK (kind IN (0, 1)), expires_us INTEGER) STRICT; "
    "INSERT INTO changes_9 SELECT revision, seq, keyspace_id, key, old_type, old_value, new_type, "
    "new_value, redacted, kind, expires_us FROM changes ORDER BY revision, seq; "
    "DROP TABLE changes; ALTER TABLE changes_9 RENAME TO changes; "
    "CREATE UNIQUE INDEX changes_by_revision ON changes (revision, seq); "
    "CREATE INDEX changes_by_keyspace ON changes (keyspace_id, revision); "
    "ALTER TABLE commits DROP COLUMN first_change; ALTER TABLE commits DROP COLUMN last_change; ";

// Schema 9 -> 8: migrations/sqlite/0009_changes_rowid_table.sql. `changes` back to the WITHOUT
// ROWID table that migrations 1, 2 and 6 made, with the same rows.
inline constexpr char kUndoSchema9[] =
    "CREATE TABLE changes_8 (revision INTEGER NOT NULL, seq INTEGER NOT NULL, "
    "keyspace_id INTEGER NOT NULL REFERENCES keyspaces (id), key TEXT NOT NULL, "
    "old_type INTEGER CHECK (old_type BETWEEN 0 AND 5), old_value ANY, "
    "new_type INTEGER CHECK (new_type BETWEEN 0 AND 5), new_value ANY, "
    "redacted INTEGER NOT NULL DEFAULT 0 CHECK (redacted IN (0, 1)), "
    "kind INTEGER NOT NULL DEFAULT 0 CHECK (kind IN (0, 1)), expires_us INTEGER, "
    "PRIMARY KEY (revision, seq)) STRICT, WITHOUT ROWID; "
    "INSERT INTO changes_8 SELECT revision, seq, keyspace_id, key, old_type, old_value, new_type, "
    "new_value, redacted, kind, expires_us FROM changes; "
    "DROP TABLE changes; ALTER TABLE changes_8 RENAME TO changes; "
    "CREATE INDEX changes_by_keyspace ON changes (keyspace_id, revision); ";

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

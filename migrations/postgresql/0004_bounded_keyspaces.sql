-- 0004_bounded_keyspaces (PostgreSQL engine): a keyspace may hold at most a number of keys and
-- evicts the least recently written ones beyond it (Transaction::set_max_keys) — the SQLite
-- engine's schema 8 (0008_bounded_keyspaces.sql), with the same table and meaning; only the mark
-- on entries differs (below). Applied files are never edited: add a new NNNN_name.sql.

-- The bound of a keyspace and how many keys it holds now. key_count is kept by the statements that
-- insert or delete rows of a bounded keyspace, in the same transaction (PgTransaction invariant
-- 10). evicted_through: the write_order of the last key evicted; every key the keyspace holds has
-- a write_order at or above it, so the search for the next victims starts there in
-- entries_by_write_order instead of stepping over the index entries of every key evicted or
-- rewritten before (dead until VACUUM removes them: measured, they made a full keyspace's writes
-- three times slower).
CREATE TABLE keyspace_bounds (
  keyspace_id     bigint PRIMARY KEY REFERENCES keyspaces (id),
  max_keys        bigint NOT NULL CHECK (max_keys > 0),
  key_count       bigint NOT NULL CHECK (key_count >= 0),
  evicted_through bigint NOT NULL DEFAULT 0
);

-- entries.write_order: the revision that last wrote the key (its version) for every key of a
-- bounded keyspace, NULL for every other key. The eviction takes the smallest (write_order, key)
-- from entries_by_write_order. Not a partial index on `version` (SQLite's 0008 indexes version
-- WHERE bounded): PostgreSQL updates a row in place (HOT) only when no indexed column changes, and
-- every write changes `version`, so such an index would cost every keyspace's writes; write_order
-- stays NULL outside bounded keyspaces and they pay nothing. A column without a default: no table
-- rewrite.
ALTER TABLE entries ADD COLUMN write_order bigint;
CREATE INDEX entries_by_write_order ON entries (keyspace_id, write_order, key)
  WHERE write_order IS NOT NULL;

-- changes.kind 2 (an eviction) has been allowed since 0002_time_to_live.sql.

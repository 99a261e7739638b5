-- 0008_bounded_keyspaces: a keyspace may hold at most a number of keys and evicts the least
-- recently written ones beyond it (Transaction::set_max_keys; TransactionImpl invariant 9).
-- Applied files are never edited: change the schema with a new NNNN_name.sql.

-- The bound of a keyspace and how many keys it holds now. key_count is kept by the statements that
-- insert or delete rows of a bounded keyspace, in the same transaction (TransactionImpl invariant
-- 9). Not by triggers: a statestore file has none, so one in a file is refused as an alteration
-- (database_file.cc, RefuseHostileSchema).
CREATE TABLE keyspace_bounds (
  keyspace_id INTEGER PRIMARY KEY REFERENCES keyspaces (id),
  max_keys    INTEGER NOT NULL CHECK (max_keys > 0),
  key_count   INTEGER NOT NULL CHECK (key_count >= 0)
) STRICT;

-- entries.bounded: 1 for every key of a bounded keyspace, NULL otherwise. A new key takes it from
-- keyspace_bounds as it is inserted; set_max_keys marks or clears a keyspace's existing keys. It
-- puts the keys of bounded keyspaces, and only those, in write order: the eviction takes the
-- smallest (version, key) from entries_by_write_order, and other keyspaces pay nothing.
ALTER TABLE entries ADD COLUMN bounded INTEGER CHECK (bounded = 1);
CREATE INDEX entries_by_write_order ON entries (keyspace_id, version) WHERE bounded IS NOT NULL;

-- changes.kind stays 0 or 1 (0006's CHECK cannot be widened without rebuilding the table): kind 1
-- is a key the store removed by itself. With changes.expires_us set it is an expiry (the deadline
-- that passed, ChangeKind::kExpiry); with it NULL an eviction from a bounded keyspace
-- (ChangeKind::kEviction).

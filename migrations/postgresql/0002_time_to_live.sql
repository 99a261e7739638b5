-- 0002_time_to_live (PostgreSQL engine): a key may have a deadline (PutOptions::ttl), and history
-- tells an expiry from an erase — the SQLite engine's schema 6 (0006_time_to_live.sql), the same
-- columns with the same meaning. Applied files are never edited: add a new NNNN_name.sql.

-- entries.expires_us: the key's deadline, microseconds since the Unix epoch by the writer's clock;
-- NULL = none. Reads treat a row whose deadline has passed as absent; the sweep deletes it.
ALTER TABLE entries ADD COLUMN expires_us bigint;
-- The sweep finds due keys in deadline order without scanning the table; only keys with a
-- deadline are in it, so keys without one cost nothing.
CREATE INDEX entries_by_expiry ON entries (expires_us) WHERE expires_us IS NOT NULL;

-- changes.kind: ChangeKind (history.h): 0 a write by a transaction body, 1 an expiry, 2 an
-- eviction (kept for bounded keyspaces, which SQLite must store as kind 1 without a deadline
-- because its CHECK cannot be widened; here the kind says it). changes.expires_us: the key's
-- deadline after the change (of an expiry: the one that passed). Adding a column with a constant
-- default rewrites no row (PostgreSQL 11+), so this is instant on a long history.
ALTER TABLE changes ADD COLUMN kind smallint NOT NULL DEFAULT 0 CHECK (kind IN (0, 1, 2)),
  ADD COLUMN expires_us bigint;

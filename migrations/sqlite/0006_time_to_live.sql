-- 0006_time_to_live: a key may have a deadline (PutOptions::ttl), and history tells an expiry
-- from an erase. Applied files are never edited: change the schema with a new NNNN_name.sql.

-- entries.expires_us: the key's deadline, microseconds since the Unix epoch by the writer's clock;
-- NULL = none. Reads treat a row whose deadline has passed as absent; the sweep deletes it.
ALTER TABLE entries ADD COLUMN expires_us INTEGER;
-- The sweep finds due keys in deadline order without scanning the table; only keys with a
-- deadline are in it, so keys without one cost nothing.
CREATE INDEX entries_by_expiry ON entries (expires_us) WHERE expires_us IS NOT NULL;

-- changes.kind: ChangeKind (history.h): 0 a write by a transaction body, 1 an expiry.
-- changes.expires_us: the key's deadline after the change (of an expiry: the one that passed).
ALTER TABLE changes ADD COLUMN kind INTEGER NOT NULL DEFAULT 0 CHECK (kind IN (0, 1));
ALTER TABLE changes ADD COLUMN expires_us INTEGER;

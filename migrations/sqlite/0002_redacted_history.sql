-- 0002_redacted_history: changes of keyspaces marked redacted store a SHA-256 digest of each
-- value (as a 32-byte BLOB, `old_type`/`new_type` still the original type) instead of the value.
ALTER TABLE changes ADD COLUMN redacted INTEGER NOT NULL DEFAULT 0 CHECK (redacted IN (0, 1));

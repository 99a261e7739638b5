-- 0004_history_policy: history retention per keyspace.
-- Applied files are never edited: change the schema with a new NNNN_name.sql.

-- One row per keyspace whose history retention has state. A row with keep_none NULL has no
-- stored policy (the keyspace follows the built-in default or Options::history_retention); a
-- stored policy sets all three columns (keep_revisions = 0 and keep_for_s = 0 and keep_none = 0
-- is "keep all"). compacted_through: the highest revision at which a change of this keyspace was
-- removed (0 if none); every change of the keyspace above it is retained. scanned_through: the
-- retention cursor; every change of the keyspace at or below it has been removed
-- (scanned_through >= compacted_through). A keyspace without a row has both at 0.
CREATE TABLE keyspace_history (
  keyspace_id       INTEGER PRIMARY KEY REFERENCES keyspaces (id),
  keep_revisions    INTEGER CHECK (keep_revisions >= 0),
  keep_for_s        INTEGER CHECK (keep_for_s >= 0),
  keep_none         INTEGER CHECK (keep_none IN (0, 1)),
  compacted_through INTEGER NOT NULL DEFAULT 0,
  scanned_through   INTEGER NOT NULL DEFAULT 0,
  CHECK ((keep_none IS NULL) = (keep_revisions IS NULL) AND (keep_none IS NULL) = (keep_for_s IS NULL))
) STRICT;

-- Retention before this migration removed whole revisions up to meta 'compacted_through': every
-- keyspace that exists is compacted through it.
INSERT INTO keyspace_history (keyspace_id, compacted_through, scanned_through)
  SELECT id, (SELECT value FROM meta WHERE name = 'compacted_through'),
         (SELECT value FROM meta WHERE name = 'compacted_through') FROM keyspaces;

-- 1: some of this commit's changes (those of keyspaces whose retention removed them) are gone
-- while others remain; its change list is incomplete and it cannot be reverted.
ALTER TABLE commits ADD COLUMN partial INTEGER NOT NULL DEFAULT 0 CHECK (partial IN (0, 1));

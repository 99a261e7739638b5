-- 0009_changes_rowid_table: the history of changes becomes a rowid table, indexed by
-- (revision, seq). Applied files are never edited: change the schema with a new NNNN_name.sql.
--
-- Why (issue 12's cost per commit): `changes` was WITHOUT ROWID, that is one index B-tree whose
-- interior cells hold whole rows, old and new values included. With 1 KiB pages an interior page
-- held about four of them, so the tree was six levels deep and an append split rebalanced three
-- siblings and their parent, often up the tree: 4.5 of a commit's 10.8 pages went to this table.
-- SQLite's advice is the same: WITHOUT ROWID suits rows smaller than about a twentieth of a page.
-- A rowid table keeps only rowids in its interior pages, appends at its right edge (a full leaf is
-- split by adding a new one, balance_quick), and the (revision, seq) index's entries are a few
-- bytes. Rowids are assigned in insertion order, which is (revision, seq) order; nothing refers
-- to them. Every query by revision or by keyspace is served by an index, as before.
--
-- The copy runs once, in the migration's transaction: a file with a long history takes a while
-- to open the first time (README, "Changes that existing programs notice").
CREATE TABLE changes_0009 (
  revision    INTEGER NOT NULL,
  seq         INTEGER NOT NULL,
  keyspace_id INTEGER NOT NULL REFERENCES keyspaces (id),
  key         TEXT    NOT NULL,
  old_type    INTEGER CHECK (old_type BETWEEN 0 AND 5),
  old_value   ANY,
  new_type    INTEGER CHECK (new_type BETWEEN 0 AND 5),
  new_value   ANY,
  redacted    INTEGER NOT NULL DEFAULT 0 CHECK (redacted IN (0, 1)),
  kind        INTEGER NOT NULL DEFAULT 0 CHECK (kind IN (0, 1)),
  expires_us  INTEGER
) STRICT;
INSERT INTO changes_0009 (revision, seq, keyspace_id, key, old_type, old_value, new_type,
                          new_value, redacted, kind, expires_us)
  SELECT revision, seq, keyspace_id, key, old_type, old_value, new_type, new_value, redacted,
         kind, expires_us
  FROM changes ORDER BY revision, seq;
DROP TABLE changes;
ALTER TABLE changes_0009 RENAME TO changes;
CREATE UNIQUE INDEX changes_by_revision ON changes (revision, seq);
CREATE INDEX changes_by_keyspace ON changes (keyspace_id, revision);

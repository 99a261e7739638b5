-- 0010_changes_by_commit_range: a commit row says where its changes are, and the
-- changes_by_revision index goes. Applied files are never edited: change the schema with a new
-- NNNN_name.sql.
--
-- Why (issue 12's cost per commit): after 0009 a lone commit wrote 9.2 pages, 1.45 of them to
-- changes_by_revision, an index whose only job was to find a revision's changes. Change rows are
-- appended, so their rowids already follow (revision, seq); a commit now records the first and
-- last rowid of its changes, and every query by revision reads that rowid range (still filtered
-- by revision). The commit row is written anyway; the index is not written at all.
--
-- The invariant the queries rely on (checked by `statectl verify`): every change of revision R
-- has an id between R's first_change and last_change. Ids are assigned max(id) + 1 at insertion,
-- never reassigned: `id` is an explicit INTEGER PRIMARY KEY because VACUUM may renumber the
-- rowids of a table without one. A range may also cover ids that were deleted by retention and
-- then handed out again to a later revision's changes; the revision filter leaves those out.
-- NULL bounds: the commit recorded no change row.
--
-- The copy of `changes` runs once, in the migration's transaction, as 0009's did.
CREATE TABLE changes_0010 (
  id          INTEGER PRIMARY KEY,
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
INSERT INTO changes_0010 (revision, seq, keyspace_id, key, old_type, old_value, new_type,
                          new_value, redacted, kind, expires_us)
  SELECT revision, seq, keyspace_id, key, old_type, old_value, new_type, new_value, redacted,
         kind, expires_us
  FROM changes ORDER BY revision, seq;
DROP TABLE changes;
ALTER TABLE changes_0010 RENAME TO changes;
CREATE INDEX changes_by_keyspace ON changes (keyspace_id, revision);
ALTER TABLE commits ADD COLUMN first_change INTEGER;
ALTER TABLE commits ADD COLUMN last_change INTEGER;
UPDATE commits SET first_change = r.first, last_change = r.last
  FROM (SELECT revision, min(id) AS first, max(id) AS last FROM changes GROUP BY revision) AS r
  WHERE r.revision = commits.revision;

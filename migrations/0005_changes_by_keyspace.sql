-- 0005_changes_by_keyspace: history is indexed by keyspace and revision, no longer by key.
-- Applied files are never edited: change the schema with a new NNNN_name.sql.

-- changes_by_key (keyspace_id, key, revision) put every write of a commit into a random leaf of
-- a second B-tree, as random as the entries table itself: about half of the pages a commit wrote
-- (issue 12's cost per commit). Nothing needs it: history queries walk commits by revision, and
-- "was this key changed after revision R" (revert) is answered from the keyspace's changes after
-- R. changes_by_keyspace grows at the end of each keyspace's range (revisions only increase),
-- so a group of commits writes one leaf per keyspace it touched, and it serves what the other
-- served by keyspace: retention's per-keyspace cutoffs and ranges, revert's check.
-- IF [NOT] EXISTS: a file whose indexes were already changed by hand still upgrades.
DROP INDEX IF EXISTS changes_by_key;
CREATE INDEX IF NOT EXISTS changes_by_keyspace ON changes (keyspace_id, revision);

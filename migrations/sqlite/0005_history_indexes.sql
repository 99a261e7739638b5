-- 0005_history_indexes: history is indexed by keyspace and revision, no longer by key or time.
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

-- commits_by_time (time_us) cost an index insert per commit. From this schema on a commit is
-- stamped max(now, the previous commit's time), so commit times never decrease with revision and
-- a time is found by bisecting commits by revision (history_log.cc). Older files may hold commits
-- whose time went backwards (the clock was set back): meta 'time_ordered_from' is the first
-- revision from which commit times never decrease again; time queries scan below it.
DROP INDEX IF EXISTS commits_by_time;
INSERT INTO meta (name, value)
  SELECT 'time_ordered_from', coalesce(max(revision) + 1, 0) FROM (
    SELECT revision, time_us < max(time_us) OVER (
      ORDER BY revision ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS went_back
    FROM commits) WHERE went_back
  ON CONFLICT (name) DO UPDATE SET value = excluded.value;

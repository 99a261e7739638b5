-- 0001_initial: keyspaces, current state, and the history of every commit.
-- Applied files are never edited: change the schema with a new NNNN_name.sql.

-- Named keyspaces. Ids are never reused or deleted, so processes may cache name -> id.
CREATE TABLE keyspaces (
  id       INTEGER PRIMARY KEY,
  name     TEXT    NOT NULL UNIQUE,
  redacted INTEGER NOT NULL DEFAULT 0 CHECK (redacted IN (0, 1))
) STRICT;

-- Current state. `type` is statestore::ValueType (0 null .. 5 bytes); `version` is the revision
-- that last wrote the row.
CREATE TABLE entries (
  keyspace_id INTEGER NOT NULL REFERENCES keyspaces (id),
  key         TEXT    NOT NULL,
  type        INTEGER NOT NULL CHECK (type BETWEEN 0 AND 5),
  value       ANY,
  version     INTEGER NOT NULL,
  PRIMARY KEY (keyspace_id, key)
) STRICT, WITHOUT ROWID;

-- Store-wide counters. 'head_revision': last revision handed out (never decreases, survives
-- compaction). 'compacted_through': highest revision removed by history retention.
CREATE TABLE meta (
  name  TEXT PRIMARY KEY,
  value INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
INSERT INTO meta (name, value) VALUES ('head_revision', 0), ('compacted_through', 0);

-- One row per committed transaction that changed something.
CREATE TABLE commits (
  revision  INTEGER PRIMARY KEY,
  time_us   INTEGER NOT NULL,          -- microseconds since 1970-01-01 UTC
  pid       INTEGER NOT NULL,
  thread_id INTEGER NOT NULL,
  label     TEXT    NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX commits_by_time ON commits (time_us);

-- The writes of each commit, in order (`seq`). old_type NULL: the key did not exist before;
-- new_type NULL: the write erased it. (No foreign key to commits: the commit row is written when
-- the transaction body finishes, after its changes; `statectl verify` checks the pairing.)
CREATE TABLE changes (
  revision    INTEGER NOT NULL,
  seq         INTEGER NOT NULL,
  keyspace_id INTEGER NOT NULL REFERENCES keyspaces (id),
  key         TEXT    NOT NULL,
  old_type    INTEGER CHECK (old_type BETWEEN 0 AND 5),
  old_value   ANY,
  new_type    INTEGER CHECK (new_type BETWEEN 0 AND 5),
  new_value   ANY,
  PRIMARY KEY (revision, seq)
) STRICT, WITHOUT ROWID;
CREATE INDEX changes_by_key ON changes (keyspace_id, key, revision);

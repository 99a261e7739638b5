// The SQL the PostgreSQL engine runs, in one place. Every statement binds its inputs ($n, binary);
// none is built from user text. Tables are unqualified: every connection's search_path is the
// store's schema (postgresql/pg_schema.h).
#ifndef STATESTORE_SRC_POSTGRESQL_PG_SQL_H_
#define STATESTORE_SRC_POSTGRESQL_PG_SQL_H_

namespace statestore::internal::pgsql {

inline constexpr char kSelectKeyspace[] = "SELECT id, redacted FROM keyspaces WHERE name = $1";
inline constexpr char kInsertKeyspace[] =
    "INSERT INTO keyspaces (name, redacted) VALUES ($1, $2) RETURNING id";
inline constexpr char kMarkKeyspaceRedacted[] =
    "UPDATE keyspaces SET redacted = true WHERE id = $1";
inline constexpr char kListKeyspaces[] = "SELECT name FROM keyspaces ORDER BY name";

inline constexpr char kSelectEntry[] =
    "SELECT type, value, version FROM entries WHERE keyspace_id = $1 AND key = $2";
inline constexpr char kUpsertEntry[] =
    "INSERT INTO entries (keyspace_id, key, type, value, version) VALUES ($1, $2, $3, $4, $5) "
    "ON CONFLICT (keyspace_id, key) DO UPDATE SET type = excluded.type, value = excluded.value, "
    "version = excluded.version";
inline constexpr char kDeleteEntry[] = "DELETE FROM entries WHERE keyspace_id = $1 AND key = $2";
// A point read by keyspace name with the head revision of the same snapshot (one statement is one
// snapshot): ReadCache invariant 5.
inline constexpr char kSelectEntryAtHead[] =
    "SELECT m.value, e.type, e.value, e.version FROM meta m LEFT JOIN keyspaces k ON k.name = $1 "
    "LEFT JOIN entries e ON e.keyspace_id = k.id AND e.key = $2 WHERE m.name = 'head_revision'";
inline constexpr char kHeadRevision[] = "SELECT value FROM meta WHERE name = 'head_revision'";
inline constexpr char kListRange[] =
    "SELECT key, type, value, version FROM entries WHERE keyspace_id = $1 AND key >= $2 "
    "AND key < $3 ORDER BY key LIMIT $4";
inline constexpr char kListFrom[] =
    "SELECT key, type, value, version FROM entries WHERE keyspace_id = $1 AND key >= $2 "
    "ORDER BY key LIMIT $3";
inline constexpr char kListRangeAfter[] =
    "SELECT key, type, value, version FROM entries WHERE keyspace_id = $1 AND key > $2 "
    "AND key < $3 ORDER BY key LIMIT $4";
inline constexpr char kListFromAfter[] =
    "SELECT key, type, value, version FROM entries WHERE keyspace_id = $1 AND key > $2 "
    "ORDER BY key LIMIT $3";

// The write lock: the head row, locked until COMMIT (postgresql/pg_group_writer.h), together
// with the newest commit's time, and the NOTIFY on channel $1 that wakes every process's change
// listener (postgresql/pg_change_listener.h) when — and only if — the transaction commits.
inline constexpr char kLockHead[] =
    "SELECT m.value, (SELECT time_us FROM commits ORDER BY revision DESC LIMIT 1), "
    "pg_notify($1, '')::text FROM meta m WHERE m.name = 'head_revision' FOR UPDATE";
// After a COMMIT whose answer was lost: with the write lock held (so the lost transaction has
// ended, one way or the other), the head and the writer token of commit $1.
inline constexpr char kLockHeadAndToken[] =
    "SELECT m.value, (SELECT writer_token FROM commits WHERE revision = $1) FROM meta m "
    "WHERE m.name = 'head_revision' FOR UPDATE";

// The change row of a write to an unredacted key this body has not written yet, with its old
// value taken from the stored row in the same statement (no round trip to read it first). A
// stored tag outside the schema's range is recorded as absent (pg_value_codec.h).
// $1 keyspace, $2 key, $3/$4 the new type/value, $5 revision, $6 seq.
inline constexpr char kChangeFromStored[] =
    "INSERT INTO changes (revision, seq, keyspace_id, key, old_type, old_value, new_type, "
    "new_value, redacted) SELECT $5, $6, $1, $2, old.type, old.value, $3, $4, false "
    "FROM (SELECT 1) AS one LEFT JOIN (SELECT CASE WHEN type BETWEEN 0 AND 5 THEN type END AS "
    "type, CASE WHEN type BETWEEN 0 AND 5 THEN value END AS value FROM entries "
    "WHERE keyspace_id = $1 AND key = $2) AS old ON true";
// Likewise for an erase; inserts nothing when the key does not exist. $3 revision, $4 seq.
inline constexpr char kEraseChangeFromStored[] =
    "INSERT INTO changes (revision, seq, keyspace_id, key, old_type, old_value, new_type, "
    "new_value, redacted) SELECT $3, $4, $1, $2, CASE WHEN type BETWEEN 0 AND 5 THEN type END, "
    "CASE WHEN type BETWEEN 0 AND 5 THEN value END, NULL, NULL, false FROM entries "
    "WHERE keyspace_id = $1 AND key = $2";
// Finish(): the head row and the commit row in one statement.
inline constexpr char kRecordCommit[] =
    "WITH head AS (UPDATE meta SET value = $1 WHERE name = 'head_revision') "
    "INSERT INTO commits (revision, time_us, pid, thread_id, label, writer_token) "
    "VALUES ($1, $2, $3, $4, $5, $6)";
inline constexpr char kInsertChange[] =
    "INSERT INTO changes (revision, seq, keyspace_id, key, old_type, old_value, new_type, "
    "new_value, redacted) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

// The keys changed by revisions ($1, $2] ($2 = 0: up to the head), with the head and the
// compaction watermark in every row; one row of NULL keys when none. At most $3 rows.
inline constexpr char kChangedKeysSince[] =
    "SELECT m.head, m.compacted, k.name, c.key FROM "
    "(SELECT (SELECT value FROM meta WHERE name = 'head_revision') AS head, "
    "(SELECT value FROM meta WHERE name = 'compacted_through') AS compacted) AS m "
    "LEFT JOIN changes c ON c.revision > $1 "
    "AND c.revision <= (CASE WHEN $2 > 0 THEN $2 ELSE m.head END) "
    "LEFT JOIN keyspaces k ON k.id = c.keyspace_id LIMIT $3";

inline constexpr char kSelectMeta[] = "SELECT value FROM meta WHERE name = $1";
inline constexpr char kUpsertMeta[] =
    "INSERT INTO meta (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET "
    "value = excluded.value";

}  // namespace statestore::internal::pgsql

#endif  // STATESTORE_SRC_POSTGRESQL_PG_SQL_H_

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

// The row with its deadline (expires_us, NULL = none) and lease (lease_id, NULL = none): whether
// it has expired is the caller's question, asked with the transaction's own time (PgTransaction
// invariant 8).
inline constexpr char kSelectEntry[] =
    "SELECT type, value, version, expires_us, lease_id FROM entries WHERE keyspace_id = $1 "
    "AND key = $2";
inline constexpr char kUpsertEntry[] =
    "INSERT INTO entries (keyspace_id, key, type, value, version, expires_us, lease_id) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (keyspace_id, key) DO UPDATE SET "
    "type = excluded.type, value = excluded.value, version = excluded.version, "
    "expires_us = excluded.expires_us, lease_id = excluded.lease_id";
inline constexpr char kDeleteEntry[] = "DELETE FROM entries WHERE keyspace_id = $1 AND key = $2";
// The same for a keyspace that may be bounded (0004_bounded_keyspaces.sql; PgTransaction
// invariant 10): the row's write_order is its version when the keyspace has a bound (NULL when it
// has none), and a new key counts one more. Every sub-statement of a WITH sees the snapshot from
// before the statement, so `entries` there is the table without this row's insert.
inline constexpr char kUpsertBoundedEntry[] =
    "WITH bound AS (SELECT keyspace_id FROM keyspace_bounds WHERE keyspace_id = $1), "
    "counted AS (UPDATE keyspace_bounds SET key_count = key_count + 1 WHERE keyspace_id = $1 "
    "AND NOT EXISTS (SELECT 1 FROM entries WHERE keyspace_id = $1 AND key = $2)) "
    "INSERT INTO entries (keyspace_id, key, type, value, version, expires_us, lease_id, "
    "write_order) VALUES ($1, $2, $3, $4, $5, $6, $7, (SELECT $5::bigint FROM bound)) "
    "ON CONFLICT (keyspace_id, key) DO UPDATE SET "
    "type = excluded.type, value = excluded.value, version = excluded.version, "
    "expires_us = excluded.expires_us, lease_id = excluded.lease_id, "
    "write_order = excluded.write_order";
// A counted row (write_order set) counts one less when it goes.
inline constexpr char kDeleteBoundedEntry[] =
    "WITH gone AS (DELETE FROM entries WHERE keyspace_id = $1 AND key = $2 RETURNING write_order) "
    "UPDATE keyspace_bounds SET key_count = key_count - 1 WHERE keyspace_id = $1 "
    "AND EXISTS (SELECT 1 FROM gone WHERE write_order IS NOT NULL)";
// A point read by keyspace name with the head revision of the same snapshot (one statement is one
// snapshot): ReadCache invariant 5.
inline constexpr char kSelectEntryAtHead[] =
    "SELECT m.value, e.type, e.value, e.version, e.expires_us, e.lease_id FROM meta m "
    "LEFT JOIN keyspaces k ON "
    "k.name = $1 "
    "LEFT JOIN entries e ON e.keyspace_id = k.id AND e.key = $2 WHERE m.name = 'head_revision'";
inline constexpr char kHeadRevision[] = "SELECT value FROM meta WHERE name = 'head_revision'";
// A page of list(): the live rows only (a row whose deadline is at or before $now is absent,
// PgTransaction invariant 8), so LIMIT counts what the caller gets. $1 keyspace, $2 from, then
// the range's end when there is one, the limit and the transaction's time.
inline constexpr char kListRange[] =
    "SELECT key, type, value, version, expires_us, lease_id FROM entries WHERE keyspace_id = $1 "
    "AND key >= $2 AND key < $3 AND (expires_us IS NULL OR expires_us > $5) ORDER BY key LIMIT $4";
inline constexpr char kListFrom[] =
    "SELECT key, type, value, version, expires_us, lease_id FROM entries WHERE keyspace_id = $1 "
    "AND key >= $2 AND (expires_us IS NULL OR expires_us > $4) ORDER BY key LIMIT $3";
inline constexpr char kListRangeAfter[] =
    "SELECT key, type, value, version, expires_us, lease_id FROM entries WHERE keyspace_id = $1 "
    "AND key > $2 AND key < $3 AND (expires_us IS NULL OR expires_us > $5) ORDER BY key LIMIT $4";
inline constexpr char kListFromAfter[] =
    "SELECT key, type, value, version, expires_us, lease_id FROM entries WHERE keyspace_id = $1 "
    "AND key > $2 AND (expires_us IS NULL OR expires_us > $4) ORDER BY key LIMIT $3";

// The write lock: the head row, locked until COMMIT (postgresql/pg_group_writer.h), and the
// NOTIFY on channel $1 that wakes every process's change listener (postgresql/pg_change_listener.h)
// when — and only if — the transaction commits. What the writer needs to know with the lock held
// is read by the next statement (kWriteStart), not here: at READ COMMITTED a statement that waited
// for the row lock sees the newest version of that row only, and its other reads keep the
// snapshot taken before the wait, so they could miss the commit it waited for.
inline constexpr char kLockHead[] =
    "SELECT pg_notify($1, '')::text FROM meta WHERE name = 'head_revision' FOR UPDATE";
// With the write lock held (a new statement, so a new snapshot: every commit before ours): the
// head, the newest commit's time (PgTransaction invariant 6), the earliest lease deadline
// (NULL: no lease; PgTransaction invariant 9) and the ids of the bounded keyspaces, comma-separated
// (NULL: none; invariant 10).
inline constexpr char kWriteStart[] =
    "SELECT (SELECT value FROM meta WHERE name = 'head_revision'), "
    "(SELECT time_us FROM commits ORDER BY revision DESC LIMIT 1), "
    "(SELECT min(expires_us) FROM leases), "
    "(SELECT string_agg(keyspace_id::text, ',') FROM keyspace_bounds)";
// After a COMMIT whose answer was lost: kLockWait takes the write lock (so the lost transaction
// has ended, one way or the other), then kHeadAndToken reads the head and the writer token of
// commit $1 in a snapshot taken after it ended (as kWriteStart).
inline constexpr char kLockWait[] = "SELECT 1 FROM meta WHERE name = 'head_revision' FOR UPDATE";
inline constexpr char kHeadAndToken[] =
    "SELECT (SELECT value FROM meta WHERE name = 'head_revision'), "
    "(SELECT writer_token FROM commits WHERE revision = $1)";

// The change rows of a write to an unredacted key this body has not written yet, with its old
// value taken from the stored row in the same statement (no round trip to read it first). A
// stored tag outside the schema's range is recorded as absent (pg_value_codec.h). A stored row
// whose deadline is at or before the transaction's time ($8) is absent to the write: its expiry
// is recorded first, at seq $6, and the write at $6 + 1 (PgTransaction invariant 8; the write
// always takes $6 + 1, so a revision's seqs may have gaps — they only order its changes).
// $1 keyspace, $2 key, $3/$4 the new type/value, $5 revision, $6 seq, $7 the new deadline.
inline constexpr char kChangeFromStored[] =
    "WITH old AS (SELECT CASE WHEN type BETWEEN 0 AND 5 THEN type END AS type, "
    "CASE WHEN type BETWEEN 0 AND 5 THEN value END AS value, expires_us, "
    "coalesce(expires_us <= $8, false) AS expired FROM entries "
    "WHERE keyspace_id = $1 AND key = $2) "
    "INSERT INTO changes (revision, seq, keyspace_id, key, kind, old_type, old_value, new_type, "
    "new_value, expires_us, redacted) "
    "SELECT $5, $6, $1, $2, 1, type, value, NULL::smallint, NULL::bytea, expires_us, false "
    "FROM old WHERE expired UNION ALL SELECT $5, $6 + 1, $1, $2, 0, old.type, old.value, "
    "$3::smallint, $4::bytea, $7::bigint, false "
    "FROM (SELECT 1) AS one LEFT JOIN old ON NOT old.expired";
// Likewise for an erase; inserts nothing when the key does not exist or has expired (an expired
// key is absent: its expiry is the sweep's to record). $3 revision, $4 seq, $5 the time.
inline constexpr char kEraseChangeFromStored[] =
    "INSERT INTO changes (revision, seq, keyspace_id, key, kind, old_type, old_value, new_type, "
    "new_value, expires_us, redacted) SELECT $3, $4, $1, $2, 0, "
    "CASE WHEN type BETWEEN 0 AND 5 THEN type END, CASE WHEN type BETWEEN 0 AND 5 THEN value END, "
    "NULL, NULL, NULL, false FROM entries WHERE keyspace_id = $1 AND key = $2 "
    "AND (expires_us IS NULL OR expires_us > $5)";
// Finish(): the head row and the commit row in one statement.
inline constexpr char kRecordCommit[] =
    "WITH head AS (UPDATE meta SET value = $1 WHERE name = 'head_revision') "
    "INSERT INTO commits (revision, time_us, pid, thread_id, label, writer_token) "
    "VALUES ($1, $2, $3, $4, $5, $6)";
// $10 kind (ChangeKind), $11 the key's deadline after the change (of an expiry: the one that
// passed).
inline constexpr char kInsertChange[] =
    "INSERT INTO changes (revision, seq, keyspace_id, key, old_type, old_value, new_type, "
    "new_value, redacted, kind, expires_us) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";

// Time-to-live (PgTransaction invariant 8). Whether any key is due at $1, by the deadline index
// (the sweep asks this before it takes the write lock).
inline constexpr char kAnyKeyDue[] =
    "SELECT EXISTS (SELECT 1 FROM entries WHERE expires_us <= $1) "
    "OR EXISTS (SELECT 1 FROM leases WHERE expires_us <= $1)";
// The sweep's batch of unredacted keys, in one statement: up to $2 keys of unredacted keyspaces
// due at $1 and attached to no lease (a lease's keys go with it, kEndLeaseUnredacted), earliest
// deadline first (by the deadline alone, the order of entries_by_expiry, so the scan stops after $2
// rows instead of sorting every due key on each batch), deleted, and their expiries recorded in
// revision $3 at seqs $4 + 1.. in that order (a stored tag outside the schema's range is recorded
// as absent, as kChangeFromStored does); the keys of bounded keyspaces leave their counts
// (invariant 10). Returns each key with its keyspace's name, in seq order. A data-modifying WITH
// runs to completion whether or not the outer query reads it.
inline constexpr char kExpireDueUnredacted[] =
    "WITH due AS (SELECT e.keyspace_id, e.key FROM entries e JOIN keyspaces k "
    "ON k.id = e.keyspace_id WHERE e.expires_us <= $1 AND e.lease_id IS NULL AND NOT k.redacted "
    "ORDER BY e.expires_us LIMIT $2), "
    "gone AS (DELETE FROM entries e USING due WHERE e.keyspace_id = due.keyspace_id "
    "AND e.key = due.key RETURNING e.keyspace_id, e.key, e.type, e.value, e.expires_us, "
    "e.write_order), "
    "counted AS (UPDATE keyspace_bounds b SET key_count = b.key_count - g.n FROM "
    "(SELECT keyspace_id, count(*) AS n FROM gone WHERE write_order IS NOT NULL "
    "GROUP BY keyspace_id) g WHERE b.keyspace_id = g.keyspace_id), "
    "numbered AS (SELECT gone.*, row_number() OVER (ORDER BY expires_us, keyspace_id, key) AS n "
    "FROM gone), "
    "recorded AS (INSERT INTO changes (revision, seq, keyspace_id, key, kind, old_type, "
    "old_value, new_type, new_value, expires_us, redacted) SELECT $3, $4 + n, keyspace_id, key, "
    "1, CASE WHEN type BETWEEN 0 AND 5 THEN type END, "
    "CASE WHEN type BETWEEN 0 AND 5 THEN value END, NULL, NULL, expires_us, false FROM numbered) "
    "SELECT k.name, numbered.key FROM numbered JOIN keyspaces k ON k.id = numbered.keyspace_id "
    "ORDER BY numbered.n";
// Up to $2 keys of redacted keyspaces due at $1 and attached to no lease, earliest deadline first,
// with their rows (their history holds digests, made by the engine, so they go one by one).
inline constexpr char kDueRedactedKeys[] =
    "SELECT k.name, e.keyspace_id, e.key, e.type, e.value, e.version, e.expires_us "
    "FROM entries e JOIN keyspaces k ON k.id = e.keyspace_id WHERE e.expires_us <= $1 "
    "AND e.lease_id IS NULL AND k.redacted ORDER BY e.expires_us LIMIT $2";

// Leases (0003_leases.sql; PgTransaction invariant 9). Deadlines are microseconds; "now" is the
// transaction's time.
inline constexpr char kInsertLease[] =
    "INSERT INTO leases (ttl_ms, expires_us) VALUES ($1, $2) RETURNING id";
inline constexpr char kSelectLease[] = "SELECT ttl_ms, expires_us FROM leases WHERE id = $1";
// keep_alive: the lease and every attached key get deadline $2, in one statement.
inline constexpr char kRenewLease[] =
    "WITH keys AS (UPDATE entries SET expires_us = $2 WHERE lease_id = $1) "
    "UPDATE leases SET expires_us = $2 WHERE id = $1";
inline constexpr char kDeleteLease[] = "DELETE FROM leases WHERE id = $1";
// The leases live at $1 (deadline after it) with their keys, by id, then keyspace name ("C"
// collation: byte order) and key; a lease without keys is one row of NULL keys.
inline constexpr char kLiveLeasesWithKeys[] =
    "SELECT l.id, l.ttl_ms, l.expires_us, k.name, e.key FROM leases l "
    "LEFT JOIN entries e ON e.lease_id = l.id LEFT JOIN keyspaces k ON k.id = e.keyspace_id "
    "WHERE l.expires_us > $1 ORDER BY l.id, k.name, e.key";
// Lease $1 with its keys, in the same shape (no rows: no such lease).
inline constexpr char kLeaseWithKeys[] =
    "SELECT l.id, l.ttl_ms, l.expires_us, k.name, e.key FROM leases l "
    "LEFT JOIN entries e ON e.lease_id = l.id LEFT JOIN keyspaces k ON k.id = e.keyspace_id "
    "WHERE l.id = $1 ORDER BY k.name, e.key";
// The end of lease $1 for its keys in unredacted keyspaces, in one statement (as the sweep's
// batch): deleted, and their changes recorded in revision $2 at seqs $3 + 1.., by keyspace name
// then key — kind $4 (0: the revoking body's erases; 1: the lease's expiry, with the deadline
// that passed); the keys of bounded keyspaces leave their counts (invariant 10). Returns each key
// with its keyspace's name, in seq order.
inline constexpr char kEndLeaseUnredacted[] =
    "WITH gone AS (DELETE FROM entries e USING keyspaces k WHERE e.lease_id = $1 "
    "AND k.id = e.keyspace_id AND NOT k.redacted "
    "RETURNING k.name, e.keyspace_id, e.key, e.type, e.value, e.expires_us, e.write_order), "
    "counted AS (UPDATE keyspace_bounds b SET key_count = b.key_count - g.n FROM "
    "(SELECT keyspace_id, count(*) AS n FROM gone WHERE write_order IS NOT NULL "
    "GROUP BY keyspace_id) g WHERE b.keyspace_id = g.keyspace_id), "
    "numbered AS (SELECT gone.*, row_number() OVER (ORDER BY name, key) AS n FROM gone), "
    "recorded AS (INSERT INTO changes (revision, seq, keyspace_id, key, kind, old_type, "
    "old_value, new_type, new_value, expires_us, redacted) SELECT $2, $3 + n, keyspace_id, key, "
    "$4::smallint, CASE WHEN type BETWEEN 0 AND 5 THEN type END, "
    "CASE WHEN type BETWEEN 0 AND 5 THEN value END, NULL, NULL, "
    "CASE WHEN $4 = 1 THEN expires_us END, false FROM numbered) "
    "SELECT name, key FROM numbered ORDER BY n";
// The keys of lease $1 in redacted keyspaces with their rows (kDueRedactedKeys' columns), by
// keyspace name then key: their history holds digests made by the engine, one by one.
inline constexpr char kLeaseRedactedKeys[] =
    "SELECT k.name, e.keyspace_id, e.key, e.type, e.value, e.version, e.expires_us "
    "FROM entries e JOIN keyspaces k ON k.id = e.keyspace_id WHERE e.lease_id = $1 "
    "AND k.redacted ORDER BY k.name, e.key";
// The lease that expired first by $1, if any (the sweep ends leases before single keys).
inline constexpr char kDueLease[] =
    "SELECT id FROM leases WHERE expires_us <= $1 ORDER BY expires_us, id LIMIT 1";

// Bounded keyspaces (0004_bounded_keyspaces.sql; PgTransaction invariant 10).
inline constexpr char kSelectKeyBound[] =
    "SELECT max_keys, key_count FROM keyspace_bounds WHERE keyspace_id = $1";
// A new bound marks the keyspace's keys with their write order and counts them, in one statement.
inline constexpr char kInsertKeyBound[] =
    "WITH marked AS (UPDATE entries SET write_order = version WHERE keyspace_id = $1 "
    "RETURNING 1) INSERT INTO keyspace_bounds (keyspace_id, max_keys, key_count) "
    "SELECT $1, $2, count(*) FROM marked";
inline constexpr char kUpdateKeyBound[] =
    "UPDATE keyspace_bounds SET max_keys = $2 WHERE keyspace_id = $1";
// Removing a bound clears the marks with it.
inline constexpr char kDeleteKeyBound[] =
    "WITH cleared AS (UPDATE entries SET write_order = NULL WHERE keyspace_id = $1 "
    "AND write_order IS NOT NULL) DELETE FROM keyspace_bounds WHERE keyspace_id = $1";
// Every keyspace holding more keys than its bound, with its excess and, by
// entries_by_write_order, its least recently written keys — as many as the excess, smallest
// (write_order, key) first — each with kSelectEntry's columns; a keyspace over its bound that
// holds no marked key is one row of NULL key (its count drifted). Columns: name, keyspace id,
// redacted, excess, key, type, value, version, expires_us, lease_id.
inline constexpr char kOverBoundVictims[] =
    "SELECT k.name, b.keyspace_id, k.redacted, b.key_count - b.max_keys, v.key, v.type, v.value, "
    "v.version, v.expires_us, v.lease_id FROM keyspace_bounds b "
    "JOIN keyspaces k ON k.id = b.keyspace_id LEFT JOIN LATERAL "
    "(SELECT e.key, e.type, e.value, e.version, e.expires_us, e.lease_id, e.write_order "
    "FROM entries e WHERE e.keyspace_id = b.keyspace_id AND e.write_order IS NOT NULL "
    "ORDER BY e.write_order, e.key LIMIT b.key_count - b.max_keys) v ON true "
    "WHERE b.key_count > b.max_keys ORDER BY k.name, v.write_order, v.key";

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

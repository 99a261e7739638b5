// The SQL the library runs, in one place. Every statement binds its inputs; none is built from
// user text.
#ifndef STATESTORE_SRC_SCHEMA_SQL_H_
#define STATESTORE_SRC_SCHEMA_SQL_H_

namespace statestore::internal::sql {

inline constexpr char kSelectKeyspace[] = "SELECT id, redacted FROM keyspaces WHERE name = ?1";
inline constexpr char kInsertKeyspace[] = "INSERT INTO keyspaces (name, redacted) VALUES (?1, ?2)";
inline constexpr char kMarkKeyspaceRedacted[] = "UPDATE keyspaces SET redacted = 1 WHERE id = ?1";
inline constexpr char kListKeyspaces[] = "SELECT name FROM keyspaces ORDER BY name";

inline constexpr char kSelectEntry[] =
    "SELECT type, value, version, expires_us, lease_id, bounded FROM entries "
    "WHERE keyspace_id = ?1 AND key = ?2";
inline constexpr char kUpsertEntry[] =
    "INSERT INTO entries (keyspace_id, key, type, value, version, expires_us, lease_id, bounded) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
    "ON CONFLICT (keyspace_id, key) DO UPDATE SET type = excluded.type, value = excluded.value, "
    "version = excluded.version, expires_us = excluded.expires_us, lease_id = excluded.lease_id";
inline constexpr char kDeleteEntry[] = "DELETE FROM entries WHERE keyspace_id = ?1 AND key = ?2";
// Point read for the read cache: the entry, by keyspace name, together with the head revision of
// the same snapshot (ReadCache invariant 5). One statement, and the name is resolved by SQLite's
// index rather than this process's KeyspaceDirectory, so uncached readers share no lock.
inline constexpr char kSelectEntryAtHead[] =
    "SELECT m.value, e.type, e.value, e.version, e.expires_us, e.lease_id FROM meta m "
    "LEFT JOIN keyspaces k ON k.name = ?1 "
    "LEFT JOIN entries e ON e.keyspace_id = k.id AND e.key = ?2 WHERE m.name = 'head_revision'";
inline constexpr char kHeadRevisionNow[] = "SELECT value FROM meta WHERE name = 'head_revision'";
// The keys changed by revisions (?1, ?2] (?2 = 0: up to the head), with the head and the
// compaction watermark of the same snapshot in every row; one row of NULL keys when none
// (history_change_feed.h). At most ?3 rows. Reads the changes' id range that the commits of the
// range name (0010_changes_by_commit_range.sql), over at most ?3 revisions: every retained
// revision above the watermark has a change, so a longer range has more than ?3 rows anyway
// (HistoryChangeFeed::ChangedKeys answers "too many" for it before looking at the rows).
inline constexpr char kChangedKeysSince[] =
    "WITH m AS (SELECT (SELECT value FROM meta WHERE name = 'head_revision') AS head, "
    "(SELECT value FROM meta WHERE name = 'compacted_through') AS compacted), "
    "r AS (SELECT head, compacted, min(CASE WHEN ?2 > 0 THEN ?2 ELSE head END, ?1 + ?3) AS upto "
    "FROM m), "
    "b AS (SELECT r.head, r.compacted, r.upto, min(c.first_change) AS first_id, "
    "max(c.last_change) AS last_id FROM r LEFT JOIN commits c ON c.revision > ?1 "
    "AND c.revision <= r.upto) "
    "SELECT b.head, b.compacted, k.name, c.key FROM b "
    "LEFT JOIN changes c ON c.id BETWEEN b.first_id AND b.last_id AND c.revision > ?1 "
    "AND c.revision <= b.upto "
    "LEFT JOIN keyspaces k ON k.id = c.keyspace_id LIMIT ?3";
// ?5 (kListRange) / ?4 (kListFrom): now, microseconds; keys whose deadline has passed are left out.
inline constexpr char kListRange[] =
    "SELECT key, type, value, version, expires_us, lease_id FROM entries WHERE keyspace_id = ?1 "
    "AND key >= ?2 AND key < ?3 AND (expires_us IS NULL OR expires_us > ?5) ORDER BY key LIMIT ?4";
inline constexpr char kListFrom[] =
    "SELECT key, type, value, version, expires_us, lease_id FROM entries WHERE keyspace_id = ?1 "
    "AND key >= ?2 AND (expires_us IS NULL OR expires_us > ?4) ORDER BY key LIMIT ?3";

// Time-to-live sweep (0006_time_to_live.sql): the earliest deadline of a key or a lease, and a
// batch of keys due by ?1 (now, microseconds), oldest deadline first, at most ?2. Keys attached
// to a lease are left to the lease's expiry (kDueLease), which takes them all in one revision.
inline constexpr char kEarliestDeadline[] =
    "SELECT min(d) FROM (SELECT min(expires_us) AS d FROM entries WHERE expires_us IS NOT NULL "
    "UNION ALL SELECT min(expires_us) FROM leases)";
// kDueKeys orders by (deadline, keyspace id, key) — a total order, so kExpireChanges, run right
// after it in the same transaction, picks the same rows of unredacted keyspaces: the first ?4 of
// them. (Their rows are then deleted one by one by primary key: a DELETE ... WHERE (keyspace_id,
// key) IN (subquery) is planned as a scan of the whole keyspace.) A row whose stored tag is outside
// the schema's range is recorded as absent (value_codec.h), as a write over it would.
inline constexpr char kDueKeys[] =
    "SELECT k.name, e.key, k.redacted, e.keyspace_id, e.bounded FROM entries e "
    "JOIN keyspaces k ON k.id = e.keyspace_id "
    "WHERE e.expires_us IS NOT NULL AND e.expires_us <= ?1 AND e.lease_id IS NULL "
    "ORDER BY e.expires_us, e.keyspace_id, e.key LIMIT ?2";
// ?1 revision, ?2 the seq before the first row, ?3 now, ?4 how many.
inline constexpr char kExpireChanges[] =
    "INSERT INTO changes (revision, seq, keyspace_id, key, old_type, old_value, new_type, "
    "new_value, redacted, kind, expires_us) "
    "SELECT ?1, ?2 + row_number() OVER (ORDER BY d.expires_us, d.keyspace_id, d.key), "
    "d.keyspace_id, d.key, CASE WHEN d.type BETWEEN 0 AND 5 THEN d.type END, "
    "CASE WHEN d.type BETWEEN 0 AND 5 THEN d.value END, NULL, NULL, 0, 1, d.expires_us "
    "FROM (SELECT e.keyspace_id, e.key, e.type, e.value, e.expires_us FROM entries e "
    "JOIN keyspaces k ON k.id = e.keyspace_id WHERE k.redacted = 0 AND e.expires_us IS NOT NULL "
    "AND e.expires_us <= ?3 AND e.lease_id IS NULL ORDER BY e.expires_us, e.keyspace_id, e.key "
    "LIMIT ?4) AS d "
    "ORDER BY d.expires_us, d.keyspace_id, d.key";

// Leases (0007_leases.sql). Deadlines are microseconds; ?now is the transaction's time.
// The id: past every id the file's AUTOINCREMENT sequence handed out and past the largest id held
// (AUTOINCREMENT's own rule, which also covers a file whose sqlite_sequence row went missing), and
// past ?3, the largest this process handed out in grants that may have rolled back
// (TransactionImpl::lease_id_floor_).
inline constexpr char kInsertLease[] =
    "INSERT INTO leases (id, ttl_ms, expires_us) VALUES (max(?3, coalesce((SELECT seq FROM "
    "sqlite_sequence WHERE name = 'leases'), 0), coalesce((SELECT max(id) FROM leases), 0)) + 1, "
    "?1, ?2)";
inline constexpr char kSelectLease[] = "SELECT ttl_ms, expires_us FROM leases WHERE id = ?1";
inline constexpr char kRenewLease[] = "UPDATE leases SET expires_us = ?2 WHERE id = ?1";
inline constexpr char kRenewLeaseKeys[] = "UPDATE entries SET expires_us = ?2 WHERE lease_id = ?1";
inline constexpr char kDeleteLease[] = "DELETE FROM leases WHERE id = ?1";
inline constexpr char kLiveLeases[] =
    "SELECT id, ttl_ms, expires_us FROM leases WHERE expires_us > ?1 ORDER BY id";
// The keys of a lease, by keyspace name then key (with what a write of them needs).
inline constexpr char kLeaseKeys[] =
    "SELECT k.name, e.key, k.id, k.redacted, e.bounded FROM entries e JOIN keyspaces k ON k.id = "
    "e.keyspace_id "
    "WHERE e.lease_id = ?1 ORDER BY k.name, e.key";
// EndLease's history rows for the keys of lease ?4 in unredacted keyspaces, in kLeaseKeys order:
// ?1 revision, ?2 the seq before the first row, ?3 the kind (0 an erase by revoke, 1 an expiry,
// which keeps the deadline that passed). A tag outside the schema's range is recorded as absent,
// as a write over it would. Then kDeleteUnredactedLeaseKeys removes the same rows.
inline constexpr char kEndLeaseChanges[] =
    "INSERT INTO changes (revision, seq, keyspace_id, key, old_type, old_value, new_type, "
    "new_value, redacted, kind, expires_us) "
    "SELECT ?1, ?2 + row_number() OVER (ORDER BY k.name, e.key), e.keyspace_id, e.key, "
    "CASE WHEN e.type BETWEEN 0 AND 5 THEN e.type END, "
    "CASE WHEN e.type BETWEEN 0 AND 5 THEN e.value END, NULL, NULL, 0, ?3, "
    "CASE WHEN ?3 = 1 THEN e.expires_us END "
    "FROM entries e JOIN keyspaces k ON k.id = e.keyspace_id "
    "WHERE e.lease_id = ?4 AND k.redacted = 0 ORDER BY k.name, e.key";
inline constexpr char kDeleteUnredactedLeaseKeys[] =
    "DELETE FROM entries WHERE lease_id = ?1 AND keyspace_id IN "
    "(SELECT id FROM keyspaces WHERE redacted = 0)";
// The lease that expired first by ?1, if any.
inline constexpr char kDueLease[] =
    "SELECT id FROM leases WHERE expires_us <= ?1 ORDER BY expires_us, id LIMIT 1";

// Bounded keyspaces (0008_bounded_keyspaces.sql; TransactionImpl invariant 9).
inline constexpr char kSelectKeyBound[] =
    "SELECT max_keys, key_count FROM keyspace_bounds WHERE keyspace_id = ?1";
// A new bound counts the keys the keyspace holds (kMarkBoundedKeys has marked them first).
inline constexpr char kInsertKeyBound[] =
    "INSERT INTO keyspace_bounds (keyspace_id, max_keys, key_count) "
    "SELECT ?1, ?2, count(*) FROM entries WHERE keyspace_id = ?1";
inline constexpr char kUpdateKeyBound[] =
    "UPDATE keyspace_bounds SET max_keys = ?2 WHERE keyspace_id = ?1";
inline constexpr char kDeleteKeyBound[] = "DELETE FROM keyspace_bounds WHERE keyspace_id = ?1";
// ?2: 1 (bounded) or NULL.
inline constexpr char kMarkBoundedKeys[] = "UPDATE entries SET bounded = ?2 WHERE keyspace_id = ?1";
inline constexpr char kAdjustKeyCount[] =
    "UPDATE keyspace_bounds SET key_count = key_count + ?2 WHERE keyspace_id = ?1";
// A keyspace holding more keys than its bound, with the excess, and its name.
inline constexpr char kOverBound[] =
    "SELECT b.keyspace_id, b.key_count - b.max_keys, k.name FROM keyspace_bounds b "
    "JOIN keyspaces k ON k.id = b.keyspace_id WHERE b.key_count > b.max_keys LIMIT 1";
// The ?2 least recently written keys of bounded keyspace ?1, by entries_by_write_order.
inline constexpr char kLeastRecentlyWritten[] =
    "SELECT key FROM entries WHERE keyspace_id = ?1 AND bounded IS NOT NULL "
    "ORDER BY version, key LIMIT ?2";

inline constexpr char kSelectMeta[] = "SELECT value FROM meta WHERE name = ?1";
inline constexpr char kUpdateMeta[] = "UPDATE meta SET value = ?2 WHERE name = ?1";

// ?6, ?7: the first and last id of the commit's change rows (TransactionImpl invariant 2).
inline constexpr char kInsertCommit[] =
    "INSERT INTO commits (revision, time_us, pid, thread_id, label, first_change, last_change) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
inline constexpr char kInsertChange[] =
    "INSERT INTO changes (revision, seq, keyspace_id, key, old_type, old_value, new_type, "
    "new_value, redacted, kind, expires_us) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";
inline constexpr char kSelectCommit[] =
    "SELECT revision, time_us, pid, thread_id, label, partial FROM commits WHERE revision = ?1";
// A revision's changes, through its commit row's id range (0010_changes_by_commit_range.sql).
inline constexpr char kSelectChangesOf[] =
    "SELECT k.name, c.key, c.old_type, c.old_value, c.new_type, c.new_value, c.redacted, c.kind, "
    "c.expires_us FROM commits m CROSS JOIN changes c ON c.id BETWEEN m.first_change AND "
    "m.last_change AND c.revision = m.revision JOIN keyspaces k ON k.id = c.keyspace_id "
    "WHERE m.revision = ?1 ORDER BY c.seq";
inline constexpr char kLaterChangeOfKey[] =
    "SELECT min(revision) FROM changes WHERE keyspace_id = ?1 AND key = ?2 AND revision > ?3";

// Per-keyspace history retention (migrations/sqlite/0004_history_policy.sql).
inline constexpr char kSelectKeyspaceHistory[] =
    "SELECT k.id, k.name, h.keep_revisions, h.keep_for_s, h.keep_none, "
    "coalesce(h.compacted_through, 0), coalesce(h.scanned_through, 0) FROM keyspaces k "
    "LEFT JOIN keyspace_history h ON h.keyspace_id = k.id";
inline constexpr char kSelectKeyspaceHistoryByName[] =
    "SELECT k.id, k.name, h.keep_revisions, h.keep_for_s, h.keep_none, "
    "coalesce(h.compacted_through, 0), coalesce(h.scanned_through, 0) FROM keyspaces k "
    "LEFT JOIN keyspace_history h ON h.keyspace_id = k.id WHERE k.name = ?1";
inline constexpr char kStorePolicy[] =
    "INSERT INTO keyspace_history (keyspace_id, keep_revisions, keep_for_s, keep_none) "
    "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (keyspace_id) DO UPDATE SET "
    "keep_revisions = excluded.keep_revisions, keep_for_s = excluded.keep_for_s, "
    "keep_none = excluded.keep_none";
inline constexpr char kClearPolicy[] =
    "UPDATE keyspace_history SET keep_revisions = NULL, keep_for_s = NULL, keep_none = NULL "
    "WHERE keyspace_id = ?1";
inline constexpr char kStoreCompaction[] =
    "INSERT INTO keyspace_history (keyspace_id, compacted_through, scanned_through) "
    "VALUES (?1, ?2, ?3) ON CONFLICT (keyspace_id) DO UPDATE SET "
    "compacted_through = excluded.compacted_through, scanned_through = excluded.scanned_through";

// What a write transaction starts from: the head revision and the time of the newest commit
// (commit times never decrease; migrations/sqlite/0005_history_indexes.sql). The time is NULL when
// there is no commit.
inline constexpr char kSelectWriteStart[] =
    "SELECT (SELECT value FROM meta WHERE name = 'head_revision'), "
    "(SELECT time_us FROM commits ORDER BY revision DESC LIMIT 1)";
// The first commit at or after revision ?1 (bisection by time; history_log.cc).
inline constexpr char kCommitAtOrAfter[] =
    "SELECT revision, time_us FROM commits WHERE revision >= ?1 ORDER BY revision LIMIT 1";

inline constexpr char kHeadRevision[] = "head_revision";
inline constexpr char kCompactedThrough[] = "compacted_through";
inline constexpr char kTimeOrderedFrom[] = "time_ordered_from";

}  // namespace statestore::internal::sql

#endif  // STATESTORE_SRC_SCHEMA_SQL_H_

// statestore admin — what operators and tools (statectl) need beyond the application API:
// an inspection report, a consistency check, online backup and restore, migration status and a
// token-free view of every session.
//
// Every function here reads through its own short-lived, read-only SQLite connection (defensive
// mode, trusted_schema=OFF) unless it says otherwise, and never exposes a session token. Functions
// that take a Store& use it only to find the file (Store::path()) and for the public API; open
// the Store read-only (Options::read_only) when you only want to look.
//
// PostgreSQL. Every function also works on a Store opened with a connection string, and
// GetMigrationStatus and Restore take one where they take a path. There each read is one
// REPEATABLE READ, READ ONLY transaction of the Store's own connections (one snapshot, as on
// SQLite), and what only an SQLite file has is reported as not applicable, never made up. The
// differences are stated at each function ("On PostgreSQL:").
//
// Thread safety: each function is safe to call from any thread, concurrently with any other use
// of the Store and with other processes writing the file.
#ifndef STATESTORE_ADMIN_H_
#define STATESTORE_ADMIN_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "statestore/history.h"
#include "statestore/options.h"
#include "statestore/revision.h"
#include "statestore/session.h"
#include "statestore/value.h"

namespace statestore {

class Store;

// Called now and then by long operations with the work done so far and the total (same unit,
// e.g. pages or rows; total may grow). Runs on the calling thread; must not throw.
using ProgressCallback = std::function<void(std::uint64_t done, std::uint64_t total)>;

struct KeyspaceInfo {
  std::string name;
  std::uint64_t keys = 0;
  bool redacted = false;  // history stores digests (Options::redacted_keyspaces)
  // Its bound (Transaction::set_max_keys), or nullopt when it has none.
  std::optional<std::uint64_t> max_keys;
  // History of this keyspace (filled by Inspect only; ListKeyspaces leaves the defaults).
  // The policy retention applies, as Store::history_policy says (kGlobal: Options of `store`).
  EffectiveHistoryPolicy history_policy;
  std::uint64_t history_changes = 0;  // change rows retained
  // Approximate bytes those rows take in the file: the pages of the `changes` table and its
  // index (SQLite's dbstat), shared out by row count; without dbstat, the bytes of the rows'
  // keys and values (InspectReport::history_bytes_exact says which).
  std::uint64_t history_bytes = 0;
  Revision history_first = 1;  // first revision of its complete history (history_bounds(name))
};

// PostgreSQL only: one standby streaming from the server Inspect read (a row of its
// pg_stat_replication). Its details (state onwards) need superuser or pg_read_all_stats to see:
// without them the server shows NULL (details_visible false, the rest empty or unknown).
struct PgStandbyInfo {
  std::string name;            // application_name: what synchronous_standby_names matches
  std::string client_address;  // client_addr; empty when it connected over a unix socket
  std::string state;           // "streaming", "catchup", "startup", "backup" or "stopping"
  std::string sync_state;      // "sync" or "quorum" (commits wait for it), "potential", "async"
  bool details_visible = true;
  // How long ago the server flushed WAL that this standby has only now written, flushed, or
  // replayed (pg_stat_replication write_lag, flush_lag, replay_lag), in milliseconds. nullopt
  // when the server shows NULL: nothing measured yet, or the standby caught up and the server has
  // been idle for a while (the lag is then in effect 0).
  std::optional<double> write_lag_ms;
  std::optional<double> flush_lag_ms;
  std::optional<double> replay_lag_ms;
  // WAL bytes the server has written that this standby has not replayed yet
  // (pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)); nullopt before it replayed anything.
  std::optional<std::uint64_t> replay_bytes_behind;
};

struct InspectReport {
  std::string path;                     // canonical path
  int schema_version = 0;               // PRAGMA user_version of the file
  int library_schema_version = 0;       // SchemaVersion() of this library
  std::string journal_mode;             // "wal" for every usable statestore file
  std::uint64_t page_size = 0;          // bytes
  std::uint64_t page_count = 0;         // pages in the main file (as of the snapshot)
  std::uint64_t freelist_count = 0;     // unused pages
  std::uint64_t file_bytes = 0;         // size of the main file on disk
  std::uint64_t wal_bytes = 0;          // size of the -wal file (0 if absent)
  std::vector<KeyspaceInfo> keyspaces;  // sorted by name
  std::uint64_t sessions_live = 0;
  std::uint64_t sessions_expired = 0;  // expired, not swept yet
  // Keys with a time-to-live (Entry::expires_at) whose deadline is ahead / has passed but that
  // the sweep has not removed yet, and leases (lease.h) alike; by this machine's clock (on
  // PostgreSQL by the server's, the clock the engine decides by).
  std::uint64_t keys_with_ttl = 0;
  std::uint64_t keys_expired = 0;
  std::uint64_t leases_live = 0;
  std::uint64_t leases_expired = 0;
  HistoryBounds history;
  std::uint64_t commits_retained = 0;
  std::uint64_t commits_partial = 0;       // retained commits missing some keyspaces' changes
  bool history_bytes_from_dbstat = false;  // see KeyspaceInfo::history_bytes
  std::string integrity;  // "ok", or what PRAGMA integrity_check reported (first lines)

  // "sqlite" or "postgresql". On a PostgreSQL store the fields that describe an SQLite file have
  // no meaning and say so instead of being made up: journal_mode and integrity are
  // "n/a (postgresql)", page_size, page_count, freelist_count and wal_bytes are 0, file_bytes is
  // the sum of `tables`, and history_bytes_from_dbstat is true (history bytes are the measured
  // size of the `changes` table and its indexes, shared out by row count).
  std::string engine = "sqlite";
  // PostgreSQL only: each table of the store's schema with pg_total_relation_size (rows, indexes
  // and TOAST), sorted by name; and the server settings an acknowledged commit's durability
  // depends on (fsync, synchronous_commit, synchronous_standby_names, full_page_writes).
  // server_settings holds each setting's reset_val: the server's default for a session (its
  // configuration, ALTER DATABASE/ROLE, the connection's options), which is what other clients
  // get. statestore's own sessions SET synchronous_commit from Options::durability (kFull: on,
  // kNormal: off), whatever the default.
  std::vector<std::pair<std::string, std::uint64_t>> table_bytes;
  std::vector<std::pair<std::string, std::string>> server_settings;
  // PostgreSQL only: the server the report was read from, as the Store's connection reached it
  // (libpq PQhost/PQport; with a multi-host URI, the host that answered): a host name or
  // address, or the directory of its unix socket (then server_host starts with '/').
  std::string server_host;
  std::string server_port;
  // pg_is_in_recovery(): the server is a standby (a Store opened read-only on it directly;
  // target_session_attrs=read-write in the URI reaches the primary instead).
  bool in_recovery = false;
  // Standbys streaming from the server, sorted by name. Read on a primary only: empty on a
  // standby (in_recovery), whose own standbys (cascading) are not reported.
  std::vector<PgStandbyInfo> standbys;
  // Why an acknowledged commit could be lost or could wait, from server_settings, in_recovery and
  // standbys: one sentence each, empty when none applies (and always on SQLite).
  std::vector<std::string> durability_warnings;
};

// Everything in the report is read from one snapshot. `check_integrity` = false skips PRAGMA
// integrity_check (integrity is then "skipped"), which reads the whole file. On a PostgreSQL
// store (Store::open of a connection string) the snapshot is one REPEATABLE READ, READ ONLY
// transaction and check_integrity has no effect (InspectReport::engine); the replication facts
// (server_host, in_recovery, standbys) come from the same connection, pg_stat_replication being
// live rather than part of the snapshot.
// Throws: Error(kCorruption) for a damaged file; kIoError.
InspectReport Inspect(Store& store, bool check_integrity = true);

// The keyspaces that exist, with key counts and redaction flags, from one snapshot.
// Throws: as Inspect.
std::vector<KeyspaceInfo> ListKeyspaces(Store& store);

// The names of the keyspaces the file marks redacted (history holds digests), sorted. Cheaper
// than ListKeyspaces (no key counts). A keyspace's flag only ever goes from false to true.
// Throws: as Inspect.
std::vector<std::string> RedactedKeyspaces(Store& store);

// Argument checks for tools, so that a bad name is refused before any file is opened or created.
// Each throws Error(kInvalidArgument) with the message the API would give for the same input
// (the rules of statestore/value.h): a keyspace name, a key, a list() prefix, a value stored
// under `keyspace`/`key`. Nothing is opened.
void CheckKeyspaceName(std::string_view keyspace);
void CheckKey(std::string_view key);
void CheckKeyPrefix(std::string_view prefix);
void CheckValue(std::string_view keyspace, std::string_view key, const Value& value);

// One problem found by Verify. `revision` is 0 when the problem is not about one revision
// (integrity_check, foreign keys, counters).
struct VerifyProblem {
  Revision revision = 0;
  std::string keyspace;
  std::string key;
  std::string message;
};

struct VerifyReport {
  std::string integrity;  // "ok" or the messages of PRAGMA integrity_check
  std::uint64_t commits_checked = 0;
  std::uint64_t changes_checked = 0;
  std::uint64_t keys_checked = 0;
  // Comparisons of a current value with a redacted-history digest that could not be made because
  // the Store has no redaction key (Store::has_redaction_key; a read-only open without the key
  // file). Not a problem: they are "not verifiable without the redaction key" (`note` says so).
  std::uint64_t unverifiable = 0;
  std::string note;                     // empty, or why some checks could not be made
  std::vector<VerifyProblem> problems;  // empty: the file is consistent
  bool ok() const { return problems.empty(); }
};

// Checks, on one snapshot: PRAGMA integrity_check; PRAGMA foreign_key_check; that every retained
// revision first..head (HistoryBounds) has a commit row with at least one change and no change
// lacks a commit (older commits may remain where other keyspaces' changes were removed);
// that for every key the retained history chains (each change's old value is the previous
// change's new value), the last new value is the current state and the key's version is the last
// revision that wrote it; that every key written after its keyspace's compacted revision has
// history (retention is per keyspace, HistoryPolicy); and that each keyspace's retention
// watermark is consistent with the store's and left none of its changes behind.
// Redacted keyspaces are compared by digest. Problems are reported, not thrown.
// On PostgreSQL: the same history/state checks on one REPEATABLE READ snapshot, plus meta
// head_revision equals the newest commit and every stored value decodes; integrity is
// "n/a (postgresql)" (no integrity_check or foreign_key_check: the server checks its pages and
// enforces the foreign keys). `progress` counts changes.
// Throws: Error(kIoError) or kCorruption only when the file cannot be read at all.
VerifyReport Verify(Store& store, const ProgressCallback& progress = {});

struct BackupResult {
  Revision revision = 0;    // head revision of the copy
  std::uint64_t pages = 0;  // pages copied
  std::uint64_t bytes = 0;  // size of the copy
};

// Copies the database into `dest_path` (a new file, mode 0600, in WAL mode, checkpointed into a
// single file) with SQLite's VACUUM INTO: the copy is compact (no free pages, whatever the
// source's freelist) and in incremental auto-vacuum mode (even when the source is a file
// created before that mode, so backup + restore also converts a file). Consistency while other
// threads and processes write: VACUUM INTO reads the source in ONE read transaction, so the copy is
// one snapshot (never a mix of revisions); writers are not blocked, but the WAL cannot be
// checkpointed past that snapshot until the copy ends. The copy passes PRAGMA quick_check before
// it gets its name. The redaction key file (NAME-key) is not copied: keep it with the backup
// separately if the copy's redacted history must be verifiable. `progress` (pages) is called
// once before (0 of the source's live pages) and once after the copy; `pages_per_step` is
// checked but no longer used (VACUUM INTO copies in one statement) and kept for callers.
// Crash safety: the copy is written under a temporary name in the destination's directory
// (".NAME.backup-XXXXXX"), fsync'ed, and renamed onto `dest_path` only when complete (never over
// a file that appeared meanwhile); a backup killed at any point leaves no `dest_path` — at most
// that hidden temporary file, which nothing else reads and which may be deleted.
// On PostgreSQL: `dest_path` becomes an SQLite statestore file holding the store's state,
// history, keyspaces, policies and retention state from one REPEATABLE READ snapshot (writers are
// not blocked), made under the same temporary name and renamed the same way; `pages` and `bytes`
// describe that file and `progress` counts rows. It records the store's redaction key
// fingerprint; the key stored in the schema (not one given only as Options::redaction_key) is
// written to "DEST-key" (mode 0600), where the SQLite engine finds it. A row that does not decode
// stops the backup (kCorruption). DEST-key existing is kInvalidArgument, as DEST existing.
// Throws: Error(kInvalidArgument) if dest_path exists, is empty or is the source; kIoError,
// kFull when the copy cannot be written (the partial copy is removed).
BackupResult Backup(Store& store, const std::string& dest_path,
                    const ProgressCallback& progress = {}, int pages_per_step = 256);

// Replaces the contents of `target_path` (created, mode 0600, if missing) by those of
// `source_path` with the online backup API. The source must be a statestore database (same
// checks as Store::open read-only, plus PRAGMA quick_check); an existing target must be a
// statestore database or empty. The copy is one write transaction on the target, after which the
// change counter beside the target gets a fresh value.
// REQUIRES: no Store (in any process, this one included; read-only ones and `statectl follow`
// count) has the target open: processes keep per-file state (keyspace ids, revisions, cached
// values) that a restore invalidates. This is checked, not trusted: every Store holds a shared
// presence lock on the file (an OFD lock on one byte far beyond SQLite's lock bytes), and
// Restore takes it exclusively without waiting, refusing with kBusy "other processes have PATH
// open; stop them before restoring" and changing nothing. It holds the lock until it returns,
// so a Store::open of the target meanwhile waits up to its busy_timeout and then fails with
// kBusy "a restore (or another exclusive operation) holds PATH".
// On PostgreSQL (`target_path` a connection string; schema "statestore"): `source_path` must be
// an SQLite statestore file at this library's schema version (a Backup of either engine), and
// the target store must be new or empty — a store with any keyspace, key or commit is refused
// with kInvalidArgument and left unchanged (unlike a file, it is not replaced). The schema is
// created or migrated, then every row is written in one server transaction under the store's
// write lock (others see all or nothing). The key file beside the source, when it matches the
// source's fingerprint, becomes the key stored in the schema; without it, writable opens of
// the target need Options::redaction_key. REQUIRES (not checked on PostgreSQL): no other
// process has the target open. `pages` is the rows written, `bytes` the tables' size after.
// A connection string as `source_path` is kInvalidArgument (back it up to a file first).
// Throws: Error(kInvalidArgument) for a bad path, the same file twice or a hard-linked target;
// kBusy (the target is open, or its write lock was not had within 5 s); kCorruption /
// kSchemaTooNew for an unusable source or target; kIoError, kFull.
// `postgres`: only its schema is read, the target store's on PostgreSQL (an SQLite target
// refuses any but the default, as Store::open does).
BackupResult Restore(const std::string& source_path, const std::string& target_path,
                     const ProgressCallback& progress = {}, int pages_per_step = 256,
                     const PostgresOptions& postgres = {});

struct VacuumResult {
  std::uint64_t page_size = 0;          // bytes
  std::uint64_t pages_before = 0;       // PRAGMA page_count before
  std::uint64_t pages_after = 0;        // and after
  std::uint64_t free_pages_before = 0;  // PRAGMA freelist_count before
  std::uint64_t free_pages_after = 0;   // and after (0 unless writers freed pages meanwhile)
  std::uint64_t bytes_before = 0;       // size of the main file on disk before
  // ... and after. Larger than pages_after * page_size only if the closing checkpoint could not
  // finish (readers of older snapshots); the file then shrinks at the Store's next checkpoint.
  std::uint64_t bytes_after = 0;
  std::string auto_vacuum_before;  // "none", "full" or "incremental"
  std::string auto_vacuum_after;   // "incremental"
};

// Rewrites the whole file compactly (SQLite's VACUUM) and switches it to incremental
// auto-vacuum, so that from then on the pages that retention and session sweeps free go back
// to the file system in small steps by themselves (Stats::free_pages_returned). Files created by
// this version are incremental already and rarely need it; older files need it once.
// Cost: VACUUM holds the file's write lock for its whole duration (seconds per GiB): writers
// of every process wait for it, up to their busy_timeout, and then fail with kBusy. Readers are
// not blocked. It needs free disk space of about the size of the live data twice: a temporary
// copy (SQLite's temp directory, $SQLITE_TMPDIR) and the rewritten pages in the -wal beside the
// file. Keys, values, history and revisions are unchanged.
// Uses its own connection, with store.options().busy_timeout to wait for the write lock.
// Throws: Error(kReadOnly) if `store` was opened read-only; kFull if the file system holding the
// file has less free space than the live data (checked before starting) or filled up (nothing
// changed: VACUUM is one transaction); kBusy if the write lock was not had within busy_timeout;
// kIoError, kCorruption.
// On PostgreSQL: VACUUM (ANALYZE) of the store's tables on a connection of its own. It blocks
// neither readers nor writers, makes the space of deleted rows reusable and refreshes the
// planner's statistics; it does not give space back to the operating system (VACUUM FULL or
// pg_repack do, but lock the tables: left to the database administrator). page_size is the
// server's block size, pages_* the tables' main-fork pages, bytes_* their
// pg_total_relation_size, free_pages_* 0 and auto_vacuum_* "n/a (postgresql autovacuum)".
// Throws: kReadOnly for a read-only Store; the server's error (e.g. not the tables' owner).
VacuumResult Vacuum(Store& store);

struct PendingMigration {
  int number = 0;
  std::string name;
};

struct MigrationStatus {
  int applied = 0;                        // PRAGMA user_version of the file
  int library = 0;                        // SchemaVersion()
  std::vector<PendingMigration> pending;  // migrations an open read-write would apply, in order
  bool too_new() const { return applied > library; }
};

// Reads the schema version of `path` without changing it (works on a file that needs migrating).
// `path` may be a PostgreSQL connection string: the version of its schema `postgres.schema`
// (meta 'schema_version'), against the PostgreSQL migrations this library embeds; a file
// refuses any schema but the default, as Store::open does.
// Throws: Error(kNotFound) for a missing file (or schema); kCorruption for a file that is not
// statestore's; kIoError; kUnavailable when the server cannot be reached.
MigrationStatus GetMigrationStatus(const std::string& path, const PostgresOptions& postgres = {});

struct SessionListOptions {
  bool include_expired = false;  // also sessions that expired and were not swept yet
  std::string principal;         // empty = every principal
  std::size_t limit = 0;         // 0 = no limit
};

// A session as a tool sees it: no token, no attribute values unless asked.
struct SessionAdminInfo {
  SessionInfo info;
  bool expired = false;
  std::vector<std::string> attribute_names;  // sorted
};

// Sessions sorted by creation time (oldest first), from one snapshot; expiry is judged with the
// system clock. `total`, when given, receives how many sessions matched before options.limit
// cut the list (so a tool can say "showing 50 of 1234").
// Throws: Error(kCorruption) if a stored session cannot be decoded; kIoError.
std::vector<SessionAdminInfo> ListSessions(Store& store, const SessionListOptions& options = {},
                                           std::size_t* total = nullptr);

// The session whose id starts with `short_id` (4..64 lower-case hex digits; statectl shows 12),
// with its attributes, live or expired-unswept; nullopt if none.
// Throws: Error(kInvalidArgument) for a malformed or ambiguous short id; kCorruption; kIoError.
std::optional<Session> FindSession(Store& store, std::string_view short_id,
                                   bool* expired = nullptr);

}  // namespace statestore

#endif  // STATESTORE_ADMIN_H_

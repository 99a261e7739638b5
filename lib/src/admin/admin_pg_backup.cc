// statestore/admin.h: Backup of a PostgreSQL store into an SQLite statestore file
// (admin/admin_pg.h); the way back is admin_pg_restore.cc.
//
// Backup (PostgreSQL -> SQLite file).
//   1. One snapshot: every row is read in one REPEATABLE READ, READ ONLY transaction
//      (PgStore::ReadForAdmin), through cursors, so the copy is one revision of the store, never
//      a mix, while writers carry on.
//   2. The copy is a normal statestore file: it is created by the SQLite engine itself
//      (Store::open of the temporary name, which applies every SQLite migration, sets
//      application_id, WAL mode and incremental auto-vacuum), then its tables are filled in one
//      IMMEDIATE transaction with the source's rows unchanged: keyspace ids, revisions, commit
//      times, origins, labels, partial flags, per-keyspace retention state, and history cells
//      (redacted ones stay digests). meta 'time_ordered_from' is 0: PostgreSQL commit times
//      never decrease from revision 1 on (pg_history_log.h invariant 6).
//   5. Deadlines travel with the rows: entries.expires_us, and each change's kind and
//      expires_us. SQLite stores an eviction as kind 1 without a deadline
//      (migrations/sqlite/0008_bounded_keyspaces.sql), so PostgreSQL kind 2 becomes that, and
//      kind 1 (an expiry) must carry the deadline that passed. A change the file cannot hold
//      with the same meaning — an expiry without a deadline (it would read back as an eviction),
//      an eviction with one (the deadline would be lost) — stops the backup like an undecodable
//      row.
//   6. Leases travel with the rows (the SQLite schema 7, 0007_leases.sql): every leases row with
//      its id, ttl_ms and expires_us — expired ones not swept yet too — and entries.lease_id.
//      The file's AUTOINCREMENT high-water mark (sqlite_sequence) is set to the source's
//      identity's last value when that is higher than the copied ids (revoked leases), so that a
//      grant in the copy, or in a store restored from it (admin_pg_restore.cc invariant 6),
//      never reuses an id a program may hold. Sequences are outside snapshots: the value read is
//      at least the snapshot's, which is all this needs. A user without the privilege to read
//      the sequence gets the copied ids' maximum.
//   7. Bounded keyspaces travel with the rows (the SQLite schema 8, 0008_bounded_keyspaces.sql):
//      every keyspace_bounds row with its max_keys, and entries.bounded = 1 for every key of a
//      keyspace that has one (NULL for the others), which is TransactionImpl invariant 9 in the
//      copy. The mark follows keyspace_bounds on the snapshot (PgTransaction invariant 10), not
//      entries.write_order: the SQLite engine orders a bounded keyspace by version, which
//      write_order equals. key_count is counted in the copy after its entries, in the same
//      transaction: the rows of the same snapshot, so it equals the source's count whenever the
//      source keeps invariant 10 (statectl verify on the source reports one that does not).
//   3. The redaction key: the copy records the source's fingerprint (meta
//      'redaction_key_fingerprint'). When the key is stored in the PostgreSQL schema (its
//      `redaction_key` table: the PostgreSQL engine's default, where the key travels with the
//      data anyway), it is written to "<dest>-key" (mode 0600, O_EXCL), where the SQLite engine
//      looks for it, so the copy's redacted history is verifiable and writable opens work. A key
//      given only through Options::redaction_key is never written to a file: the operator kept it
//      out of the database on purpose and passes it to opens of the copy the same way.
//   4. Crash safety as admin_backup.cc: the copy is made under ".NAME.backup-XXXXXX" beside the
//      destination, checked (quick_check), fsync'ed and renamed onto the destination only if no
//      file appeared there; the key file is written before the rename.
//   A row that does not decode (pg_value_codec.h) stops the backup with kCorruption naming it:
//   a copy must not silently differ from its source (run statectl verify).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <string>

#include "admin/admin_pg.h"
#include "admin/admin_util.h"
#include "core/redaction_key.h"
#include "postgresql/pg_connection.h"
#include "postgresql/pg_value_codec.h"
#include "sqlite/connection.h"
#include "sqlite/database_file.h"
#include "sqlite/schema_sql.h"
#include "sqlite/sql_transaction.h"
#include "sqlite/sqlite_error.h"
#include "sqlite/value_codec.h"
#include "statestore/error.h"
#include "statestore/store.h"

namespace statestore::internal {

namespace {

constexpr std::uint64_t kCopyProgressEvery = 1000;

// ---- Backup: SQLite statements (constant SQL; cached by text pointer).
constexpr char kSqliteWipe[] =
    "DELETE FROM changes; DELETE FROM commits; DELETE FROM entries; DELETE FROM leases; "
    "DELETE FROM keyspace_history; DELETE FROM keyspace_bounds; DELETE FROM keyspaces";
constexpr char kSqliteInsertKeyspace[] =
    "INSERT INTO keyspaces (id, name, redacted) VALUES (?1, ?2, ?3)";
constexpr char kSqliteInsertEntry[] =
    "INSERT INTO entries (keyspace_id, key, type, value, version, expires_us, lease_id, bounded) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
// An explicit id moves sqlite_sequence up to it (AUTOINCREMENT), never down.
constexpr char kSqliteInsertLease[] =
    "INSERT INTO leases (id, ttl_ms, expires_us) VALUES (?1, ?2, ?3)";
// Invariant 6: sqlite_sequence has no unique name; the row exists once a lease was inserted.
constexpr char kSqliteRaiseLeaseSeq[] =
    "UPDATE sqlite_sequence SET seq = max(seq, ?1) WHERE name = 'leases'";
constexpr char kSqliteAddLeaseSeq[] =
    "INSERT INTO sqlite_sequence (name, seq) SELECT 'leases', ?1 WHERE NOT EXISTS (SELECT 1 FROM "
    "sqlite_sequence WHERE name = 'leases')";
constexpr char kSqliteInsertCommit[] =
    "INSERT INTO commits (revision, time_us, pid, thread_id, label, partial) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
constexpr char kSqliteInsertChange[] =
    "INSERT INTO changes (revision, seq, keyspace_id, key, old_type, old_value, new_type, "
    "new_value, redacted, kind, expires_us) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";
// The commits' change id ranges (0010_changes_by_commit_range.sql), once every change is in: one
// sorted pass over the changes, not a search per commit (there is no index by revision).
constexpr char kSqliteSetChangeRanges[] =
    "UPDATE commits SET first_change = r.first, last_change = r.last FROM (SELECT revision, "
    "min(id) AS first, max(id) AS last FROM changes GROUP BY revision) AS r "
    "WHERE r.revision = commits.revision";
constexpr char kSqliteInsertHistory[] =
    "INSERT INTO keyspace_history (keyspace_id, keep_revisions, keep_for_s, keep_none, "
    "compacted_through, scanned_through) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
constexpr char kSqliteSetMeta[] =
    "INSERT INTO meta (name, value) VALUES (?1, ?2) ON CONFLICT (name) DO UPDATE SET value = "
    "excluded.value";

// What the backup reads from the source besides its tables.
struct SourceFacts {
  std::optional<std::string> stored_key;  // the schema's redaction_key row
  std::optional<std::int64_t> fingerprint;
  Revision head = 0;
  Revision compacted_through = 0;
  std::int64_t lease_ids_through = 0;  // the lease identity's last value (invariant 6); 0: none
  std::uint64_t rows = 0;              // entries + changes, for progress
};

std::optional<std::int64_t> PgMeta(PgConnection& c, const char* name) {
  PgResult r =
      c.Exec("cannot read meta", "SELECT value FROM meta WHERE name = $1", PgParams().Text(name));
  if (r.rows() == 0) return std::nullopt;
  return r.Int(0, 0);
}

// Invariant 6: the last id the lease identity handed out, or 0 when it never did or this user
// may not read it (pg_sequences' own rule) — the copied ids then bound the file's mark.
std::int64_t LeaseIdsThrough(PgConnection& c) {
  PgResult r = c.Exec("cannot read the lease identity",
                      "SELECT CASE WHEN has_sequence_privilege(s.seq, 'SELECT,USAGE') THEN "
                      "pg_sequence_last_value(s.seq) END FROM (SELECT "
                      "pg_get_serial_sequence('leases', 'id')::regclass AS seq) s");
  return r.rows() == 0 || r.IsNull(0, 0) ? 0 : r.Int(0, 0);
}

SourceFacts ReadSourceFacts(PgConnection& c) {
  SourceFacts f;
  PgResult key = c.Exec("cannot read the redaction key", "SELECT key FROM redaction_key");
  if (key.rows() == 1) f.stored_key = key.Text(0, 0);
  f.fingerprint = PgMeta(c, kFingerprintMetaName);
  f.head = static_cast<Revision>(PgMeta(c, "head_revision").value_or(0));
  f.compacted_through = static_cast<Revision>(PgMeta(c, "compacted_through").value_or(0));
  f.lease_ids_through = LeaseIdsThrough(c);
  PgResult n = c.Exec("cannot count rows",
                      "SELECT (SELECT count(*) FROM entries) + (SELECT count(*) FROM changes)");
  f.rows = static_cast<std::uint64_t>(n.Int(0, 0));
  return f;
}

[[noreturn]] void UndecodableInStore(const std::string& what, const std::string& problem) {
  throw Error(ErrorCode::kCorruption, what + " does not decode (" + problem +
                                          "); nothing was copied. Run statectl verify on the "
                                          "store to see every damaged row");
}

void BindOptionalInt(SQLite::Statement& q, int index, const PgResult& r, int row, int column) {
  if (r.IsNull(row, column)) {
    q.bind(index);
  } else {
    q.bind(index, static_cast<int64_t>(r.Int(row, column)));
  }
}

// The SQLite changes.kind of a PostgreSQL change row (invariant 5): 0 a write, 1 an expiry
// (with the deadline that passed) or an eviction (PostgreSQL kind 2, without a deadline). Throws
// kCorruption for a row the file cannot hold with the same meaning.
int SqliteKind(const PgResult& r, int row, int kind_column, int expires_column,
               const std::string& change) {
  const std::int64_t kind = r.Int(row, kind_column);
  const bool has_deadline = !r.IsNull(row, expires_column);
  if (kind == 0) return 0;
  if (kind == 1 && has_deadline) return 1;
  if (kind == 2 && !has_deadline) return 1;
  std::string problem = "kind " + std::to_string(kind);
  if (kind == 1) {
    problem += " (an expiry) has no deadline; in an SQLite file it would read as an eviction";
  } else if (kind == 2) {
    problem += " (an eviction) has a deadline, which an SQLite file cannot keep with it";
  } else {
    problem += " is not 0, 1 or 2";
  }
  throw Error(ErrorCode::kCorruption, change + " cannot be copied: its " + problem +
                                          " (the store was edited outside statestore?); nothing "
                                          "was copied");
}

class SqliteFiller {
 public:
  SqliteFiller(PgConnection& pg, Connection& lite, const SourceFacts& facts,
               const ProgressCallback& progress)
      : pg_(pg), lite_(lite), facts_(facts), progress_(progress) {}

  void Run() {
    lite_.Exec(kSqliteWipe);  // what the engine's open may have created (no commit exists yet)
    CopyKeyspaces();
    CopyLeases();
    CopyEntries();
    CopyBounds();
    CopyCommits();
    CopyChanges();
    CallSqlite("cannot write commits", [&] { lite_.Exec(kSqliteSetChangeRanges); });
    SetMeta("head_revision", static_cast<std::int64_t>(facts_.head));
    SetMeta("compacted_through", static_cast<std::int64_t>(facts_.compacted_through));
    SetMeta("time_ordered_from", 0);
    if (facts_.fingerprint) SetMeta(kFingerprintMetaName, *facts_.fingerprint);
    if (progress_) progress_(done_, facts_.rows);
  }

 private:
  void Tick() {
    if (++done_ % kCopyProgressEvery == 0 && progress_) progress_(done_, facts_.rows);
  }

  void SetMeta(const char* name, std::int64_t value) {
    CallSqlite("cannot write meta", [&] {
      StatementUse q(lite_, kSqliteSetMeta);
      q->bind(1, name);
      q->bind(2, static_cast<int64_t>(value));
      q->exec();
    });
  }

  void CopyKeyspaces() {
    PgForEachRow(pg_, "statestore_backup_keyspaces",
                 "SELECT k.id, k.name, k.redacted, h.keep_revisions, h.keep_for_s, h.keep_none, "
                 "h.compacted_through, h.scanned_through FROM keyspaces k LEFT JOIN "
                 "keyspace_history h ON h.keyspace_id = k.id ORDER BY k.id",
                 [&](const PgResult& r, int i) {
                   CallSqlite("cannot write keyspaces", [&] {
                     StatementUse q(lite_, kSqliteInsertKeyspace);
                     q->bind(1, static_cast<int64_t>(r.Int(i, 0)));
                     q->bind(2, r.Text(i, 1));
                     q->bind(3, r.Bool(i, 2) ? 1 : 0);
                     q->exec();
                   });
                   if (r.IsNull(i, 6)) return;  // no retention row for this keyspace
                   CallSqlite("cannot write keyspace history", [&] {
                     StatementUse q(lite_, kSqliteInsertHistory);
                     q->bind(1, static_cast<int64_t>(r.Int(i, 0)));
                     BindOptionalInt(*q, 2, r, i, 3);
                     BindOptionalInt(*q, 3, r, i, 4);
                     if (r.IsNull(i, 5)) {
                       q->bind(4);
                     } else {
                       q->bind(4, r.Bool(i, 5) ? 1 : 0);
                     }
                     q->bind(5, static_cast<int64_t>(r.Int(i, 6)));
                     q->bind(6, static_cast<int64_t>(r.Int(i, 7)));
                     q->exec();
                   });
                 });
  }

  // Invariant 6: the rows as they are, then the file's high-water mark.
  void CopyLeases() {
    PgForEachRow(pg_, "statestore_backup_leases",
                 "SELECT id, ttl_ms, expires_us FROM leases ORDER BY id",
                 [&](const PgResult& r, int i) {
                   CallSqlite("cannot write leases", [&] {
                     StatementUse q(lite_, kSqliteInsertLease);
                     for (int col = 0; col < 3; ++col) {
                       q->bind(col + 1, static_cast<int64_t>(r.Int(i, col)));
                     }
                     q->exec();
                   });
                 });
    if (facts_.lease_ids_through <= 0) return;
    CallSqlite("cannot write the lease high-water mark", [&] {
      for (const char* sql : {kSqliteRaiseLeaseSeq, kSqliteAddLeaseSeq}) {
        StatementUse q(lite_, sql);
        q->bind(1, static_cast<int64_t>(facts_.lease_ids_through));
        q->exec();
      }
    });
  }

  // Invariant 7: bounded = 1 for the rows of a keyspace with a keyspace_bounds row, else NULL.
  void CopyEntries() {
    PgForEachRow(pg_, "statestore_backup_entries",
                 "SELECT e.keyspace_id, e.key, e.type, e.value, e.version, e.expires_us, "
                 "e.lease_id, b.keyspace_id IS NOT NULL FROM entries e LEFT JOIN keyspace_bounds "
                 "b ON b.keyspace_id = e.keyspace_id ORDER BY e.keyspace_id, e.key",
                 [&](const PgResult& r, int i) {
                   std::string problem;
                   std::optional<Value> value = DecodePgValue(r, i, 2, 3, &problem);
                   const std::string key = r.Text(i, 1);
                   if (!value) UndecodableInStore("the value of key '" + key + "'", problem);
                   CallSqlite("cannot write entries", [&] {
                     StatementUse q(lite_, kSqliteInsertEntry);
                     q->bind(1, static_cast<int64_t>(r.Int(i, 0)));
                     q->bind(2, key);
                     BindValue(*q, 3, 4, *value);
                     q->bind(5, static_cast<int64_t>(r.Int(i, 4)));
                     BindOptionalInt(*q, 6, r, i, 5);
                     BindOptionalInt(*q, 7, r, i, 6);
                     if (r.Bool(i, 7)) {
                       q->bind(8, 1);
                     } else {
                       q->bind(8);
                     }
                     q->exec();
                   });
                   Tick();
                 });
  }

  // Invariant 7: after CopyEntries, so that each count covers the keyspace's copied rows.
  void CopyBounds() {
    PgForEachRow(pg_, "statestore_backup_bounds",
                 "SELECT keyspace_id, max_keys FROM keyspace_bounds ORDER BY keyspace_id",
                 [&](const PgResult& r, int i) {
                   CallSqlite("cannot write keyspace bounds", [&] {
                     // Invariant 7: the SQLite engine's own statement, which counts the copy's
                     // rows.
                     StatementUse q(lite_, sql::kInsertKeyBound);
                     q->bind(1, static_cast<int64_t>(r.Int(i, 0)));
                     q->bind(2, static_cast<int64_t>(r.Int(i, 1)));
                     q->exec();
                   });
                 });
  }

  void CopyCommits() {
    PgForEachRow(pg_, "statestore_backup_commits",
                 "SELECT revision, time_us, pid, thread_id, label, partial FROM commits "
                 "ORDER BY revision",
                 [&](const PgResult& r, int i) {
                   CallSqlite("cannot write commits", [&] {
                     StatementUse q(lite_, kSqliteInsertCommit);
                     for (int col = 0; col < 4; ++col) {
                       q->bind(col + 1, static_cast<int64_t>(r.Int(i, col)));
                     }
                     q->bind(5, r.Text(i, 4));
                     q->bind(6, r.Bool(i, 5) ? 1 : 0);
                     q->exec();
                   });
                 });
  }

  // One side of a history row: a value, a digest, or nothing.
  static void BindHistoryCell(SQLite::Statement& q, int type_index, const PgResult& r, int row,
                              int type_column, bool redacted, const std::optional<Value>& v) {
    if (!v) {
      q.bind(type_index);
      q.bind(type_index + 1);
    } else if (redacted) {
      BindDigest(q, type_index, type_index + 1, static_cast<ValueType>(r.Int(row, type_column)),
                 *v);
    } else {
      BindValue(q, type_index, type_index + 1, *v);
    }
  }

  void CopyChanges() {
    PgForEachRow(
        pg_, "statestore_backup_changes",
        "SELECT revision, seq, keyspace_id, key, old_type, old_value, new_type, new_value, "
        "redacted, kind, expires_us FROM changes ORDER BY revision, seq",
        [&](const PgResult& r, int i) {
          const bool redacted = r.Bool(i, 8);
          const std::string change = "the change of revision " + std::to_string(r.Int(i, 0)) +
                                     " seq " + std::to_string(r.Int(i, 1));
          const int kind = SqliteKind(r, i, 9, 10, change);
          std::optional<Value> old_value;
          std::optional<Value> new_value;
          std::string problem;
          auto decode = [&](int type_col, std::optional<Value>* out) {
            return redacted ? DecodeOptionalPgDigest(r, i, type_col, type_col + 1, out, &problem)
                            : DecodeOptionalPgValue(r, i, type_col, type_col + 1, out, &problem);
          };
          if (!decode(4, &old_value) || !decode(6, &new_value)) UndecodableInStore(change, problem);
          CallSqlite("cannot write changes", [&] {
            StatementUse q(lite_, kSqliteInsertChange);
            q->bind(1, static_cast<int64_t>(r.Int(i, 0)));
            q->bind(2, static_cast<int64_t>(r.Int(i, 1)));
            q->bind(3, static_cast<int64_t>(r.Int(i, 2)));
            q->bind(4, r.Text(i, 3));
            BindHistoryCell(*q, 5, r, i, 4, redacted, old_value);
            BindHistoryCell(*q, 7, r, i, 6, redacted, new_value);
            q->bind(9, redacted ? 1 : 0);
            q->bind(10, kind);
            BindOptionalInt(*q, 11, r, i, 10);
            q->exec();
          });
          Tick();
        });
  }

  PgConnection& pg_;
  Connection& lite_;
  const SourceFacts& facts_;
  const ProgressCallback& progress_;
  std::uint64_t done_ = 0;
};

// Writes `key` to `path` (O_CREAT|O_EXCL|O_NOFOLLOW, mode 0600) and fsyncs it.
void WriteKeyFile(const std::string& path, const std::string& key) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    const int err = errno;
    throw Error(err == EEXIST ? ErrorCode::kInvalidArgument : ErrorCode::kIoError,
                "cannot create the redaction key file " + path + ": " + std::strerror(err));
  }
  const bool ok =
      ::write(fd, key.data(), key.size()) == static_cast<ssize_t>(key.size()) && ::fsync(fd) == 0;
  const int err = errno;
  ::close(fd);
  if (!ok) {
    ::unlink(path.c_str());
    throw Error(ErrorCode::kIoError,
                "cannot write the redaction key file " + path + ": " + std::strerror(err));
  }
}

bool Exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

// Creates the SQLite schema in `temp` with the engine's own open (every migration), with the
// source's key when it is known, so that the file records a consistent fingerprint from birth.
void CreateSqliteStore(const std::string& temp, const std::optional<std::string>& key) {
  Options options;
  options.create_if_missing = true;
  if (key) options.redaction_key = *key;
  options.sessions.sweep_interval = std::chrono::milliseconds(0);
  Store::open(temp, options).reset();
  // Without the key the engine made a key file for the new file; it digests nothing here (the
  // digests are copied) and is not the source's key: remove it.
  if (!key) ::unlink(RedactionKeyFilePath(temp).c_str());
}

// Returns the copy's page count.
std::uint64_t CheckSqliteCopy(const std::string& temp, const std::string& what) {
  ConnectionConfig config;
  config.path = temp;
  config.read_only = true;
  Connection c(config);
  CheckFileIdentity(c);
  const std::string check = CallSqlite("PRAGMA quick_check failed", [&] {
    return c.database().execAndGet("PRAGMA quick_check").getString();
  });
  if (check != "ok") {
    throw Error(ErrorCode::kCorruption, what + ": the copy failed quick_check (" + check + ")");
  }
  return static_cast<std::uint64_t>(c.QueryInt("PRAGMA page_count"));
}

}  // namespace

BackupResult PgBackupToSqlite(PgStore& store, const std::string& dest_path,
                              const ProgressCallback& progress) {
  if (dest_path.empty()) throw Error(ErrorCode::kInvalidArgument, "backup destination is empty");
  if (IsPostgresConninfo(dest_path)) {
    throw Error(ErrorCode::kInvalidArgument,
                "backup of a PostgreSQL store writes an SQLite file; " + dest_path +
                    " is a connection string (copy between servers with pg_dump, or back up "
                    "to a file and restore that file into the other store)");
  }
  const std::string key_path = RedactionKeyFilePath(dest_path);
  for (const std::string& path : {dest_path, key_path}) {
    if (Exists(path)) {
      throw Error(ErrorCode::kInvalidArgument,
                  path + " already exists; back up into a new file (remove it first)");
    }
  }
  const std::string what = "backup of " + store.path() + " to " + dest_path + " failed";
  const std::string temp = CreateTempBeside(dest_path);
  BackupResult result;
  std::optional<std::string> stored_key;
  try {
    store.ReadForAdmin([&](PgConnection& pg) {
      const SourceFacts facts = ReadSourceFacts(pg);
      stored_key = facts.stored_key;
      if (progress) progress(0, facts.rows);
      std::optional<std::string> key = facts.stored_key;
      if (!key && !store.options().redaction_key.empty()) {
        key = store.options().redaction_key;
      }
      CreateSqliteStore(temp, key);
      ConnectionConfig config;
      config.path = temp;
      Connection lite(config);
      WriteTransaction tx(lite);
      SqliteFiller(pg, lite, facts, progress).Run();
      tx.Commit();
      result.revision = facts.head;
    });
    result.pages = CheckSqliteCopy(temp, what);
    if (FileBytes(temp + "-wal") != 0) {
      throw Error(ErrorCode::kIoError, what + ": the copy's WAL could not be checkpointed");
    }
    SyncPath(temp, O_RDONLY, temp);
    if (stored_key) WriteKeyFile(key_path, *stored_key);
    if (!RenameNoReplace(temp, dest_path)) {
      if (stored_key) ::unlink(key_path.c_str());
      throw Error(ErrorCode::kInvalidArgument,
                  dest_path + " appeared while the backup ran; it was left alone");
    }
  } catch (...) {
    RemoveCopy(temp);
    ::unlink(RedactionKeyFilePath(temp).c_str());
    throw;
  }
  const std::size_t slash = dest_path.find_last_of('/');
  SyncPath(slash == std::string::npos ? "." : dest_path.substr(0, slash + 1),
           O_RDONLY | O_DIRECTORY, "the directory of " + dest_path);
  result.bytes = FileBytes(dest_path);
  return result;
}

}  // namespace statestore::internal

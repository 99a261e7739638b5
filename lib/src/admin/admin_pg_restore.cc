// statestore/admin.h: Restore of an SQLite statestore file (a Backup of either engine) into
// an empty PostgreSQL store (admin/admin_pg.h); the way there is admin_pg_backup.cc.
//
// Restore (SQLite file -> PostgreSQL):
//   1. The source passes the checks of a read-only open and quick_check, and must be at this
//      library's SQLite schema version (an older file: migrate it first).
//   2. The target store must be new or empty (no keyspace, entry, commit or lease): unlike
//      an SQLite file, a PostgreSQL store cannot be swapped under its users, and merging two
//      histories would break revision order. A target with data is refused with
//      kInvalidArgument and left unchanged.
//   3. The schema is created or migrated as a writable open would (PgCheckAndMigrate), then
//      every row is written in ONE server transaction holding the store's write lock (the
//      meta head row, FOR UPDATE): other processes see nothing or everything, and a failure
//      leaves the empty store as it was. The transaction NOTIFYs the store's channel, so
//      processes that have it open refresh (pg_change_listener.h).
//   4. The redaction key: the key file beside the source ("<source>-key") when it is there and
//      matches the fingerprint the file records, else none. The target records the source's
//      fingerprint; a known key is stored in the schema's redaction_key table (the PostgreSQL
//      engine's model); without it, writable opens of the target need Options::redaction_key.
//   5. Deadlines travel with the rows: entries.expires_us, and each change's kind and
//      expires_us. SQLite stores an eviction as kind 1 without a deadline
//      (migrations/sqlite/0008_bounded_keyspaces.sql); PostgreSQL stores the kind as is, so
//      that row becomes kind 2 and a kind 1 with a deadline stays an expiry.
//   6. Leases travel with the rows (0003_leases.sql, the SQLite schema 7's columns): every
//      leases row with its id, ttl_ms and expires_us, and entries.lease_id, unchanged — expired
//      leases the source had not swept yet too, so the target's sweep ends them and their keys as
//      the source's would have. Then the target's lease identity is moved past every id the
//      source ever handed out (its highest lease, or sqlite_sequence's high-water mark when
//      revoked leases took higher ids) and past any the target itself handed out, so that a
//      grant after the restore never reuses an id a program may still hold (lease.h). setval is
//      not transactional: after a failed restore the sequence may have skipped ids, which is
//      harmless. A target holding a lease is not empty (invariant 2): a grant uses no revision,
//      so a store can have a lease without a commit.
//   7. Bounded keyspaces (0004_bounded_keyspaces.sql, PgTransaction invariant 10) travel with the
//      rows: every keyspace_bounds row with its max_keys, and write_order = version for every
//      entries row of a bounded keyspace (NULL for the others) — the source's own mark
//      (entries.bounded) is not read: keyspace_bounds alone says which keyspaces are bounded, as
//      invariant 10 does. key_count is not copied but counted in the target, in the restore
//      transaction, after the entries: it is the number of rows restored, so invariant 10 holds
//      even for a source whose count drifted (statectl verify on the source reports that). A
//      source holding more keys than its bound (damage: the engines never leave one) is copied
//      as it is, not trimmed, and statectl verify reports it on either side.
//   REQUIRES (not checkable on PostgreSQL): no other process opened the target while it was
//   empty — such a process would keep the key it resolved then.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <optional>
#include <string>

#include "admin/admin_pg.h"
#include "admin/admin_util.h"
#include "core/redaction_key.h"
#include "postgresql/pg_connection.h"
#include "postgresql/pg_schema.h"
#include "postgresql/pg_value_codec.h"
#include "sqlite/connection.h"
#include "sqlite/database_file.h"
#include "sqlite/sql_transaction.h"
#include "sqlite/sqlite_error.h"
#include "sqlite/value_codec.h"
#include "statestore/error.h"
#include "statestore/store.h"
#include "statestore/version.h"

namespace statestore::internal {

namespace {

constexpr std::uint64_t kProgressEvery = 1000;

[[noreturn]] void Undecodable(const std::string& what, const std::string& problem) {
  throw Error(ErrorCode::kCorruption, what + " of the source file does not decode (" + problem +
                                          "); nothing was changed. Run statectl verify on the "
                                          "file to see every damaged row");
}

// ---- Restore: PostgreSQL statements (every input bound; tables on the search_path).
constexpr char kPgInsertKeyspace[] =
    "INSERT INTO keyspaces (id, name, redacted) VALUES ($1, $2, $3)";
constexpr char kPgInsertEntry[] =
    "INSERT INTO entries (keyspace_id, key, type, value, version, expires_us, lease_id, "
    "write_order) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
// Invariant 7: key_count is the number of rows the restore wrote for the keyspace (queued after
// them on the same connection, so it sees them all).
constexpr char kPgInsertBound[] =
    "INSERT INTO keyspace_bounds (keyspace_id, max_keys, key_count) SELECT $1, $2, count(*) FROM "
    "entries WHERE keyspace_id = $1";
// BY DEFAULT identity: an explicit id is taken as is (0003_leases.sql).
constexpr char kPgInsertLease[] = "INSERT INTO leases (id, ttl_ms, expires_us) VALUES ($1, $2, $3)";
// Invariant 6: the identity's next id is above $1 (the source's high-water mark) and above any
// id the target handed out itself; a sequence never called is left at its start (1) when $1 is 0.
// pg_sequence_last_value is NULL for a sequence never called.
constexpr char kPgAdvanceLeaseIds[] =
    "SELECT setval(q.seq, q.high) FROM (SELECT s.seq, greatest($1::bigint, "
    "coalesce(pg_sequence_last_value(s.seq), 0)) AS high FROM (SELECT "
    "pg_get_serial_sequence('leases', 'id')::regclass AS seq) s) q WHERE q.high > 0";
constexpr char kPgInsertCommit[] =
    "INSERT INTO commits (revision, time_us, pid, thread_id, label, partial) "
    "VALUES ($1, $2, $3, $4, $5, $6)";
constexpr char kPgInsertChange[] =
    "INSERT INTO changes (revision, seq, keyspace_id, key, old_type, old_value, new_type, "
    "new_value, redacted, kind, expires_us) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";
constexpr char kPgInsertHistory[] =
    "INSERT INTO keyspace_history (keyspace_id, keep_revisions, keep_for_s, keep_none, "
    "compacted_through, scanned_through) VALUES ($1, $2, $3, $4, $5, $6)";
constexpr char kPgSetMeta[] =
    "INSERT INTO meta (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = "
    "excluded.value";
// Statements queued (pipelined) before their answers are read.
constexpr std::size_t kQueueDepth = 512;

std::optional<std::int64_t> SqliteMeta(Connection& c, const char* sql) {
  return CallSqlite("cannot read meta", [&]() -> std::optional<std::int64_t> {
    StatementUse q(c, sql);
    if (!q->executeStep()) return std::nullopt;
    return q->getColumn(0).getInt64();
  });
}

// The key file beside `source` when it passes the SQLite engine's checks (redaction_key.h) and
// matches the fingerprint the file records; nullopt otherwise.
std::optional<std::string> SourceKey(const std::string& source,
                                     const std::optional<std::int64_t>& fingerprint) {
  if (!fingerprint) return std::nullopt;
  Options ro;
  ro.read_only = true;
  if (!ResolveForOpen(source, fingerprint, ro).available()) return std::nullopt;
  const int fd =
      ::open(RedactionKeyFilePath(source).c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::string key(kRedactionKeyBytes + 1, '\0');
  const ssize_t n = ::read(fd, key.data(), key.size());
  ::close(fd);
  if (n != static_cast<ssize_t>(kRedactionKeyBytes)) return std::nullopt;
  key.resize(kRedactionKeyBytes);
  if (RedactionKey::FromBytes(key).Fingerprint() != *fingerprint) return std::nullopt;
  return key;
}

// The highest lease id the source ever handed out: its highest lease, or the AUTOINCREMENT
// high-water mark (sqlite_sequence) that revoked and swept leases left above it; 0 for none.
std::int64_t SourceLeaseHighWater(Connection& c) {
  return c.QueryInt(
      "SELECT max(coalesce((SELECT max(id) FROM leases), 0), coalesce((SELECT seq FROM "
      "sqlite_sequence WHERE name = 'leases'), 0))");
}

// Invariant 6: a lease makes a target non-empty (a grant takes no revision, so RequireEmptyTarget
// does not see it). Its id could collide with a restored one, and its holder would keep it
// alive in a store that is no longer the one it was granted in. REQUIRES: a transaction open on
// `c`, at schema 3 or later.
void RequireNoLeases(PgConnection& c, const std::string& target) {
  PgResult r = c.Exec("cannot look at the target's leases", "SELECT count(*) FROM leases");
  if (r.Int(0, 0) != 0) {
    throw Error(ErrorCode::kInvalidArgument,
                "restore into " + target + " refused: the store already has " +
                    std::to_string(r.Int(0, 0)) +
                    " leases (granted without a commit); restore only into a new or empty "
                    "store. Nothing was changed");
  }
}

// Refuses a target that holds anything. REQUIRES: a transaction open on `c`.
void RequireEmptyTarget(PgConnection& c, const std::string& target) {
  PgResult r = c.Exec("cannot look at the target store",
                      "SELECT (SELECT count(*) FROM keyspaces), (SELECT count(*) FROM entries), "
                      "(SELECT count(*) FROM commits)");
  if (r.Int(0, 0) != 0 || r.Int(0, 1) != 0 || r.Int(0, 2) != 0) {
    throw Error(ErrorCode::kInvalidArgument,
                "restore into " + target + " refused: the store already has data (" +
                    std::to_string(r.Int(0, 2)) + " commits, " + std::to_string(r.Int(0, 1)) +
                    " keys); restore only into a new or empty store — another database, or "
                    "another Options::postgres.schema, or drop the schema first. Nothing was "
                    "changed");
  }
}

std::optional<std::int64_t> OptionalColumn(const SQLite::Statement& q, int column) {
  if (q.isColumnNull(column)) return std::nullopt;
  return q.getColumn(column).getInt64();
}

class PgFiller {
 public:
  PgFiller(Connection& lite, PgConnection& pg, const ProgressCallback& progress,
           std::uint64_t total)
      : lite_(lite), pg_(pg), progress_(progress), total_(total) {}

  std::uint64_t Run() {
    CopyKeyspaces();
    CopyLeases();
    CopyEntries();
    CopyBounds();
    CopyCommits();
    CopyChanges();
    pg_.Drain();
    if (progress_) progress_(done_, total_);
    return done_;
  }

 private:
  void Queue(const char* what, const char* sql, const PgParams& params) {
    pg_.Queue(what, sql, params);
    if (pg_.queued() >= kQueueDepth) pg_.Drain();
  }
  void Tick() {
    if (++done_ % kProgressEvery == 0 && progress_) progress_(done_, total_);
  }

  void CopyKeyspaces() {
    CallSqlite("cannot read keyspaces", [&] {
      StatementUse q(lite_,
                     "SELECT k.id, k.name, k.redacted, h.keep_revisions, h.keep_for_s, "
                     "h.keep_none, h.compacted_through, h.scanned_through FROM keyspaces k LEFT "
                     "JOIN keyspace_history h ON h.keyspace_id = k.id ORDER BY k.id");
      while (q->executeStep()) {
        const std::int64_t id = q->getColumn(0).getInt64();
        Queue("cannot restore keyspaces", kPgInsertKeyspace,
              PgParams()
                  .Int(id)
                  .Text(q->getColumn(1).getString())
                  .Bool(q->getColumn(2).getInt() != 0));
        if (q->isColumnNull(6)) continue;
        PgParams p;
        p.Int(id).OptionalInt(OptionalColumn(*q, 3)).OptionalInt(OptionalColumn(*q, 4));
        if (q->isColumnNull(5)) {
          p.Null();
        } else {
          p.Bool(q->getColumn(5).getInt() != 0);
        }
        p.Int(q->getColumn(6).getInt64()).Int(q->getColumn(7).getInt64());
        Queue("cannot restore keyspace history", kPgInsertHistory, p);
      }
    });
    pg_.Drain();
    // Ids were copied: the identity must hand out the next one after them.
    pg_.Exec("cannot advance the keyspace ids",
             "SELECT setval(pg_get_serial_sequence('keyspaces', 'id'), max(id)) FROM keyspaces "
             "HAVING max(id) IS NOT NULL");
  }

  // Invariant 6: the rows as they are, then the identity moved past the source's ids.
  void CopyLeases() {
    CallSqlite("cannot read leases", [&] {
      StatementUse q(lite_, "SELECT id, ttl_ms, expires_us FROM leases ORDER BY id");
      while (q->executeStep()) {
        const std::int64_t id = q->getColumn(0).getInt64();
        // lease.h: ids are positive. AUTOINCREMENT never makes another; a hand-made one would
        // be a lease no program can name.
        if (id <= 0) Undecodable("lease " + std::to_string(id), "a lease id is positive");
        Queue("cannot restore leases", kPgInsertLease,
              PgParams().Int(id).Int(q->getColumn(1).getInt64()).Int(q->getColumn(2).getInt64()));
      }
    });
    pg_.Drain();
    pg_.Exec("cannot advance the lease ids", kPgAdvanceLeaseIds,
             PgParams().Int(SourceLeaseHighWater(lite_)));
  }

  // Invariant 7: a row of a bounded keyspace (one with a keyspace_bounds row in the source) takes
  // write_order = version; every other row NULL.
  void CopyEntries() {
    CallSqlite("cannot read entries", [&] {
      StatementUse q(lite_,
                     "SELECT e.keyspace_id, e.key, e.type, e.value, e.version, e.expires_us, "
                     "e.lease_id, b.keyspace_id IS NOT NULL FROM entries e LEFT JOIN "
                     "keyspace_bounds b ON b.keyspace_id = e.keyspace_id ORDER BY e.keyspace_id, "
                     "e.key");
      while (q->executeStep()) {
        const std::string key = q->getColumn(1).getString();
        std::string problem;
        std::optional<Value> value = DecodeValue(*q, 2, 3, &problem);
        if (!value) Undecodable("the value of key '" + key + "'", problem);
        const std::int64_t version = q->getColumn(4).getInt64();
        const bool bounded = q->getColumn(7).getInt() != 0;
        PgParams p;
        p.Int(q->getColumn(0).getInt64()).Key(key);
        BindPgValue(p, *value);
        p.Int(version)
            .OptionalInt(OptionalColumn(*q, 5))
            .OptionalInt(OptionalColumn(*q, 6))
            .OptionalInt(bounded ? std::optional<std::int64_t>(version) : std::nullopt);
        Queue("cannot restore entries", kPgInsertEntry, p);
        Tick();
      }
    });
  }

  // Invariant 7: after CopyEntries, so that each count covers the keyspace's restored rows.
  void CopyBounds() {
    CallSqlite("cannot read keyspace bounds", [&] {
      StatementUse q(lite_,
                     "SELECT keyspace_id, max_keys FROM keyspace_bounds ORDER BY keyspace_id");
      while (q->executeStep()) {
        const std::int64_t id = q->getColumn(0).getInt64();
        const std::int64_t max_keys = q->getColumn(1).getInt64();
        // The file's CHECK keeps it positive; PostgreSQL's would refuse it less clearly.
        if (max_keys <= 0) {
          Undecodable("the bound of keyspace " + std::to_string(id), "a bound is positive");
        }
        Queue("cannot restore keyspace bounds", kPgInsertBound, PgParams().Int(id).Int(max_keys));
      }
    });
  }

  void CopyCommits() {
    CallSqlite("cannot read commits", [&] {
      StatementUse q(lite_,
                     "SELECT revision, time_us, pid, thread_id, label, partial FROM commits "
                     "ORDER BY revision");
      while (q->executeStep()) {
        Queue("cannot restore commits", kPgInsertCommit,
              PgParams()
                  .Int(q->getColumn(0).getInt64())
                  .Int(q->getColumn(1).getInt64())
                  .Int(q->getColumn(2).getInt64())
                  .Int(q->getColumn(3).getInt64())
                  .Text(q->getColumn(4).getString())
                  .Bool(q->getColumn(5).getInt() != 0));
      }
    });
  }

  void CopyChanges() {
    CallSqlite("cannot read changes", [&] {
      StatementUse q(lite_,
                     "SELECT revision, seq, keyspace_id, key, old_type, old_value, new_type, "
                     "new_value, redacted, kind, expires_us FROM changes ORDER BY revision, seq");
      while (q->executeStep()) {
        const bool redacted = q->getColumn(8).getInt() != 0;
        std::optional<Value> old_value;
        std::optional<Value> new_value;
        std::string problem;
        auto decode = [&](int type_col, std::optional<Value>* out) {
          return redacted ? DecodeOptionalDigest(*q, type_col, type_col + 1, out, &problem)
                          : DecodeOptionalValue(*q, type_col, type_col + 1, out, &problem);
        };
        if (!decode(4, &old_value) || !decode(6, &new_value)) {
          Undecodable("the change of revision " + std::to_string(q->getColumn(0).getInt64()) +
                          " seq " + std::to_string(q->getColumn(1).getInt64()),
                      problem);
        }
        PgParams p;
        p.Int(q->getColumn(0).getInt64())
            .Int(q->getColumn(1).getInt64())
            .Int(q->getColumn(2).getInt64())
            .Key(q->getColumn(3).getString());
        for (int side = 0; side < 2; ++side) {
          const std::optional<Value>& v = side == 0 ? old_value : new_value;
          const int type_col = side == 0 ? 4 : 6;
          if (!v) {
            BindOptionalPgValue(p, std::nullopt);
          } else if (redacted) {
            BindPgDigest(p, static_cast<ValueType>(q->getColumn(type_col).getInt()), v->as_bytes());
          } else {
            BindOptionalPgValue(p, v);
          }
        }
        // Invariant 5: SQLite's kind 1 without a deadline is an eviction (the CHECK keeps kind
        // in 0..1 there).
        const std::optional<std::int64_t> expires_us = OptionalColumn(*q, 10);
        const int kind = q->getColumn(9).getInt() == 0 ? 0 : (expires_us ? 1 : 2);
        p.Bool(redacted).Int(kind).OptionalInt(expires_us);
        Queue("cannot restore changes", kPgInsertChange, p);
        Tick();
      }
    });
  }

  Connection& lite_;
  PgConnection& pg_;
  const ProgressCallback& progress_;
  const std::uint64_t total_;
  std::uint64_t done_ = 0;
};

}  // namespace

BackupResult PgRestoreFromSqlite(const std::string& source_path, const std::string& target_conninfo,
                                 const ProgressCallback& progress,
                                 const PostgresOptions& postgres) {
  ValidatePgSchemaName(postgres.schema);
  if (source_path.empty()) throw Error(ErrorCode::kInvalidArgument, "restore needs a source file");
  if (IsPostgresConninfo(source_path)) {
    throw Error(ErrorCode::kInvalidArgument,
                "restore reads an SQLite statestore file; " + source_path +
                    " is a connection string. Back that store up to a file first (statectl "
                    "backup URI FILE), then restore the file");
  }
  Options ro;
  ro.read_only = true;
  const std::string source = PrepareDatabasePath(source_path, ro);
  auto src = OpenAdminConnection(source);
  ReadTransaction pin(*src);
  const int version = static_cast<int>(src->QueryInt("PRAGMA user_version"));
  if (version != SchemaVersion()) {
    throw Error(
        version > SchemaVersion() ? ErrorCode::kSchemaTooNew : ErrorCode::kInvalidArgument,
        source + " is at schema version " + std::to_string(version) +
            "; restoring into PostgreSQL needs version " + std::to_string(SchemaVersion()) +
            (version < SchemaVersion() ? " — migrate a copy of it first (statectl migrate FILE)"
                                       : " — use the statestore version that wrote it") +
            ". Nothing was changed");
  }
  const std::string check = CallSqlite("PRAGMA quick_check failed", [&] {
    return src->database().execAndGet("PRAGMA quick_check").getString();
  });
  if (check != "ok") {
    throw Error(ErrorCode::kCorruption,
                source + " is damaged (quick_check: " + check + "); nothing was changed");
  }
  const std::optional<std::int64_t> fingerprint =
      SqliteMeta(*src, "SELECT value FROM meta WHERE name = 'redaction_key_fingerprint'");
  const std::optional<std::string> key = SourceKey(source, fingerprint);
  BackupResult result;
  result.revision = static_cast<Revision>(
      SqliteMeta(*src, "SELECT value FROM meta WHERE name = 'head_revision'").value_or(0));
  const Revision compacted = static_cast<Revision>(
      SqliteMeta(*src, "SELECT value FROM meta WHERE name = 'compacted_through'").value_or(0));
  const auto total = static_cast<std::uint64_t>(
      src->QueryInt("SELECT (SELECT count(*) FROM entries) + (SELECT count(*) FROM changes)"));

  Options options;
  options.postgres.schema = postgres.schema;
  if (key) options.redaction_key = *key;
  const std::string target = DescribeConninfo(target_conninfo) + "#" + options.postgres.schema;
  std::unique_ptr<PgConnection> pg = PgConnection::Connect(
      target_conninfo, PgSessionSql(options, /*writer=*/true), options.busy_timeout);
  {
    // Refuse a store with data before migrating or resolving keys (its key may differ).
    pg->ExecScript("cannot begin", "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY");
    PgResult exists = pg->Exec("cannot check the schema",
                               "SELECT to_regclass(quote_ident($1) || '.meta') IS NOT NULL",
                               PgParams().Text(options.postgres.schema));
    const bool schema_exists = exists.Bool(0, 0);
    if (schema_exists) RequireEmptyTarget(*pg, target);
    pg->ExecScript("cannot end", "COMMIT");
    // pg_schema.h: creates or migrates the schema. An empty schema that exists already keeps
    // resolving its own key here (passing the source's would be refused as "another key"); the
    // restore transaction below replaces key and fingerprint either way.
    Options migrate = options;
    if (schema_exists) migrate.redaction_key.clear();
    PgCheckAndMigrate(*pg, migrate);
  }
  pg->ExecScript("cannot begin the restore", "BEGIN");
  try {
    // The store's write lock (pg_group_writer.h), then the emptiness check under it.
    pg->Exec("cannot take the store's write lock",
             "SELECT value FROM meta WHERE name = 'head_revision' FOR UPDATE");
    RequireEmptyTarget(*pg, target);
    RequireNoLeases(*pg, target);
    if (progress) progress(0, total);
    result.pages = PgFiller(*src, *pg, progress, total).Run();
    pg->Exec("cannot write meta", kPgSetMeta,
             PgParams().Text("head_revision").Int(static_cast<std::int64_t>(result.revision)));
    pg->Exec("cannot write meta", kPgSetMeta,
             PgParams().Text("compacted_through").Int(static_cast<std::int64_t>(compacted)));
    pg->Exec("cannot replace the redaction key", "DELETE FROM redaction_key");
    if (key) {
      pg->Exec("cannot store the redaction key", "INSERT INTO redaction_key (key) VALUES ($1)",
               PgParams().Bytes(reinterpret_cast<const std::uint8_t*>(key->data()), key->size()));
    }
    if (fingerprint) {
      pg->Exec("cannot write meta", kPgSetMeta,
               PgParams().Text(kFingerprintMetaName).Int(*fingerprint));
    }
    // Processes that have the store open re-read (pg_change_listener.h).
    pg->Exec("cannot notify", "SELECT pg_notify($1, '')::text",
             PgParams().Text(PgChannelName(options.postgres.schema)));
    pg->ExecScript("cannot commit the restore", "COMMIT");
  } catch (...) {
    pg->DiscardQueued();
    if (!pg->broken()) {
      try {
        pg->ExecScript("cannot roll back", "ROLLBACK");
      } catch (const Error&) {
        // The connection is dropped below; the server rolls back.
      }
    }
    throw;
  }
  pin.Commit();
  PgResult size = pg->Exec("cannot measure the store's tables",
                           "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint FROM "
                           "pg_class c WHERE c.relnamespace = current_schema()::regnamespace AND "
                           "c.relkind = 'r'");
  result.bytes = static_cast<std::uint64_t>(size.Int(0, 0));
  return result;
}

}  // namespace statestore::internal

// statestore/admin.h: Inspect, ListKeyspaces, GetMigrationStatus, and the shared helpers of
// admin_util.h.
#include <sys/stat.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "admin/admin_pg.h"
#include "admin/admin_util.h"
#include "core/validate.h"
#include "postgresql/pg_connection.h"
#include "sessions/session_keys.h"
#include "sqlite/database_file.h"
#include "sqlite/history_log.h"
#include "sqlite/migrations.h"
#include "sqlite/sqlite_error.h"
#include "statestore/admin.h"
#include "statestore/error.h"
#include "statestore/store.h"
#include "statestore/version.h"

namespace statestore {

namespace internal {

void RefuseSchemaForFile(const PostgresOptions& postgres) {
  if (postgres.schema == PostgresOptions{}.schema) return;
  throw Error(ErrorCode::kInvalidArgument,
              "a PostgreSQL schema ('" + postgres.schema +
                  "') was given for a database file; schemas exist only in a PostgreSQL store");
}

void RequireDatabaseFile(const std::string& path) {
  if (IsPostgresConninfo(path)) {
    throw Error(
        ErrorCode::kInvalidArgument,
        "this operation reads an SQLite database file; " + path +
            " is a PostgreSQL store (back it up to a file with statectl backup and use that)");
  }
}

std::unique_ptr<Connection> OpenAdminConnection(const std::string& path, bool read_only) {
  RequireDatabaseFile(path);
  ConnectionConfig config;
  config.path = path;
  config.read_only = read_only;
  config.create = false;
  // Read-only storage (database_file.h invariant 8), as Store::open does.
  config.immutable = read_only && NeedsImmutableOpen(path);
  auto c = std::make_unique<Connection>(config);
  CheckFileIdentity(*c);
  return c;
}

std::uint64_t FileBytes(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return 0;
  return static_cast<std::uint64_t>(st.st_size);
}

std::int64_t SessionsKeyspaceId(Connection& c) {
  return CallSqlite("cannot read keyspaces", [&] {
    StatementUse q(c, "SELECT id FROM keyspaces WHERE name = ?1");
    q->bind(1, std::string(kSessionsKeyspace));
    if (!q->executeStep()) return std::int64_t{0};
    return static_cast<std::int64_t>(q->getColumn(0).getInt64());
  });
}

namespace {

std::vector<KeyspaceInfo> ReadKeyspaces(Connection& c) {
  return CallSqlite("cannot read keyspaces", [&] {
    std::vector<KeyspaceInfo> out;
    StatementUse q(c,
                   "SELECT k.name, k.redacted, (SELECT count(*) FROM entries e WHERE "
                   "e.keyspace_id = k.id), b.max_keys FROM keyspaces k "
                   "LEFT JOIN keyspace_bounds b ON b.keyspace_id = k.id ORDER BY k.name");
    while (q->executeStep()) {
      KeyspaceInfo info;
      info.name = q->getColumn(0).getString();
      info.redacted = q->getColumn(1).getInt() != 0;
      info.keys = static_cast<std::uint64_t>(q->getColumn(2).getInt64());
      if (!q->isColumnNull(3))
        info.max_keys = static_cast<std::uint64_t>(q->getColumn(3).getInt64());
      out.push_back(std::move(info));
    }
    return out;
  });
}

// The history columns of KeyspaceInfo (Inspect): policy, retained rows and bytes, first revision.
void ReadKeyspaceHistoryInfo(Connection& c, const HistoryRetention& global, InspectReport& r) {
  // dbstat reads every page of the two objects: the cost of an inspect, not of the library.
  std::optional<std::uint64_t> table_bytes;
  try {
    table_bytes =
        static_cast<std::uint64_t>(c.QueryInt("SELECT coalesce(sum(pgsize), 0) FROM dbstat WHERE "
                                              "name IN ('changes', 'changes_by_keyspace')"));
  } catch (const Error&) {
    // An SQLite built without SQLITE_ENABLE_DBSTAT_VTAB (Debian's has it): estimate by row.
  }
  r.history_bytes_from_dbstat = table_bytes.has_value();
  CallSqlite("cannot read history per keyspace", [&] {
    std::uint64_t total_rows = 0;
    std::map<std::int64_t, std::pair<std::uint64_t, std::uint64_t>> per;  // id -> rows, bytes
    StatementUse q(c, table_bytes
                          ? "SELECT keyspace_id, count(*), 0 FROM changes GROUP BY keyspace_id"
                          : "SELECT keyspace_id, count(*), sum(length(key) + "
                            "coalesce(length(old_value), 0) + coalesce(length(new_value), 0) "
                            "+ 24) FROM changes GROUP BY keyspace_id");
    while (q->executeStep()) {
      auto rows = static_cast<std::uint64_t>(q->getColumn(1).getInt64());
      per[q->getColumn(0).getInt64()] = {rows,
                                         static_cast<std::uint64_t>(q->getColumn(2).getInt64())};
      total_rows += rows;
    }
    std::map<std::string, KeyspaceHistoryRow> rows;
    for (KeyspaceHistoryRow& row : ReadAllKeyspaceHistory(c)) rows[row.name] = std::move(row);
    for (KeyspaceInfo& info : r.keyspaces) {
      auto row = rows.find(info.name);
      if (row == rows.end()) continue;
      info.history_policy = ResolveHistoryPolicy(info.name, row->second.stored, global);
      info.history_first = row->second.compacted_through + 1;
      auto counts = per.find(row->second.id);
      if (counts == per.end()) continue;
      info.history_changes = counts->second.first;
      info.history_bytes = table_bytes
                               ? static_cast<std::uint64_t>(static_cast<long double>(*table_bytes) *
                                                            counts->second.first / total_rows)
                               : counts->second.second;
    }
  });
}

std::string IntegrityCheck(Connection& c) {
  return CallSqlite("PRAGMA integrity_check failed", [&] {
    std::string out;
    StatementUse q(c, "PRAGMA integrity_check(20)");
    while (q->executeStep()) {
      if (!out.empty()) out += "; ";
      out += q->getColumn(0).getString();
    }
    return out.empty() ? std::string("ok") : out;
  });
}

}  // namespace

}  // namespace internal

InspectReport Inspect(Store& store, bool check_integrity) {
  using namespace internal;
  if (PgStore* pg = AsPgStore(store)) return PgInspect(*pg);
  InspectReport r;
  r.path = store.path();
  r.library_schema_version = SchemaVersion();
  auto c = OpenAdminConnection(r.path);
  {
    ReadTransaction tx(*c);
    r.schema_version = static_cast<int>(c->QueryInt("PRAGMA user_version"));
    r.page_size = static_cast<std::uint64_t>(c->QueryInt("PRAGMA page_size"));
    r.page_count = static_cast<std::uint64_t>(c->QueryInt("PRAGMA page_count"));
    r.freelist_count = static_cast<std::uint64_t>(c->QueryInt("PRAGMA freelist_count"));
    r.keyspaces = ReadKeyspaces(*c);
    r.history = ReadHistoryBounds(*c);
    r.commits_retained = static_cast<std::uint64_t>(c->QueryInt("SELECT count(*) FROM commits"));
    r.commits_partial =
        static_cast<std::uint64_t>(c->QueryInt("SELECT count(*) FROM commits WHERE partial != 0"));
    ReadKeyspaceHistoryInfo(*c, store.options().history_retention, r);
    if (std::int64_t ks = SessionsKeyspaceId(*c); ks != 0) {
      const std::int64_t now_us = std::chrono::duration_cast<std::chrono::microseconds>(
                                      std::chrono::system_clock::now().time_since_epoch())
                                      .count();
      CallSqlite("cannot count sessions", [&] {
        StatementUse total(*c,
                           "SELECT count(*) FROM entries WHERE keyspace_id = ?1 AND key >= 's/' "
                           "AND key < 's0'");
        total->bind(1, static_cast<int64_t>(ks));
        total->executeStep();
        const auto all = static_cast<std::uint64_t>(total->getColumn(0).getInt64());
        StatementUse expired(*c,
                             "SELECT count(*) FROM entries WHERE keyspace_id = ?1 AND key >= "
                             "'x/' AND key < ?2");
        expired->bind(1, static_cast<int64_t>(ks));
        expired->bind(2, session_keys::Expiry(now_us + 1, ""));
        expired->executeStep();
        r.sessions_expired = static_cast<std::uint64_t>(expired->getColumn(0).getInt64());
        r.sessions_live = all >= r.sessions_expired ? all - r.sessions_expired : 0;
      });
    }
    CallSqlite("cannot count keys with a time-to-live and leases", [&] {
      const std::int64_t now_us = std::chrono::duration_cast<std::chrono::microseconds>(
                                      std::chrono::system_clock::now().time_since_epoch())
                                      .count();
      // Both by their deadline indexes (0006_time_to_live.sql, 0007_leases.sql).
      StatementUse q(*c,
                     "SELECT (SELECT count(*) FROM entries WHERE expires_us IS NOT NULL), "
                     "(SELECT count(*) FROM entries WHERE expires_us IS NOT NULL AND expires_us "
                     "<= ?1), (SELECT count(*) FROM leases), "
                     "(SELECT count(*) FROM leases WHERE expires_us <= ?1)");
      q->bind(1, static_cast<int64_t>(now_us));
      q->executeStep();
      auto count = [&](int col) {
        return static_cast<std::uint64_t>(q->getColumn(col).getInt64());
      };
      r.keys_expired = count(1);
      r.keys_with_ttl = count(0) - r.keys_expired;
      r.leases_expired = count(3);
      r.leases_live = count(2) - r.leases_expired;
    });
    r.integrity = check_integrity ? IntegrityCheck(*c) : "skipped";
    tx.Commit();
  }
  r.journal_mode = CallSqlite("cannot read journal mode", [&] {
    return c->database().execAndGet("PRAGMA journal_mode").getString();
  });
  r.file_bytes = FileBytes(r.path);
  r.wal_bytes = FileBytes(r.path + "-wal");
  return r;
}

std::vector<KeyspaceInfo> ListKeyspaces(Store& store) {
  using namespace internal;
  if (PgStore* pg = AsPgStore(store)) return PgListKeyspaces(*pg);
  auto c = OpenAdminConnection(store.path());
  ReadTransaction tx(*c);
  auto out = ReadKeyspaces(*c);
  tx.Commit();
  return out;
}

std::vector<std::string> RedactedKeyspaces(Store& store) {
  using namespace internal;
  if (PgStore* pg = AsPgStore(store)) return PgRedactedKeyspaces(*pg);
  auto c = OpenAdminConnection(store.path());
  return CallSqlite("cannot read keyspaces", [&] {
    std::vector<std::string> out;
    StatementUse q(*c, "SELECT name FROM keyspaces WHERE redacted != 0 ORDER BY name");
    while (q->executeStep()) out.push_back(q->getColumn(0).getString());
    return out;
  });
}

void CheckKeyspaceName(std::string_view keyspace) { internal::ValidateKeyspace(keyspace); }

void CheckKey(std::string_view key) { internal::ValidateKey(key); }

void CheckKeyPrefix(std::string_view prefix) { internal::ValidatePrefix(prefix); }

void CheckValue(std::string_view keyspace, std::string_view key, const Value& value) {
  internal::ValidateValue(keyspace, key, value);
}

MigrationStatus GetMigrationStatus(const std::string& path, const PostgresOptions& postgres) {
  using namespace internal;
  if (IsPostgresConninfo(path)) return PgGetMigrationStatus(path, postgres);
  RefuseSchemaForFile(postgres);
  Options options;
  options.read_only = true;
  options.create_if_missing = false;
  std::string canonical = PrepareDatabasePath(path, options);
  ConnectionConfig config;
  config.path = canonical;
  config.read_only = true;
  Connection c(config);
  MigrationStatus status;
  status.applied = CheckFileIdentity(c);
  status.library = SchemaVersion();
  for (int i = 0; i < kMigrationCount; ++i) {
    if (kMigrations[i].number > status.applied) {
      status.pending.push_back({kMigrations[i].number, kMigrations[i].name});
    }
  }
  return status;
}

}  // namespace statestore

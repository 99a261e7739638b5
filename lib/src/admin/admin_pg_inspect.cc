// statestore/admin.h on a PostgreSQL store: ListKeyspaces, RedactedKeyspaces, Inspect and
// GetMigrationStatus (admin/admin_pg.h). The same report as on SQLite, from one REPEATABLE READ,
// READ ONLY snapshot; what only an SQLite file has (pages, WAL, integrity_check) is reported as
// not applicable (InspectReport::engine), never made up.
#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "admin/admin_pg.h"
#include "core/history_policy.h"
#include "postgresql/pg_connection.h"
#include "postgresql/pg_history_log.h"
#include "postgresql/pg_migrations.h"
#include "postgresql/pg_schema.h"
#include "sessions/session_keys.h"
#include "statestore/error.h"
#include "statestore/session.h"
#include "statestore/store.h"

namespace statestore::internal {

namespace {

constexpr char kNotApplicable[] = "n/a (postgresql)";

std::uint64_t U64(const PgResult& r, int row, int column) {
  const std::int64_t v = r.Int(row, column);
  return v < 0 ? 0 : static_cast<std::uint64_t>(v);
}

std::vector<KeyspaceInfo> ReadKeyspaces(PgConnection& c) {
  PgResult r = c.Exec("cannot read keyspaces",
                      "SELECT k.name, k.redacted, (SELECT count(*) FROM entries e WHERE "
                      "e.keyspace_id = k.id) FROM keyspaces k ORDER BY k.name");
  std::vector<KeyspaceInfo> out;
  for (int i = 0; i < r.rows(); ++i) {
    KeyspaceInfo info;
    info.name = r.Text(i, 0);
    info.redacted = r.Bool(i, 1);
    info.keys = U64(r, i, 2);
    out.push_back(std::move(info));
  }
  return out;
}

// The history columns of KeyspaceInfo: policy, retained rows, their share of the measured size
// of `changes` (rows, indexes, TOAST), first revision.
void ReadKeyspaceHistoryInfo(PgConnection& c, const HistoryRetention& global, InspectReport& r) {
  PgResult size = c.Exec("cannot measure the history table",
                         "SELECT pg_total_relation_size(to_regclass('changes'))");
  const long double table_bytes = static_cast<long double>(U64(size, 0, 0));
  PgResult counts = c.Exec("cannot count history rows",
                           "SELECT keyspace_id, count(*) FROM changes GROUP BY keyspace_id");
  std::map<std::int64_t, std::uint64_t> per;
  std::uint64_t total_rows = 0;
  for (int i = 0; i < counts.rows(); ++i) {
    per[counts.Int(i, 0)] = U64(counts, i, 1);
    total_rows += U64(counts, i, 1);
  }
  std::map<std::string, PgKeyspaceHistoryRow> rows;
  for (PgKeyspaceHistoryRow& row : PgReadAllKeyspaceHistory(c)) rows[row.name] = std::move(row);
  for (KeyspaceInfo& info : r.keyspaces) {
    auto row = rows.find(info.name);
    if (row == rows.end()) continue;
    info.history_policy = ResolveHistoryPolicy(info.name, row->second.stored, global);
    info.history_first = row->second.compacted_through + 1;
    auto n = per.find(row->second.id);
    if (n == per.end()) continue;
    info.history_changes = n->second;
    info.history_bytes = static_cast<std::uint64_t>(table_bytes * n->second / total_rows);
  }
  r.history_bytes_from_dbstat = true;
}

void CountSessions(PgConnection& c, InspectReport& r) {
  const std::int64_t now_us = std::chrono::duration_cast<std::chrono::microseconds>(
                                  std::chrono::system_clock::now().time_since_epoch())
                                  .count();
  // Keys are bytea and compare by their bytes, as on SQLite: "s/" <= record < "s0" ('/' + 1).
  PgResult q = c.Exec(
      "cannot count sessions",
      "SELECT (SELECT count(*) FROM entries WHERE keyspace_id = k.id AND key >= $2 AND key < $3), "
      "(SELECT count(*) FROM entries WHERE keyspace_id = k.id AND key >= $4 AND key < $5) "
      "FROM keyspaces k WHERE k.name = $1",
      PgParams()
          .Text(kSessionsKeyspace)
          .Key("s/")
          .Key("s0")
          .Key(session_keys::kExpiryPrefix)
          .Key(session_keys::Expiry(now_us + 1, "")));
  if (q.rows() == 0) return;
  const std::uint64_t all = U64(q, 0, 0);
  r.sessions_expired = U64(q, 0, 1);
  r.sessions_live = all >= r.sessions_expired ? all - r.sessions_expired : 0;
}

void ReadServerFacts(PgConnection& c, InspectReport& r) {
  PgResult tables = c.Exec("cannot measure the store's tables",
                           "SELECT c.relname::text, pg_total_relation_size(c.oid) FROM pg_class c "
                           "WHERE c.relnamespace = current_schema()::regnamespace AND "
                           "c.relkind IN ('r', 'p') ORDER BY 1");
  for (int i = 0; i < tables.rows(); ++i) {
    r.table_bytes.emplace_back(tables.Text(i, 0), U64(tables, i, 1));
    r.file_bytes += U64(tables, i, 1);
  }
  PgResult settings = c.Exec("cannot read server settings",
                             "SELECT name, setting FROM pg_settings WHERE name IN ('fsync', "
                             "'synchronous_commit', 'synchronous_standby_names', "
                             "'full_page_writes') ORDER BY name");
  for (int i = 0; i < settings.rows(); ++i) {
    r.server_settings.emplace_back(settings.Text(i, 0), settings.Text(i, 1));
  }
}

std::int64_t ReadMetaValue(PgConnection& c, const char* name) {
  PgResult r =
      c.Exec("cannot read meta", "SELECT value FROM meta WHERE name = $1", PgParams().Text(name));
  return r.rows() == 0 ? 0 : r.Int(0, 0);
}

}  // namespace

PgStore* AsPgStore(Store& store) { return dynamic_cast<PgStore*>(&store); }

std::vector<KeyspaceInfo> PgListKeyspaces(PgStore& store) {
  std::vector<KeyspaceInfo> out;
  store.ReadForAdmin([&](PgConnection& c) { out = ReadKeyspaces(c); });
  return out;
}

std::vector<std::string> PgRedactedKeyspaces(PgStore& store) {
  std::vector<std::string> out;
  store.ReadForAdmin([&](PgConnection& c) {
    PgResult r =
        c.Exec("cannot read keyspaces", "SELECT name FROM keyspaces WHERE redacted ORDER BY name");
    for (int i = 0; i < r.rows(); ++i) out.push_back(r.Text(i, 0));
  });
  return out;
}

InspectReport PgInspect(PgStore& store) {
  InspectReport r;
  r.engine = "postgresql";
  r.path = store.path();
  r.library_schema_version = PgSchemaVersion();
  r.journal_mode = kNotApplicable;
  r.integrity = kNotApplicable;
  store.ReadForAdmin([&](PgConnection& c) {
    r.schema_version = static_cast<int>(ReadMetaValue(c, "schema_version"));
    r.keyspaces = ReadKeyspaces(c);
    r.history = PgReadHistoryBounds(c);
    PgResult commits = c.Exec("cannot count commits",
                              "SELECT count(*), count(*) FILTER (WHERE partial) FROM commits");
    r.commits_retained = U64(commits, 0, 0);
    r.commits_partial = U64(commits, 0, 1);
    ReadKeyspaceHistoryInfo(c, store.options().history_retention, r);
    CountSessions(c, r);
    ReadServerFacts(c, r);
  });
  return r;
}

MigrationStatus PgGetMigrationStatus(const std::string& conninfo) {
  Options options;
  options.read_only = true;
  std::unique_ptr<PgConnection> c = PgConnection::Connect(
      conninfo, PgSessionSql(options, /*writer=*/false), options.busy_timeout);
  const std::string& schema = options.postgres.schema;
  c->ExecScript("cannot begin read transaction",
                "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY");
  PgResult exists = c->Exec("cannot check the schema",
                            "SELECT to_regclass(quote_ident($1) || '.meta') IS NOT NULL",
                            PgParams().Text(schema));
  if (!exists.Bool(0, 0)) {
    throw Error(ErrorCode::kNotFound, "no statestore schema '" + schema + "' in the database of " +
                                          DescribeConninfo(conninfo));
  }
  MigrationStatus status;
  status.applied = static_cast<int>(ReadMetaValue(*c, "schema_version"));
  c->ExecScript("cannot end read transaction", "COMMIT");
  if (status.applied < 1) {
    throw Error(ErrorCode::kCorruption, "schema '" + schema +
                                            "' has a meta table without a schema_version row: "
                                            "not a statestore schema");
  }
  status.library = PgSchemaVersion();
  for (int i = 0; i < pg::kPgMigrationCount; ++i) {
    if (pg::kPgMigrations[i].number > status.applied) {
      status.pending.push_back({pg::kPgMigrations[i].number, pg::kPgMigrations[i].name});
    }
  }
  return status;
}

}  // namespace statestore::internal

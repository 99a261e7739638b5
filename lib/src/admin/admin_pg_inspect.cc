// statestore/admin.h on a PostgreSQL store: ListKeyspaces, RedactedKeyspaces, Inspect and
// GetMigrationStatus (admin/admin_pg.h). The same report as on SQLite, from one REPEATABLE READ,
// READ ONLY snapshot; what only an SQLite file has (pages, WAL, integrity_check) is reported as
// not applicable (InspectReport::engine), never made up.
#include <libpq-fe.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "admin/admin_pg.h"
#include "core/history_policy.h"
#include "postgresql/pg_connection.h"
#include "postgresql/pg_history_log.h"
#include "postgresql/pg_migrations.h"
#include "postgresql/pg_schema.h"
#include "postgresql/pg_server_clock.h"
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

// KeyspaceInfo::max_keys from keyspace_bounds (0004_bounded_keyspaces.sql), as on SQLite.
std::vector<KeyspaceInfo> ReadKeyspaces(PgConnection& c) {
  PgResult r = c.Exec("cannot read keyspaces",
                      "SELECT k.name, k.redacted, (SELECT count(*) FROM entries e WHERE "
                      "e.keyspace_id = k.id), b.max_keys FROM keyspaces k LEFT JOIN "
                      "keyspace_bounds b ON b.keyspace_id = k.id ORDER BY k.name");
  std::vector<KeyspaceInfo> out;
  for (int i = 0; i < r.rows(); ++i) {
    KeyspaceInfo info;
    info.name = r.Text(i, 0);
    info.redacted = r.Bool(i, 1);
    info.keys = U64(r, i, 2);
    if (!r.IsNull(i, 3)) info.max_keys = U64(r, i, 3);
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
  const std::int64_t now_us = PgReadServerMicros(c);  // the store's clock (pg_server_clock.h)
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

// InspectReport::keys_with_ttl, keys_expired, leases_live and leases_expired, by the server's
// clock, the one the engine decides by (pg_server_clock.h): an expired key or lease is one whose
// deadline has passed and that no sweep has deleted yet. Through the deadline indexes
// (0002_time_to_live.sql, 0003_leases.sql).
void CountKeysWithTtlAndLeases(PgConnection& c, InspectReport& r) {
  const std::int64_t now_us = PgReadServerMicros(c);  // the store's clock (pg_server_clock.h)
  PgResult q = c.Exec("cannot count keys with a time-to-live and leases",
                      "SELECT (SELECT count(*) FROM entries WHERE expires_us IS NOT NULL), "
                      "(SELECT count(*) FROM entries WHERE expires_us IS NOT NULL AND "
                      "expires_us <= $1), (SELECT count(*) FROM leases), "
                      "(SELECT count(*) FROM leases WHERE expires_us <= $1)",
                      PgParams().Int(now_us));
  auto live = [&](int all_col, int expired_col) {
    const std::uint64_t all = U64(q, 0, all_col);
    const std::uint64_t expired = U64(q, 0, expired_col);
    return all >= expired ? all - expired : 0;
  };
  r.keys_expired = U64(q, 0, 1);
  r.keys_with_ttl = live(0, 1);
  r.leases_expired = U64(q, 0, 3);
  r.leases_live = live(2, 3);
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
  // reset_val, not setting: this connection SET synchronous_commit from Options::durability
  // (PgSessionSql), and the report is about the server's default (InspectReport).
  PgResult settings = c.Exec("cannot read server settings",
                             "SELECT name, reset_val FROM pg_settings WHERE name IN ('fsync', "
                             "'synchronous_commit', 'synchronous_standby_names', "
                             "'full_page_writes') ORDER BY name");
  for (int i = 0; i < settings.rows(); ++i) {
    r.server_settings.emplace_back(settings.Text(i, 0), settings.Text(i, 1));
  }
}

std::optional<double> LagMs(const PgResult& r, int row, int column) {
  if (r.IsNull(row, column)) return std::nullopt;
  return static_cast<double>(r.Int(row, column)) / 1000.0;
}

// Which server answered, whether it is a standby, and (on a primary) its standbys. Lags are
// read as microseconds (int8: results are binary and PgResult has no float accessor).
// pg_current_wal_lsn() fails during recovery, so a standby's list is not read at all.
void ReadReplication(PgConnection& c, InspectReport& r) {
  const char* host = PQhost(c.handle());
  const char* port = PQport(c.handle());
  r.server_host = host ? host : "";
  r.server_port = port ? port : "";
  PgResult recovery = c.Exec("cannot read the server's role", "SELECT pg_is_in_recovery()");
  r.in_recovery = recovery.Bool(0, 0);
  if (r.in_recovery) return;
  PgResult s = c.Exec(
      "cannot read pg_stat_replication",
      "SELECT coalesce(application_name, ''), coalesce(host(client_addr), ''), state, sync_state, "
      "(extract(epoch FROM write_lag) * 1000000)::int8, "
      "(extract(epoch FROM flush_lag) * 1000000)::int8, "
      "(extract(epoch FROM replay_lag) * 1000000)::int8, "
      "pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::int8 "
      "FROM pg_stat_replication ORDER BY 1, pid");
  for (int i = 0; i < s.rows(); ++i) {
    PgStandbyInfo standby;
    standby.name = s.Text(i, 0);
    standby.client_address = s.Text(i, 1);
    // Without pg_read_all_stats every column but pid (and the activity's name) reads NULL.
    standby.details_visible = !s.IsNull(i, 2) && !s.IsNull(i, 3);
    if (!s.IsNull(i, 2)) standby.state = s.Text(i, 2);
    if (!s.IsNull(i, 3)) standby.sync_state = s.Text(i, 3);
    standby.write_lag_ms = LagMs(s, i, 4);
    standby.flush_lag_ms = LagMs(s, i, 5);
    standby.replay_lag_ms = LagMs(s, i, 6);
    if (!s.IsNull(i, 7)) standby.replay_bytes_behind = U64(s, i, 7);
    r.standbys.push_back(std::move(standby));
  }
}

std::string Setting(const InspectReport& r, const std::string& name) {
  for (const auto& [n, value] : r.server_settings) {
    if (n == name) return value;
  }
  return "";
}

// InspectReport::durability_warnings. Each sentence says what is lost or what waits.
std::vector<std::string> DurabilityWarnings(const InspectReport& r) {
  std::vector<std::string> out;
  for (const char* name : {"fsync", "full_page_writes"}) {
    const std::string value = Setting(r, name);
    if (!value.empty() && value != "on") {
      out.push_back(std::string(name) + "=" + value +
                    ": acknowledged commits may be lost on power loss");
    }
  }
  const std::string commit = Setting(r, "synchronous_commit");
  if (commit == "off" || commit == "local") {
    // The default only: statestore SETs its own sessions' value (InspectReport::server_settings).
    out.push_back("synchronous_commit=" + commit +
                  " is the server's default: other clients' commits, and a statestore opened "
                  "with Durability::kNormal (which sets off), are acknowledged before they are " +
                  (commit == "off" ? "flushed" : "on a standby") +
                  " (Durability::kFull sets on for its own sessions)");
  }
  if (r.in_recovery) return out;  // a standby's replication settings do not apply to commits
  bool hidden = false;
  bool synchronous = false;
  for (const PgStandbyInfo& s : r.standbys) {
    hidden = hidden || !s.details_visible;
    synchronous = synchronous || s.sync_state == "sync" || s.sync_state == "quorum";
  }
  const bool names_set = !Setting(r, "synchronous_standby_names").empty();
  if (r.standbys.empty()) {
    out.push_back("a single server: losing its machine loses every commit since the last backup");
  } else if (hidden) {
    out.push_back(
        "the standbys' state is hidden from this user (pg_stat_replication needs superuser or "
        "pg_read_all_stats): whether commits wait for one is unknown");
    return out;
  } else if (!names_set) {
    out.push_back("asynchronous standby: a failover may lose acknowledged commits");
  }
  if (names_set && !synchronous) {
    out.push_back(
        "synchronous_standby_names is set but no standby is synchronous: commits wait "
        "until a synchronous standby connects");
  }
  return out;
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
    CountKeysWithTtlAndLeases(c, r);
    ReadServerFacts(c, r);
    ReadReplication(c, r);
  });
  r.durability_warnings = DurabilityWarnings(r);
  return r;
}

MigrationStatus PgGetMigrationStatus(const std::string& conninfo, const PostgresOptions& postgres) {
  Options options;
  options.read_only = true;
  options.postgres.schema = postgres.schema;
  ValidatePgSchemaName(options.postgres.schema);
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

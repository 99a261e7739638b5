// statectl inspect, dump, get, set, rm, ttl.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>

#include "common.h"

namespace statectl {

namespace {

using statestore::Value;

struct InspectOpts {
  std::vector<std::string> args;
  bool json = false;
  bool no_integrity = false;
};

std::string Bytes(std::uint64_t n) {
  char buf[64];
  if (n >= (1ull << 20)) {
    std::snprintf(buf, sizeof buf, "%llu (%.1f MiB)", static_cast<unsigned long long>(n),
                  static_cast<double>(n) / (1 << 20));
  } else if (n >= 1024) {
    std::snprintf(buf, sizeof buf, "%llu (%.1f KiB)", static_cast<unsigned long long>(n),
                  static_cast<double>(n) / 1024);
  } else {
    std::snprintf(buf, sizeof buf, "%llu", static_cast<unsigned long long>(n));
  }
  return buf;
}

json TableBytesJson(const statestore::InspectReport& r) {
  json out = json::object();
  for (const auto& [name, bytes] : r.table_bytes) out[name] = bytes;
  return out;
}

json SettingsJson(const statestore::InspectReport& r) {
  json out = json::object();
  for (const auto& [name, value] : r.server_settings) out[name] = value;
  return out;
}

// The library's durability warnings (InspectReport::durability_warnings) on one line; empty
// when none applies.
std::string DurabilityWarning(const statestore::InspectReport& r) {
  std::string warning;
  for (const std::string& w : r.durability_warnings) warning += (warning.empty() ? "" : "; ") + w;
  return warning;
}

// "primary (socket /tmp/x port 5432)", "standby (in recovery) (host db2 port 5432)".
std::string ServerText(const statestore::InspectReport& r) {
  const bool socket = !r.server_host.empty() && r.server_host[0] == '/';
  return std::string(r.in_recovery ? "standby (in recovery)" : "primary") + " (" +
         (socket ? "socket " : "host ") + r.server_host + " port " + r.server_port + ")";
}

std::string LagText(const std::optional<double>& ms) {
  if (!ms) return "- (idle)";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f ms", *ms);
  return buf;
}

json OptionalJson(const std::optional<double>& v) { return v ? json(*v) : json(nullptr); }

json StandbysJson(const statestore::InspectReport& r) {
  json out = json::array();
  for (const auto& s : r.standbys) {
    out.push_back({{"name", s.name},
                   {"client_address", s.client_address},
                   {"state", s.state},
                   {"sync_state", s.sync_state},
                   {"details_visible", s.details_visible},
                   {"write_lag_ms", OptionalJson(s.write_lag_ms)},
                   {"flush_lag_ms", OptionalJson(s.flush_lag_ms)},
                   {"replay_lag_ms", OptionalJson(s.replay_lag_ms)},
                   {"replay_bytes_behind",
                    s.replay_bytes_behind ? json(*s.replay_bytes_behind) : json(nullptr)}});
  }
  return out;
}

// One row per standby; lag "- (idle)" where the server shows NULL (PgStandbyInfo).
void PrintStandbyTable(const std::vector<statestore::PgStandbyInfo>& standbys) {
  Table t({"STANDBY", "ADDRESS", "STATE", "SYNC", "WRITE LAG", "FLUSH LAG", "REPLAY LAG",
           "BYTES BEHIND"});
  for (const auto& s : standbys) {
    t.Add({s.name, s.client_address.empty() ? "(socket)" : s.client_address,
           s.details_visible ? s.state : "(hidden)", s.sync_state, LagText(s.write_lag_ms),
           LagText(s.flush_lag_ms), LagText(s.replay_lag_ms),
           s.replay_bytes_behind ? std::to_string(*s.replay_bytes_behind) : "-"});
  }
  t.Print(std::cout);
}

// The inspect report of a PostgreSQL store: tables and server settings instead of pages.

// The keyspace table of `inspect`, the same for both engines. HISTORY BYTES is approximate
// (SQLite: dbstat pages shared out by rows, or row sizes without dbstat).
void PrintKeyspaceTable(const std::vector<statestore::KeyspaceInfo>& keyspaces) {
  Table t({"KEYSPACE", "KEYS", "MAX KEYS", "HISTORY", "POLICY", "SOURCE", "CHANGES",
           "HISTORY BYTES", "FIRST REV"});
  for (const auto& k : keyspaces) {
    t.Add({k.name, std::to_string(k.keys), k.max_keys ? std::to_string(*k.max_keys) : "-",
           k.redacted ? "redacted (digests)" : "values", PolicyText(k.history_policy),
           PolicySourceName(k.history_policy.source), std::to_string(k.history_changes),
           "~" + Bytes(k.history_bytes), std::to_string(k.history_first)});
  }
  t.Print(std::cout);
}

int PrintPgInspect(const statestore::InspectReport& r) {
  std::string range = r.history.head >= r.history.first
                          ? std::to_string(r.history.first) + ".." + std::to_string(r.history.head)
                          : "(empty)";
  std::string settings;
  for (const auto& [name, value] : r.server_settings) {
    settings += (settings.empty() ? "" : ", ") + name + "=" + (value.empty() ? "''" : value);
  }
  const std::string warning = DurabilityWarning(r);
  PrintFields(
      {{"path", r.path},
       {"engine", "postgresql"},
       {"schema version", std::to_string(r.schema_version) + " (library " +
                              std::to_string(r.library_schema_version) + ", statestore " +
                              statestore::LibraryVersion() + ")"},
       {"table size", Bytes(r.file_bytes) + " (pg_total_relation_size of the store's tables)"},
       {"revisions", range + " (" + std::to_string(r.commits_retained) + " retained, " +
                         std::to_string(r.commits_partial) + " partial, compacted through " +
                         std::to_string(r.history.compacted_through) + ")"},
       {"sessions", std::to_string(r.sessions_live) + " live, " +
                        std::to_string(r.sessions_expired) + " expired (unswept)"},
       {"time-to-live", std::to_string(r.keys_with_ttl) + " keys, " +
                            std::to_string(r.keys_expired) + " expired (unswept)"},
       {"server", ServerText(r)},
       {"standbys", r.in_recovery ? std::string("not read on a standby (inspect the primary)")
                                  : std::to_string(r.standbys.size())},
       {"settings", settings + " (server defaults)"},
       {"durability", warning.empty() ? "ok" : "WARNING: " + warning},
       {"integrity", r.integrity + " (use statectl verify)"}});
  std::cout << "\n";
  Table tables({"TABLE", "BYTES"});
  for (const auto& [name, bytes] : r.table_bytes) tables.Add({name, Bytes(bytes)});
  tables.Print(std::cout);
  std::cout << "\n";
  if (!r.standbys.empty()) {
    PrintStandbyTable(r.standbys);
    std::cout << "\n";
  }
  PrintKeyspaceTable(r.keyspaces);
  return kExitOk;
}

int RunInspect(const InspectOpts& o) {
  auto p = TakeDb(o.args, 0, 0, "statectl inspect DB");
  auto store = OpenRead(p.db);
  statestore::InspectReport r = statestore::Inspect(*store, !o.no_integrity);
  if (o.json) {
    json ks = json::array();
    for (const auto& k : r.keyspaces) {
      ks.push_back({{"name", k.name},
                    {"keys", k.keys},
                    {"max_keys", k.max_keys ? json(*k.max_keys) : json()},
                    {"redacted", k.redacted},
                    {"history_policy", PolicyJson(k.history_policy)},
                    {"history_changes", k.history_changes},
                    {"history_bytes", k.history_bytes},
                    {"history_first", k.history_first}});
    }
    json doc = {{"path", r.path},
                {"library_version", statestore::LibraryVersion()},
                {"schema_version", r.schema_version},
                {"library_schema_version", r.library_schema_version},
                {"journal_mode", r.journal_mode},
                {"page_size", r.page_size},
                {"page_count", r.page_count},
                {"freelist_count", r.freelist_count},
                {"file_bytes", r.file_bytes},
                {"wal_bytes", r.wal_bytes},
                {"keyspaces", ks},
                {"sessions", {{"live", r.sessions_live}, {"expired", r.sessions_expired}}},
                {"time_to_live", {{"keys", r.keys_with_ttl}, {"expired", r.keys_expired}}},
                {"leases", {{"live", r.leases_live}, {"expired", r.leases_expired}}},
                {"history",
                 {{"first", r.history.first},
                  {"head", r.history.head},
                  {"compacted_through", r.history.compacted_through},
                  {"commits", r.commits_retained},
                  {"partial_commits", r.commits_partial},
                  {"bytes_from_dbstat", r.history_bytes_from_dbstat}}},
                {"integrity", r.integrity},
                {"engine", r.engine},
                {"table_bytes", TableBytesJson(r)},
                {"server_settings", SettingsJson(r)}};
    if (r.engine == "postgresql") {
      doc["server"] = {{"host", r.server_host},
                       {"port", r.server_port},
                       {"role", r.in_recovery ? "standby" : "primary"},
                       {"in_recovery", r.in_recovery}};
      doc["standbys"] = StandbysJson(r);
      doc["durability_warnings"] = r.durability_warnings;
    }
    PrintJson(doc);
    return kExitOk;
  }
  if (r.engine == "postgresql") return PrintPgInspect(r);
  std::string range = r.history.head >= r.history.first
                          ? std::to_string(r.history.first) + ".." + std::to_string(r.history.head)
                          : "(empty)";
  PrintFields(
      {{"path", r.path},
       {"schema version", std::to_string(r.schema_version) + " (library " +
                              std::to_string(r.library_schema_version) + ", statestore " +
                              statestore::LibraryVersion() + ")"},
       {"journal mode", r.journal_mode},
       {"page size", std::to_string(r.page_size)},
       {"pages", std::to_string(r.page_count) + " (" + std::to_string(r.freelist_count) + " free)"},
       {"file size", Bytes(r.file_bytes)},
       {"wal size", Bytes(r.wal_bytes)},
       {"revisions", range + " (" + std::to_string(r.commits_retained) + " retained, " +
                         std::to_string(r.commits_partial) + " partial, compacted through " +
                         std::to_string(r.history.compacted_through) + ")"},
       {"sessions", std::to_string(r.sessions_live) + " live, " +
                        std::to_string(r.sessions_expired) + " expired (unswept)"},
       {"time-to-live", std::to_string(r.keys_with_ttl) + " keys, " +
                            std::to_string(r.keys_expired) + " expired (unswept)"},
       {"leases", std::to_string(r.leases_live) + " live, " + std::to_string(r.leases_expired) +
                      " expired (unswept)"},
       {"integrity", r.integrity}});
  std::cout << "\n";
  PrintKeyspaceTable(r.keyspaces);
  return kExitOk;
}

struct DumpOpts {
  std::vector<std::string> args;
  std::string keyspace;
  std::string prefix;
  bool reveal = false;
  bool json = false;
};

int RunDump(const DumpOpts& o) {
  auto p = TakeDb(o.args, 0, 0, "statectl dump DB [--keyspace KS] [--prefix P] [--reveal]");
  if (!o.keyspace.empty()) CheckKeyspaceArg(o.keyspace);
  CheckPrefixArg(o.prefix);
  auto store = OpenRead(p.db);
  auto infos = statestore::ListKeyspaces(*store);
  auto bounds = store->history_bounds();
  std::map<std::string, std::vector<statestore::Entry>> data;
  bool found_keyspace = o.keyspace.empty();
  store->read([&](statestore::Transaction& tx) {
    data.clear();
    for (const auto& k : infos) {
      if (!o.keyspace.empty() && k.name != o.keyspace) continue;
      found_keyspace = true;
      data[k.name] = tx.list(k.name, o.prefix);
    }
  });
  if (!found_keyspace) NotFound("no keyspace '" + o.keyspace + "' in " + store->path());
  // Read after the values: a keyspace only ever becomes redacted, never the other way.
  const Redaction redaction = Redaction::Load(*store, o.reveal);
  if (o.json) {
    json ks = json::object();
    for (const auto& [name, entries] : data) {
      json arr = json::array();
      for (const auto& e : entries) {
        json entry = {{"key", e.key},
                      {"version", e.version},
                      {"value", ValueSideJson(e.value, name, redaction)}};
        if (e.expires_at) entry["expires_at"] = FormatTime(*e.expires_at);
        arr.push_back(std::move(entry));
      }
      ks[name] = std::move(arr);
    }
    PrintJson({{"path", store->path()}, {"head_revision", bounds.head}, {"keyspaces", ks}});
    return kExitOk;
  }
  Table t({"KEYSPACE", "KEY", "VERSION", "TYPE", "VALUE"});
  for (const auto& [name, entries] : data) {
    for (const auto& e : entries) {
      t.Add({name, Short(e.key), std::to_string(e.version),
             std::string(statestore::ToString(e.value.type())),
             ValueCell(e.value, redaction.hides(name))});
    }
  }
  t.Print(std::cout);
  return kExitOk;
}

struct GetOpts {
  std::vector<std::string> args;
  bool raw = false;
  bool reveal = false;
  bool json = false;
};

// A value on one line (escaped when printed): strings as they are, bytes as hex.
std::string Plain(const Value& v) {
  switch (v.type()) {
    case statestore::ValueType::kString:
      return v.as_string();
    case statestore::ValueType::kBytes:
      return Hex(v.as_bytes());
    default:
      return v.to_display(64);
  }
}

int RunGet(const GetOpts& o) {
  auto p = TakeDb(o.args, 2, 2, "statectl get DB KEYSPACE KEY [--raw] [--reveal]");
  if (o.raw && o.json) UsageError("give at most one of --raw and --json");
  const std::string& ks = p.rest[0];
  const std::string& key = p.rest[1];
  CheckKeyspaceArg(ks);
  CheckKeyArg(key);
  auto store = OpenRead(p.db);
  auto e = store->get_entry(ks, key);
  if (!e) NotFound("no key '" + key + "' in keyspace '" + ks + "'");
  const Redaction redaction = Redaction::Load(*store, o.reveal);
  const bool hidden = redaction.hides(ks);
  if (o.json) {
    PrintJson({{"keyspace", ks},
               {"key", key},
               {"version", e->version},
               {"value", ValueSideJson(e->value, ks, redaction)},
               {"expires_at", e->expires_at ? json(FormatTime(*e->expires_at)) : json()}});
  } else if (o.raw) {
    if (hidden) {
      UsageError("keyspace '" + ks + "' is redacted: add --reveal to print " + key +
                 "'s value with --raw");
    }
    const Value& v = e->value;
    if (v.type() == statestore::ValueType::kString) {
      std::cout << v.as_string();
    } else if (v.type() == statestore::ValueType::kBytes) {
      std::cout.write(reinterpret_cast<const char*>(v.as_bytes().data()),
                      static_cast<std::streamsize>(v.as_bytes().size()));
    } else {
      std::cout << v.to_display(64) << "\n";
    }
    std::cout.flush();
  } else {
    PrintLine(hidden ? ValueCell(e->value, true) : Plain(e->value));
  }
  return kExitOk;
}

struct SetOpts {
  std::vector<std::string> args;
  std::string type = "string";
  bool as_string = false, as_int = false, as_double = false, as_bool = false, as_bytes = false,
       as_hex = false, as_null = false;
  std::string file;
  CLI::Option* file_option = nullptr;
  std::string ttl;
  std::string lease;
  bool json = false;
};

void RefuseReserved(const std::string& ks) {
  if (ks == statestore::kSessionsKeyspace) {
    UsageError(
        "keyspace 'sessions' belongs to the sessions API; writing it directly would break "
        "its indexes (use `statectl sessions`)");
  }
}

int RunSet(const SetOpts& o) {
  std::string type = o.type;
  int flags = o.as_string + o.as_int + o.as_double + o.as_bool + o.as_bytes + o.as_hex + o.as_null;
  if (flags > 1) {
    UsageError(
        "give at most one of --string, --int, --double, --bool, --bytes, --bytes-hex, --null");
  }
  if (o.as_string) type = "string";
  if (o.as_int) type = "int";
  if (o.as_double) type = "double";
  if (o.as_bool) type = "bool";
  if (o.as_bytes) type = "bytes";
  if (o.as_hex) type = "bytes-hex";
  if (o.as_null) type = "null";
  const bool from_file = o.file_option->count() > 0;
  if (from_file && type == "null") UsageError("--null takes no value: leave out --file");
  // VALUE is left out with --file (and may be with --null).
  const std::size_t min_rest = from_file || type == "null" ? 2 : 3;
  const std::size_t max_rest = from_file ? 2 : 3;
  auto p = TakeDb(o.args, min_rest, max_rest,
                  "statectl set DB KEYSPACE KEY (VALUE | - | --file PATH) [--TYPE]");
  const std::string& ks = p.rest[0];
  const std::string& key = p.rest[1];
  RefuseReserved(ks);
  CheckKeyspaceArg(ks);
  CheckKeyArg(key);
  std::optional<std::string> positional;
  if (p.rest.size() > 2) positional = p.rest[2];
  std::optional<std::string> file;
  if (from_file) file = o.file;
  Value v;
  if (type != "null") v = ParseValue(ReadValueText(positional, file, type), type);
  CheckValueArg(ks, key, v);
  statestore::PutOptions put_options;
  if (!o.ttl.empty() && !o.lease.empty()) UsageError("give at most one of --ttl and --lease");
  if (!o.ttl.empty()) put_options.ttl = ParseTtl(o.ttl, "--ttl");
  if (!o.lease.empty()) put_options.lease = ParseLeaseId(o.lease, "--lease");
  auto store = OpenWrite(p.db, /*create=*/true);
  statestore::Revision rev = store->transact(
      [&](statestore::Transaction& tx) { tx.put(ks, key, v, put_options); }, {kOriginLabel});
  if (o.json) {
    PrintJson({{"revision", rev},
               {"keyspace", ks},
               {"key", key},
               {"value", ValueSideJson(v, ks, Redaction::Load(*store, false))}});
  } else {
    PrintLine("revision " + std::to_string(rev));
  }
  return kExitOk;
}

struct TtlOpts {
  std::vector<std::string> args;
  std::string set;
  bool clear = false;
  bool json = false;
};

// statectl ttl: a key's deadline and remaining time; --set / --clear change it (expire, persist).
int RunTtl(const TtlOpts& o) {
  auto p = TakeDb(o.args, 2, 2, "statectl ttl DB KEYSPACE KEY [--set DURATION | --clear]");
  const std::string& ks = p.rest[0];
  const std::string& key = p.rest[1];
  if (!o.set.empty() && o.clear) UsageError("give at most one of --set and --clear");
  CheckKeyspaceArg(ks);
  CheckKeyArg(key);
  std::shared_ptr<statestore::Store> store;
  std::optional<statestore::Revision> rev;
  if (!o.set.empty() || o.clear) {
    RefuseReserved(ks);
    const std::optional<std::chrono::milliseconds> ttl =
        o.clear ? std::nullopt : std::optional(ParseTtl(o.set, "--set"));
    store = OpenWrite(p.db);
    bool existed = false;
    rev = store->transact(
        [&](statestore::Transaction& tx) {
          existed = ttl ? tx.expire(ks, key, *ttl) : tx.persist(ks, key);
        },
        {kOriginLabel});
    if (!existed) NotFound("no key '" + key + "' in keyspace '" + ks + "'");
  } else {
    store = OpenRead(p.db);
  }
  auto e = store->get_entry(ks, key);
  if (!e) NotFound("no key '" + key + "' in keyspace '" + ks + "'");
  const auto now = statestore::Clock::now();
  std::optional<std::int64_t> remaining_ms;
  if (e->expires_at) {
    remaining_ms = std::max<std::int64_t>(
        0, std::chrono::duration_cast<std::chrono::milliseconds>(*e->expires_at - now).count());
  }
  if (o.json) {
    json j = {{"keyspace", ks},
              {"key", key},
              {"version", e->version},
              {"expires_at", e->expires_at ? json(FormatTime(*e->expires_at)) : json()},
              {"remaining_ms", remaining_ms ? json(*remaining_ms) : json()},
              {"lease", e->lease ? json(*e->lease) : json()}};
    if (rev) j["revision"] = *rev;
    PrintJson(j);
    return kExitOk;
  }
  if (rev) PrintLine("revision " + std::to_string(*rev));
  if (!e->expires_at) {
    PrintLine("no time-to-live (the key does not expire)");
  } else {
    char remaining[64];
    std::snprintf(remaining, sizeof remaining, "%.3f", static_cast<double>(*remaining_ms) / 1000);
    PrintLine("expires at " + FormatTime(*e->expires_at) + " (in " + remaining + " s)" +
              (e->lease ? ", with lease " + std::to_string(*e->lease) : std::string()));
  }
  return kExitOk;
}

struct RmOpts {
  std::vector<std::string> args;
  bool json = false;
};

int RunRm(const RmOpts& o) {
  auto p = TakeDb(o.args, 2, 2, "statectl rm DB KEYSPACE KEY");
  const std::string& ks = p.rest[0];
  const std::string& key = p.rest[1];
  RefuseReserved(ks);
  CheckKeyspaceArg(ks);
  CheckKeyArg(key);
  auto store = OpenWrite(p.db);
  bool existed = false;
  statestore::Revision rev = store->transact(
      [&](statestore::Transaction& tx) { existed = tx.erase(ks, key); }, {kOriginLabel});
  if (!existed) NotFound("no key '" + key + "' in keyspace '" + ks + "'");
  if (o.json) {
    PrintJson({{"revision", rev}, {"keyspace", ks}, {"key", key}});
  } else {
    PrintLine("revision " + std::to_string(rev));
  }
  return kExitOk;
}

}  // namespace

void RegisterStateCommands(CLI::App& app, Registry& registry) {
  {
    auto o = std::make_shared<InspectOpts>();
    auto* sub = app.add_subcommand(
        "inspect",
        "Show schema version, journal mode, sizes, keyspaces, sessions, revisions and "
        "integrity (read-only)");
    AddArgs(sub, &o->args, "DB");
    sub->add_flag("--json", o->json, "One JSON document");
    sub->add_flag("--no-integrity", o->no_integrity, "Skip PRAGMA integrity_check (large files)");
    sub->footer(
        "On PostgreSQL: the server read (primary, or standby in recovery), its standbys with "
        "their sync state and lag (pg_stat_replication; the lag columns need superuser or "
        "pg_read_all_stats), and the durability settings, with a warning when acknowledged "
        "commits could be lost or would wait.\n\n"
        "Examples:\n  statectl inspect app.db\n  statectl inspect app.db --json\n"
        "  statectl inspect "
        "'postgresql://app@/appdb?host=db1,db2&target_session_attrs=read-write'");
    sub->callback([&registry, o] { registry.action = [o] { return RunInspect(*o); }; });
  }
  {
    auto o = std::make_shared<DumpOpts>();
    auto* sub = app.add_subcommand("dump",
                                   "Print the current state: every key of every keyspace "
                                   "(values of redacted keyspaces hidden; read-only)");
    AddArgs(sub, &o->args, "DB");
    sub->add_option("--keyspace", o->keyspace, "Only this keyspace");
    sub->add_option("--prefix", o->prefix, "Only keys starting with this prefix");
    AddRevealFlag(sub, &o->reveal);
    sub->add_flag("--json", o->json, "One JSON document");
    sub->footer("Examples:\n  statectl dump app.db\n  statectl dump app.db --keyspace app --json");
    sub->callback([&registry, o] { registry.action = [o] { return RunDump(*o); }; });
  }
  {
    auto o = std::make_shared<GetOpts>();
    auto* sub = app.add_subcommand(
        "get",
        "Print one value on one line (strings escaped, bytes as hex; exit 3 if absent; "
        "read-only)");
    AddArgs(sub, &o->args, "DB KEYSPACE KEY");
    sub->add_flag("--raw", o->raw,
                  "Print a string or bytes value exactly as stored, with no newline added");
    AddRevealFlag(sub, &o->reveal);
    sub->add_flag("--json", o->json, "Typed JSON with version");
    sub->footer(
        "Examples:\n  statectl get app.db app greeting\n  statectl get app.db app "
        "greeting --json\n  statectl get app.db app blob --raw > blob.bin");
    sub->callback([&registry, o] { registry.action = [o] { return RunGet(*o); }; });
  }
  {
    auto o = std::make_shared<SetOpts>();
    auto* sub = app.add_subcommand(
        "set",
        "Write one value (a string unless a type is given) from VALUE, standard input (-) or "
        "--file; creates DB if missing");
    AddArgs(sub, &o->args, "DB KEYSPACE KEY [VALUE|-]");
    sub->add_option("-t,--type", o->type,
                    "string (default), int, double, bool, bytes (raw), bytes-hex, null")
        ->check(CLI::IsMember({"string", "int", "double", "bool", "bytes", "bytes-hex", "null"}));
    o->file_option = sub->add_option(
        "--file", o->file,
        "Read the value from PATH (- = standard input) instead of VALUE; at most 4 MiB");
    sub->add_flag("--string", o->as_string, "VALUE is UTF-8 text (the default)");
    sub->add_flag("--int", o->as_int, "VALUE is a 64-bit integer");
    sub->add_flag("--double", o->as_double, "VALUE is a decimal number, inf or -inf (not NaN)");
    sub->add_flag("--bool", o->as_bool, "VALUE is true, false, 1 or 0");
    sub->add_flag("--bytes", o->as_bytes, "VALUE is raw bytes (best with --file or -)");
    sub->add_flag("--bytes-hex", o->as_hex, "VALUE is hex digits (bytes)");
    sub->add_flag("--null", o->as_null, "Store null (VALUE may be left out)");
    sub->add_option("--ttl", o->ttl,
                    "The key expires after DURATION (500ms, 30s, 10m, 2h, 1d); without it the key "
                    "does not expire, even if it did before");
    sub->add_option("--lease", o->lease,
                    "Attach the key to lease ID (statectl leases grant): it expires with the "
                    "lease");
    sub->add_flag("--json", o->json, "Print the result as JSON");
    sub->footer(
        "Examples:\n  statectl set app.db app greeting hello\n  statectl set app.db app "
        "retries 3 --int\n  statectl set app.db app blob 00ff10 --bytes-hex\n  statectl set "
        "app.db app cert --file cert.pem\n  gzip -c notes.txt | statectl set app.db app notes - "
        "--bytes\nTypes read from a file or - drop one trailing newline (int, double, bool, "
        "bytes-hex); strings and bytes are taken byte for byte.");
    sub->callback([&registry, o] { registry.action = [o] { return RunSet(*o); }; });
  }
  {
    auto o = std::make_shared<RmOpts>();
    auto* sub = app.add_subcommand("rm", "Erase one key (exit 3 if it does not exist)");
    AddArgs(sub, &o->args, "DB KEYSPACE KEY");
    sub->add_flag("--json", o->json, "Print the result as JSON");
    sub->footer("Example:\n  statectl rm app.db app greeting");
    sub->callback([&registry, o] { registry.action = [o] { return RunRm(*o); }; });
  }
  {
    auto o = std::make_shared<TtlOpts>();
    auto* sub = app.add_subcommand(
        "ttl",
        "Show when a key expires, how long it has left and its lease (exit 3 if absent or "
        "expired); --set or --clear changes it (and detaches it from its lease)");
    AddArgs(sub, &o->args, "DB KEYSPACE KEY");
    sub->add_option("--set", o->set, "Expire the key DURATION from now (500ms, 30s, 10m, 2h)");
    sub->add_flag("--clear", o->clear, "Make the key persistent");
    sub->add_flag("--json", o->json, "Print the result as JSON");
    sub->footer(
        "Examples:\n  statectl ttl app.db cache result-42\n  statectl ttl app.db locks job-7 "
        "--set 30s\n  statectl ttl app.db cache result-42 --clear\nRemaining time is by this "
        "machine's clock; the key is absent to every reader from its deadline on.");
    sub->callback([&registry, o] { registry.action = [o] { return RunTtl(*o); }; });
  }
}

}  // namespace statectl

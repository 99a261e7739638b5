// statectl inspect, dump, get, set, rm.
#include <CLI/CLI.hpp>
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

int RunInspect(const InspectOpts& o) {
  auto p = TakeDb(o.args, 0, 0, "statectl inspect DB");
  auto store = OpenRead(p.db);
  statestore::InspectReport r = statestore::Inspect(*store, !o.no_integrity);
  if (o.json) {
    json ks = json::array();
    for (const auto& k : r.keyspaces) {
      ks.push_back({{"name", k.name}, {"keys", k.keys}, {"redacted", k.redacted}});
    }
    PrintJson({{"path", r.path},
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
               {"history",
                {{"first", r.history.first},
                 {"head", r.history.head},
                 {"compacted_through", r.history.compacted_through},
                 {"commits", r.commits_retained}}},
               {"integrity", r.integrity}});
    return kExitOk;
  }
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
                         "compacted through " + std::to_string(r.history.compacted_through) + ")"},
       {"sessions", std::to_string(r.sessions_live) + " live, " +
                        std::to_string(r.sessions_expired) + " expired (unswept)"},
       {"integrity", r.integrity}});
  std::cout << "\n";
  Table t({"KEYSPACE", "KEYS", "HISTORY"});
  for (const auto& k : r.keyspaces) {
    t.Add({k.name, std::to_string(k.keys), k.redacted ? "redacted (digests)" : "values"});
  }
  t.Print(std::cout);
  return kExitOk;
}

struct DumpOpts {
  std::vector<std::string> args;
  std::string keyspace;
  std::string prefix;
  bool json = false;
};

// The digest history records for `v` in a redacted keyspace; empty without the redaction key
// (a read-only open without the key file cannot compute it).
Value DigestOf(const statestore::Store& store, const Value& v) {
  return store.has_redaction_key() ? Value(store.value_digest(v)) : Value(statestore::Bytes{});
}

int RunDump(const DumpOpts& o) {
  auto p = TakeDb(o.args, 0, 0, "statectl dump DB [--keyspace KS] [--prefix P]");
  auto store = OpenRead(p.db);
  auto infos = statestore::ListKeyspaces(*store);
  auto bounds = store->history_bounds();
  std::map<std::string, std::vector<statestore::Entry>> data;
  std::map<std::string, bool> redacted;
  bool found_keyspace = o.keyspace.empty();
  store->read([&](statestore::Transaction& tx) {
    data.clear();
    for (const auto& k : infos) {
      if (!o.keyspace.empty() && k.name != o.keyspace) continue;
      found_keyspace = true;
      redacted[k.name] = k.redacted;
      data[k.name] = tx.list(k.name, o.prefix);
    }
  });
  if (!found_keyspace) NotFound("no keyspace '" + o.keyspace + "' in " + store->path());
  if (o.json) {
    json ks = json::object();
    for (const auto& [name, entries] : data) {
      json arr = json::array();
      for (const auto& e : entries) {
        json side =
            redacted[name] ? ChangeSideJson(DigestOf(*store, e.value), true) : ValueJson(e.value);
        arr.push_back({{"key", e.key}, {"version", e.version}, {"value", side}});
      }
      ks[name] = std::move(arr);
    }
    PrintJson({{"path", store->path()}, {"head_revision", bounds.head}, {"keyspaces", ks}});
    return kExitOk;
  }
  Table t({"KEYSPACE", "KEY", "VERSION", "TYPE", "VALUE"});
  for (const auto& [name, entries] : data) {
    for (const auto& e : entries) {
      std::string cell = redacted[name]
                             ? ChangeSideCell(DigestOf(*store, e.value), true) + " (redacted)"
                             : Cell(e.value);
      t.Add({name, Short(e.key), std::to_string(e.version),
             std::string(statestore::ToString(e.value.type())), cell});
    }
  }
  t.Print(std::cout);
  return kExitOk;
}

struct GetOpts {
  std::vector<std::string> args;
  bool json = false;
};

std::string Raw(const Value& v) {
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
  auto p = TakeDb(o.args, 2, 2, "statectl get DB KEYSPACE KEY");
  auto store = OpenRead(p.db);
  const std::string& ks = p.rest[0];
  const std::string& key = p.rest[1];
  auto e = store->get_entry(ks, key);
  if (!e) NotFound("no key '" + key + "' in keyspace '" + ks + "'");
  if (o.json) {
    PrintJson(
        {{"keyspace", ks}, {"key", key}, {"version", e->version}, {"value", ValueJson(e->value)}});
  } else {
    std::cout << Raw(e->value) << "\n";
  }
  return kExitOk;
}

struct SetOpts {
  std::vector<std::string> args;
  std::string type = "string";
  bool as_int = false, as_double = false, as_bool = false, as_hex = false, as_null = false;
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
  auto p = TakeDb(o.args, 3, 3, "statectl set DB KEYSPACE KEY VALUE");
  std::string type = o.type;
  int flags = o.as_int + o.as_double + o.as_bool + o.as_hex + o.as_null;
  if (flags > 1) UsageError("give at most one of --int, --double, --bool, --bytes-hex, --null");
  if (o.as_int) type = "int";
  if (o.as_double) type = "double";
  if (o.as_bool) type = "bool";
  if (o.as_hex) type = "bytes-hex";
  if (o.as_null) type = "null";
  const std::string& ks = p.rest[0];
  const std::string& key = p.rest[1];
  RefuseReserved(ks);
  Value v = ParseValue(p.rest[2], type);
  auto store = OpenWrite(p.db, /*create=*/true);
  statestore::Revision rev =
      store->transact([&](statestore::Transaction& tx) { tx.put(ks, key, v); }, {kOriginLabel});
  if (o.json) {
    PrintJson({{"revision", rev}, {"keyspace", ks}, {"key", key}, {"value", ValueJson(v)}});
  } else {
    std::cout << "revision " << rev << "\n";
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
  auto store = OpenWrite(p.db);
  bool existed = false;
  statestore::Revision rev = store->transact(
      [&](statestore::Transaction& tx) { existed = tx.erase(ks, key); }, {kOriginLabel});
  if (!existed) NotFound("no key '" + key + "' in keyspace '" + ks + "'");
  if (o.json) {
    PrintJson({{"revision", rev}, {"keyspace", ks}, {"key", key}});
  } else {
    std::cout << "revision " << rev << "\n";
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
    sub->footer("Examples:\n  statectl inspect app.db\n  statectl inspect app.db --json");
    sub->callback([&registry, o] { registry.action = [o] { return RunInspect(*o); }; });
  }
  {
    auto o = std::make_shared<DumpOpts>();
    auto* sub = app.add_subcommand("dump",
                                   "Print the current state: every key of every keyspace "
                                   "(redacted keyspaces as digests; read-only)");
    AddArgs(sub, &o->args, "DB");
    sub->add_option("--keyspace", o->keyspace, "Only this keyspace");
    sub->add_option("--prefix", o->prefix, "Only keys starting with this prefix");
    sub->add_flag("--json", o->json, "One JSON document");
    sub->footer("Examples:\n  statectl dump app.db\n  statectl dump app.db --keyspace app --json");
    sub->callback([&registry, o] { registry.action = [o] { return RunDump(*o); }; });
  }
  {
    auto o = std::make_shared<GetOpts>();
    auto* sub = app.add_subcommand(
        "get", "Print one value (strings raw, bytes as hex; exit 3 if absent; read-only)");
    AddArgs(sub, &o->args, "DB KEYSPACE KEY");
    sub->add_flag("--json", o->json, "Typed JSON with version");
    sub->footer(
        "Examples:\n  statectl get app.db app greeting\n  statectl get app.db app "
        "greeting --json");
    sub->callback([&registry, o] { registry.action = [o] { return RunGet(*o); }; });
  }
  {
    auto o = std::make_shared<SetOpts>();
    auto* sub = app.add_subcommand(
        "set", "Write one value (a string unless a type is given); creates DB if missing");
    AddArgs(sub, &o->args, "DB KEYSPACE KEY VALUE");
    sub->add_option("-t,--type", o->type, "string (default), int, double, bool, bytes-hex, null")
        ->check(CLI::IsMember({"string", "int", "double", "bool", "bytes", "bytes-hex", "null"}));
    sub->add_flag("--int", o->as_int, "VALUE is a 64-bit integer");
    sub->add_flag("--double", o->as_double, "VALUE is a double");
    sub->add_flag("--bool", o->as_bool, "VALUE is true or false");
    sub->add_flag("--bytes-hex", o->as_hex, "VALUE is hex digits (bytes)");
    sub->add_flag("--null", o->as_null, "Store null (VALUE is ignored)");
    sub->add_flag("--json", o->json, "Print the result as JSON");
    sub->footer(
        "Examples:\n  statectl set app.db app greeting hello\n  statectl set app.db app "
        "retries 3 --int\n  statectl set app.db app blob 00ff10 --bytes-hex");
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
}

}  // namespace statectl

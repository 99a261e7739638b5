// statectl config get|set|rm|list|explain|revert — the layered config API (statestore/config.h).
#include <CLI/CLI.hpp>
#include <algorithm>
#include <iostream>
#include <iterator>
#include <map>

#include "common.h"

namespace statectl {

namespace {

using statestore::ConfigLayer;
using statestore::ConfigType;
using statestore::ConfigValue;

json ConfigJson(const ConfigValue& v) {
  json j;
  j["type"] = std::string(statestore::ToString(v.type()));
  switch (v.type()) {
    case ConfigType::kBool:
      j["value"] = v.as<bool>();
      break;
    case ConfigType::kInt:
      j["value"] = v.as<std::int64_t>();
      break;
    case ConfigType::kDouble:
      j["value"] = ValueJson(statestore::Value(v.as<double>()))["value"];
      break;
    case ConfigType::kString:
      j["value"] = v.as<std::string>();
      break;
    case ConfigType::kBytes:
      j["value"] = Hex(v.as<statestore::Bytes>());
      break;
    case ConfigType::kJson:
      j["value"] = json::parse(v.as<statestore::Json>().text());
      break;
  }
  return j;
}

// Keyspace "config" holds every layer; when the file redacts it, values are hidden without
// --reveal like those of any redacted keyspace.
constexpr const char* kConfigKeyspace = "config";

json HiddenConfigJson(const ConfigValue& v) {
  return {{"redacted", true}, {"type", std::string(statestore::ToString(v.type()))}};
}

std::string HiddenConfigCell(const ConfigValue& v) {
  return "<redacted: " + std::string(statestore::ToString(v.type())) + ">";
}

std::string ConfigRaw(const ConfigValue& v) {
  switch (v.type()) {
    case ConfigType::kString:
      return v.as<std::string>();
    case ConfigType::kBytes:
      return Hex(v.as<statestore::Bytes>());
    case ConfigType::kJson:
      return v.as<statestore::Json>().text();
    default:
      return v.to_display(64);
  }
}

ConfigValue ParseConfigValue(const std::string& text, const std::string& type) {
  if (type == "json") return ConfigValue(statestore::Json::Parse(text));
  statestore::Value v = ParseValue(text, type);
  switch (v.type()) {
    case statestore::ValueType::kBool:
      return ConfigValue(v.as_bool());
    case statestore::ValueType::kInt:
      return ConfigValue(static_cast<long long>(v.as_int()));
    case statestore::ValueType::kDouble:
      return ConfigValue(v.as_double());
    case statestore::ValueType::kBytes:
      return ConfigValue(v.as_bytes());
    case statestore::ValueType::kString:
      return ConfigValue(v.as_string());
    default:
      UsageError("config values cannot be null (use `statectl config rm`)");
  }
}

ConfigLayer ParseLayer(const std::string& s) {
  if (s == "overrides") return ConfigLayer::kOverrides;
  if (s == "profile") return ConfigLayer::kProfile;
  UsageError("--layer must be overrides or profile, not '" + s + "'");
}

void AddProfile(CLI::App* sub, std::string* profile) {
  sub->add_option("--profile", *profile,
                  "Resolve through this profile layer (production, test, ...)");
}

struct ConfigGetOpts {
  std::vector<std::string> args;
  std::string profile;
  bool reveal = false;
  bool json = false;
};

int RunConfigGet(const ConfigGetOpts& o) {
  auto p = TakeDb(o.args, 1, 1, "statectl config get DB KEY");
  auto store = OpenRead(p.db, o.profile);
  auto e = store->config().explain(p.rest[0]);
  if (!e.value) NotFound("no config key '" + p.rest[0] + "'");
  const bool hidden = Redaction::Load(*store, o.reveal).hides(kConfigKeyspace);
  if (o.json) {
    json j = hidden ? HiddenConfigJson(*e.value) : ConfigJson(*e.value);
    j["key"] = e.key;
    j["layer"] = std::string(statestore::ToString(*e.answered_by));
    PrintJson(j);
  } else {
    PrintLine(hidden ? HiddenConfigCell(*e.value) : ConfigRaw(*e.value));
  }
  return kExitOk;
}

// The declaration of a key as JSON ({"type": ..., "min": ..., "description": ...}) for --json.
json DeclarationJson(const statestore::SettingDeclaration& d) { return json::parse(d.to_json()); }

// The --type of a value when none is given: the declared type, else the type of the value the key
// has now (so `config set DB http.rate_limit 500` stays an int), else string.
std::string DefaultType(statestore::Config& config, const std::string& key) {
  if (auto d = config.declaration(key)) return std::string(statestore::ToString(d->type));
  if (auto v = config.get_value(key)) return std::string(statestore::ToString(v->type()));
  return "string";
}

struct ConfigSetOpts {
  std::vector<std::string> args;
  std::string type;  // empty: DefaultType
  std::string layer = "overrides";
  std::string profile;
  std::string file;
  CLI::Option* file_option = nullptr;
  bool json = false;
};

int RunConfigSet(const ConfigSetOpts& o) {
  const bool from_file = o.file_option->count() > 0;
  const std::size_t rest = from_file ? 1 : 2;
  auto p = TakeDb(o.args, rest, rest, "statectl config set DB KEY (VALUE | - | --file PATH)");
  ConfigLayer layer = ParseLayer(o.layer);
  if (layer == ConfigLayer::kProfile && o.profile.empty()) {
    UsageError("--layer profile needs --profile NAME");
  }
  static const char* const kTypes[] = {"string", "int",       "double", "bool",
                                       "bytes",  "bytes-hex", "json"};
  if (!o.type.empty() &&
      std::find(std::begin(kTypes), std::end(kTypes), o.type) == std::end(kTypes)) {
    UsageError("--type must be string, int, double, bool, bytes, bytes-hex or json, not '" +
               o.type + "'");
  }
  std::optional<std::string> positional;
  if (p.rest.size() > 1) positional = p.rest[1];
  std::optional<std::string> file;
  if (from_file) file = o.file;
  // The input is read before the file is opened (a bad input never touches the database); without
  // --type it is read as text, and one trailing newline is dropped below once the type is known
  // to be typed (as ReadValueText does for an explicit type).
  std::string text = ReadValueText(positional, file, o.type.empty() ? "string" : o.type);
  std::string type = o.type;
  std::optional<ConfigValue> v;
  {
    // First a read-only open: the type (declared, else current) and a dry run of the write path
    // (Config::check: the library's message for a value the declaration or key syntax refuses),
    // so that a refused value never opens the file for writing. One Store per file per process:
    // released before the write open.
    auto ro = OpenRead(p.db, o.profile);
    if (type.empty()) {
      type = DefaultType(ro->config(), p.rest[0]);
      const bool from_input = from_file || (positional && *positional == "-");
      if (from_input && type != "string" && type != "bytes" && type != "json" && !text.empty() &&
          text.back() == '\n') {
        text.pop_back();
      }
    }
    v = ParseConfigValue(text, type);
    // An explicit --type that contradicts the declaration is refused here like any other value
    // the declaration rejects (Error kInvalidArgument: exit 2).
    ro->config().check(p.rest[0], *v);
  }
  auto store = OpenWrite(p.db, false, o.profile);
  // set() checks again inside its transaction (a declaration stored meanwhile still holds).
  auto rev = store->config().set(p.rest[0], *v, layer);
  if (o.json) {
    const bool hidden = Redaction::Load(*store, false).hides(kConfigKeyspace);
    PrintJson({{"revision", rev},
               {"key", p.rest[0]},
               {"value", hidden ? HiddenConfigJson(*v) : ConfigJson(*v)}});
  } else {
    PrintLine("revision " + std::to_string(rev));
  }
  return kExitOk;
}

struct ConfigRmOpts {
  std::vector<std::string> args;
  std::string layer = "overrides";
  std::string profile;
  bool json = false;
};

int RunConfigRm(const ConfigRmOpts& o) {
  auto p = TakeDb(o.args, 1, 1, "statectl config rm DB KEY");
  ConfigLayer layer = ParseLayer(o.layer);
  if (layer == ConfigLayer::kProfile && o.profile.empty()) {
    UsageError("--layer profile needs --profile NAME");
  }
  auto store = OpenWrite(p.db, false, o.profile);
  bool existed = false;
  auto head = store->config().transact(
      [&](statestore::ConfigTransaction& tx) { existed = tx.erase(p.rest[0], layer); });
  if (!existed) NotFound("no config key '" + p.rest[0] + "' in layer " + o.layer);
  if (o.json) {
    PrintJson({{"revision", head}, {"key", p.rest[0]}});
  } else {
    PrintLine("revision " + std::to_string(head));
  }
  return kExitOk;
}

struct ConfigListOpts {
  std::vector<std::string> args;
  std::string profile;
  bool reveal = false;
  bool json = false;
};

int RunConfigList(const ConfigListOpts& o) {
  auto p = TakeDb(o.args, 0, 1, "statectl config list DB [PREFIX]");
  auto store = OpenRead(p.db, o.profile);
  const std::string prefix = p.rest.empty() ? std::string() : p.rest[0];
  auto entries = store->config().list(prefix);
  std::map<std::string, statestore::SettingDeclaration> declared;
  for (auto& d : store->config().declarations(prefix)) declared.emplace(d.key, std::move(d));
  // A declared key without a value in any layer (and no default) is listed too: it exists.
  std::vector<std::string> unset;
  for (const auto& [key, d] : declared) {
    if (std::none_of(entries.begin(), entries.end(), [&](const auto& e) { return e.key == key; })) {
      unset.push_back(key);
    }
  }
  const bool hidden = Redaction::Load(*store, o.reveal).hides(kConfigKeyspace);
  auto declared_layer = [&](const statestore::ConfigEntry& e) {
    // A kDefaults answer equal to the declared default, with no in-process default (statectl has
    // none), comes from the declaration.
    auto it = declared.find(e.key);
    return e.layer == ConfigLayer::kDefaults && it != declared.end() &&
           it->second.default_value == e.value;
  };
  if (o.json) {
    json arr = json::array();
    for (const auto& e : entries) {
      json j = hidden ? HiddenConfigJson(e.value) : ConfigJson(e.value);
      j["key"] = e.key;
      j["layer"] = declared_layer(e) ? "declared" : std::string(statestore::ToString(e.layer));
      if (auto it = declared.find(e.key); it != declared.end()) {
        j["declaration"] = DeclarationJson(it->second);
      }
      arr.push_back(std::move(j));
    }
    for (const auto& key : unset) {
      arr.push_back({{"key", key},
                     {"type", std::string(statestore::ToString(declared.at(key).type))},
                     {"value", nullptr},
                     {"layer", nullptr},
                     {"declaration", DeclarationJson(declared.at(key))}});
    }
    PrintJson({{"config", arr}});
    return kExitOk;
  }
  Table t({"KEY", "TYPE", "VALUE", "LAYER", "DECLARED"});
  auto constraints = [&](const std::string& key) {
    auto it = declared.find(key);
    return it == declared.end() ? std::string("-") : it->second.summary();
  };
  for (const auto& e : entries) {
    t.Add({e.key, std::string(statestore::ToString(e.value.type())),
           hidden ? HiddenConfigCell(e.value) : e.value.to_display(60),
           declared_layer(e) ? "declared" : std::string(statestore::ToString(e.layer)),
           constraints(e.key)});
  }
  for (const auto& key : unset) {
    t.Add({key, std::string(statestore::ToString(declared.at(key).type)), "(not set)", "-",
           constraints(key)});
  }
  t.Print(std::cout);
  return kExitOk;
}

struct ExplainOpts {
  std::vector<std::string> args;
  std::string profile;
  bool reveal = false;
  bool json = false;
};

int RunExplain(const ExplainOpts& o) {
  auto p = TakeDb(o.args, 1, 1, "statectl config explain DB KEY");
  auto store = OpenRead(p.db, o.profile);
  auto e = store->config().explain(p.rest[0]);
  const bool hidden = Redaction::Load(*store, o.reveal).hides(kConfigKeyspace);
  auto value_json = [&](const std::optional<ConfigValue>& v) {
    return !v ? json(nullptr) : hidden ? HiddenConfigJson(*v) : ConfigJson(*v);
  };
  auto value_cell = [&](const std::optional<ConfigValue>& v, const char* absent) {
    return !v ? std::string(absent) : hidden ? HiddenConfigCell(*v) : v->to_display(60);
  };
  if (o.json) {
    json layers = json::array();
    for (const auto& l : e.layers) {
      layers.push_back({{"layer", l.name}, {"value", value_json(l.value)}, {"version", l.version}});
    }
    PrintJson(
        {{"key", e.key},
         {"value", value_json(e.value)},
         {"answered_by",
          e.answered_by ? json(std::string(statestore::ToString(*e.answered_by))) : json(nullptr)},
         {"layers", layers},
         {"declaration", e.declaration ? DeclarationJson(*e.declaration) : json(nullptr)}});
  } else {
    std::vector<std::pair<std::string, std::string>> fields = {
        {"key", e.key},
        {"value", value_cell(e.value, "(not set)")},
        {"answered by", e.answered_by ? std::string(statestore::ToString(*e.answered_by)) : "-"},
        {"declared", e.declaration ? e.declaration->summary() : "no"}};
    if (e.declaration && !e.declaration->description.empty()) {
      fields.emplace_back("description", e.declaration->description);
    }
    PrintFields(fields);
    std::cout << "\n";
    Table t({"LAYER", "VALUE", "VERSION"});
    for (const auto& l : e.layers) {
      t.Add({l.name, value_cell(l.value, "-"), l.version ? std::to_string(l.version) : "-"});
    }
    t.Print(std::cout);
  }
  if (!e.value) return kExitNotFound;
  return kExitOk;
}

// ---- declare / undeclare

struct DeclareOpts {
  std::vector<std::string> args;
  bool json = false;
};

int RunDeclare(const DeclareOpts& o) {
  auto p = TakeDb(o.args, 1, 1, "statectl config declare DB (FILE | -)");
  // The document is read and parsed before the database is opened.
  auto decls = statestore::ParseDeclarationsJson(ReadValueText(std::nullopt, p.rest[0], "json"));
  auto store = OpenWrite(p.db);
  auto rev = store->config().declare(decls);
  if (o.json) {
    PrintJson({{"revision", rev}, {"declared", decls.size()}});
  } else {
    PrintLine("revision " + std::to_string(rev) + " (" + std::to_string(decls.size()) +
              " declarations)");
  }
  return kExitOk;
}

int RunUndeclare(const DeclareOpts& o) {
  auto p = TakeDb(o.args, 1, 1, "statectl config undeclare DB KEY");
  {
    auto ro = OpenRead(p.db);  // a refusal never opens the file for writing
    if (!ro->config().declaration(p.rest[0])) {
      NotFound("config key '" + p.rest[0] + "' is not declared");
    }
  }
  auto store = OpenWrite(p.db);
  auto rev = store->config().undeclare(p.rest[0]);
  if (o.json) {
    PrintJson({{"revision", rev}, {"key", p.rest[0]}});
  } else {
    PrintLine("revision " + std::to_string(rev));
  }
  return kExitOk;
}

// ---- history

struct ConfigHistoryOpts {
  std::vector<std::string> args;
  std::string since, until, limit;
  bool newest_first = false;
  bool raw = false;
  bool reveal = false;
  bool json = false;
};

// One side of a decoded change, for a table cell.
std::string SideCell(const statestore::ConfigHistoryChange& c, bool old, bool hidden) {
  if (c.kind == statestore::ConfigHistoryChange::Kind::kDeclaration) {
    const auto& d = old ? c.old_declaration : c.new_declaration;
    return d ? d->summary() : "-";
  }
  const auto& v = old ? c.old_value : c.new_value;
  if (!v) return "-";
  return hidden ? HiddenConfigCell(*v) : v->to_display(60);
}

json SideJson(const statestore::ConfigHistoryChange& c, bool old, bool hidden) {
  if (c.kind == statestore::ConfigHistoryChange::Kind::kDeclaration) {
    const auto& d = old ? c.old_declaration : c.new_declaration;
    return d ? DeclarationJson(*d) : json(nullptr);
  }
  const auto& v = old ? c.old_value : c.new_value;
  if (!v) return nullptr;
  return hidden ? HiddenConfigJson(*v) : ConfigJson(*v);
}

int RunConfigHistory(const ConfigHistoryOpts& o) {
  auto p = TakeDb(o.args, 0, 1, "statectl config history DB [PREFIX]");
  const std::string prefix = p.rest.empty() ? std::string() : p.rest[0];
  statestore::HistoryQuery q;
  q.keyspace = kConfigKeyspace;
  ApplySinceUntil(o.since, o.until, &q);
  std::optional<std::uint64_t> limit;
  if (!o.limit.empty()) limit = ParseCount(o.limit, "--limit");
  q.newest_first = o.newest_first;
  auto store = OpenRead(p.db);
  // The setting prefix is checked by the library; history is filtered by setting key below (the
  // storage keys of one setting live under several prefixes: override/, profile/<name>/,
  // declared/), so --limit counts the commits shown.
  if (!prefix.empty()) store->config().list(prefix);
  const Redaction redaction = Redaction::Load(*store, o.reveal);
  const bool hidden = redaction.hides(kConfigKeyspace);
  Table t(o.raw ? std::vector<std::string>{"REV", "TIME", "ORIGIN", "KEY", "OLD", "NEW"}
                : std::vector<std::string>{"REV", "TIME", "ORIGIN", "KEY", "LAYER", "OLD", "NEW"});
  std::uint64_t shown = 0;
  for (const auto& c : store->history(q)) {
    if (limit && shown >= *limit) break;
    json changes = json::array();
    std::vector<std::vector<std::string>> rows;
    for (const auto& ch : c.changes) {
      if (ch.keyspace != kConfigKeyspace) continue;
      std::optional<statestore::ConfigHistoryChange> d;
      std::string problem;
      try {
        d = statestore::DecodeConfigHistoryChange(ch);
      } catch (const statestore::Error& e) {
        problem = e.what();  // one damaged row does not hide the rest of the history
      }
      if (!d && !problem.empty() && !o.raw) {
        Warn("revision " + std::to_string(c.revision) + ": " + problem);
      }
      // Raw keeps keys that are not config entries (unless a prefix is asked for).
      if (d ? d->key.compare(0, prefix.size(), prefix) != 0 : (!o.raw || !prefix.empty())) {
        continue;
      }
      const bool first = rows.empty();
      std::vector<std::string> row = {first ? std::to_string(c.revision) : "",
                                      first ? FormatTime(c.time) : "",
                                      first ? OriginText(c.origin) : ""};
      if (o.raw || d->redacted) {
        row.push_back(Short(o.raw ? ch.key : d->key));
        if (!o.raw) row.push_back(d->layer);
        row.push_back(ChangeSideCell(ch.old_value, ch.redacted, hidden));
        row.push_back(ChangeSideCell(ch.new_value, ch.redacted, hidden));
        changes.push_back(
            {{"key", ch.key},
             {"redacted", ch.redacted || hidden},
             {"old", ChangeSideJson(ch.old_value, ch.redacted, ch.keyspace, redaction)},
             {"new", ChangeSideJson(ch.new_value, ch.redacted, ch.keyspace, redaction)}});
      } else {
        row.push_back(Short(d->key));
        row.push_back(d->layer);
        row.push_back(SideCell(*d, true, hidden));
        row.push_back(SideCell(*d, false, hidden));
        changes.push_back(
            {{"key", d->key},
             {"layer", d->layer},
             {"kind", d->kind == statestore::ConfigHistoryChange::Kind::kDeclaration ? "declaration"
                                                                                     : "value"},
             {"old", SideJson(*d, true, hidden)},
             {"new", SideJson(*d, false, hidden)}});
      }
      rows.push_back(std::move(row));
    }
    if (rows.empty()) continue;
    ++shown;
    if (o.json) {
      PrintJsonLine(
          {{"revision", c.revision},
           {"time", FormatTime(c.time)},
           {"origin",
            {{"pid", c.origin.pid}, {"thread_id", c.origin.thread_id}, {"label", c.origin.label}}},
           {"changes", std::move(changes)}});
    } else {
      for (auto& r : rows) t.Add(std::move(r));
    }
  }
  if (!o.json) t.Print(std::cout);
  return kExitOk;
}

}  // namespace

void RegisterConfigCommands(CLI::App& app, Registry& registry) {
  auto* config = app.add_subcommand("config", "Read and edit the layered config (keyspace config)");
  config->require_subcommand(1);
  config->footer(
      "Examples:\n  statectl config list app.db net.\n  statectl config get app.db net.http.port\n"
      "  statectl config set app.db net.http.port 8080 --type int\n  statectl config explain "
      "app.db net.http.port --profile production\n  statectl config revert app.db 42");
  const char* types =
      "string, int, double, bool, bytes (raw), bytes-hex, json (default: the declared type, else "
      "the current value's type, else string)";
  {
    auto o = std::make_shared<ConfigGetOpts>();
    auto* sub = config->add_subcommand("get", "Effective value of KEY (exit 3 if unset)");
    AddArgs(sub, &o->args, "DB KEY");
    AddProfile(sub, &o->profile);
    AddRevealFlag(sub, &o->reveal);
    sub->add_flag("--json", o->json, "Typed JSON with the answering layer");
    sub->footer("Example:\n  statectl config get app.db net.http.port --json");
    sub->callback([&registry, o] { registry.action = [o] { return RunConfigGet(*o); }; });
  }
  {
    auto o = std::make_shared<ConfigSetOpts>();
    auto* sub = config->add_subcommand(
        "set", "Set KEY in the overrides (or profile) layer from VALUE, - (stdin) or --file");
    AddArgs(sub, &o->args, "DB KEY [VALUE|-]");
    sub->add_option("-t,--type", o->type, types);
    o->file_option = sub->add_option(
        "--file", o->file,
        "Read the value from PATH (- = standard input) instead of VALUE; at most 4 MiB");
    sub->add_option("--layer", o->layer, "overrides (default) or profile");
    AddProfile(sub, &o->profile);
    sub->add_flag("--json", o->json, "Print the result as JSON");
    sub->footer(
        "Examples:\n  statectl config set app.db net.http.port 8080 --type int\n  "
        "statectl config set app.db feature.flags '{\"a\":true}' --type json");
    sub->callback([&registry, o] { registry.action = [o] { return RunConfigSet(*o); }; });
  }
  {
    auto o = std::make_shared<ConfigRmOpts>();
    auto* sub = config->add_subcommand("rm", "Remove KEY from a layer (exit 3 if not there)");
    AddArgs(sub, &o->args, "DB KEY");
    sub->add_option("--layer", o->layer, "overrides (default) or profile");
    AddProfile(sub, &o->profile);
    sub->add_flag("--json", o->json, "Print the result as JSON");
    sub->callback([&registry, o] { registry.action = [o] { return RunConfigRm(*o); }; });
  }
  {
    auto o = std::make_shared<ConfigListOpts>();
    auto* sub = config->add_subcommand("list", "Effective entries under PREFIX, sorted");
    AddArgs(sub, &o->args, "DB [PREFIX]");
    AddProfile(sub, &o->profile);
    AddRevealFlag(sub, &o->reveal);
    sub->add_flag("--json", o->json, "One JSON document");
    sub->footer("Example:\n  statectl config list app.db net.");
    sub->callback([&registry, o] { registry.action = [o] { return RunConfigList(*o); }; });
  }
  {
    auto o = std::make_shared<ExplainOpts>();
    auto* sub =
        config->add_subcommand("explain", "Which layer answers KEY, and every layer's value");
    AddArgs(sub, &o->args, "DB KEY");
    AddProfile(sub, &o->profile);
    AddRevealFlag(sub, &o->reveal);
    sub->add_flag("--json", o->json, "One JSON document");
    sub->footer("Example:\n  statectl config explain app.db net.http.port --profile production");
    sub->callback([&registry, o] { registry.action = [o] { return RunExplain(*o); }; });
  }
  {
    auto o = std::make_shared<DeclareOpts>();
    auto* sub = config->add_subcommand(
        "declare",
        "Store setting declarations (type, default, min/max, one_of, regex, max_length, "
        "description) from FILE or - (stdin); every process and statectl then enforce them");
    AddArgs(sub, &o->args, "DB (FILE | -)");
    sub->add_flag("--json", o->json, "Print the result as JSON");
    sub->footer(
        "Example (decl.json):\n  {\"http.rate_limit\": {\"type\": \"int\", \"default\": 100, "
        "\"min\": 1, \"max\": 10000,\n                      \"description\": \"requests per "
        "second\"}}\n  statectl config declare app.db decl.json");
    sub->callback([&registry, o] { registry.action = [o] { return RunDeclare(*o); }; });
  }
  {
    auto o = std::make_shared<DeclareOpts>();
    auto* sub = config->add_subcommand("undeclare",
                                       "Remove the declaration of KEY (exit 3 if not declared)");
    AddArgs(sub, &o->args, "DB KEY");
    sub->add_flag("--json", o->json, "Print the result as JSON");
    sub->callback([&registry, o] { registry.action = [o] { return RunUndeclare(*o); }; });
  }
  {
    auto o = std::make_shared<ConfigHistoryOpts>();
    auto* sub = config->add_subcommand(
        "history",
        "Config changes as settings: key, layer, decoded typed old and new values (read-only)");
    AddArgs(sub, &o->args, "DB [PREFIX]");
    sub->add_option("--since", o->since,
                    "From this revision (inclusive), ISO-8601 UTC time, or duration ago");
    sub->add_option("--until", o->until, "Up to this revision (inclusive) or time / duration ago");
    sub->add_option("--limit", o->limit, "At most this many commits (N >= 1)");
    sub->add_flag("--newest-first", o->newest_first, "Newest commit first");
    sub->add_flag("--raw", o->raw, "Storage keys and stored encodings (as `statectl history`)");
    AddRevealFlag(sub, &o->reveal);
    sub->add_flag("--json", o->json, "JSON lines, one commit per line");
    sub->footer(
        "Examples:\n  statectl config history app.db http.\n  statectl config history "
        "app.db --since 2h --json");
    sub->callback([&registry, o] { registry.action = [o] { return RunConfigHistory(*o); }; });
  }
  AddRevertCommand(
      config, registry, "statectl config revert DB REV [--force]",
      "Revert a config revision (a new commit)", "statectl config revert app.db 42",
      [](statestore::Store& store, statestore::Revision rev, const statestore::RevertOptions& ro) {
        return store.config().revert(rev, ro);
      });
}

}  // namespace statectl

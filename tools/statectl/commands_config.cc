// statectl config get|set|rm|list|explain|revert — the layered config API (statestore/config.h).
#include <CLI/CLI.hpp>
#include <algorithm>
#include <iostream>
#include <iterator>

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

struct GetOpts {
  std::vector<std::string> args;
  std::string profile;
  bool reveal = false;
  bool json = false;
};

int RunGet(const GetOpts& o) {
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

struct SetOpts {
  std::vector<std::string> args;
  std::string type = "string";
  std::string layer = "overrides";
  std::string profile;
  std::string file;
  CLI::Option* file_option = nullptr;
  bool json = false;
};

int RunSet(const SetOpts& o) {
  const bool from_file = o.file_option->count() > 0;
  const std::size_t rest = from_file ? 1 : 2;
  auto p = TakeDb(o.args, rest, rest, "statectl config set DB KEY (VALUE | - | --file PATH)");
  ConfigLayer layer = ParseLayer(o.layer);
  if (layer == ConfigLayer::kProfile && o.profile.empty()) {
    UsageError("--layer profile needs --profile NAME");
  }
  static const char* const kTypes[] = {"string", "int",       "double", "bool",
                                       "bytes",  "bytes-hex", "json"};
  if (std::find(std::begin(kTypes), std::end(kTypes), o.type) == std::end(kTypes)) {
    UsageError("--type must be string, int, double, bool, bytes, bytes-hex or json, not '" +
               o.type + "'");
  }
  std::optional<std::string> positional;
  if (p.rest.size() > 1) positional = p.rest[1];
  std::optional<std::string> file;
  if (from_file) file = o.file;
  ConfigValue v = ParseConfigValue(ReadValueText(positional, file, o.type), o.type);
  auto store = OpenWrite(p.db, false, o.profile);
  auto rev = store->config().set(p.rest[0], v, layer);
  if (o.json) {
    const bool hidden = Redaction::Load(*store, false).hides(kConfigKeyspace);
    PrintJson({{"revision", rev},
               {"key", p.rest[0]},
               {"value", hidden ? HiddenConfigJson(v) : ConfigJson(v)}});
  } else {
    PrintLine("revision " + std::to_string(rev));
  }
  return kExitOk;
}

struct RmOpts {
  std::vector<std::string> args;
  std::string layer = "overrides";
  std::string profile;
  bool json = false;
};

int RunRm(const RmOpts& o) {
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

struct ListOpts {
  std::vector<std::string> args;
  std::string profile;
  bool reveal = false;
  bool json = false;
};

int RunList(const ListOpts& o) {
  auto p = TakeDb(o.args, 0, 1, "statectl config list DB [PREFIX]");
  auto store = OpenRead(p.db, o.profile);
  auto entries = store->config().list(p.rest.empty() ? std::string() : p.rest[0]);
  const bool hidden = Redaction::Load(*store, o.reveal).hides(kConfigKeyspace);
  if (o.json) {
    json arr = json::array();
    for (const auto& e : entries) {
      json j = hidden ? HiddenConfigJson(e.value) : ConfigJson(e.value);
      j["key"] = e.key;
      j["layer"] = std::string(statestore::ToString(e.layer));
      arr.push_back(std::move(j));
    }
    PrintJson({{"config", arr}});
    return kExitOk;
  }
  Table t({"KEY", "TYPE", "VALUE", "LAYER"});
  for (const auto& e : entries) {
    t.Add({e.key, std::string(statestore::ToString(e.value.type())),
           hidden ? HiddenConfigCell(e.value) : e.value.to_display(60),
           std::string(statestore::ToString(e.layer))});
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
         {"layers", layers}});
  } else {
    PrintFields(
        {{"key", e.key},
         {"value", value_cell(e.value, "(not set)")},
         {"answered by", e.answered_by ? std::string(statestore::ToString(*e.answered_by)) : "-"}});
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

}  // namespace

void RegisterConfigCommands(CLI::App& app, Registry& registry) {
  auto* config = app.add_subcommand("config", "Read and edit the layered config (keyspace config)");
  config->require_subcommand(1);
  config->footer(
      "Examples:\n  statectl config list app.db net.\n  statectl config get app.db net.http.port\n"
      "  statectl config set app.db net.http.port 8080 --type int\n  statectl config explain "
      "app.db net.http.port --profile production\n  statectl config revert app.db 42");
  const char* types = "string (default), int, double, bool, bytes (raw), bytes-hex, json";
  {
    auto o = std::make_shared<GetOpts>();
    auto* sub = config->add_subcommand("get", "Effective value of KEY (exit 3 if unset)");
    AddArgs(sub, &o->args, "DB KEY");
    AddProfile(sub, &o->profile);
    AddRevealFlag(sub, &o->reveal);
    sub->add_flag("--json", o->json, "Typed JSON with the answering layer");
    sub->footer("Example:\n  statectl config get app.db net.http.port --json");
    sub->callback([&registry, o] { registry.action = [o] { return RunGet(*o); }; });
  }
  {
    auto o = std::make_shared<SetOpts>();
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
    sub->callback([&registry, o] { registry.action = [o] { return RunSet(*o); }; });
  }
  {
    auto o = std::make_shared<RmOpts>();
    auto* sub = config->add_subcommand("rm", "Remove KEY from a layer (exit 3 if not there)");
    AddArgs(sub, &o->args, "DB KEY");
    sub->add_option("--layer", o->layer, "overrides (default) or profile");
    AddProfile(sub, &o->profile);
    sub->add_flag("--json", o->json, "Print the result as JSON");
    sub->callback([&registry, o] { registry.action = [o] { return RunRm(*o); }; });
  }
  {
    auto o = std::make_shared<ListOpts>();
    auto* sub = config->add_subcommand("list", "Effective entries under PREFIX, sorted");
    AddArgs(sub, &o->args, "DB [PREFIX]");
    AddProfile(sub, &o->profile);
    AddRevealFlag(sub, &o->reveal);
    sub->add_flag("--json", o->json, "One JSON document");
    sub->footer("Example:\n  statectl config list app.db net.");
    sub->callback([&registry, o] { registry.action = [o] { return RunList(*o); }; });
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
  AddRevertCommand(
      config, registry, "statectl config revert DB REV [--force]",
      "Revert a config revision (a new commit)", "statectl config revert app.db 42",
      [](statestore::Store& store, statestore::Revision rev, const statestore::RevertOptions& ro) {
        return store.config().revert(rev, ro);
      });
}

}  // namespace statectl

// statectl sessions list|show|sweep. Sessions are named by their short id (the first 12 hex
// digits of the stored SHA-256 id); tokens are never stored, so never printed.
#include <CLI/CLI.hpp>
#include <iostream>

#include "common.h"

namespace statectl {

namespace {

std::string Micros(std::chrono::microseconds d) {
  auto s = std::chrono::duration_cast<std::chrono::seconds>(d).count();
  if (s % 86400 == 0 && s > 0) return std::to_string(s / 86400) + "d";
  if (s % 3600 == 0 && s > 0) return std::to_string(s / 3600) + "h";
  if (s % 60 == 0 && s > 0) return std::to_string(s / 60) + "m";
  return std::to_string(s) + "s";
}

json InfoJson(const statestore::SessionInfo& i, bool expired) {
  return {
      {"short_id", i.short_id},
      {"principal", i.principal},
      {"created", FormatTime(i.created)},
      {"last_access", FormatTime(i.last_access)},
      {"idle_ttl_seconds", std::chrono::duration_cast<std::chrono::seconds>(i.idle_ttl).count()},
      {"idle_expiry", FormatTime(i.idle_expiry)},
      {"absolute_expiry", FormatTime(i.absolute_expiry)},
      {"expires", FormatTime(i.expires)},
      {"expired", expired}};
}

struct SessionListOpts {
  std::vector<std::string> args;
  bool all = false;
  std::string principal;
  std::string limit;
  bool no_limit = false;
  bool json = false;
};

// A file can hold millions of sessions: list a screenful unless asked for more.
constexpr std::size_t kDefaultListLimit = 50;

int RunSessionList(const SessionListOpts& o) {
  auto p = TakeDb(o.args, 0, 0, "statectl sessions list DB");
  auto store = OpenRead(p.db);
  statestore::SessionListOptions lo;
  lo.include_expired = o.all;
  lo.principal = o.principal;
  lo.limit = o.no_limit ? 0 : kDefaultListLimit;
  if (!o.limit.empty()) lo.limit = ParseCount(o.limit, "--limit");
  std::size_t total = 0;
  auto sessions = statestore::ListSessions(*store, lo, &total);
  if (o.json) {
    json arr = json::array();
    for (const auto& s : sessions) {
      json j = InfoJson(s.info, s.expired);
      j["attributes"] = s.attribute_names;
      arr.push_back(std::move(j));
    }
    PrintJson({{"sessions", arr}, {"total", total}, {"limit", lo.limit}});
    return kExitOk;
  }
  Table t({"SHORT_ID", "PRINCIPAL", "CREATED", "LAST_ACCESS", "EXPIRES", "STATE", "ATTRS"});
  for (const auto& s : sessions) {
    t.Add({s.info.short_id, s.info.principal.empty() ? "-" : s.info.principal,
           FormatTime(s.info.created), FormatTime(s.info.last_access), FormatTime(s.info.expires),
           s.expired ? "expired" : "live", std::to_string(s.attribute_names.size())});
  }
  t.Print(std::cout);
  if (sessions.size() < total) {
    PrintLine("showing " + std::to_string(sessions.size()) + " of " + std::to_string(total) +
              " sessions (oldest first); --limit N or --no-limit for more");
  } else {
    PrintLine(std::to_string(total) + " session" + (total == 1 ? "" : "s"));
  }
  return kExitOk;
}

struct SessionShowOpts {
  std::vector<std::string> args;
  bool values = false;
  bool reveal = false;
  bool json = false;
};

int RunSessionShow(const SessionShowOpts& o) {
  auto p = TakeDb(o.args, 1, 1, "statectl sessions show DB SHORT_ID");
  auto store = OpenRead(p.db);
  bool expired = false;
  auto s = statestore::FindSession(*store, p.rest[0], &expired);
  if (!s) NotFound("no session with short id '" + p.rest[0] + "'");
  // Session attributes live in keyspace "sessions", which is always hidden without --reveal.
  const bool values = o.values || o.reveal;
  const Redaction redaction = Redaction::Load(*store, o.reveal);
  const std::string sessions_keyspace(statestore::kSessionsKeyspace);
  const bool hidden = redaction.hides(sessions_keyspace);
  if (o.json) {
    json j = InfoJson(*s, expired);
    json attrs = json::object();
    for (const auto& [name, value] : s->attributes) {
      attrs[name] = values ? ValueSideJson(value, sessions_keyspace, redaction)
                           : json{{"type", std::string(statestore::ToString(value.type()))}};
    }
    j["attributes"] = attrs;
    PrintJson(j);
    return kExitOk;
  }
  PrintFields({{"short id", s->short_id},
               {"principal", s->principal.empty() ? "-" : s->principal},
               {"state", expired ? "expired (not swept yet)" : "live"},
               {"created", FormatTime(s->created)},
               {"last access", FormatTime(s->last_access)},
               {"idle ttl", Micros(s->idle_ttl)},
               {"idle expiry", FormatTime(s->idle_expiry)},
               {"absolute expiry", FormatTime(s->absolute_expiry)},
               {"expires", FormatTime(s->expires)}});
  std::cout << "\n";
  Table t(values ? std::vector<std::string>{"ATTRIBUTE", "TYPE", "VALUE"}
                 : std::vector<std::string>{"ATTRIBUTE", "TYPE"});
  for (const auto& [name, value] : s->attributes) {
    std::vector<std::string> row{name, std::string(statestore::ToString(value.type()))};
    if (values) row.push_back(ValueCell(value, hidden));
    t.Add(std::move(row));
  }
  t.Print(std::cout);
  return kExitOk;
}

struct SweepOpts {
  std::vector<std::string> args;
  bool json = false;
};

int RunSweep(const SweepOpts& o) {
  auto p = TakeDb(o.args, 0, 0, "statectl sessions sweep DB");
  auto store = OpenWrite(p.db);
  std::uint64_t n = store->sessions().sweep();
  if (o.json) {
    PrintJson({{"swept", n}});
  } else {
    PrintLine("swept " + std::to_string(n) + " expired sessions");
  }
  return kExitOk;
}

}  // namespace

void RegisterSessionCommands(CLI::App& app, Registry& registry) {
  auto* sessions = app.add_subcommand("sessions",
                                      "List, show or sweep sessions (by short id; "
                                      "tokens are never stored or shown)");
  sessions->require_subcommand(1);
  sessions->footer(
      "Examples:\n  statectl sessions list app.db\n  statectl sessions show app.db "
      "3fa94c0e12ab\n  statectl sessions sweep app.db");
  {
    auto o = std::make_shared<SessionListOpts>();
    auto* sub = sessions->add_subcommand("list", "Live sessions, oldest first (read-only)");
    AddArgs(sub, &o->args, "DB");
    sub->add_flag("--all", o->all, "Include expired sessions not swept yet");
    sub->add_option("--principal", o->principal, "Only this principal's sessions");
    auto* limit = sub->add_option("--limit", o->limit, "At most this many (N >= 1; default 50)");
    sub->add_flag("--no-limit", o->no_limit, "List every matching session")->excludes(limit);
    sub->add_flag("--json", o->json, "One JSON document");
    sub->footer(
        "Prints the total ('showing 50 of 1234'); --json has \"total\" and \"limit\" (0: none).\n"
        "Example:\n  statectl sessions list app.db --all --json");
    sub->callback([&registry, o] { registry.action = [o] { return RunSessionList(*o); }; });
  }
  {
    auto o = std::make_shared<SessionShowOpts>();
    auto* sub = sessions->add_subcommand(
        "show", "One session's metadata and attribute names (exit 3 if unknown; read-only)");
    AddArgs(sub, &o->args, "DB SHORT_ID");
    sub->add_flag("--values", o->values,
                  "Also list attribute values (as <redacted: TYPE, N bytes> without --reveal)");
    sub->add_flag("--reveal", o->reveal, "Print attribute values in clear (implies --values)");
    sub->add_flag("--json", o->json, "One JSON document");
    sub->footer("Example:\n  statectl sessions show app.db 3fa94c0e12ab --values --reveal");
    sub->callback([&registry, o] { registry.action = [o] { return RunSessionShow(*o); }; });
  }
  {
    auto o = std::make_shared<SweepOpts>();
    auto* sub = sessions->add_subcommand("sweep", "Delete expired sessions now, in small batches");
    AddArgs(sub, &o->args, "DB");
    sub->add_flag("--json", o->json, "Print the result as JSON");
    sub->footer("Example:\n  statectl sessions sweep app.db");
    sub->callback([&registry, o] { registry.action = [o] { return RunSweep(*o); }; });
  }
}

}  // namespace statectl

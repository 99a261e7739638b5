// statectl max-keys DB KEYSPACE [N|none]: show or set the bound of a bounded keyspace
// (Transaction::set_max_keys, statestore/transaction.h).
#include <CLI/CLI.hpp>
#include <iostream>

#include "common.h"

namespace statectl {

namespace {

struct MaxKeysOpts {
  std::vector<std::string> args;
  bool json = false;
};

json BoundJson(const std::string& keyspace, const std::optional<statestore::KeyBound>& b) {
  json j = {{"keyspace", keyspace}};
  j["max_keys"] = b ? json(b->max_keys) : json();
  j["keys"] = b ? json(b->keys) : json();
  return j;
}

int Show(const std::string& db, const std::string& keyspace, bool as_json) {
  auto store = OpenRead(db);
  const std::optional<statestore::KeyBound> b = store->key_bound(keyspace);
  if (as_json) {
    PrintJson(BoundJson(keyspace, b));
  } else if (b) {
    PrintLine(keyspace + ": at most " + std::to_string(b->max_keys) + " keys, holds " +
              std::to_string(b->keys));
  } else {
    PrintLine(keyspace + ": no bound");
  }
  return kExitOk;
}

int RunMaxKeys(const MaxKeysOpts& o) {
  auto p = TakeDb(o.args, 1, 2, "statectl max-keys DB KEYSPACE [N|none]");
  const std::string& keyspace = p.rest[0];
  CheckKeyspaceArg(keyspace);
  if (p.rest.size() == 1) return Show(p.db, keyspace, o.json);
  std::optional<std::uint64_t> max_keys;
  if (p.rest[1] != "none") max_keys = ParseCount(p.rest[1], "N");
  auto store = OpenWrite(p.db, /*create=*/max_keys.has_value());
  // Labelled "statectl" by OpenWrite's Options::origin_label. Only evictions make a revision.
  const statestore::Revision rev = store->set_max_keys(keyspace, max_keys);
  const bool made_revision = rev != 0;
  const std::optional<statestore::KeyBound> after = store->key_bound(keyspace);
  if (o.json) {
    json j = BoundJson(keyspace, after);
    j["revision"] = made_revision ? json(rev) : json();
    PrintJson(j);
    return kExitOk;
  }
  if (!after) {
    PrintLine(keyspace + ": no bound");
  } else {
    PrintLine(keyspace + ": at most " + std::to_string(after->max_keys) + " keys, holds " +
              std::to_string(after->keys) +
              (made_revision ? "; evictions in revision " + std::to_string(rev) : std::string()));
  }
  return kExitOk;
}

}  // namespace

void RegisterBoundCommands(CLI::App& app, Registry& registry) {
  auto o = std::make_shared<MaxKeysOpts>();
  auto* sub = app.add_subcommand(
      "max-keys",
      "Show or set the most keys KEYSPACE may hold (N, or none); the least recently written "
      "beyond it are evicted");
  AddArgs(sub, &o->args, "DB KEYSPACE [N|none]");
  sub->add_flag("--json", o->json, "One JSON document");
  sub->footer(
      "Examples:\n  statectl max-keys app.db cache\n  statectl max-keys app.db cache 10000\n"
      "  statectl max-keys app.db cache none\n"
      "Lowering the bound below the keys held evicts the excess at once, in one revision.");
  sub->callback([&registry, o] { registry.action = [o] { return RunMaxKeys(*o); }; });
}

}  // namespace statectl

// statectl leases list|show|grant|keep-alive|revoke (statestore/lease.h). Remaining times are by
// this machine's clock, as for `statectl ttl`.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <iostream>

#include "common.h"

namespace statectl {

namespace {

std::int64_t RemainingMs(const statestore::Lease& l) {
  return std::max<std::int64_t>(0, std::chrono::duration_cast<std::chrono::milliseconds>(
                                       l.expires_at - statestore::Clock::now())
                                       .count());
}

std::string Seconds(std::int64_t ms) {
  char text[64];
  std::snprintf(text, sizeof text, "%.3f s", static_cast<double>(ms) / 1000);
  return text;
}

json LeaseJson(const statestore::Lease& l, bool with_keys) {
  json j = {{"id", l.id},
            {"ttl_ms", l.ttl.count()},
            {"expires_at", FormatTime(l.expires_at)},
            {"remaining_ms", RemainingMs(l)},
            {"key_count", l.keys.size()}};
  if (with_keys) {
    json keys = json::array();
    for (const statestore::LeaseKey& k : l.keys) {
      keys.push_back({{"keyspace", k.keyspace}, {"key", k.key}});
    }
    j["keys"] = std::move(keys);
  }
  return j;
}

struct ListOpts {
  std::vector<std::string> args;
  bool json = false;
};

int RunList(const ListOpts& o) {
  auto p = TakeDb(o.args, 0, 0, "statectl leases list DB");
  auto store = OpenRead(p.db);
  const std::vector<statestore::Lease> leases = store->leases();
  if (o.json) {
    json arr = json::array();
    for (const statestore::Lease& l : leases) arr.push_back(LeaseJson(l, false));
    PrintJson({{"leases", arr}});
    return kExitOk;
  }
  Table t({"ID", "TTL", "EXPIRES", "REMAINING", "KEYS"});
  for (const statestore::Lease& l : leases) {
    t.Add({std::to_string(l.id), Seconds(l.ttl.count()), FormatTime(l.expires_at),
           Seconds(RemainingMs(l)), std::to_string(l.keys.size())});
  }
  t.Print(std::cout);
  PrintLine(std::to_string(leases.size()) + " live lease" + (leases.size() == 1 ? "" : "s"));
  return kExitOk;
}

struct IdOpts {
  std::vector<std::string> args;
  bool json = false;
};

int RunShow(const IdOpts& o) {
  auto p = TakeDb(o.args, 1, 1, "statectl leases show DB LEASE_ID");
  const statestore::LeaseId id = ParseLeaseId(p.rest[0], "LEASE_ID");
  auto store = OpenRead(p.db);
  const std::optional<statestore::Lease> l = store->lease(id);
  if (!l) NotFound("no live lease " + std::to_string(id) + " (never granted, revoked or expired)");
  if (o.json) {
    PrintJson(LeaseJson(*l, true));
    return kExitOk;
  }
  PrintFields({{"lease", std::to_string(l->id)},
               {"ttl", Seconds(l->ttl.count())},
               {"expires", FormatTime(l->expires_at)},
               {"remaining", Seconds(RemainingMs(*l))},
               {"keys", std::to_string(l->keys.size())}});
  std::cout << "\n";
  Table t({"KEYSPACE", "KEY"});
  for (const statestore::LeaseKey& k : l->keys) t.Add({k.keyspace, k.key});
  t.Print(std::cout);
  return kExitOk;
}

struct GrantOpts {
  std::vector<std::string> args;
  bool json = false;
};

int RunGrant(const GrantOpts& o) {
  auto p = TakeDb(o.args, 1, 1, "statectl leases grant DB DURATION");
  const std::chrono::milliseconds ttl = ParseTtl(p.rest[0], "DURATION");
  auto store = OpenWrite(p.db, /*create=*/true);
  // One transaction: the deadline printed is the one granted.
  statestore::LeaseId id = 0;
  std::optional<statestore::Lease> l;
  store->transact(
      [&](statestore::Transaction& tx) {
        id = tx.grant_lease(ttl);
        l = tx.lease(id);
      },
      {kOriginLabel});
  if (o.json) {
    PrintJson({{"id", id}, {"expires_at", l ? json(FormatTime(l->expires_at)) : json()}});
  } else {
    PrintLine("lease " + std::to_string(id) +
              (l ? " expires at " + FormatTime(l->expires_at) : std::string()));
  }
  return kExitOk;
}

int RunKeepAlive(const IdOpts& o) {
  auto p = TakeDb(o.args, 1, 1, "statectl leases keep-alive DB LEASE_ID");
  const statestore::LeaseId id = ParseLeaseId(p.rest[0], "LEASE_ID");
  auto store = OpenWrite(p.db);
  std::optional<statestore::Lease> l;
  store->transact(
      [&](statestore::Transaction& tx) { l = tx.keep_alive(id) ? tx.lease(id) : std::nullopt; },
      {kOriginLabel});
  if (!l) {
    NotFound("no live lease " + std::to_string(id) + " (never granted, revoked or expired)");
  }
  if (o.json) {
    PrintJson({{"id", id}, {"expires_at", FormatTime(l->expires_at)}});
  } else {
    PrintLine("lease " + std::to_string(id) + " expires at " + FormatTime(l->expires_at));
  }
  return kExitOk;
}

int RunRevoke(const IdOpts& o) {
  auto p = TakeDb(o.args, 1, 1, "statectl leases revoke DB LEASE_ID");
  const statestore::LeaseId id = ParseLeaseId(p.rest[0], "LEASE_ID");
  auto store = OpenWrite(p.db);
  bool revoked = false;
  std::size_t keys = 0;
  const statestore::Revision rev = store->transact(
      [&](statestore::Transaction& tx) {
        const std::optional<statestore::Lease> l = tx.lease(id);
        keys = l ? l->keys.size() : 0;
        revoked = tx.revoke_lease(id);
      },
      {kOriginLabel});
  if (!revoked) {
    NotFound("no live lease " + std::to_string(id) + " (never granted, revoked or expired)");
  }
  if (o.json) {
    PrintJson({{"id", id}, {"keys_erased", keys}, {"revision", rev}});
  } else {
    PrintLine("revoked lease " + std::to_string(id) + ": " + std::to_string(keys) + " key" +
              (keys == 1 ? "" : "s") + " erased in revision " + std::to_string(rev));
  }
  return kExitOk;
}

}  // namespace

void RegisterLeaseCommands(CLI::App& app, Registry& registry) {
  auto* leases = app.add_subcommand(
      "leases", "List, show, grant, renew or revoke leases (keys that expire together)");
  leases->require_subcommand(1);
  leases->footer(
      "Examples:\n  statectl leases list app.db\n  statectl leases show app.db 7\n"
      "  statectl leases grant app.db 30s\n  statectl set app.db workers w1 busy --lease 7\n"
      "  statectl leases keep-alive app.db 7\n  statectl leases revoke app.db 7\n"
      "Remaining times are by this machine's clock.");
  {
    auto o = std::make_shared<ListOpts>();
    auto* sub = leases->add_subcommand("list", "Live leases by id, with their key counts");
    AddArgs(sub, &o->args, "DB");
    sub->add_flag("--json", o->json, "One JSON document");
    sub->callback([&registry, o] { registry.action = [o] { return RunList(*o); }; });
  }
  {
    auto o = std::make_shared<IdOpts>();
    auto* sub = leases->add_subcommand(
        "show", "One live lease and its keys (exit 3 if unknown, revoked or expired)");
    AddArgs(sub, &o->args, "DB LEASE_ID");
    sub->add_flag("--json", o->json, "One JSON document");
    sub->callback([&registry, o] { registry.action = [o] { return RunShow(*o); }; });
  }
  {
    auto o = std::make_shared<GrantOpts>();
    auto* sub = leases->add_subcommand(
        "grant", "Grant a lease of DURATION (500ms, 30s, 10m, 2h, 1d); prints its id");
    AddArgs(sub, &o->args, "DB DURATION");
    sub->add_flag("--json", o->json, "Print the result as JSON");
    sub->callback([&registry, o] { registry.action = [o] { return RunGrant(*o); }; });
  }
  {
    auto o = std::make_shared<IdOpts>();
    auto* sub = leases->add_subcommand(
        "keep-alive", "Renew a live lease (and its keys) for its TTL from now (exit 3 if gone)");
    AddArgs(sub, &o->args, "DB LEASE_ID");
    sub->add_flag("--json", o->json, "Print the result as JSON");
    sub->callback([&registry, o] { registry.action = [o] { return RunKeepAlive(*o); }; });
  }
  {
    auto o = std::make_shared<IdOpts>();
    auto* sub = leases->add_subcommand(
        "revoke", "Erase every key of a live lease in one revision and end it (exit 3 if gone)");
    AddArgs(sub, &o->args, "DB LEASE_ID");
    sub->add_flag("--json", o->json, "Print the result as JSON");
    sub->callback([&registry, o] { registry.action = [o] { return RunRevoke(*o); }; });
  }
}

}  // namespace statectl

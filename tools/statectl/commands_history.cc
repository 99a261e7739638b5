// statectl history, show, diff, follow, revert, compact-history.
#include <signal.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <iostream>
#include <map>
#include <thread>

#include "common.h"

namespace statectl {

namespace {

using statestore::Commit;
using statestore::Revision;
using statestore::Value;

void AddCommitRows(Table& t, const Commit& c) {
  bool first = true;
  for (const auto& ch : c.changes) {
    t.Add({first ? std::to_string(c.revision) : "", first ? FormatTime(c.time) : "",
           first ? OriginText(c.origin) : "", ch.keyspace, Short(ch.key),
           ChangeSideCell(ch.old_value, ch.redacted), ChangeSideCell(ch.new_value, ch.redacted)});
    first = false;
  }
}

Table CommitTable() { return Table({"REV", "TIME", "ORIGIN", "KEYSPACE", "KEY", "OLD", "NEW"}); }

// ---- history

struct HistoryOpts {
  std::vector<std::string> args;
  std::string since, until, key, keyspace, origin;
  std::size_t limit = 0;
  bool newest_first = false;
  bool json = false;
};

int RunHistory(const HistoryOpts& o) {
  auto p = TakeDb(o.args, 0, 0, "statectl history DB [filters]");
  statestore::HistoryQuery q;
  if (!o.since.empty()) {
    Bound b = ParseBound(o.since);
    if (b.revision) q.from_revision = *b.revision;
    if (b.time) q.since = b.time;
  }
  if (!o.until.empty()) {
    Bound b = ParseBound(o.until);
    if (b.revision) {
      if (*b.revision == 0) UsageError("--until 0 matches nothing; revisions start at 1");
      q.to_revision = *b.revision;
    }
    if (b.time) q.until = b.time;
  }
  q.key_prefix = o.key;
  q.keyspace = o.keyspace;
  if (!o.origin.empty()) {
    if (o.origin.rfind("pid:", 0) == 0) {
      std::string n = o.origin.substr(4);
      if (n.empty() || n.find_first_not_of("0123456789") != std::string::npos || n.size() > 18) {
        UsageError("--origin pid:N needs a process id, not '" + n + "'");
      }
      q.pid = std::stoll(n);
    } else {
      q.label = o.origin;
    }
  }
  q.limit = o.limit;
  q.newest_first = o.newest_first;
  auto store = OpenRead(p.db);
  auto commits = store->history(q);
  if (o.json) {
    for (const auto& c : commits) PrintJsonLine(CommitJson(c));
    return kExitOk;
  }
  Table t = CommitTable();
  for (const auto& c : commits) AddCommitRows(t, c);
  t.Print(std::cout);
  return kExitOk;
}

// ---- show

struct ShowOpts {
  std::vector<std::string> args;
  bool json = false;
};

[[noreturn]] void NoRevision(statestore::Store& store, Revision rev) {
  auto b = store.history_bounds();
  if (rev == 0 || rev > b.head) {
    NotFound("no revision " + std::to_string(rev) + " (head revision is " + std::to_string(b.head) +
             ")");
  }
  NotFound("revision " + std::to_string(rev) + " is no longer in history (compacted through " +
           std::to_string(b.compacted_through) + ")");
}

int RunShow(const ShowOpts& o) {
  auto p = TakeDb(o.args, 1, 1, "statectl show DB REV");
  Revision rev = ParseRevision(p.rest[0], "REV");
  auto store = OpenRead(p.db);
  auto c = store->commit_at(rev);
  if (!c) NoRevision(*store, rev);
  if (o.json) {
    PrintJson(CommitJson(*c));
    return kExitOk;
  }
  PrintFields({{"revision", std::to_string(c->revision)},
               {"time", FormatTime(c->time)},
               {"origin", OriginText(c->origin) + " thread:" + std::to_string(c->origin.thread_id)},
               {"changes", std::to_string(c->changes.size())}});
  std::cout << "\n";
  Table t({"KEYSPACE", "KEY", "OLD", "NEW"});
  for (const auto& ch : c->changes) {
    t.Add({ch.keyspace, Short(ch.key), ChangeSideCell(ch.old_value, ch.redacted),
           ChangeSideCell(ch.new_value, ch.redacted)});
  }
  t.Print(std::cout);
  return kExitOk;
}

// ---- diff

struct DiffOpts {
  std::vector<std::string> args;
  bool json = false;
};

struct KeyDiff {
  std::optional<Value> from;
  std::optional<Value> to;
  bool redacted = false;
};

int RunDiff(const DiffOpts& o) {
  auto p = TakeDb(o.args, 2, 2, "statectl diff DB REV1 REV2");
  Revision r1 = ParseRevision(p.rest[0], "REV1");
  Revision r2 = ParseRevision(p.rest[1], "REV2");
  auto store = OpenRead(p.db);
  auto b = store->history_bounds();
  for (Revision r : {r1, r2}) {
    if (r > b.head) {
      NotFound("no revision " + std::to_string(r) + " (head revision is " + std::to_string(b.head) +
               ")");
    }
    if (r < b.compacted_through) {
      NotFound("the state at revision " + std::to_string(r) +
               " cannot be rebuilt: history is compacted through " +
               std::to_string(b.compacted_through));
    }
  }
  const Revision lo = std::min(r1, r2);
  const Revision hi = std::max(r1, r2);
  std::map<std::pair<std::string, std::string>, KeyDiff> diffs;
  if (hi > lo) {
    statestore::HistoryQuery q;
    q.from_revision = lo + 1;
    q.to_revision = hi;
    for (const auto& c : store->history(q)) {
      for (const auto& ch : c.changes) {
        auto [it, inserted] = diffs.try_emplace({ch.keyspace, ch.key});
        if (inserted) it->second.from = ch.old_value;
        it->second.to = ch.new_value;
        it->second.redacted = it->second.redacted || ch.redacted;
      }
    }
  }
  json arr = json::array();
  Table t({"KEYSPACE", "KEY", "AT " + std::to_string(r1), "AT " + std::to_string(r2)});
  for (auto& [k, d] : diffs) {
    if (d.from == d.to) continue;
    const auto& a = r1 <= r2 ? d.from : d.to;
    const auto& z = r1 <= r2 ? d.to : d.from;
    arr.push_back({{"keyspace", k.first},
                   {"key", k.second},
                   {"redacted", d.redacted},
                   {"old", ChangeSideJson(a, d.redacted)},
                   {"new", ChangeSideJson(z, d.redacted)}});
    t.Add({k.first, Short(k.second), ChangeSideCell(a, d.redacted), ChangeSideCell(z, d.redacted)});
  }
  if (o.json) {
    PrintJson({{"from", r1}, {"to", r2}, {"changes", arr}});
  } else {
    t.Print(std::cout);
  }
  return kExitOk;
}

// ---- follow

std::atomic<bool> g_stop{false};

extern "C" void OnSignal(int) { g_stop.store(true); }

struct FollowOpts {
  std::vector<std::string> args;
  std::string from;
  bool json = false;
  int interval_ms = 100;
};

int RunFollow(const FollowOpts& o) {
  auto p = TakeDb(o.args, 0, 0, "statectl follow DB [--from REV]");
  if (o.interval_ms < 1 || o.interval_ms > 60000) UsageError("--interval-ms must be 1..60000");
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  auto store = OpenRead(p.db);
  Revision next = o.from.empty() ? store->history_bounds().head + 1
                                 : std::max<Revision>(1, ParseRevision(o.from, "--from"));
  if (!o.json) {
    Table({"REV", "TIME", "ORIGIN", "KEYSPACE", "KEY", "OLD", "NEW"}).Print(std::cout);
  }
  while (!g_stop.load()) {
    statestore::HistoryQuery q;
    q.from_revision = next;
    q.limit = 256;
    auto commits = store->history(q);
    for (const auto& c : commits) {
      if (o.json) {
        PrintJsonLine(CommitJson(c));
      } else {
        for (const auto& ch : c.changes) {
          std::cout << c.revision << "  " << FormatTime(c.time) << "  " << OriginText(c.origin)
                    << "  " << ch.keyspace << "  " << Short(ch.key) << "  "
                    << ChangeSideCell(ch.old_value, ch.redacted) << "  "
                    << ChangeSideCell(ch.new_value, ch.redacted) << "\n";
        }
        std::cout.flush();
      }
      next = c.revision + 1;
    }
    if (commits.size() == q.limit) continue;  // a backlog: keep reading
    // History may have been compacted past `next` while we slept: continue at the oldest kept.
    auto b = store->history_bounds();
    if (next < b.first && b.first <= b.head) next = b.first;
    for (int waited = 0; waited < o.interval_ms && !g_stop.load(); waited += 10) {
      std::this_thread::sleep_for(std::chrono::milliseconds(std::min(10, o.interval_ms)));
    }
  }
  return kExitOk;
}

// ---- compact-history

struct CompactOpts {
  std::vector<std::string> args;
  std::uint64_t keep = 0;
  std::string older_than;
  bool json = false;
};

int RunCompact(const CompactOpts& o) {
  auto p = TakeDb(o.args, 0, 0, "statectl compact-history DB --keep N | --older-than DURATION");
  statestore::HistoryRetention r;
  if ((o.keep > 0) == !o.older_than.empty()) {
    UsageError("give exactly one of --keep N (N >= 1) or --older-than DURATION");
  }
  if (o.keep > 0) r.keep_revisions = o.keep;
  if (!o.older_than.empty()) {
    auto d = ParseDuration(o.older_than);
    r.keep_for = std::chrono::duration_cast<std::chrono::seconds>(d);
    if (r.keep_for.count() <= 0) UsageError("--older-than must be at least 1s");
  }
  auto store = OpenWrite(p.db, false, {}, r);
  Progress progress("compacting history");
  progress.Update(0, 0);
  std::uint64_t removed = store->compact_history();
  progress.Done();
  auto b = store->history_bounds();
  if (o.json) {
    PrintJson({{"removed", removed},
               {"first", b.first},
               {"head", b.head},
               {"compacted_through", b.compacted_through}});
  } else {
    std::cout << "removed " << removed << " revisions; history now holds " << b.first << ".."
              << b.head << "\n";
  }
  return kExitOk;
}

}  // namespace

void RegisterHistoryCommands(CLI::App& app, Registry& registry) {
  {
    auto o = std::make_shared<HistoryOpts>();
    auto* sub = app.add_subcommand("history",
                                   "List committed transactions with their changes "
                                   "(read-only)");
    AddArgs(sub, &o->args, "DB");
    sub->add_option("--since", o->since,
                    "From this revision (inclusive), ISO-8601 UTC time, or duration ago (10m, "
                    "2h, 3d)");
    sub->add_option("--until", o->until,
                    "Up to this revision (inclusive) or before this time / duration ago");
    sub->add_option("--key", o->key, "Only changes of keys starting with this prefix");
    sub->add_option("--keyspace", o->keyspace, "Only changes in this keyspace");
    sub->add_option("--origin", o->origin, "Only commits with this label, or pid:N");
    sub->add_option("--limit", o->limit, "At most this many commits");
    sub->add_flag("--newest-first", o->newest_first, "Newest commit first");
    sub->add_flag("--json", o->json, "JSON lines, one commit per line");
    sub->footer(
        "Examples:\n  statectl history app.db\n  statectl history app.db --since 2h --keyspace "
        "app\n  statectl history app.db --since 100 --until 200 --origin statectl --json\n  "
        "statectl history app.db --origin pid:4242 --limit 10");
    sub->callback([&registry, o] { registry.action = [o] { return RunHistory(*o); }; });
  }
  {
    auto o = std::make_shared<ShowOpts>();
    auto* sub = app.add_subcommand("show", "Show one transaction as a diff (exit 3 if unknown)");
    AddArgs(sub, &o->args, "DB REV");
    sub->add_flag("--json", o->json, "One JSON document");
    sub->footer("Example:\n  statectl show app.db 42");
    sub->callback([&registry, o] { registry.action = [o] { return RunShow(*o); }; });
  }
  {
    auto o = std::make_shared<DiffOpts>();
    auto* sub = app.add_subcommand(
        "diff",
        "Compare the state at REV1 with the state at REV2 (from history): each changed "
        "key, old -> new");
    AddArgs(sub, &o->args, "DB REV1 REV2");
    sub->add_flag("--json", o->json, "One JSON document");
    sub->footer("Example:\n  statectl diff app.db 10 42");
    sub->callback([&registry, o] { registry.action = [o] { return RunDiff(*o); }; });
  }
  {
    auto o = std::make_shared<FollowOpts>();
    auto* sub =
        app.add_subcommand("follow",
                           "Print transactions as they commit, from any process, until interrupted "
                           "(SIGINT/SIGTERM; exits 0)");
    AddArgs(sub, &o->args, "DB");
    sub->add_option("--from", o->from, "Start at this revision (default: new commits only)");
    sub->add_option("--interval-ms", o->interval_ms, "Poll interval (default 100)");
    sub->add_flag("--json", o->json, "JSON lines, one commit per line");
    sub->footer("Examples:\n  statectl follow app.db\n  statectl follow app.db --from 1 --json");
    sub->callback([&registry, o] { registry.action = [o] { return RunFollow(*o); }; });
  }
  AddRevertCommand(&app, registry, "statectl revert DB REV [--force]",
                   "Write back the values REV overwrote, as a new transaction (refused if a later "
                   "transaction changed the same keys, unless --force)",
                   "statectl revert app.db 42",
                   [](statestore::Store& store, statestore::Revision rev,
                      const statestore::RevertOptions& ro) { return store.revert(rev, ro); });
  {
    auto o = std::make_shared<CompactOpts>();
    auto* sub = app.add_subcommand("compact-history",
                                   "Remove old revisions from history (never the current state)");
    AddArgs(sub, &o->args, "DB");
    sub->add_option("--keep", o->keep, "Keep the N most recent revisions");
    sub->add_option("--older-than", o->older_than, "Remove revisions older than DURATION (7d)");
    sub->add_flag("--json", o->json, "Print the result as JSON");
    sub->footer(
        "Examples:\n  statectl compact-history app.db --keep 1000\n  statectl "
        "compact-history app.db --older-than 30d");
    sub->callback([&registry, o] { registry.action = [o] { return RunCompact(*o); }; });
  }
}

}  // namespace statectl

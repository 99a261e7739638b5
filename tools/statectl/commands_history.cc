// statectl history, show, diff, follow, revert, compact-history, history-policy set.
#include <signal.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <iostream>
#include <limits>
#include <map>
#include <thread>

#include "common.h"

namespace statectl {

namespace {

using statestore::Commit;
using statestore::Revision;
using statestore::Value;

// The rows of one commit (revision, time and origin on the first only).
std::vector<std::vector<std::string>> CommitRows(const Commit& c, const Redaction& redaction) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& ch : c.changes) {
    const bool first = rows.empty();
    const bool hidden = redaction.hides(ch.keyspace);
    rows.push_back({first ? std::to_string(c.revision) : "", first ? FormatTime(c.time) : "",
                    first ? OriginText(c.origin) : "", ch.keyspace, Short(ch.key),
                    ChangeSideCell(ch.old_value, ch.redacted, hidden), ChangeNewCell(ch, hidden)});
  }
  return rows;
}

// A commit of the session sweeper (its label, every change in the sessions keyspace): the
// number of sessions it swept, else nullopt. One sweep batch erases three keys per session and
// rewrites the count, so listing it change by change buries everything else.
std::optional<std::size_t> SweptSessions(const Commit& c) {
  if (c.origin.label != statestore::kSweepOriginLabel || c.changes.empty()) return std::nullopt;
  std::size_t swept = 0;
  for (const auto& ch : c.changes) {
    if (ch.keyspace != statestore::kSessionsKeyspace) return std::nullopt;
    if (!ch.new_value && ch.key.rfind(statestore::kSessionRecordPrefix, 0) == 0) ++swept;
  }
  return swept;
}

// CommitRows, or one summary row for a sweep commit unless `verbose`.
std::vector<std::vector<std::string>> DisplayRows(const Commit& c, const Redaction& redaction,
                                                  bool verbose) {
  if (!verbose) {
    if (auto swept = SweptSessions(c)) {
      return {{std::to_string(c.revision), FormatTime(c.time), OriginText(c.origin),
               std::string(statestore::kSessionsKeyspace),
               "swept " + std::to_string(*swept) + " session" + (*swept == 1 ? "" : "s") + " (" +
                   std::to_string(c.changes.size()) + " changes; --verbose lists them)",
               "", ""}};
    }
  }
  return CommitRows(c, redaction);
}

Table CommitTable() { return Table({"REV", "TIME", "ORIGIN", "KEYSPACE", "KEY", "OLD", "NEW"}); }

// ---- history

struct HistoryOpts {
  std::vector<std::string> args;
  std::string since, until, key, keyspace, origin, limit;
  bool newest_first = false;  // the default since 2026-12; the flag is kept for scripts
  bool reverse = false;
  bool verbose = false;
  bool reveal = false;
  bool json = false;
};

int RunHistory(const HistoryOpts& o) {
  auto p = TakeDb(o.args, 0, 0, "statectl history DB [filters]");
  statestore::HistoryQuery q;
  ApplySinceUntil(o.since, o.until, &q);
  CheckPrefixArg(o.key);
  q.key_prefix = o.key;
  if (!o.keyspace.empty()) CheckKeyspaceArg(o.keyspace);
  q.keyspace = o.keyspace;
  if (!o.origin.empty()) {
    if (o.origin.rfind("pid:", 0) == 0) {
      q.pid = ParseIntIn(o.origin.substr(4), "--origin pid:", 1,
                         std::numeric_limits<std::int32_t>::max());
    } else {
      q.label = o.origin;
    }
  }
  if (!o.limit.empty()) q.limit = ParseCount(o.limit, "--limit");
  // Newest first, like `git log`: --limit 5 shows the last five commits.
  q.newest_first = !o.reverse;
  auto store = OpenRead(p.db);
  auto commits = store->history(q);
  const Redaction redaction = Redaction::Load(*store, o.reveal);
  if (o.json) {
    for (const auto& c : commits) PrintJsonLine(CommitJson(c, redaction));
    return kExitOk;
  }
  Table t = CommitTable();
  for (const auto& c : commits) {
    for (auto& row : DisplayRows(c, redaction, o.verbose)) t.Add(std::move(row));
  }
  t.Print(std::cout);
  return kExitOk;
}

// ---- show

struct ShowOpts {
  std::vector<std::string> args;
  bool reveal = false;
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
  const Redaction redaction = Redaction::Load(*store, o.reveal);
  if (o.json) {
    PrintJson(CommitJson(*c, redaction));
    return kExitOk;
  }
  PrintFields({{"revision", std::to_string(c->revision)},
               {"time", FormatTime(c->time)},
               {"origin", OriginText(c->origin) + " thread:" + std::to_string(c->origin.thread_id)},
               {"changes", std::to_string(c->changes.size()) +
                               (c->partial ? " (partial: the history policy of another keyspace "
                                             "of this commit removed its changes)"
                                           : "")}});
  std::cout << "\n";
  Table t({"KEYSPACE", "KEY", "OLD", "NEW"});
  for (const auto& ch : c->changes) {
    const bool hidden = redaction.hides(ch.keyspace);
    t.Add({ch.keyspace, Short(ch.key), ChangeSideCell(ch.old_value, ch.redacted, hidden),
           ChangeNewCell(ch, hidden)});
  }
  t.Print(std::cout);
  return kExitOk;
}

// ---- diff

struct DiffOpts {
  std::vector<std::string> args;
  bool reveal = false;
  bool json = false;
};

struct KeyDiff {
  std::optional<Value> from;
  std::optional<Value> to;
  bool redacted = false;
};

int RunDiff(const DiffOpts& o) {
  auto p = TakeDb(o.args, 2, 2, "statectl diff DB REV1 REV2");
  // Revision 0 is the empty state before the first commit.
  Revision r1 = ParseRevision(p.rest[0], "REV1", /*allow_zero=*/true);
  Revision r2 = ParseRevision(p.rest[1], "REV2", /*allow_zero=*/true);
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
  const Redaction redaction = Redaction::Load(*store, o.reveal);
  json arr = json::array();
  Table t({"KEYSPACE", "KEY", "AT " + std::to_string(r1), "AT " + std::to_string(r2)});
  for (auto& [k, d] : diffs) {
    if (d.from == d.to) continue;
    const auto& a = r1 <= r2 ? d.from : d.to;
    const auto& z = r1 <= r2 ? d.to : d.from;
    const bool hidden = redaction.hides(k.first);
    arr.push_back({{"keyspace", k.first},
                   {"key", k.second},
                   {"redacted", d.redacted || hidden},
                   {"old", ChangeSideJson(a, d.redacted, k.first, redaction)},
                   {"new", ChangeSideJson(z, d.redacted, k.first, redaction)}});
    t.Add({k.first, Short(k.second), ChangeSideCell(a, d.redacted, hidden),
           ChangeSideCell(z, d.redacted, hidden)});
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
  std::string interval_ms = "100";
  bool verbose = false;
  bool reveal = false;
  bool json = false;
};

int RunFollow(const FollowOpts& o) {
  auto p = TakeDb(o.args, 0, 0, "statectl follow DB [--from REV]");
  const int interval_ms = static_cast<int>(ParseIntIn(o.interval_ms, "--interval-ms", 1, 60000));
  std::optional<Revision> from;
  if (!o.from.empty()) from = ParseRevision(o.from, "--from");
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  auto store = OpenRead(p.db);
  Revision next = from ? *from : store->history_bounds().head + 1;
  if (!o.json) CommitTable().Print(std::cout);
  while (!g_stop.load()) {
    statestore::HistoryQuery q;
    q.from_revision = next;
    q.limit = 256;
    auto commits = store->history(q);
    // Read after the commits (a keyspace only ever becomes redacted, never the other way), and
    // only when there is something to print: it opens a connection.
    const Redaction redaction = commits.empty() ? Redaction() : Redaction::Load(*store, o.reveal);
    for (const auto& c : commits) {
      if (o.json) {
        PrintJsonLine(CommitJson(c, redaction));
      } else {
        for (const auto& row : DisplayRows(c, redaction, o.verbose)) {
          Table::PrintRow(std::cout, row);
        }
        std::cout.flush();
      }
      next = c.revision + 1;
    }
    if (commits.size() == q.limit) continue;  // a backlog: keep reading
    // History may have been compacted past `next` while we slept: continue at the oldest kept.
    auto b = store->history_bounds();
    if (next < b.first && b.first <= b.head) next = b.first;
    for (int waited = 0; waited < interval_ms && !g_stop.load(); waited += 10) {
      std::this_thread::sleep_for(std::chrono::milliseconds(std::min(10, interval_ms)));
    }
  }
  return kExitOk;
}

// ---- compact-history

struct CompactOpts {
  std::vector<std::string> args;
  std::string keep;
  std::string older_than;
  bool json = false;
};

int RunCompact(const CompactOpts& o) {
  auto p = TakeDb(o.args, 0, 0, "statectl compact-history DB --keep N | --older-than DURATION");
  statestore::HistoryRetention r;
  if (o.keep.empty() == o.older_than.empty()) {
    UsageError("give exactly one of --keep N (N >= 1) or --older-than DURATION");
  }
  if (!o.keep.empty()) r.keep_revisions = ParseCount(o.keep, "--keep");
  if (!o.older_than.empty()) {
    auto d = ParseDuration(o.older_than, "--older-than");
    r.keep_for = std::chrono::duration_cast<std::chrono::seconds>(d);
    if (r.keep_for.count() <= 0) UsageError("--older-than must be at least 1s");
  }
  auto store = OpenWrite(p.db, false, {}, r);
  Progress progress("compacting history");
  progress.Update(0, 0);
  std::uint64_t removed = store->compact_history();
  progress.Done();
  auto b = store->history_bounds();
  // `removed` counts exactly the revisions this command's batches deleted (Store::compact_history);
  // retention run meanwhile by another process writing the file is not in it.
  if (o.json) {
    PrintJson({{"removed", removed},
               {"first", b.first},
               {"head", b.head},
               {"compacted_through", b.compacted_through}});
  } else {
    PrintLine("removed " + std::to_string(removed) +
              " revisions (counted by this command); every revision " + std::to_string(b.first) +
              ".." + std::to_string(b.head) + " is in history");
  }
  return kExitOk;
}

// ---- history-policy set

struct PolicyOpts {
  std::vector<std::string> args;
  std::string keep_revisions;
  std::string keep_for;
  bool none = false;
  bool keep_all = false;
  bool json = false;
};

int RunPolicySet(const PolicyOpts& o) {
  auto p = TakeDb(o.args, 1, 1,
                  "statectl history-policy set DB KEYSPACE (--keep-revisions N | --keep-for "
                  "DURATION | --none | --keep-all)");
  const std::string& keyspace = p.rest[0];
  CheckKeyspaceArg(keyspace);
  const int given = !o.keep_revisions.empty() + !o.keep_for.empty() + o.none + o.keep_all;
  if (given != 1) {
    UsageError("give exactly one of --keep-revisions N, --keep-for DURATION, --none, --keep-all");
  }
  statestore::HistoryPolicy policy;
  if (!o.keep_revisions.empty()) {
    policy.keep_revisions = ParseCount(o.keep_revisions, "--keep-revisions");
  }
  if (!o.keep_for.empty()) {
    auto d = ParseDuration(o.keep_for, "--keep-for");
    if (d < std::chrono::seconds(1)) UsageError("--keep-for must be at least 1s");
    if (d % std::chrono::seconds(1) != std::chrono::microseconds(0)) {
      UsageError("--keep-for must be whole seconds");
    }
    policy.keep_for = std::chrono::duration_cast<std::chrono::seconds>(d);
  }
  policy.keep_none = o.none;
  auto store = OpenWrite(p.db);
  store->set_history_policy(keyspace, policy);
  statestore::EffectiveHistoryPolicy e = store->history_policy(keyspace);
  if (o.json) {
    PrintJson({{"keyspace", keyspace}, {"policy", PolicyJson(e)}});
  } else {
    PrintLine("history policy of keyspace " + keyspace + ": " + PolicyText(e) + " (" +
              PolicySourceName(e.source) + "); applied by the next retention pass");
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
    sub->add_option("--limit", o->limit, "At most this many commits (N >= 1; default: no limit)");
    auto* reverse = sub->add_flag("--reverse", o->reverse,
                                  "Oldest commit first (default: newest first, like git log)");
    sub->add_flag("--newest-first", o->newest_first, "Newest commit first (the default)")
        ->excludes(reverse);
    sub->add_flag("--verbose", o->verbose,
                  "List every change of session-sweep commits (default: one line, 'swept N "
                  "sessions'; --json always lists them)");
    AddRevealFlag(sub, &o->reveal);
    sub->add_flag("--json", o->json, "JSON lines, one commit per line");
    sub->footer(
        "Examples:\n  statectl history app.db\n  statectl history app.db --since 2h --keyspace "
        "app\n  statectl history app.db --since 100 --until 200 --origin statectl --json\n  "
        "statectl history app.db --origin pid:4242 --limit 10\n  "
        "statectl history app.db --reverse --since 100");
    sub->callback([&registry, o] { registry.action = [o] { return RunHistory(*o); }; });
  }
  {
    auto o = std::make_shared<ShowOpts>();
    auto* sub = app.add_subcommand("show", "Show one transaction as a diff (exit 3 if unknown)");
    AddArgs(sub, &o->args, "DB REV");
    AddRevealFlag(sub, &o->reveal);
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
    AddRevealFlag(sub, &o->reveal);
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
    sub->add_option("--interval-ms", o->interval_ms, "Poll interval, 1..60000 (default 100)");
    sub->add_flag("--verbose", o->verbose,
                  "List every change of session-sweep commits (default: 'swept N sessions')");
    AddRevealFlag(sub, &o->reveal);
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
    sub->add_option("--keep", o->keep, "Keep the N most recent revisions (N >= 1)");
    sub->add_option("--older-than", o->older_than, "Remove revisions older than DURATION (7d)");
    sub->add_flag("--json", o->json, "Print the result as JSON");
    sub->footer(
        "Examples:\n  statectl compact-history app.db --keep 1000\n  statectl "
        "compact-history app.db --older-than 30d");
    sub->callback([&registry, o] { registry.action = [o] { return RunCompact(*o); }; });
  }
  {
    auto* policy = app.add_subcommand("history-policy",
                                      "Per-keyspace history retention, stored in the database");
    policy->require_subcommand(1);
    auto o = std::make_shared<PolicyOpts>();
    auto* sub = policy->add_subcommand(
        "set",
        "Store the history policy of KEYSPACE (every process applies it from its next "
        "retention pass; see 'statectl inspect' for the policies in effect)");
    AddArgs(sub, &o->args, "DB KEYSPACE");
    sub->add_option("--keep-revisions", o->keep_revisions,
                    "Keep the N most recent revisions that changed KEYSPACE (N >= 1)");
    sub->add_option("--keep-for", o->keep_for, "Keep changes younger than DURATION (30d)");
    sub->add_flag("--none", o->none, "Keep no history of KEYSPACE");
    sub->add_flag("--keep-all", o->keep_all, "Keep all history of KEYSPACE");
    sub->add_flag("--json", o->json, "Print the result as JSON");
    sub->footer(
        "Examples:\n  statectl history-policy set app.db sessions --keep-revisions 1000\n  "
        "statectl history-policy set app.db config --keep-all");
    sub->callback([&registry, o] { registry.action = [o] { return RunPolicySet(*o); }; });
  }
}

}  // namespace statectl

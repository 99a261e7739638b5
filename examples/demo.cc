// statestore_demo DB_PATH — a short tour of the statestore core.
//
// Opens (or creates) the database at DB_PATH and, in keyspace "app":
//   1. writes a few keys in transactions (several keys commit together or not at all),
//   2. does a compare-and-set with put_if_version, then shows a stale one being refused,
//   3. runs a transaction whose body throws after writing: nothing of it lands anywhere,
//   4. reverts one revision,
//   5. creates a session (Store::sessions()), reads and updates it, rotates its token, lets it
//      expire (the demo moves its session clock forward instead of waiting) and sweeps it,
// and prints the current state, the full history and the Stats counters.
//
// Exit status: 0 on success, 1 with a one-line message on stderr on failure, 2 on bad usage.

#include <statestore/statestore.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <exception>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace ss = statestore;

namespace {

constexpr std::string_view kSpace = "app";

// The exception our failing transaction body throws; transact() rethrows it unchanged.
struct DemoAbort : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// UTC, ISO-8601 with microseconds: 2024-05-01T12:34:56.123456Z
std::string FormatUtc(ss::Clock::time_point t) {
  const auto secs = std::chrono::floor<std::chrono::seconds>(t);
  const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(t - secs).count();
  const std::time_t tt = ss::Clock::to_time_t(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(micros));
  return buf;
}

std::string Show(const std::optional<ss::Value>& v) { return v ? v->to_display() : "(none)"; }

std::string Rev(ss::Revision r) { return "r" + std::to_string(r); }

// Prints rows as left-aligned columns separated by two spaces (the last column is not padded).
void PrintTable(const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> width;
  for (const auto& row : rows) {
    width.resize(std::max(width.size(), row.size()));
    for (std::size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  for (const auto& row : rows) {
    std::string line = "  ";
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line.append(width[i] - row[i].size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    std::cout << line << '\n';
  }
}

void Step(const std::string& what, const std::string& text) {
  std::cout << "  " << what << std::string(what.size() < 4 ? 4 - what.size() : 0, ' ') << "  "
            << text << '\n';
}

int Run(const std::string& db_path) {
  // Session expiry reads this clock: the real time plus an offset the demo advances (step 8).
  std::atomic<std::int64_t> clock_offset_us{0};

  ss::Options options;
  options.durability = ss::Durability::kFull;  // an acknowledged commit survives power loss
  options.origin_label = "demo";               // recorded in the history of every commit
  options.sessions.clock = [&clock_offset_us] {
    return ss::Clock::now() + std::chrono::microseconds(clock_offset_us.load());
  };
  const std::shared_ptr<ss::Store> store = ss::Store::open(db_path, options);

  std::cout << "statestore " << ss::LibraryVersion() << " (schema " << ss::SchemaVersion()
            << "), database " << store->path() << "\n\nSteps\n";

  // 1. Several keys in one transaction: they commit together, or not at all.
  const ss::Revision r1 = store->transact([](ss::Transaction& tx) {
    tx.put(kSpace, "greeting", "hello, world");
    tx.put(kSpace, "counter", 0);
    tx.put(kSpace, "feature.new_ui", false);
  });
  Step(Rev(r1), "wrote greeting, counter and feature.new_ui in one transaction");

  // 2. Read-modify-write inside a transaction: no other writer can slip in between.
  const ss::Revision r2 = store->transact([](ss::Transaction& tx) {
    const std::int64_t n = tx.get(kSpace, "counter").value_or(ss::Value(0)).as_int();
    tx.put(kSpace, "counter", n + 1);
    tx.put(kSpace, "avatar", ss::Bytes{0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a});
  });
  Step(Rev(r2), "incremented counter and stored a bytes value (avatar)");

  // 3. Optimistic concurrency: write only if nobody changed the key since we read it.
  const ss::Entry seen = store->get_entry(kSpace, "counter").value();
  const ss::Revision r3 = store->transact([&](ss::Transaction& tx) {
    tx.put_if_version(kSpace, "counter", seen.value.as_int() + 10, seen.version);
  });
  Step(Rev(r3), "put_if_version(counter, expected version " + std::to_string(seen.version) +
                    ") succeeded: counter = " + Show(store->get(kSpace, "counter")));
  try {
    store->transact([&](ss::Transaction& tx) {  // same, now stale, version
      tx.put_if_version(kSpace, "counter", 0, seen.version);
    });
    throw std::runtime_error("a stale put_if_version was accepted");
  } catch (const ss::Error& e) {
    if (e.code() != ss::ErrorCode::kConflict) throw;
    Step("--",
         "stale put_if_version refused (" + std::string(ss::ToString(e.code())) + "): " + e.what());
  }

  // 4. A per-transaction origin label.
  const ss::Revision r4 =
      store->transact([](ss::Transaction& tx) { tx.put(kSpace, "feature.new_ui", true); },
                      ss::TransactOptions{.label = "rollout"});
  Step(Rev(r4), "turned feature.new_ui on (label \"rollout\")");

  // 5. A body that throws after writing: state, history and cache are rolled back, and the
  //    exception reaches the caller unchanged.
  const ss::Revision head_before = store->history_bounds().head;
  try {
    store->transact([](ss::Transaction& tx) {
      tx.put(kSpace, "greeting", "this write never lands");
      tx.erase(kSpace, "avatar");
      throw DemoAbort("validation failed after writing");
    });
    throw std::runtime_error("a throwing transaction body did not propagate its exception");
  } catch (const DemoAbort& e) {
    const auto greeting = store->get(kSpace, "greeting");
    const ss::Revision head_after = store->history_bounds().head;
    if (greeting != ss::Value("hello, world") || !store->get(kSpace, "avatar") ||
        head_after != head_before) {
      throw std::runtime_error("a rolled-back transaction left a trace");
    }
    Step("--", std::string("body threw \"") + e.what() + "\": rolled back; greeting is still " +
                   Show(greeting) + ", head is still " + Rev(head_after));
  }

  // 6. Revert: a new transaction that writes back the values r4 overwrote.
  const ss::Revision r5 = store->revert(r4);
  Step(Rev(r5),
       "reverted " + Rev(r4) + ": feature.new_ui = " + Show(store->get(kSpace, "feature.new_ui")));

  // 7. Sessions. create() returns an opaque token for the client; only its SHA-256 is stored
  //    (keyspace "sessions", redacted in history), so the demo prints the short id instead.
  ss::Sessions& sessions = store->sessions();
  const std::string token =
      sessions.create(std::chrono::minutes(30), {{"cart", ss::Value("2 books")}, {"visits", 0}},
                      /*principal=*/"alice");
  const ss::Session created = sessions.get(token).value();
  Step(Rev(store->history_bounds().head),
       "created session " + created.short_id + " for alice (30 min idle TTL; token of " +
           std::to_string(token.size()) + " characters, not stored)");
  sessions.update(token, [](ss::Attributes& a) { a["visits"] = a.at("visits").as_int() + 1; });
  Step(Rev(store->history_bounds().head),
       "update(): visits = " + Show(sessions.get_attribute(token, "visits")) +
           ", cart = " + Show(sessions.get_attribute(token, "cart")));
  const std::string rotated = sessions.rotate(token).value();
  const ss::Session moved = sessions.get(rotated).value();
  if (sessions.exists(token) || moved.attributes.at("cart") != created.attributes.at("cart")) {
    throw std::runtime_error("rotate() did not move the session to the new token");
  }
  Step(Rev(store->history_bounds().head),
       "rotate(): session " + created.short_id + " is now " + moved.short_id +
           " (same data, old token dead); alice has " +
           std::to_string(sessions.list("alice").size()) + " session");

  // 8. Expiry: 31 minutes later the session is gone for every reader, then the sweep deletes it.
  clock_offset_us +=
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::minutes(31)).count();
  if (sessions.get(rotated) || sessions.exists(rotated)) {
    throw std::runtime_error("an expired session is still visible");
  }
  const std::uint64_t swept = sessions.sweep();
  Step(Rev(store->history_bounds().head), "31 min idle: session " + moved.short_id +
                                              " expired (get() = none); sweep() removed " +
                                              std::to_string(swept));

  std::cout << "\nCurrent state of keyspace \"" << kSpace << "\"\n";
  std::vector<std::vector<std::string>> rows{{"KEY", "VALUE", "VERSION"}};
  for (const ss::Entry& e : store->list(kSpace)) {
    rows.push_back({e.key, e.value.to_display(), Rev(e.version)});
  }
  PrintTable(rows);

  const std::vector<ss::Commit> history = store->history();
  std::cout << "\nHistory (" << history.size() << " commits)\n";
  rows = {{"REV", "TIME (UTC)", "PID", "THREAD", "LABEL", "CHANGES"}};
  for (const ss::Commit& c : history) {
    bool first = true;
    for (const ss::Change& ch : c.changes) {
      std::string change =
          ch.keyspace + "/" + ch.key + ": " + Show(ch.old_value) + " -> " + Show(ch.new_value);
      if (first) {
        rows.push_back({Rev(c.revision), FormatUtc(c.time), std::to_string(c.origin.pid),
                        std::to_string(c.origin.thread_id), c.origin.label, std::move(change)});
      } else {
        rows.push_back({"", "", "", "", "", std::move(change)});
      }
      first = false;
    }
  }
  PrintTable(rows);

  const ss::Stats s = store->stats();
  std::cout << "\nStats\n";
  PrintTable({
      {"reads", std::to_string(s.reads), "cache_hits", std::to_string(s.cache_hits), "cache_misses",
       std::to_string(s.cache_misses)},
      {"commits", std::to_string(s.commits), "rollbacks", std::to_string(s.rollbacks),
       "busy_retries", std::to_string(s.busy_retries)},
      {"groups", std::to_string(s.groups), "max_group_size", std::to_string(s.max_group_size),
       "syncs", std::to_string(s.syncs)},
      {"checkpoints", std::to_string(s.checkpoints), "compaction_runs",
       std::to_string(s.compaction_runs), "cache_invalidations",
       std::to_string(s.cache_invalidations)},
      {"sweep_runs", std::to_string(s.sweep_runs)},
  });
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2 || std::string_view(argv[1]).empty() || argv[1][0] == '-') {
    std::cerr << "usage: statestore_demo DB_PATH\n";
    return 2;
  }
  try {
    return Run(argv[1]);
  } catch (const std::exception& e) {
    std::cerr << "statestore_demo: error: " << e.what() << '\n';
    return 1;
  }
}

// Failover of a primary with a synchronous standby (issue 15), with real servers and processes.
//
// Two worker processes (failover-write, two threads each) run the counter and two-key workload
// against a Store opened on the pair's multi-host URI; this process writes config values, watches
// them and keeps reading the counter through the read cache. The primary is SIGKILLed at a
// random point (PgCluster::Kill: the whole server at once, as a lost machine) several times; each
// time the standby is promoted and the dead slot is rebuilt as the new primary's standby. Then,
// on the last primary:
//   - every acknowledged commit is present (its two keys, with its N), and a failed one is wholly
//     present or wholly absent, present only if it failed with kCommitUnknown;
//   - the counter equals the number of commits present (no lost update);
//   - revisions have no gap and replaying history gives the state;
//   - the config watch delivered every acknowledged config value exactly once, in revision order,
//     and the cached reader never saw the counter go back.
// The same run with synchronous_commit=off must find lost acknowledged commits: that shows the
// checks above can fail, so their passing means something. The engine sets synchronous_commit for
// its own sessions from Options::durability (kFull: on, kNormal: off; pg_schema.h), whatever the
// server's default, so the control run opens its stores with Durability::kNormal.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "postgres/pg_failover_pair.h"
#include "statestore/statestore.h"
#include "test_util.h"

namespace statestore::test {
namespace {

using std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;

const milliseconds kChildTimeout(180'000 * kSlowFactor);
constexpr int kWorkers = 2;
constexpr int kThreadsPerWorker = 2;
constexpr int kKills = 5;

double MsBetween(SteadyClock::time_point a, SteadyClock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5)];
}

// One worker process and the lines it printed, read by a thread of its own so that the worker
// never blocks on a full pipe.
class Worker {
 public:
  Worker(const std::string& uri, const std::string& tag, Durability durability)
      : child_(ChildProcess::SpawnWorker(
            {"failover-write", uri, tag, std::to_string(kThreadsPerWorker), "5000",
             durability == Durability::kNormal ? "--normal" : "--full"})) {}
  ~Worker() {
    if (reader_.joinable()) reader_.join();
  }

  // Waits for "ready", then starts reading.
  bool Start() {
    if (!child_.WaitForLine("ready", kChildTimeout)) return false;
    reader_ = std::thread([this] {
      while (auto line = child_.ReadLine(kChildTimeout)) {
        std::lock_guard<std::mutex> lock(mu_);
        if (line->rfind("ack ", 0) == 0) ++acks_;
        if (*line == "done") done_ = true;
        lines_.push_back(std::move(*line));
        if (done_) break;
      }
    });
    return true;
  }
  int acks() const {
    std::lock_guard<std::mutex> lock(mu_);
    return acks_;
  }
  // Asks the worker to stop, waits for its "done" and exit.
  bool Stop() {
    child_.Write("stop\n");
    reader_.join();
    const bool done = [&] {
      std::lock_guard<std::mutex> lock(mu_);
      return done_;
    }();
    return done && child_.Wait(kChildTimeout) == 0;
  }
  std::vector<std::string> lines() const {
    std::lock_guard<std::mutex> lock(mu_);
    return lines_;
  }

 private:
  ChildProcess child_;
  std::thread reader_;
  mutable std::mutex mu_;
  std::vector<std::string> lines_;
  int acks_ = 0;
  bool done_ = false;
};

struct Outcome {
  std::size_t acked = 0;               // worker transactions acknowledged
  std::size_t lost = 0;                // ... of which absent (or with another value) at the end
  std::size_t partial = 0;             // transactions with one of their two keys only
  std::size_t failed_but_present = 0;  // kBusy / kUnavailable, yet committed
  std::size_t unknown_present = 0, unknown_absent = 0;  // kCommitUnknown, resolved afterwards
  std::map<std::string, int> failures;                  // by error code name
  std::int64_t counter = 0;
  std::size_t pairs_present = 0;
  std::size_t revision_gaps = 0;
  bool history_replays_to_state = false;
  std::size_t config_acked = 0, watch_missed = 0, watch_repeated = 0;
  bool watch_in_order = true, watch_compacted = false;
  std::size_t reader_went_back = 0;
  std::vector<double> first_commit_ms;  // primary killed -> first acknowledged commit after
  std::vector<double> failover_ms, rebuild_ms;
};

// Runs the workload across kKills failovers of a pair made with `settings`, every store opened
// with `durability`; see the file comment.
Outcome RunFailovers(const PgFailoverPair::Settings& settings, Durability durability) {
  Outcome out;
  std::unique_ptr<PgFailoverPair> pair = PgFailoverPair::Start(settings);
  const std::string uri = pair->uri();
  Options options;
  options.busy_timeout = milliseconds(5000);
  options.durability = durability;
  auto store = Store::open(uri, options);  // creates the schema before the workers start

  std::vector<std::unique_ptr<Worker>> workers;
  for (int w = 0; w < kWorkers; ++w) {
    workers.push_back(std::make_unique<Worker>(uri, "w" + std::to_string(w), durability));
    EXPECT_TRUE(workers.back()->Start()) << "worker " << w << " did not start";
  }

  // This process: config writer, config watch, cached reader.
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::vector<std::pair<std::int64_t, SteadyClock::time_point>> config_acks;  // value, when
  std::vector<std::pair<Revision, std::int64_t>> watched;                     // revision, value
  Watch watch = store->config().watch("fo.", [&](const WatchEvent& e) {
    std::lock_guard<std::mutex> lock(mu);
    if (e.kind == WatchEvent::Kind::kCompacted) {
      out.watch_compacted = true;
      return;
    }
    for (const ConfigChange& c : e.changes) {
      if (c.key == "fo.k" && c.new_value) {
        watched.emplace_back(e.revision, c.new_value->as<std::int64_t>());
      }
    }
  });
  std::thread config_writer([&] {
    for (std::int64_t i = 1; !stop.load(); ++i) {
      try {
        store->config().set("fo.k", ConfigValue(i));
        std::lock_guard<std::mutex> lock(mu);
        config_acks.emplace_back(i, SteadyClock::now());
      } catch (const Error&) {
      }
      std::this_thread::sleep_for(milliseconds(5));
    }
  });
  std::atomic<std::size_t> went_back{0};
  std::thread reader([&] {
    std::int64_t last = 0;
    while (!stop.load()) {
      try {
        auto v = store->get("fo", "counter");
        const std::int64_t now = v ? v->as_int() : 0;
        if (now < last) ++went_back;
        last = std::max(last, now);
      } catch (const Error&) {
      }
      std::this_thread::sleep_for(milliseconds(1));
    }
  });

  auto wait_for_progress = [&](int more) {
    const auto deadline = SteadyClock::now() + std::chrono::seconds(60 * kSlowFactor);
    for (auto& w : workers) {
      const int target = w->acks() + more;
      while (w->acks() < target && SteadyClock::now() < deadline) {
        std::this_thread::sleep_for(milliseconds(5));
      }
      if (w->acks() < target) return false;
    }
    return true;
  };
  std::mt19937 random(std::random_device{}());
  bool progressed = wait_for_progress(20);
  EXPECT_TRUE(progressed) << "the workers made no progress before the first failover";
  for (int k = 0; k < kKills && progressed; ++k) {
    std::this_thread::sleep_for(milliseconds(random() % 300));  // a random point of the load
    pair->FailOver();
    const auto killed_at = pair->last_kill();
    out.failover_ms.push_back(static_cast<double>(pair->last_promote_time().count()));
    pair->RebuildStandby();
    out.rebuild_ms.push_back(static_cast<double>(pair->last_rebuild_time().count()));
    std::cout << "failover " << k << ": promoted " << out.failover_ms.back() << " ms after the kill"
              << ", standby rebuilt in " << out.rebuild_ms.back() << " ms\n";
    progressed = wait_for_progress(20);
    EXPECT_TRUE(progressed) << "the workers made no progress after failover " << k;
    std::lock_guard<std::mutex> lock(mu);
    for (const auto& [value, when] : config_acks) {
      if (when > killed_at) {
        out.first_commit_ms.push_back(MsBetween(killed_at, when));
        std::cout << "failover " << k << ": first commit " << out.first_commit_ms.back()
                  << " ms after the kill\n";
        break;
      }
    }
  }
  stop = true;
  config_writer.join();
  reader.join();
  for (auto& w : workers) EXPECT_TRUE(w->Stop()) << "a worker did not stop cleanly";
  out.reader_went_back = went_back.load();

  // The state, from the last primary.
  std::map<std::string, std::int64_t> state;
  for (const Entry& e : store->list("fo")) state[e.key] = e.value.as_int();
  out.counter = state.count("counter") ? state["counter"] : 0;
  out.pairs_present = (state.size() - state.count("counter")) / 2;
  for (int w = 0; w < kWorkers; ++w) {
    for (const std::string& line : workers[w]->lines()) {
      std::istringstream in(line);
      std::string what, code;
      int t = 0;
      std::int64_t n = 0;
      in >> what >> t >> n >> code;
      if (what != "ack" && what != "fail") continue;
      const std::string key =
          "w" + std::to_string(w) + "-" + std::to_string(t) + "-" + std::to_string(n) + "-";
      const auto a = state.find(key + "a"), b = state.find(key + "b");
      const bool has_a = a != state.end() && a->second == n;
      const bool has_b = b != state.end() && b->second == n;
      if (has_a != has_b) ++out.partial;
      if (what == "ack") {
        ++out.acked;
        if (!has_a || !has_b) ++out.lost;
      } else {
        ++out.failures[code];
        if (code == "commit_unknown") {
          ++(has_a ? out.unknown_present : out.unknown_absent);
        } else if (has_a || has_b) {
          ++out.failed_but_present;
        }
      }
    }
  }

  // History: gapless, and replaying it from the first revision gives the state of "fo".
  const HistoryBounds bounds = store->history_bounds();
  std::map<std::string, std::int64_t> replayed;
  bool complete = bounds.first == 1;
  for (Revision rev = bounds.first; rev <= bounds.head; ++rev) {
    std::optional<Commit> c = store->commit_at(rev);
    if (!c) {
      ++out.revision_gaps;
      complete = false;
      continue;
    }
    for (const Change& ch : c->changes) {
      if (ch.keyspace != "fo") continue;
      if (ch.new_value) {
        replayed[ch.key] = ch.new_value->as_int();
      } else {
        replayed.erase(ch.key);
      }
    }
  }
  out.history_replays_to_state = complete && replayed == state;

  // Config: every acknowledged value watched exactly once, in revision order.
  std::lock_guard<std::mutex> lock(mu);
  std::map<std::int64_t, int> seen;
  for (std::size_t i = 0; i < watched.size(); ++i) {
    ++seen[watched[i].second];
    if (i > 0 && watched[i].first <= watched[i - 1].first) out.watch_in_order = false;
  }
  out.config_acked = config_acks.size();
  for (const auto& [value, when] : config_acks) out.watch_missed += seen.count(value) == 0;
  for (const auto& [value, count] : seen) out.watch_repeated += count > 1 ? count - 1 : 0;

  std::cout << "failover: " << kKills << " kills; worker transactions acknowledged " << out.acked
            << ", lost " << out.lost << ", partial " << out.partial << "; failures:";
  for (const auto& [code, count] : out.failures) std::cout << " " << code << "=" << count;
  std::cout << " (commit_unknown resolved: present " << out.unknown_present << ", absent "
            << out.unknown_absent << "); counter " << out.counter << " vs " << out.pairs_present
            << " commits present; revision gaps " << out.revision_gaps << "; history replays "
            << (out.history_replays_to_state ? "to the state" : "NOT to the state")
            << "; config acknowledged " << out.config_acked << ", missed by the watch "
            << out.watch_missed << ", repeated " << out.watch_repeated
            << (out.watch_compacted ? ", compacted" : "") << "; cached reader went back "
            << out.reader_went_back << " times\n"
            << "failover: primary killed -> first commit p50 "
            << Percentile(out.first_commit_ms, 0.5) << " ms, max "
            << Percentile(out.first_commit_ms, 1.0) << " ms (promoted p50 "
            << Percentile(out.failover_ms, 0.5) << " ms; standby rebuild p50 "
            << Percentile(out.rebuild_ms, 0.5) << " ms)\n";
  return out;
}

std::string SkipReason() {
  std::string why;
  if (PgCluster::BinDir(&why).empty()) return why;
  return {};
}

TEST(PgFailoverTest, SynchronousStandbyFailoversLoseNoAcknowledgedCommit) {
  if (const std::string why = SkipReason(); !why.empty()) GTEST_SKIP() << why;
  const Outcome out = RunFailovers(PgFailoverPair::Settings{}, Durability::kFull);
  EXPECT_GT(out.acked, 0u);
  EXPECT_EQ(out.lost, 0u) << "acknowledged commits missing after a failover";
  EXPECT_EQ(out.partial, 0u);
  EXPECT_EQ(out.failed_but_present, 0u)
      << "a commit reported as failed (busy/unavailable) is there";
  EXPECT_EQ(out.counter, static_cast<std::int64_t>(out.pairs_present)) << "lost update";
  EXPECT_EQ(out.revision_gaps, 0u);
  EXPECT_TRUE(out.history_replays_to_state);
  EXPECT_GT(out.config_acked, 0u);
  EXPECT_EQ(out.watch_missed, 0u) << "acknowledged config values the watch never delivered";
  EXPECT_EQ(out.watch_repeated, 0u);
  EXPECT_TRUE(out.watch_in_order);
  EXPECT_FALSE(out.watch_compacted);
  EXPECT_EQ(out.reader_went_back, 0u);
  EXPECT_EQ(out.first_commit_ms.size(), static_cast<std::size_t>(kKills));
}

// The control: with synchronous_commit=off (Durability::kNormal) a commit is acknowledged before
// any server has it on disk, so killing the primary loses acknowledged commits, and the checks
// above must see it.
TEST(PgFailoverTest, WithoutSynchronousCommitTheChecksFindLostCommits) {
  if (const std::string why = SkipReason(); !why.empty()) GTEST_SKIP() << why;
  const Outcome out = RunFailovers(PgFailoverPair::Settings{}, Durability::kNormal);
  EXPECT_GT(out.acked, 0u);
  EXPECT_GT(out.lost, 0u) << "synchronous_commit=off lost nothing across " << kKills
                          << " kills: the failover test could not tell";
  // What is lost is lost whole, and no later commit built on a lost one: the writers' read caches
  // forgot what they had seen when their connections broke (ReadCache::Forget).
  EXPECT_EQ(out.partial, 0u);
  EXPECT_EQ(out.counter, static_cast<std::int64_t>(out.pairs_present)) << "lost update";
}

// A failover that loses commits reuses their revision numbers for other commits. A process that
// had read (and cached) a lost commit must not go on answering with it — not from get(), not
// inside a transaction body — even when the new primary's head has come back to the same
// revision, where a catch-up by revision would see nothing to do.
TEST(PgFailoverTest, CachesForgetCommitsAFailoverLost) {
  if (const std::string why = SkipReason(); !why.empty()) GTEST_SKIP() << why;
  PgFailoverPair::Settings settings;
  settings.synchronous = false;
  std::unique_ptr<PgFailoverPair> pair = PgFailoverPair::Start(settings);
  Options options;
  options.busy_timeout = milliseconds(5000);
  options.postgres.cache_reads_with_bounded_staleness = true;  // get() answers from the cache
  auto a = Store::open(pair->uri(), options);
  const Revision kept = a->put("app", "x", Value(1));
  pair->DetachStandby();
  const Revision lost = a->put("app", "x", Value(2));
  ASSERT_EQ(lost, kept + 1);
  ASSERT_EQ(a->get("app", "x"), Value(2));  // and cached
  ASSERT_EQ(a->get("app", "x"), Value(2));

  pair->FailOver();  // x = 2 is lost
  // Another process commits on the new primary: the same revision number, another commit.
  auto worker_says = [&](const std::vector<std::string>& args) {
    ChildProcess b = ChildProcess::SpawnWorker(args);
    auto line = b.ReadLine(kChildTimeout);
    b.Wait(kChildTimeout);
    return line.value_or("(nothing)");
  };
  ASSERT_EQ(worker_says({"get", pair->uri(), "app", "x"}), "value 1");
  ASSERT_EQ(worker_says({"put", pair->uri(), "app", "x", "3"}), "rev " + std::to_string(lost));
  // a's listener and writer reconnect to the new primary; from then on it reads 3.
  std::optional<Value> seen;
  const auto deadline = SteadyClock::now() + std::chrono::seconds(30);
  while (SteadyClock::now() < deadline) {
    try {
      seen = a->get("app", "x");
      if (seen == Value(3)) break;
    } catch (const Error&) {
    }
    std::this_thread::sleep_for(milliseconds(20));
  }
  EXPECT_EQ(seen, Value(3)) << "a still answers with the commit the failover lost";
  a->transact([](Transaction& tx) { tx.put("app", "x", tx.get("app", "x")->as_int() + 1); });
  EXPECT_EQ(a->get("app", "x"), Value(4));
  EXPECT_EQ(worker_says({"get", pair->uri(), "app", "x"}), "value 4");
}

}  // namespace
}  // namespace statestore::test

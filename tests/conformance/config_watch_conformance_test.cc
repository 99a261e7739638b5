// Conformance: config watches and concurrent config access (label concurrency; also run under
// TSan):
//   * 4 writer threads and another process commit 5,000 config changes; a watcher on the prefix
//     gets each exactly once, in revision order; a watcher restarted (after reopening the store)
//     from revision R + 1 gets exactly the changes after R;
//   * a watcher under churn of another keyspace by its own process still gets every change
//     another process commits in between;
//   * a watcher asking for a compacted revision gets an explicit kCompacted event;
//   * a callback that sleeps or throws does not block writers or other watchers (writer latency
//     is measured with and without such watchers and printed);
//   * a Watch destroyed from inside its own callback does not deadlock;
//   * 8 reader threads never see part of a multi-key edit.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "conformance/conformance_test.h"
#include "statestore/statestore.h"
#include "test_util.h"

namespace statestore {
namespace {

using Ms = std::chrono::milliseconds;
using test::ChildProcess;
using test::kSlowFactor;

Options FastOptions() {
  Options options;
  options.durability = Durability::kNormal;
  return options;
}

// Waits until `pred` holds or `timeout` passes; returns pred().
template <typename Pred>
bool WaitFor(Pred pred, Ms timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return pred();
    std::this_thread::sleep_for(Ms(2));
  }
  return true;
}

struct Seen {
  Revision revision;
  std::string key;
  std::int64_t value;  // -1: erased
};

// Collects events of one watch.
class WatchRecorder {
 public:
  WatchCallback Callback() {
    return [this](const WatchEvent& ev) {
      const double lag_ms =
          std::chrono::duration<double, std::milli>(Clock::now() - ev.time).count();
      std::lock_guard lock(mu_);
      events_.push_back(ev);
      lags_ms_.push_back(lag_ms);
    };
  }
  std::vector<WatchEvent> events() {
    std::lock_guard lock(mu_);
    return events_;
  }
  // Commit time to callback, per event (wall clock).
  std::vector<double> lags_ms() {
    std::lock_guard lock(mu_);
    return lags_ms_;
  }
  std::vector<Seen> changes() {
    std::vector<Seen> out;
    for (const auto& ev : events()) {
      for (const auto& c : ev.changes) {
        out.push_back(Seen{ev.revision, c.key,
                           c.new_value ? c.new_value->as<std::int64_t>() : std::int64_t{-1}});
      }
    }
    return out;
  }

 private:
  std::mutex mu_;
  std::vector<WatchEvent> events_;
  std::vector<double> lags_ms_;
};

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

class ConfigWatchConformance : public test::ConformanceTest {};

// Test 3: 4 threads + 1 process, 5,000 changes; exactly once, in order; restart from R.
TEST_P(ConfigWatchConformance, DeliversEveryChangeOnceInOrderAcrossThreadsAndProcesses) {
  CONFORMANCE_REQUIRE(test::Capability::kMultiProcess);
  const std::string db = locator();
  const int kTotal = 5000;  // as the issue asks; ~4 s under TSan on 2 cores
  const int kThreads = 4;
  const int kPerSource = kTotal / (kThreads + 1);

  auto store = OpenSecond(FastOptions());
  Config& config = store->config();
  config.set("w.before", 1);  // before the watch: not delivered
  WatchRecorder all, only_t0;
  Watch watch_all = config.watch("w.", all.Callback());
  Watch watch_t0 = config.watch("w.t0.", only_t0.Callback());

  ChildProcess child =
      ChildProcess::SpawnWorker({"config-set", db, "w.p", std::to_string(kPerSource), "--wait-go"});
  ASSERT_TRUE(child.WaitForLine("ready", Ms(10000 * kSlowFactor)));
  std::atomic<bool> go{false};
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      while (!go.load()) std::this_thread::yield();
      const std::string prefix = "w.t" + std::to_string(t) + ".k";
      for (int i = 0; i < kPerSource; ++i) {
        config.set(prefix + std::to_string(i % 10), i);
        if (t == 0 && i % 50 == 0) {
          config.set("other.noise", i);   // outside the prefix
          store->put("app", "noise", i);  // another keyspace
        }
      }
    });
  }
  go.store(true);
  ASSERT_TRUE(child.Write("go\n"));
  for (auto& w : writers) w.join();
  ASSERT_TRUE(child.WaitForLine("done", Ms(120000 * kSlowFactor)));
  EXPECT_EQ(child.Wait(Ms(10000)), 0);

  const Revision head = store->history_bounds().head;
  ASSERT_TRUE(
      WaitFor([&] { return watch_all.delivered_through() >= head; }, Ms(30000 * kSlowFactor)))
      << watch_all.delivered_through() << " < " << head;
  ASSERT_TRUE(
      WaitFor([&] { return watch_t0.delivered_through() >= head; }, Ms(30000 * kSlowFactor)));

  // Exactly once, in revision order: each source's values arrive as 0, 1, 2, ... with no gap or
  // repeat, and revisions strictly increase.
  auto seen = all.changes();
  ASSERT_EQ(seen.size(), static_cast<std::size_t>(kPerSource * (kThreads + 1)));
  std::map<std::string, std::int64_t> next_value;  // per source
  Revision last = 0;
  for (const auto& s : seen) {
    EXPECT_GE(s.revision, last);
    last = s.revision;
    const std::string source = s.key.substr(0, s.key.rfind('.'));
    EXPECT_EQ(s.value, next_value[source]) << s.key << " at r" << s.revision;
    next_value[source] = s.value + 1;
  }
  for (const auto& [source, n] : next_value) EXPECT_EQ(n, kPerSource) << source;
  EXPECT_EQ(next_value.size(), static_cast<std::size_t>(kThreads + 1));
  auto events = all.events();
  for (std::size_t i = 1; i < events.size(); ++i) {
    ASSERT_LT(events[i - 1].revision, events[i].revision);  // one event per revision
  }
  // The event revisions are exactly history's revisions with a change under the prefix.
  HistoryQuery q;
  q.keyspace = "config";
  q.key_prefix = "override/w.";
  q.from_revision = events.front().revision;
  auto commits = store->history(q);
  ASSERT_EQ(commits.size(), events.size());
  for (std::size_t i = 0; i < commits.size(); ++i) {
    ASSERT_EQ(commits[i].revision, events[i].revision);
  }
  // The narrower watch got exactly thread 0's changes.
  auto t0 = only_t0.changes();
  ASSERT_EQ(t0.size(), static_cast<std::size_t>(kPerSource));
  for (const auto& s : t0) EXPECT_EQ(s.key.rfind("w.t0.", 0), 0u) << s.key;
  EXPECT_EQ(watch_all.callback_failures(), 0u);

  // Restart: close everything, reopen, and resume from R + 1 (R = a revision in the middle).
  const Revision r = events[events.size() / 2].revision;
  std::vector<Seen> expected;
  for (const auto& s : seen) {
    if (s.revision > r) expected.push_back(s);
  }
  watch_all.cancel();
  watch_t0.cancel();
  store.reset();
  store = OpenSecond(FastOptions());
  WatchRecorder resumed;
  Watch watch_resumed = store->config().watch("w.", resumed.Callback(), r + 1);
  ASSERT_TRUE(
      WaitFor([&] { return watch_resumed.delivered_through() >= head; }, Ms(30000 * kSlowFactor)));
  auto got = resumed.changes();
  ASSERT_EQ(got.size(), expected.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].revision, expected[i].revision);
    EXPECT_EQ(got[i].key, expected[i].key);
    EXPECT_EQ(got[i].value, expected[i].value);
  }
}

// Under churn of another keyspace by this process a watch reads no history for the churn
// (Store::known_unchanged, local_commit_log.h) — and still gets every config change another
// process commits in between, and this process's own, in order.
TEST_P(ConfigWatchConformance, ChurnOfAnotherKeyspaceHidesNoChangeFromAnotherProcess) {
  CONFORMANCE_REQUIRE(test::Capability::kMultiProcess);
  const std::string db = locator();
  const int kForeign = 300;
  auto store = OpenSecond(FastOptions());
  WatchRecorder recorder;
  Watch watch = store->config().watch("w.", recorder.Callback());

  ChildProcess child =
      ChildProcess::SpawnWorker({"config-set", db, "w.p", std::to_string(kForeign), "--wait-go"});
  ASSERT_TRUE(child.WaitForLine("ready", Ms(10000 * kSlowFactor)));
  std::atomic<bool> stop{false};
  std::vector<std::thread> churn;
  for (int t = 0; t < 2; ++t) {
    churn.emplace_back([&, t] {
      for (std::int64_t i = 0; !stop.load(); ++i) {
        store->put("churn", "t" + std::to_string(t), i);
        if (t == 0 && i % 100 == 0) store->config().set("w.own.k", i / 100);
      }
    });
  }
  ASSERT_TRUE(child.Write("go\n"));
  const bool done = child.WaitForLine("done", Ms(120000 * kSlowFactor));
  stop.store(true);
  for (auto& t : churn) t.join();
  ASSERT_TRUE(done);
  EXPECT_EQ(child.Wait(Ms(10000)), 0);

  const Revision head = store->history_bounds().head;
  ASSERT_TRUE(WaitFor([&] { return watch.delivered_through() >= head; }, Ms(30000 * kSlowFactor)))
      << watch.delivered_through() << " < " << head;
  std::map<std::string, std::int64_t> next_value;  // per source: w.p (the child), w.own
  Revision last = 0;
  for (const Seen& s : recorder.changes()) {
    EXPECT_GT(s.revision, last);
    last = s.revision;
    const std::string source = s.key.substr(0, s.key.rfind('.'));
    EXPECT_EQ(s.value, next_value[source]) << s.key << " at r" << s.revision;
    next_value[source] = s.value + 1;
  }
  EXPECT_EQ(next_value["w.p"], kForeign);
  // Exactly history's config changes under the prefix, no more, no fewer.
  HistoryQuery q;
  q.keyspace = "config";
  q.key_prefix = "override/w.";
  std::size_t in_history = 0;
  for (const Commit& c : store->history(q)) in_history += c.changes.size();
  EXPECT_EQ(recorder.changes().size(), in_history);
  EXPECT_GT(next_value["w.own"], 0);
}

TEST_P(ConfigWatchConformance, CompactedRevisionIsReportedExplicitly) {
  Options options = FastOptions();
  options.history_retention.keep_revisions = 10;
  auto store = OpenSecond(options);
  for (int i = 0; i < 40; ++i) store->config().set("c.k", i);
  store->compact_history();
  const HistoryBounds b = store->history_bounds();
  ASSERT_GE(b.compacted_through, 3u);

  WatchRecorder rec;
  Watch w = store->config().watch("c.", rec.Callback(), 3);
  ASSERT_TRUE(WaitFor([&] { return !rec.events().empty(); }, Ms(10000 * kSlowFactor)));
  ASSERT_TRUE(WaitFor([&] { return !w.active(); }, Ms(10000 * kSlowFactor)));
  auto events = rec.events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind, WatchEvent::Kind::kCompacted);
  EXPECT_EQ(events[0].revision, 3u);
  EXPECT_GE(events[0].compacted_through, b.compacted_through);
  // Nothing more arrives after the compacted event.
  store->config().set("c.k", 100);
  std::this_thread::sleep_for(Ms(50));
  EXPECT_EQ(rec.events().size(), 1u);

  // From the first retained revision the backlog is delivered normally.
  WatchRecorder ok;
  Watch w2 = store->config().watch("c.", ok.Callback(), b.compacted_through + 1);
  const Revision head = store->history_bounds().head;
  ASSERT_TRUE(WaitFor([&] { return w2.delivered_through() >= head; }, Ms(10000 * kSlowFactor)));
  EXPECT_EQ(ok.events().size(), head - b.compacted_through);
  EXPECT_EQ(ok.events().front().kind, WatchEvent::Kind::kChanges);
}

// Test 4: slow and throwing callbacks isolate: writers and other watchers keep going.
TEST_P(ConfigWatchConformance, SlowOrThrowingCallbackBlocksNeitherWritersNorOtherWatchers) {
  auto store = OpenSecond(FastOptions());
  Config& config = store->config();
  const int kWrites = 200;
  const Ms kSleep(100);

  auto measure = [&](const char* phase) {
    std::vector<double> ms;
    for (int i = 0; i < kWrites; ++i) {
      auto t0 = std::chrono::steady_clock::now();
      config.set("iso.k" + std::to_string(i % 5), i);
      ms.push_back(
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    double total = 0;
    for (double x : ms) total += x;
    std::cout << "[ writer latency " << phase << " ] " << kWrites << " commits: p50 "
              << Percentile(ms, 0.5) << " ms, p99 " << Percentile(ms, 0.99) << " ms, max "
              << *std::max_element(ms.begin(), ms.end()) << " ms, total " << total << " ms"
              << std::endl;
    return std::pair<double, double>(Percentile(ms, 0.99), total);
  };

  auto [baseline_p99, baseline_total] = measure("without watchers");

  std::atomic<int> slow_calls{0};
  Watch slow = config.watch("iso.", [&](const WatchEvent&) {
    slow_calls.fetch_add(1);
    std::this_thread::sleep_for(kSleep);
  });
  Watch throwing =
      config.watch("iso.", [](const WatchEvent&) { throw std::runtime_error("callback bug"); });
  WatchRecorder normal;
  Watch healthy = config.watch("iso.", normal.Callback());

  const Revision start = store->history_bounds().head;
  auto [with_p99, with_total] = measure("with a 100 ms-sleeping and a throwing watcher");
  const Revision head = store->history_bounds().head;

  // The healthy watcher caught up long before the sleeper could have (it needs 20 s).
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(WaitFor([&] { return healthy.delivered_through() >= head; }, Ms(5000 * kSlowFactor)));
  const double healthy_lag_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(
      WaitFor([&] { return throwing.delivered_through() >= head; }, Ms(5000 * kSlowFactor)));
  const auto lags = normal.lags_ms();
  std::cout << "[ watcher isolation ] healthy watcher: commit-to-callback lag p50 "
            << Percentile(lags, 0.5) << " ms, p99 " << Percentile(lags, 0.99) << " ms, max "
            << (lags.empty() ? 0 : *std::max_element(lags.begin(), lags.end())) << " ms; caught up "
            << healthy_lag_ms
            << " ms after the last commit returned; the sleeping watcher had delivered "
            << slow_calls.load() << " of " << (head - start) << " revisions" << std::endl;
  EXPECT_EQ(normal.events().size(), head - start);
  EXPECT_EQ(throwing.callback_failures(), head - start);
  EXPECT_TRUE(throwing.active());  // a throwing callback does not kill its watch
  EXPECT_LT(slow.delivered_through(), head);
  EXPECT_LT(slow_calls.load(), kWrites / 2);
  // Writers did not wait for the sleeper: had they, the run would take kWrites * 100 ms = 20 s.
  EXPECT_LT(with_total, kWrites * kSleep.count() / 4.0);
  EXPECT_LT(with_p99, kSleep.count() * 0.9 * (test::kUnderSanitizer ? 3 : 1));
  (void)baseline_p99;
  (void)baseline_total;

  // Cancelling the sleeper waits for at most its current callback.
  const auto c0 = std::chrono::steady_clock::now();
  slow.cancel();
  EXPECT_LT(std::chrono::steady_clock::now() - c0, kSleep * 3 * kSlowFactor);
  EXPECT_FALSE(slow.active());
}

TEST_P(ConfigWatchConformance, WatchDestroyedInsideItsOwnCallbackDoesNotDeadlock) {
  auto store = OpenSecond(FastOptions());
  std::mutex mu;
  std::unique_ptr<Watch> watch;
  std::atomic<int> calls{0};
  {
    std::lock_guard lock(mu);
    watch = std::make_unique<Watch>(store->config().watch("s.", [&](const WatchEvent&) {
      calls.fetch_add(1);
      std::unique_ptr<Watch> self;
      {
        std::lock_guard lock(mu);
        self = std::move(watch);
      }
      self.reset();  // ~Watch on the watch's own thread
    }));
  }
  store->config().set("s.a", 1);
  ASSERT_TRUE(WaitFor([&] { return calls.load() == 1; }, Ms(5000 * kSlowFactor)));
  store->config().set("s.a", 2);
  store->config().set("s.a", 3);
  std::this_thread::sleep_for(Ms(50));
  EXPECT_EQ(calls.load(), 1);
  // Further watches still work, and the store closes cleanly (the parked thread is joined).
  WatchRecorder rec;
  Watch other = store->config().watch("s.", rec.Callback());
  const Revision r = store->config().set("s.a", 4);
  ASSERT_TRUE(WaitFor([&] { return other.delivered_through() >= r; }, Ms(5000 * kSlowFactor)));
  EXPECT_EQ(rec.changes().size(), 1u);
  store.reset();
  EXPECT_FALSE(other.active());  // the Store closed; the handle stays safe to destroy
}

// Test 6: readers in 8 threads see a multi-key edit entirely or not at all; watches deliver it
// as one event.
TEST_P(ConfigWatchConformance, ReadersNeverSeeATornMultiKeyEdit) {
  auto store = OpenSecond(FastOptions());
  Config& config = store->config();
  const int kEdits = 600;
  config.transact([](ConfigTransaction& tx) {
    tx.set("x.a", 0);
    tx.set("x.b", 0);
    tx.set("x.c", 0, ConfigLayer::kOverrides);
  });
  WatchRecorder rec;
  Watch w = config.watch("x.", rec.Callback());

  std::atomic<bool> done{false};
  std::atomic<std::int64_t> torn{0};
  std::atomic<std::int64_t> reads{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 8; ++t) {
    readers.emplace_back([&, t] {
      Revision last_rev = 0;
      std::int64_t last_a = 0;
      while (!done.load()) {
        if (t % 2 == 0) {
          ConfigView v = config.view();
          auto a = v.get<std::int64_t>("x.a"), b = v.get<std::int64_t>("x.b"),
               c = v.get<std::int64_t>("x.c");
          if (a != b || b != c) torn.fetch_add(1);
          if (v.revision() < last_rev || a.value_or(0) < last_a) torn.fetch_add(1);
          last_rev = v.revision();
          last_a = a.value_or(0);
        } else {
          auto entries = config.list("x.");
          if (entries.size() != 3 || entries[0].value != entries[1].value ||
              entries[1].value != entries[2].value) {
            torn.fetch_add(1);
          }
        }
        reads.fetch_add(1);
      }
    });
  }
  Revision last = 0;
  for (int i = 1; i <= kEdits; ++i) {
    last = config.transact([i](ConfigTransaction& tx) {
      tx.set("x.a", i);
      tx.set("x.b", i);
      tx.set("x.c", i);
    });
  }
  done.store(true);
  for (auto& r : readers) r.join();
  EXPECT_EQ(torn.load(), 0);
  EXPECT_GT(reads.load(), 0);
  std::cout << "[ torn-read check ] " << reads.load() << " snapshot reads by 8 threads during "
            << kEdits << " three-key edits" << std::endl;
  ASSERT_TRUE(WaitFor([&] { return w.delivered_through() >= last; }, Ms(10000 * kSlowFactor)));
  auto events = rec.events();
  ASSERT_EQ(events.size(), static_cast<std::size_t>(kEdits));
  for (const auto& ev : events) EXPECT_EQ(ev.changes.size(), 3u);
}

STATESTORE_CONFORMANCE_SUITE(ConfigWatchConformance);

}  // namespace
}  // namespace statestore

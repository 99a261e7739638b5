// Conformance: sessions under concurrency — many threads updating one session lose nothing (issue
// test 1), two processes neither (test 2), concurrent readers touch a session once, sweeps run
// beside readers and writers and beside each other, and the Store's background reaper sweeps and
// stops.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "conformance/conformance_test.h"
#include "statestore/statestore.h"
#include "test_util.h"

namespace statestore {
namespace {

using std::chrono::hours;
using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;
using test::ChildProcess;

const Clock::time_point kSessionsT0 = Clock::time_point(seconds(1'893'456'000));  // 2030-01-01
const milliseconds kSessionChildTimeout(120'000 * test::kSlowFactor);

class FakeClock {
 public:
  explicit FakeClock(Clock::time_point start)
      : us_(std::chrono::duration_cast<microseconds>(start.time_since_epoch()).count()) {}
  Clock::time_point now() const { return Clock::time_point(microseconds(us_.load())); }
  void advance(microseconds d) { us_ += d.count(); }
  std::function<Clock::time_point()> fn() {
    return [this] { return now(); };
  }

 private:
  std::atomic<std::int64_t> us_;
};

class SessionConcurrencyConformance : public test::ConformanceTest {
 protected:
  void Open(const std::function<void(Options&)>& edit = nullptr) {
    Options options;
    options.sessions.clock = clock_.fn();
    options.sessions.sweep_interval = milliseconds(0);
    if (edit) edit(options);
    Reopen(options);
  }
  Sessions& sessions() { return store()->sessions(); }
  std::size_t Keys(std::string_view prefix) {
    return store()->list(kSessionsKeyspace, prefix).size();
  }
  // Creates `n` sessions with `ttl` in transactions of 2,000.
  std::vector<std::string> CreateMany(int n, microseconds ttl, const std::string& principal = "") {
    std::vector<std::string> all;
    for (int done = 0; done < n;) {
      const int chunk = std::min(2000, n - done);
      std::vector<std::string> tokens;
      store()->transact([&](Transaction& tx) {
        tokens.clear();
        for (int i = 0; i < chunk; ++i) {
          tokens.push_back(
              sessions().create(tx, NewSession{ttl, {{"i", Value(i)}}, principal, {}}));
        }
      });
      all.insert(all.end(), tokens.begin(), tokens.end());
      done += chunk;
    }
    return all;
  }

  // The fixture's TearDown closes the store (and its reaper) before clock_ goes.
  FakeClock clock_{kSessionsT0};
};

// Issue test 1.
TEST_P(SessionConcurrencyConformance, SixteenThreadsUpdatingOneAttributeLoseNothing) {
  Open();
  constexpr int kThreads = 16;
  constexpr int kPerThread = 500;
  const std::string token = sessions().create(hours(1), {{"n", Value(0)}, {"other", Value("x")}});
  test::ThreadErrors failures;
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      ++ready;
      while (ready.load() < kThreads) std::this_thread::yield();
      for (int i = 0; i < kPerThread; ++i) {
        try {
          bool live = sessions().update(
              token, [](Attributes& a) { a["n"] = Value(a.at("n").as_int() + 1); });
          if (!live) failures.Add("session not live");
        } catch (const std::exception& e) {
          failures.Add(e.what());
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_EQ(failures.count(), 0) << failures.Summary();
  auto s = sessions().get(token);
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->attributes.at("n"), Value(kThreads * kPerThread));
  EXPECT_EQ(s->attributes.at("other"), Value("x"));
  EXPECT_EQ(store()->stats().busy_retries, 0u);
}

// Issue test 2.
TEST_P(SessionConcurrencyConformance, TwoProcessesUpdatingOneSessionLoseNothing) {
  const int kPerWriter = test::kUnderSanitizer ? 300 : 1000;
  CONFORMANCE_REQUIRE(test::Capability::kMultiProcess);
  std::string token;
  {
    Options options;
    options.sessions.sweep_interval = milliseconds(0);
    auto store = OpenSecond(options);  // the system clock: the workers use it too
    token = store->sessions().create(hours(1), {{"n", Value(0)}});
  }
  std::vector<ChildProcess> workers;
  for (int p = 0; p < 2; ++p) {
    workers.push_back(ChildProcess::SpawnWorker(
        {"session-update", locator(), token, "n", std::to_string(kPerWriter), "--wait-go"}));
  }
  for (auto& w : workers) {
    std::string skipped;
    ASSERT_TRUE(w.WaitForLine("ready", kSessionChildTimeout, &skipped)) << skipped;
  }
  // This process updates too, at the same time.
  Options options;
  options.sessions.sweep_interval = milliseconds(0);
  auto store = OpenSecond(options);
  for (auto& w : workers) ASSERT_TRUE(w.Write("go\n"));
  for (int i = 0; i < kPerWriter; ++i) {
    ASSERT_TRUE(store->sessions().update(
        token, [](Attributes& a) { a["n"] = Value(a.at("n").as_int() + 1); }));
  }
  for (auto& w : workers) {
    std::string out = w.ReadAll(kSessionChildTimeout);
    EXPECT_EQ(w.Wait(kSessionChildTimeout), 0) << out;
    EXPECT_EQ(out, "done\n");
  }
  // Read through this process's cache: it must see the other processes' commits.
  EXPECT_EQ(store->sessions().get_attribute(token, "n"),
            std::optional<Value>(Value(3 * kPerWriter)));
}

TEST_P(SessionConcurrencyConformance, ConcurrentReadersTouchOnce) {
  Open();
  const std::string token = sessions().create(minutes(10), {{"a", Value(1)}});
  clock_.advance(minutes(5));  // a touch is due for everyone
  const Revision head = store()->history_bounds().head;
  constexpr int kThreads = 8;
  test::ThreadErrors failures;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        auto s = sessions().get(token);
        if (!s || s->attributes.at("a") != Value(1)) failures.Add("bad read");
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.count(), 0) << failures.Summary();
  EXPECT_EQ(store()->history_bounds().head, head + 1);  // re-checked under the write lock
  EXPECT_EQ(sessions().get(token)->idle_expiry, kSessionsT0 + minutes(15));
}

TEST_P(SessionConcurrencyConformance, SweepBesideReadersAndWriters) {
  Open([](Options& o) { o.sessions.sweep_batch = 64; });
  const int kExpired = test::kUnderSanitizer ? 2000 : 10000;
  constexpr int kLive = 200;
  CreateMany(kExpired, minutes(1), "gone");
  const std::vector<std::string> live = CreateMany(kLive, hours(1), "staying");
  clock_.advance(minutes(5));

  std::atomic<bool> done{false};
  test::ThreadErrors failures;
  std::atomic<std::uint64_t> reads{0}, writes{0};
  std::vector<std::thread> threads;
  for (int r = 0; r < 2; ++r) {
    threads.emplace_back([&, r] {
      std::size_t i = r;
      while (!done.load()) {
        try {
          if (!sessions().exists(live[i % live.size()])) failures.Add("live session absent");
        } catch (const std::exception& e) {
          failures.Add(e.what());
        }
        i += 7;
        ++reads;
      }
    });
  }
  threads.emplace_back([&] {
    std::size_t i = 0;
    while (!done.load()) {
      try {
        ++i;
        if (!sessions().set_attribute(live[i % live.size()], "w", Value(static_cast<long>(i)))) {
          failures.Add("write to live session refused");
        }
      } catch (const std::exception& e) {
        failures.Add(e.what());
      }
      ++writes;
    }
  });
  std::uint64_t removed = 0;
  try {
    removed = sessions().sweep();
  } catch (...) {
    done = true;
    for (auto& th : threads) th.join();
    throw;
  }
  done = true;
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.count(), 0) << failures.Summary();
  EXPECT_EQ(removed, static_cast<std::uint64_t>(kExpired));
  EXPECT_EQ(Keys("s/"), static_cast<std::size_t>(kLive));
  EXPECT_EQ(Keys("x/"), static_cast<std::size_t>(kLive));
  EXPECT_EQ(Keys("p/"), static_cast<std::size_t>(kLive));
  EXPECT_EQ(sessions().count(), static_cast<std::uint64_t>(kLive));
  EXPECT_GT(reads.load(), 0u);
  EXPECT_GT(writes.load(), 0u);
  EXPECT_GE(store()->stats().sweep_runs, static_cast<std::uint64_t>(kExpired / 64));
}

TEST_P(SessionConcurrencyConformance, ConcurrentSweepsRemoveEachSessionOnce) {
  Open([](Options& o) { o.sessions.sweep_batch = 50; });
  const int kExpired = test::kUnderSanitizer ? 1000 : 4000;
  CreateMany(kExpired, minutes(1), "p");
  CreateMany(100, hours(1));
  clock_.advance(minutes(2));
  std::atomic<std::uint64_t> total{0};
  test::ThreadErrors failures;
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&] {
      try {
        total += sessions().sweep();
      } catch (const std::exception& e) {
        failures.Add(e.what());
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_EQ(failures.count(), 0) << failures.Summary();
  EXPECT_EQ(total.load(), static_cast<std::uint64_t>(kExpired));
  EXPECT_EQ(sessions().count(), 100u);
  EXPECT_EQ(Keys("s/"), 100u);
  EXPECT_EQ(Keys("p/"), 0u);
  EXPECT_EQ(store()->get(kSessionsKeyspace, "count"), std::optional<Value>(Value(100)));
}

TEST_P(SessionConcurrencyConformance, BackgroundReaperSweepsExpiredSessions) {
  Open([](Options& o) { o.sessions.sweep_interval = milliseconds(10); });
  const std::vector<std::string> live = CreateMany(20, hours(1));
  CreateMany(300, minutes(1));
  EXPECT_EQ(Keys("s/"), 320u);
  clock_.advance(minutes(2));
  const auto deadline = std::chrono::steady_clock::now() + seconds(20 * test::kSlowFactor);
  while (Keys("s/") != 20u && std::chrono::steady_clock::now() < deadline) {
    for (const auto& t : live) ASSERT_TRUE(sessions().exists(t));
    std::this_thread::sleep_for(milliseconds(5));
  }
  EXPECT_EQ(Keys("s/"), 20u);
  EXPECT_EQ(Keys("x/"), 20u);
  EXPECT_GE(store()->stats().sweep_runs, 1u);
  EXPECT_EQ(sessions().count(), 20u);
  // Closing stops and joins the reaper (it may be sweeping again right now).
  Close();
}

TEST_P(SessionConcurrencyConformance, ClosingTheStoreStopsAnIdleReaperAtOnce) {
  Open([](Options& o) { o.sessions.sweep_interval = hours(1); });
  sessions().create(minutes(1));
  const auto start = std::chrono::steady_clock::now();
  Close();
  EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(2 * test::kSlowFactor));
}

STATESTORE_CONFORMANCE_SUITE(SessionConcurrencyConformance);

}  // namespace
}  // namespace statestore

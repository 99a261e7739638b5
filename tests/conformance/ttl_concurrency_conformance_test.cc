// Conformance: time-to-live under concurrent writers (issue 16, "what it must show" 2; label
// concurrency, also run under TSan), on every engine: 16 threads count requests in rate-limit
// windows — one key with a 1 s TTL, opened with a write of 1 and incremented with keep_ttl — while
// an injected clock moves and the expiry sweep races the writers. History must show every window
// counted exactly: no increment lost, none counted into a window after its deadline, each expiry
// removing its window's last count at that window's deadline.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <iostream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "conformance/conformance_test.h"
#include "manual_clock.h"
#include "statestore/statestore.h"
#include "test_util.h"

namespace statestore {
namespace {

using std::chrono::milliseconds;
using test::ManualClock;

class TtlConcurrencyConformance : public test::ConformanceTest {
 protected:
  void SetUp() override {
    ConformanceTest::SetUp();
    if (IsSkipped()) return;
    CONFORMANCE_REQUIRE(test::Capability::kInjectedClock);
  }

  // Increments per thread: 16 x 1,000 as the issue asks (measured in the dev build: ~0.7 s on
  // SQLite, ~3.6 s on PostgreSQL, where every body's get_entry and put are round trips inside
  // the group's transaction); under a sanitizer 16 x 150 on SQLite and 16 x 100 on PostgreSQL,
  // whose client side the sanitizer slows several-fold, to stay well under ~20 s.
  int PerThread() const {
    if (!test::kUnderSanitizer) return 1000;
    return engine().name() == "postgresql" ? 100 : 150;
  }

  ManualClock clock_{test::kManualClockStart};
};

TEST_P(TtlConcurrencyConformance, RateLimitWindowsCountExactlyUnderAMovingClock) {
  constexpr int kThreads = 16;
  const int per_thread = PerThread();
  constexpr milliseconds kWindow{1000};
  Options options;
  options.clock = clock_.function();
  options.durability = Durability::kNormal;         // the test is about counting, not fsync
  options.expiry_sweep_interval = milliseconds(5);  // the sweep races the writers too
  options.sessions.sweep_interval = milliseconds(0);
  Reopen(options);

  // The clock moves 10 ms per real millisecond: a window lasts about 100 ms of the run.
  std::atomic<bool> done{false};
  std::thread mover([&] {
    while (!done.load()) {
      clock_.advance(milliseconds(10));
      std::this_thread::sleep_for(milliseconds(1));
    }
  });
  test::ThreadErrors errors;
  std::vector<std::thread> threads;
  std::atomic<int> increments{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      try {
        for (int i = 0; i < per_thread; ++i) {
          store()->transact([&](Transaction& tx) {
            std::optional<Entry> e = tx.get_entry("rate", "client-1");
            PutOptions o;
            if (!e) {
              o.ttl = kWindow;
              tx.put("rate", "client-1", Value(1), o);
            } else {
              o.keep_ttl = true;
              tx.put("rate", "client-1", Value(e->value.as_int() + 1), o);
            }
          });
          increments.fetch_add(1);
        }
      } catch (const std::exception& e) {
        errors.Add(e.what());
      }
    });
  }
  for (auto& t : threads) t.join();
  done.store(true);
  mover.join();
  ASSERT_EQ(errors.count(), 0) << errors.Summary();
  ASSERT_EQ(increments.load(), kThreads * per_thread);

  // Walk the key's history in order. A window opens with a write of 1 whose deadline is the
  // window's end; every later write until the next 1 adds exactly one and keeps the deadline; a
  // new window opens no earlier than the last one's deadline; an expiry removes the last count
  // of its window.
  HistoryQuery q;
  q.keyspace = "rate";
  std::int64_t counted = 0, current = 0;
  int windows = 0, expiries = 0;
  std::optional<Clock::time_point> deadline;
  for (const Commit& c : store()->history(q)) {
    for (const Change& ch : c.changes) {
      if (ch.kind == ChangeKind::kExpiry) {
        ++expiries;
        ASSERT_TRUE(deadline.has_value());
        EXPECT_EQ(ch.expires_at, deadline) << "revision " << c.revision;
        EXPECT_EQ(ch.old_value, Value(static_cast<std::int64_t>(current)))
            << "revision " << c.revision;
        EXPECT_EQ(ch.new_value, std::nullopt) << "revision " << c.revision;
        EXPECT_GE(c.time, *deadline) << "revision " << c.revision << ": expired before its end";
        continue;
      }
      ASSERT_TRUE(ch.new_value.has_value()) << "revision " << c.revision;
      ASSERT_TRUE(ch.expires_at.has_value()) << "revision " << c.revision;
      const std::int64_t v = ch.new_value->as_int();
      if (v == 1) {
        if (deadline) {
          EXPECT_GE(*ch.expires_at - kWindow, *deadline)
              << "revision " << c.revision << ": a window opened before the last one ended";
        }
        counted += current;
        current = 1;
        deadline = ch.expires_at;
        ++windows;
        EXPECT_EQ(ch.old_value, std::nullopt) << "revision " << c.revision;
      } else {
        EXPECT_EQ(v, current + 1) << "revision " << c.revision << ": an increment was lost";
        EXPECT_EQ(ch.expires_at, deadline)
            << "revision " << c.revision << ": keep_ttl moved the deadline";
        current = v;
      }
    }
  }
  counted += current;
  EXPECT_EQ(counted, kThreads * per_thread);
  EXPECT_GE(windows, 2) << "the clock never closed a window: the test checked nothing";
  std::cout << windows << " windows, " << expiries << " expiries recorded, "
            << store()->stats().keys_expired << " by the sweep\n";
}

STATESTORE_CONFORMANCE_SUITE(TtlConcurrencyConformance);

}  // namespace
}  // namespace statestore

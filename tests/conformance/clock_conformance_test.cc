// Conformance: Options::clock, one injectable wall clock for everything a Store stamps or compares
// with stored times — commit times, keep_for retention, session expiry (unless
// SessionOptions::clock).
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <gtest/gtest.h>

#include "conformance/conformance_test.h"
#include "manual_clock.h"
#include "statestore/statestore.h"
#include "test_util.h"

namespace statestore {
namespace {

using test::ManualClock;

const Clock::time_point kStart = test::kManualClockStart;

class ClockConformance : public test::ConformanceTest {
 protected:
  void SetUp() override {
    ConformanceTest::SetUp();
    if (IsSkipped()) return;
    CONFORMANCE_REQUIRE(test::Capability::kInjectedClock);
  }

  ManualClock clock_{kStart};

  Options WithClock() {
    Options options;
    options.clock = clock_.function();
    options.sessions.sweep_interval = std::chrono::milliseconds(0);  // no reaper thread
    return options;
  }
};

TEST_P(ClockConformance, CommitTimesComeFromTheStoreClockAndNeverGoBack) {
  auto store = OpenSecond(WithClock());
  const Revision r1 = store->put("app", "k", Value(1));
  clock_.advance(std::chrono::hours(1));
  const Revision r2 = store->put("app", "k", Value(2));
  clock_.set(kStart - std::chrono::hours(5));  // the clock is set back
  const Revision r3 = store->put("app", "k", Value(3));
  ASSERT_TRUE(store->commit_at(r1) && store->commit_at(r2) && store->commit_at(r3));
  EXPECT_EQ(store->commit_at(r1)->time, kStart);
  EXPECT_EQ(store->commit_at(r2)->time, kStart + std::chrono::hours(1));
  EXPECT_EQ(store->commit_at(r3)->time, kStart + std::chrono::hours(1));
  // Time queries see the same times.
  HistoryQuery query;
  query.since = kStart + std::chrono::minutes(30);
  EXPECT_EQ(store->history(query).size(), 2u);
}

TEST_P(ClockConformance, KeepForRetentionCountsBackFromTheStoreClock) {
  Options options = WithClock();
  HistoryPolicy keep_hour;
  keep_hour.keep_for = std::chrono::hours(1);
  options.history_policies["app"] = keep_hour;
  auto store = OpenSecond(options);
  const Revision old_rev = store->put("app", "a", Value(1));
  store->put("app", "b", Value(1));
  store->compact_history();
  EXPECT_TRUE(store->commit_at(old_rev).has_value()) << "removed although the clock stood still";
  clock_.advance(std::chrono::hours(2));
  const Revision fresh = store->put("app", "c", Value(1));
  store->compact_history();
  EXPECT_FALSE(store->commit_at(old_rev).has_value()) << "kept two Store-clock hours later";
  EXPECT_TRUE(store->commit_at(fresh).has_value());
  EXPECT_GT(store->history_bounds("app").first, old_rev);
}

TEST_P(ClockConformance, SessionsFollowTheStoreClockUnlessTheyHaveTheirOwn) {
  {
    auto store = OpenSecond(WithClock());
    const std::string token = store->sessions().create(std::chrono::minutes(10), {});
    ASSERT_TRUE(store->sessions().exists(token));
    const auto info = store->sessions().get(token);
    ASSERT_TRUE(info.has_value());
    EXPECT_EQ(info->created, kStart);
    clock_.advance(std::chrono::minutes(11));
    EXPECT_FALSE(store->sessions().exists(token)) << "expiry did not follow Options::clock";
  }
  // SessionOptions::clock wins over Options::clock.
  ManualClock own(kStart + std::chrono::hours(24 * 365));
  Options options = WithClock();
  options.sessions.clock = own.function();
  std::unique_ptr<test::StoreLocation> own_location = engine().NewLocation();
  auto store = own_location->Open(options);
  const std::string token = store->sessions().create(std::chrono::minutes(10), {});
  EXPECT_EQ(store->sessions().get(token)->created, own.now());
  clock_.advance(std::chrono::hours(1));  // the Store's clock moves; the sessions' does not
  EXPECT_TRUE(store->sessions().exists(token));
}

STATESTORE_CONFORMANCE_SUITE(ClockConformance);

}  // namespace
}  // namespace statestore

// Conformance: issue test 6 — with 100,000 expired and 1,000 live sessions, a sweep removes exactly
// the expired ones and the live ones stay readable throughout. (How long a concurrent writer waits
// during the sweep is measured by bench/session_sweep_bench.cc.)
//
// Sessions are created in large transactions through Sessions::create(Transaction&, ...). Under
// a sanitizer (5-20x slower) the test uses 20,000 expired sessions instead of 100,000 to keep the
// suite's run time reasonable; the code path is the same.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <iostream>
#include <memory>
#include <mutex>
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
using std::chrono::minutes;
using std::chrono::seconds;

const Clock::time_point kSweepT0 = Clock::time_point(seconds(1'893'456'000));  // 2030-01-01

class SessionSweepConformance : public test::ConformanceTest {};

TEST_P(SessionSweepConformance, SweepRemovesExactlyTheExpiredWhileLiveOnesStayReadable) {
  const int kExpired = test::kUnderSanitizer ? 20'000 : 100'000;
  constexpr int kLive = 1'000;
  constexpr int kPerTransaction = 10'000;

  std::atomic<std::int64_t> now_us{
      std::chrono::duration_cast<microseconds>(kSweepT0.time_since_epoch()).count()};
  Options options;
  options.durability = Durability::kNormal;  // setup speed; the sweep's batches are the same
  options.sessions.sweep_interval = std::chrono::milliseconds(0);
  options.sessions.clock = [&] { return Clock::time_point(microseconds(now_us.load())); };
  auto store = OpenSecond(options);
  Sessions& sessions = store->sessions();

  auto create = [&](int n, microseconds ttl, const std::string& principal) {
    std::vector<std::string> all;
    for (int done = 0; done < n; done += kPerTransaction) {
      const int chunk = std::min(kPerTransaction, n - done);
      std::vector<std::string> tokens;
      store->transact([&](Transaction& tx) {
        tokens.clear();
        for (int i = 0; i < chunk; ++i) {
          NewSession s{ttl + microseconds(i), {{"n", Value(i)}}, principal, {}};
          tokens.push_back(sessions.create(tx, s));
        }
      });
      all.insert(all.end(), tokens.begin(), tokens.end());
    }
    return all;
  };
  // The expired sessions expire at T0+30min, the live ones (with a principal) ten hours later.
  const auto setup_start = std::chrono::steady_clock::now();
  const std::vector<std::string> expired = create(kExpired, minutes(30), "");
  now_us += std::chrono::duration_cast<microseconds>(minutes(20)).count();
  const std::vector<std::string> live = create(kLive, hours(10), "keeper");
  const auto setup = std::chrono::steady_clock::now() - setup_start;
  EXPECT_EQ(sessions.count(), static_cast<std::uint64_t>(kExpired + kLive));

  now_us += std::chrono::duration_cast<microseconds>(hours(1)).count();
  EXPECT_EQ(sessions.count(), static_cast<std::uint64_t>(kLive));
  const Revision head = store->history_bounds().head;

  // A reader checks every live session, over and over, while the sweep runs.
  std::atomic<bool> done{false};
  std::atomic<std::uint64_t> reads{0}, missing{0};
  std::thread reader([&] {
    std::size_t i = 0;
    while (!done.load()) {
      auto s = sessions.get_attribute(live[i % live.size()], "n");
      if (!s) ++missing;
      ++reads;
      ++i;
    }
  });
  const auto sweep_start = std::chrono::steady_clock::now();
  std::uint64_t removed = 0;
  try {
    removed = sessions.sweep();
  } catch (...) {
    done = true;
    reader.join();
    throw;
  }
  const auto sweep_time = std::chrono::steady_clock::now() - sweep_start;
  done = true;
  reader.join();

  EXPECT_EQ(removed, static_cast<std::uint64_t>(kExpired));
  EXPECT_EQ(missing.load(), 0u) << "a live session was not readable during the sweep";
  EXPECT_GT(reads.load(), 0u);
  EXPECT_EQ(sessions.count(), static_cast<std::uint64_t>(kLive));
  EXPECT_EQ(store->list(kSessionsKeyspace, "s/").size(), static_cast<std::size_t>(kLive));
  EXPECT_EQ(store->list(kSessionsKeyspace, "x/").size(), static_cast<std::size_t>(kLive));
  EXPECT_EQ(store->list(kSessionsKeyspace, "p/").size(), static_cast<std::size_t>(kLive));
  for (const auto& t : live) ASSERT_TRUE(sessions.exists(t));
  for (std::size_t i = 0; i < expired.size(); i += 997) {
    EXPECT_FALSE(sessions.exists(expired[i]));
  }
  // Batches of at most sweep_batch sessions, one transaction each.
  const std::uint64_t batch = options.sessions.sweep_batch;
  const std::uint64_t batches = (kExpired + batch - 1) / batch;
  EXPECT_EQ(store->history_bounds().head - head, batches);
  EXPECT_EQ(store->stats().sweep_runs, batches);
  EXPECT_EQ(sessions.sweep(), 0u);

  using std::chrono::duration_cast;
  using std::chrono::milliseconds;
  std::cout << "[ sweep    ] setup " << duration_cast<milliseconds>(setup).count() << " ms; swept "
            << removed << " sessions in " << batches << " batches, "
            << duration_cast<milliseconds>(sweep_time).count() << " ms; reader did " << reads.load()
            << " reads\n";
}

STATESTORE_CONFORMANCE_SUITE(SessionSweepConformance);

}  // namespace
}  // namespace statestore

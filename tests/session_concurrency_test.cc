// Sessions under concurrency on a SQLite file: the background reaper survives a sweep that fails
// because the sqlite3 shell holds the write lock. The engine-neutral concurrency tests (threads
// and processes updating one session, concurrent sweeps, the reaper) are in
// conformance/session_concurrency_conformance_test.cc.
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
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

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
using test::TempDir;

const Clock::time_point kT0 = Clock::time_point(seconds(1'893'456'000));  // 2030-01-01
const milliseconds kChildTimeout(120'000 * test::kSlowFactor);

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

class SessionConcurrencyTest : public ::testing::Test {
 protected:
  void Open(const std::function<void(Options&)>& edit = nullptr) {
    store_.reset();
    Options options;
    options.sessions.clock = clock_.fn();
    options.sessions.sweep_interval = milliseconds(0);
    if (edit) edit(options);
    store_ = Store::open(db_, options);
  }
  Sessions& sessions() { return store_->sessions(); }
  std::size_t Keys(std::string_view prefix) {
    return store_->list(kSessionsKeyspace, prefix).size();
  }
  // Creates `n` sessions with `ttl` in transactions of 2,000.
  std::vector<std::string> CreateMany(int n, microseconds ttl, const std::string& principal = "") {
    std::vector<std::string> all;
    for (int done = 0; done < n;) {
      const int chunk = std::min(2000, n - done);
      std::vector<std::string> tokens;
      store_->transact([&](Transaction& tx) {
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

  TempDir dir_;
  std::string db_ = dir_.file("sessions.db");
  FakeClock clock_{kT0};
  std::shared_ptr<Store> store_;
};

TEST_F(SessionConcurrencyTest, ReaperFailuresAreLoggedNotThrown) {
  // A sweep that fails (the write lock held by another connection past busy_timeout) is logged
  // and retried; the reaper thread survives and the Store closes normally.
  auto sink = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(256);  // thread-safe reads
  auto logger = std::make_shared<spdlog::logger>("reaper-failures", sink);
  auto logged_failure = [&] {
    for (const auto& line : sink->last_formatted()) {
      if (test::Contains(line, "session reaper sweep")) return true;
    }
    return false;
  };
  Open([&](Options& o) {
    o.sessions.sweep_interval = milliseconds(5);
    o.busy_timeout = milliseconds(20);
    o.logger = logger;
  });
  CreateMany(50, minutes(1));
  {
    // The sqlite3 shell holds the write lock (-bail: 'locked' means it has it).
    ChildProcess holder = ChildProcess::Spawn({test::kSqliteShellPath, "-bail", db_});
    ASSERT_TRUE(holder.Write(".timeout 5000\nBEGIN IMMEDIATE;\nSELECT 'locked';\n"));
    ASSERT_TRUE(holder.WaitForLine("locked", kChildTimeout));
    clock_.advance(minutes(2));  // only now is there something to sweep: the sweeps must fail
    const auto deadline = std::chrono::steady_clock::now() + seconds(20 * test::kSlowFactor);
    while (!logged_failure() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(milliseconds(5));
    }
    EXPECT_TRUE(logged_failure());
    EXPECT_EQ(Keys("s/"), 50u);
    ASSERT_TRUE(holder.Write("ROLLBACK;\n.quit\n"));
    holder.CloseStdin();
    EXPECT_EQ(holder.Wait(kChildTimeout), 0);
  }
  // The reaper is still alive and sweeps once the lock is free.
  const auto deadline = std::chrono::steady_clock::now() + seconds(20 * test::kSlowFactor);
  while (Keys("s/") != 0u && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(5));
  }
  EXPECT_EQ(Keys("s/"), 0u);
  store_.reset();
}

}  // namespace
}  // namespace statestore

// Time-to-live on keys (issue 16), what only the SQLite engine has: one sweeper per file (the
// sweeper byte) and the history order of a mixed redacted/plain sweep batch, checked by Verify.
// The behaviour both engines share — absent at exactly the deadline here and in another process,
// keep_ttl/expire/persist, the expiry in history and watches, the sweep's batches — is
// tests/conformance/ttl_conformance_test.cc.
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "manual_clock.h"
#include "put_options_helpers.h"
#include "statestore/admin.h"
#include "statestore/statestore.h"
#include "test_util.h"

namespace statestore {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using test::ManualClock;
using test::Ttl;

const Clock::time_point kStart = test::kManualClockStart;
constexpr std::chrono::microseconds kOneMicro{1};

class TtlTest : public ::testing::Test {
 protected:
  // No sweep unless asked: the tests decide when expiries are recorded.
  Options Opts(milliseconds sweep_interval = milliseconds(0)) {
    Options o;
    o.clock = clock_.function();
    o.expiry_sweep_interval = sweep_interval;
    o.sessions.sweep_interval = milliseconds(0);
    return o;
  }

  std::optional<Value> ReadInBody(Store& store, const std::string& key) {
    std::optional<Value> v;
    store.read([&](Transaction& tx) { v = tx.get("app", key); });
    return v;
  }

  test::TempDir dir_;
  const std::string path_ = dir_.path() + "/ttl.db";
  ManualClock clock_{kStart};
};

TEST_F(TtlTest, SweepOfRedactedAndPlainKeysInOneBatchKeepsHistoryOrderAndDigests) {
  Options o = Opts(milliseconds(10));
  o.redacted_keyspaces = {"secret"};
  auto store = Store::open(path_, o);
  // Deadlines interleave the two keyspaces; the batch records plain keys first, then redacted.
  store->put("secret", "s1", Value("pin-1"), Ttl(milliseconds(100)));
  store->put("app", "a1", Value(1), Ttl(milliseconds(200)));
  store->put("secret", "s2", Value("pin-2"), Ttl(milliseconds(300)));
  store->put("app", "a2", Value(2), Ttl(milliseconds(400)));
  store->put("app", "stays", Value(3), Ttl(seconds(10)));
  const Revision head = store->history_bounds().head;
  clock_.advance(seconds(1));
  const auto give_up = std::chrono::steady_clock::now() + seconds(20 * test::kSlowFactor);
  while (store->stats().keys_expired < 4 && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(milliseconds(5));
  }
  ASSERT_EQ(store->stats().keys_expired, 4u);
  const Commit c = *store->commit_at(head + 1);
  EXPECT_EQ(c.origin.label, "expired");
  ASSERT_EQ(c.changes.size(), 4u);
  std::vector<std::string> keys;
  for (const Change& ch : c.changes) {
    keys.push_back(ch.key);
    EXPECT_EQ(ch.kind, ChangeKind::kExpiry);
    EXPECT_EQ(ch.new_value, std::nullopt);
    EXPECT_EQ(ch.redacted, ch.keyspace == "secret");
  }
  EXPECT_EQ(keys, (std::vector<std::string>{"a1", "a2", "s1", "s2"}));
  EXPECT_EQ(c.changes[0].old_value, Value(1));
  EXPECT_EQ(c.changes[0].expires_at, kStart + milliseconds(200));
  EXPECT_EQ(c.changes[2].old_value, Value(store->value_digest(Value("pin-1"))));
  EXPECT_EQ(store->list("app").size(), 1u);
  EXPECT_EQ(store->list("secret").size(), 0u);
  EXPECT_TRUE(Verify(*store).ok());
}

// One sweeper per file (ExpirySweep invariant 4): with two sweeping processes every expiry commit
// comes from the one that took the sweeper lock first; when it closes, the other takes over.
TEST_F(TtlTest, OneProcessSweepsAFileAndAnotherTakesOverWhenItCloses) {
  auto here = Store::open(path_, Opts(milliseconds(10)));
  here->put("app", "warm", Value(1));
  std::this_thread::sleep_for(milliseconds(100));  // several passes: this process holds the lock
  auto worker = test::ChildProcess::SpawnWorker(
      {"ttl-serve", path_, std::to_string(ManualClock::Micros(kStart)), "10"});
  const auto wait = milliseconds(20000 * test::kSlowFactor);
  ASSERT_EQ(worker.ReadLine(wait), "ready");
  auto ask = [&](const std::string& command) {
    worker.Write(command + "\n");
    return worker.ReadLine(wait).value_or("(no answer)");
  };
  const std::int64_t worker_pid = std::stoll(ask("pid").substr(4));
  // The pids of the sweep's commits in `keyspace`, once 20 expiries are there (or time is up).
  auto sweepers = [&](Store& store, const std::string& keyspace) {
    HistoryQuery q;
    q.keyspace = keyspace;
    q.label = "expired";
    std::set<std::int64_t> pids;
    const auto give_up = std::chrono::steady_clock::now() + wait;
    for (;;) {
      pids.clear();
      std::size_t expiries = 0;
      for (const Commit& c : store.history(q)) {
        pids.insert(c.origin.pid);
        expiries += c.changes.size();
      }
      if (expiries >= 20 || std::chrono::steady_clock::now() > give_up) {
        EXPECT_EQ(expiries, 20u) << keyspace;
        return pids;
      }
      std::this_thread::sleep_for(milliseconds(10));
    }
  };
  auto expire_all = [&](const std::string& keyspace) {
    for (int i = 0; i < 20; ++i) ask("putttl " + keyspace + " k" + std::to_string(i) + " 1000");
    clock_.advance(seconds(2));
    ASSERT_EQ(ask("clock " + std::to_string(ManualClock::Micros(clock_.now()))), "ok");
    EXPECT_EQ(ask("count " + keyspace), "count 0");  // absent at once, swept later
  };

  expire_all("first");
  EXPECT_EQ(sweepers(*here, "first"), (std::set<std::int64_t>{::getpid()}));

  here.reset();  // releases the sweeper lock; the worker's next pass takes it
  auto reader = Store::open(path_, Opts());  // sweeps nothing
  expire_all("second");
  EXPECT_EQ(sweepers(*reader, "second"), (std::set<std::int64_t>{worker_pid}));
  EXPECT_EQ(ask("quit"), "(no answer)");
}

}  // namespace
}  // namespace statestore

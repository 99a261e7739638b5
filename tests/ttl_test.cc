// Time-to-live on keys (issue 16, first step; SQLite files): PutOptions::ttl, keep_ttl,
// expire/persist; a key is absent at exactly its deadline in this process and in another one;
// the expiry is in history as its own kind, by the background sweep or by the next write.
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
#include "statestore/admin.h"
#include "statestore/statestore.h"
#include "test_util.h"

namespace statestore {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using test::ManualClock;

const Clock::time_point kStart = test::kManualClockStart;
constexpr std::chrono::microseconds kOneMicro{1};

PutOptions Ttl(milliseconds ttl) {
  PutOptions o;
  o.ttl = ttl;
  return o;
}

PutOptions KeepTtl() {
  PutOptions o;
  o.keep_ttl = true;
  return o;
}

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

TEST_F(TtlTest, KeyIsAbsentToEveryReadAtExactlyItsDeadline) {
  auto store = Store::open(path_, Opts());
  store->put("app", "kept", Value(1));
  store->put("app", "code", Value("123456"), Ttl(seconds(1)));
  const Clock::time_point deadline = kStart + seconds(1);

  auto e = store->get_entry("app", "code");
  ASSERT_TRUE(e.has_value());
  ASSERT_TRUE(e->expires_at.has_value());
  EXPECT_EQ(*e->expires_at, deadline);
  EXPECT_FALSE(store->get_entry("app", "kept")->expires_at.has_value());

  clock_.set(deadline - kOneMicro);
  EXPECT_EQ(store->get("app", "code"), Value("123456"));
  EXPECT_EQ(ReadInBody(*store, "code"), Value("123456"));
  EXPECT_EQ(store->list("app").size(), 2u);

  clock_.set(deadline);
  EXPECT_EQ(store->get("app", "code"), std::nullopt);
  EXPECT_EQ(store->get_entry("app", "code"), std::nullopt);
  EXPECT_EQ(ReadInBody(*store, "code"), std::nullopt);
  const std::vector<Entry> left = store->list("app");
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].key, "kept");
  // Twice: the first miss may have cached "absent"; it must stay absent.
  EXPECT_EQ(store->get("app", "code"), std::nullopt);
  // Inside a write body too, and a compare-and-set against "no key" succeeds.
  store->transact([&](Transaction& tx) {
    EXPECT_EQ(tx.get("app", "code"), std::nullopt);
    tx.put_if_version("app", "code", Value("654321"), 0);
  });
  EXPECT_EQ(store->get("app", "code"), Value("654321"));
  EXPECT_FALSE(store->get_entry("app", "code")->expires_at.has_value());
}

TEST_F(TtlTest, AnotherProcessFindsTheKeyAbsentAtTheDeadlineByItsClock) {
  auto store = Store::open(path_, Opts());
  store->put("app", "code", Value(7), Ttl(milliseconds(1500)));
  const std::int64_t deadline_us = ManualClock::Micros(kStart + milliseconds(1500));

  auto worker = test::ChildProcess::SpawnWorker(
      {"ttl-serve", path_, std::to_string(ManualClock::Micros(kStart))});
  const auto wait = milliseconds(20000 * test::kSlowFactor);
  ASSERT_EQ(worker.ReadLine(wait), "ready");
  auto ask = [&](const std::string& command) {
    worker.Write(command + "\n");
    return worker.ReadLine(wait).value_or("(no answer)");
  };
  EXPECT_EQ(ask("clock " + std::to_string(deadline_us - 1)), "ok");
  EXPECT_EQ(ask("get app code"), "value 7");
  EXPECT_EQ(ask("read app code"), "value 7 " + std::to_string(deadline_us));
  EXPECT_EQ(ask("count app"), "count 1");
  EXPECT_EQ(ask("clock " + std::to_string(deadline_us)), "ok");
  EXPECT_EQ(ask("get app code"), "value none");
  EXPECT_EQ(ask("read app code"), "value none none");
  EXPECT_EQ(ask("count app"), "count 0");

  // A new TTL written here reaches the other process's cached reads.
  store->put("app", "code", Value(8), Ttl(seconds(10)));
  EXPECT_EQ(ask("get app code"), "value 8");
  EXPECT_EQ(ask("quit"), "(no answer)");
}

TEST_F(TtlTest, KeepTtlExpireAndPersist) {
  auto store = Store::open(path_, Opts());
  const Clock::time_point deadline = kStart + seconds(5);
  store->put("app", "n", Value(1), Ttl(seconds(5)));
  clock_.advance(seconds(1));
  store->put("app", "n", Value(2), KeepTtl());  // counts within the window
  EXPECT_EQ(store->get_entry("app", "n")->expires_at, deadline);
  store->put("app", "n", Value(3));  // a plain put makes it persistent
  EXPECT_EQ(store->get_entry("app", "n")->expires_at, std::nullopt);
  store->put("app", "fresh", Value(1), KeepTtl());  // a new key has no deadline to keep
  EXPECT_EQ(store->get_entry("app", "fresh")->expires_at, std::nullopt);

  const Revision before_expire = store->history_bounds().head;
  const Revision r = store->expire("app", "n", seconds(2));
  EXPECT_EQ(r, before_expire + 1);
  auto e = store->get_entry("app", "n");
  EXPECT_EQ(e->value, Value(3));  // expire keeps the value
  EXPECT_EQ(e->version, r);       // and is a write: the version moves
  EXPECT_EQ(e->expires_at, kStart + seconds(3));
  const Commit c = *store->commit_at(r);
  ASSERT_EQ(c.changes.size(), 1u);
  EXPECT_EQ(c.changes[0].kind, ChangeKind::kWrite);
  EXPECT_EQ(c.changes[0].old_value, Value(3));
  EXPECT_EQ(c.changes[0].new_value, Value(3));
  EXPECT_EQ(c.changes[0].expires_at, kStart + seconds(3));

  EXPECT_EQ(store->persist("app", "n"), r + 1);
  EXPECT_EQ(store->get_entry("app", "n")->expires_at, std::nullopt);
  // Nothing to clear, no key, no keyspace: no write.
  EXPECT_EQ(store->persist("app", "n"), r + 1);
  EXPECT_EQ(store->persist("app", "missing"), r + 1);
  EXPECT_EQ(store->expire("app", "missing", seconds(1)), r + 1);
  EXPECT_EQ(store->expire("nowhere", "missing", seconds(1)), r + 1);
  store->transact([&](Transaction& tx) {
    EXPECT_TRUE(tx.persist("app", "n"));
    EXPECT_FALSE(tx.persist("app", "missing"));
    EXPECT_TRUE(tx.expire("app", "n", seconds(1)));
    EXPECT_FALSE(tx.expire("app", "missing", seconds(1)));
  });
  // After its deadline a key is gone for expire and persist as for every read.
  clock_.advance(seconds(1));
  const Revision head = store->history_bounds().head;
  store->transact([&](Transaction& tx) {
    EXPECT_FALSE(tx.expire("app", "n", seconds(1)));
    EXPECT_FALSE(tx.persist("app", "n"));
    EXPECT_FALSE(tx.erase("app", "n"));
  });
  EXPECT_EQ(store->history_bounds().head, head);
}

TEST_F(TtlTest, BadTimeToLiveIsRefusedAndChangesNothing) {
  auto store = Store::open(path_, Opts());
  store->put("app", "k", Value(1));
  const Revision head = store->history_bounds().head;
  PutOptions both = Ttl(seconds(1));
  both.keep_ttl = true;
  const std::vector<PutOptions> bad = {Ttl(milliseconds(0)), Ttl(milliseconds(-5)),
                                       Ttl(PutOptions::kMaxTtl + milliseconds(1)), both};
  for (const PutOptions& o : bad) {
    try {
      store->put("app", "k", Value(2), o);
      ADD_FAILURE() << "put with a bad TTL was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
      EXPECT_NE(std::string(e.what()).find("app/"), std::string::npos) << e.what();
    }
    EXPECT_THROW(store->transact([&](Transaction& tx) {
      tx.put("app", "other", Value(1));
      tx.put("app", "k", Value(2), o);
    }),
                 Error);
  }
  for (milliseconds ttl : {milliseconds(0), milliseconds(-1), PutOptions::kMaxTtl + seconds(1)}) {
    EXPECT_THROW(store->expire("app", "k", ttl), Error);
  }
  EXPECT_EQ(store->history_bounds().head, head);
  EXPECT_EQ(store->get("app", "other"), std::nullopt);
  EXPECT_EQ(store->get_entry("app", "k")->expires_at, std::nullopt);
  // The longest allowed TTL is fine.
  store->put("app", "k", Value(3), Ttl(PutOptions::kMaxTtl));
  EXPECT_EQ(store->get_entry("app", "k")->expires_at, kStart + PutOptions::kMaxTtl);
}

TEST_F(TtlTest, WriteAfterTheDeadlineRecordsTheExpiryFirstInItsCommit) {
  auto store = Store::open(path_, Opts());
  store->put("app", "k", Value(1), Ttl(seconds(1)));
  clock_.advance(seconds(2));
  const Revision r = store->put("app", "k", Value(2));
  const Commit c = *store->commit_at(r);
  ASSERT_EQ(c.changes.size(), 2u);
  EXPECT_EQ(c.changes[0].kind, ChangeKind::kExpiry);
  EXPECT_EQ(c.changes[0].old_value, Value(1));
  EXPECT_EQ(c.changes[0].new_value, std::nullopt);
  EXPECT_EQ(c.changes[0].expires_at, kStart + seconds(1));
  EXPECT_EQ(c.changes[1].kind, ChangeKind::kWrite);
  EXPECT_EQ(c.changes[1].old_value, std::nullopt);  // the key was absent when written
  EXPECT_EQ(c.changes[1].new_value, Value(2));
  EXPECT_EQ(store->get("app", "k"), Value(2));

  // An erase after the deadline finds no key and makes no commit.
  store->put("app", "gone", Value(1), Ttl(seconds(1)));
  clock_.advance(seconds(2));
  const Revision head = store->history_bounds().head;
  EXPECT_EQ(store->erase("app", "gone"), head);
  EXPECT_EQ(store->history_bounds().head, head);
}

TEST_F(TtlTest, SweepRecordsExpiriesThatHistoryTellsFromErases) {
  auto store = Store::open(path_, Opts(milliseconds(10)));
  const Revision put_a = store->put("app", "a", Value("x"), Ttl(seconds(1)));
  store->put("app", "b", Value("y"));
  const Revision erase_b = store->erase("app", "b");
  clock_.advance(seconds(1));
  const auto give_up = std::chrono::steady_clock::now() + seconds(20 * test::kSlowFactor);
  while (store->stats().keys_expired < 1 && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(milliseconds(5));
  }
  ASSERT_EQ(store->stats().keys_expired, 1u);
  EXPECT_GE(store->stats().expiry_sweep_batches, 1u);

  const Commit erase = *store->commit_at(erase_b);
  ASSERT_EQ(erase.changes.size(), 1u);
  EXPECT_EQ(erase.changes[0].kind, ChangeKind::kWrite);
  EXPECT_EQ(erase.changes[0].new_value, std::nullopt);

  const Revision head = store->history_bounds().head;
  const Commit expiry = *store->commit_at(head);
  EXPECT_EQ(expiry.origin.label, "expired");
  ASSERT_EQ(expiry.changes.size(), 1u);
  EXPECT_EQ(expiry.changes[0].keyspace, "app");
  EXPECT_EQ(expiry.changes[0].key, "a");
  EXPECT_EQ(expiry.changes[0].kind, ChangeKind::kExpiry);
  EXPECT_EQ(expiry.changes[0].old_value, Value("x"));
  EXPECT_EQ(expiry.changes[0].new_value, std::nullopt);
  EXPECT_EQ(expiry.changes[0].expires_at, kStart + seconds(1));
  const Commit put = *store->commit_at(put_a);
  EXPECT_EQ(put.changes[0].expires_at, kStart + seconds(1));

  // A sweep that finds nothing due makes no commit.
  std::this_thread::sleep_for(milliseconds(50));
  EXPECT_EQ(store->history_bounds().head, head);

  // An expiry is reverted like any change: the value comes back, without a deadline.
  const Revision back = store->revert(head);
  EXPECT_EQ(store->get("app", "a"), Value("x"));
  EXPECT_EQ(store->get_entry("app", "a")->expires_at, std::nullopt);
  EXPECT_EQ(store->commit_at(back)->changes.at(0).kind, ChangeKind::kWrite);
}

TEST_F(TtlTest, SweepGoesInBatchesAndSparesKeysRewrittenBeforeTheirDeadline) {
  constexpr int kKeys = 600;  // three batches of at most 256
  {
    auto store = Store::open(path_, Opts());
    store->transact([&](Transaction& tx) {
      for (int i = 0; i < kKeys; ++i)
        tx.put("tmp", "k" + std::to_string(i), Value(i), Ttl(seconds(1)));
    });
    store->put("tmp", "k5", Value(5), Ttl(seconds(60)));  // renewed before its deadline
  }
  clock_.advance(seconds(2));
  auto store = Store::open(path_, Opts(milliseconds(10)));
  const Revision head = store->history_bounds().head;
  const auto give_up = std::chrono::steady_clock::now() + seconds(30 * test::kSlowFactor);
  while (store->stats().keys_expired < kKeys - 1 && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(milliseconds(5));
  }
  ASSERT_EQ(store->stats().keys_expired, static_cast<std::uint64_t>(kKeys - 1));
  EXPECT_EQ(store->list("tmp").size(), 1u);
  EXPECT_EQ(store->get("tmp", "k5"), Value(5));
  HistoryQuery q;
  q.from_revision = head + 1;
  std::size_t expiries = 0;
  for (const Commit& c : store->history(q)) {
    EXPECT_EQ(c.origin.label, "expired");
    EXPECT_LE(c.changes.size(), 256u);
    for (const Change& ch : c.changes) {
      EXPECT_EQ(ch.kind, ChangeKind::kExpiry);
      EXPECT_NE(ch.key, "k5");
      ++expiries;
    }
  }
  EXPECT_EQ(expiries, static_cast<std::size_t>(kKeys - 1));
  EXPECT_GE(store->history(q).size(), 3u);
}

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

TEST_F(TtlTest, ConfigWatchTellsAnExpiryFromAnErase) {
  auto store = Store::open(path_, Opts(milliseconds(10)));
  std::mutex mu;
  std::vector<ConfigChange> seen;
  Watch w = store->config().watch(
      "feature.",
      [&](const WatchEvent& ev) {
        std::lock_guard<std::mutex> lock(mu);
        for (const ConfigChange& c : ev.changes) seen.push_back(c);
      },
      store->history_bounds().head + 1);
  // A temporary override written through the core API with a TTL (config.h's storage layout),
  // and one erased by hand.
  store->put("config", "override/feature.trial", Value(true), Ttl(seconds(1)));
  store->config().set("feature.beta", ConfigValue(true));
  store->config().erase("feature.beta");
  clock_.advance(seconds(1));
  EXPECT_EQ(store->config().get_value("feature.trial"), std::nullopt);
  const auto give_up = std::chrono::steady_clock::now() + seconds(20 * test::kSlowFactor);
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (seen.size() >= 4 || std::chrono::steady_clock::now() > give_up) break;
    }
    std::this_thread::sleep_for(milliseconds(5));
  }
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_EQ(seen.size(), 4u);
  EXPECT_EQ(seen[0].key, "feature.trial");
  EXPECT_EQ(seen[0].kind, ChangeKind::kWrite);
  EXPECT_EQ(seen[2].key, "feature.beta");
  EXPECT_EQ(seen[2].new_value, std::nullopt);
  EXPECT_EQ(seen[2].kind, ChangeKind::kWrite);  // an erase
  EXPECT_EQ(seen[3].key, "feature.trial");
  EXPECT_EQ(seen[3].new_value, std::nullopt);
  EXPECT_EQ(seen[3].kind, ChangeKind::kExpiry);
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

TEST_F(TtlTest, NegativeSweepIntervalIsRefused) {
  Options o = Opts();
  o.expiry_sweep_interval = milliseconds(-1);
  EXPECT_THROW(Store::open(path_, o), Error);
}

}  // namespace
}  // namespace statestore

// Bounded keyspaces (issue 16, must-show 4; SQLite files): a keyspace with a maximum number of
// keys evicts the least recently written ones when a body ends over it, records each eviction in
// history as its own kind, and keeps the bound in every process.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "manual_clock.h"
#include "old_schemas.h"
#include "sqlite_query.h"
#include "statestore/admin.h"
#include "statestore/statestore.h"
#include "test_util.h"

namespace statestore {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using test::ManualClock;

const Clock::time_point kStart = test::kManualClockStart;

std::string Key(int i) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "k%05d", i);
  return buf;
}

std::vector<std::string> Keys(Store& store, std::string_view keyspace) {
  std::vector<std::string> keys;
  for (const Entry& e : store.list(keyspace)) keys.push_back(e.key);
  return keys;
}

template <typename F>
std::optional<ErrorCode> CodeOf(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.code();
  }
  return std::nullopt;
}

class BoundedKeyspaceTest : public ::testing::Test {
 protected:
  Options Opts() {
    Options o;
    o.clock = clock_.function();
    o.durability = Durability::kNormal;  // about which keys stay, not fsync
    o.expiry_sweep_interval = milliseconds(0);
    o.sessions.sweep_interval = milliseconds(0);
    return o;
  }

  test::TempDir dir_;
  const std::string path_ = dir_.path() + "/bounded.db";
  ManualClock clock_{kStart};
};

// Must-show 4: 100k writes of 30k keys into a keyspace of at most 10k. After every body the
// keyspace holds exactly the 10k most recently written keys (a model replays the rule: smallest
// (revision, key) goes first), and history holds one eviction for every key that left.
TEST_F(BoundedKeyspaceTest, HoldsAtMostTheBoundAndEvictsTheLeastRecentlyWritten) {
  constexpr std::uint64_t kMax = 10000;
  constexpr int kWrites = 100000, kPerBody = 100, kKeySpace = 30000;
  auto store = Store::open(path_, Opts());
  EXPECT_EQ(store->set_max_keys("cache", kMax), 0u);  // nothing to evict yet
  const Revision first = store->history_bounds().head + 1;

  std::map<std::string, std::pair<int, std::int64_t>> model;  // key -> (body, value)
  std::set<std::pair<int, std::string>> order;                // (body, key): eviction order
  std::mt19937 rng(16);
  std::uniform_int_distribution<int> pick(0, kKeySpace - 1);
  std::uint64_t left = 0;
  for (int body = 0; body < kWrites / kPerBody; ++body) {
    std::vector<std::pair<std::string, std::int64_t>> writes;
    for (int i = 0; i < kPerBody; ++i) writes.emplace_back(Key(pick(rng)), body * kPerBody + i);
    store->transact([&](Transaction& tx) {
      for (const auto& [key, value] : writes) tx.put("cache", key, Value(value));
    });
    for (const auto& [key, value] : writes) {
      auto [it, added] = model.try_emplace(key, body, value);
      if (!added) {
        order.erase({it->second.first, key});
        it->second = {body, value};
      }
      order.emplace(body, key);
    }
    while (model.size() > kMax) {
      model.erase(order.begin()->second);
      order.erase(order.begin());
      ++left;
    }
    if (body % 100 == 99) {
      const std::optional<KeyBound> bound = store->key_bound("cache");
      ASSERT_TRUE(bound.has_value());
      EXPECT_EQ(bound->max_keys, kMax);
      EXPECT_EQ(bound->keys, model.size()) << "after body " << body;
    }
  }
  std::map<std::string, std::int64_t> expected;
  for (const auto& [key, at] : model) expected[key] = at.second;
  std::map<std::string, std::int64_t> held;
  for (const Entry& e : store->list("cache")) held[e.key] = e.value.as_int();
  EXPECT_EQ(held.size(), kMax);
  EXPECT_TRUE(held == expected) << "the keyspace does not hold the most recently written keys";

  std::uint64_t evictions = 0;
  HistoryQuery q;
  q.from_revision = first;
  for (const Commit& c : store->history(q)) {
    for (const Change& ch : c.changes) {
      if (ch.kind != ChangeKind::kEviction) continue;
      ++evictions;
      EXPECT_TRUE(ch.old_value.has_value());
      EXPECT_EQ(ch.new_value, std::nullopt);
      EXPECT_EQ(ch.expires_at, std::nullopt);
    }
  }
  EXPECT_EQ(evictions, left);
  EXPECT_TRUE(Verify(*store).ok());
}

TEST_F(BoundedKeyspaceTest, AnEvictionIsItsOwnKindInHistoryAndWatchesAndCanBeReverted) {
  auto store = Store::open(path_, Opts());
  store->set_max_keys("config", 2);  // Config's storage keyspace: a watch sees its changes
  std::mutex mu;
  std::vector<ConfigChange> seen;
  Watch w = store->config().watch(
      "",
      [&](const WatchEvent& ev) {
        std::lock_guard<std::mutex> lock(mu);
        for (const ConfigChange& c : ev.changes) seen.push_back(c);
      },
      store->history_bounds().head + 1);
  store->config().set("a", ConfigValue(1));
  store->config().set("b", ConfigValue(2));
  store->config().set("a", ConfigValue(3));  // now b is the least recently written
  const Revision c = store->config().set("c", ConfigValue(4));
  EXPECT_EQ(store->config().get_value("b"), std::nullopt);
  EXPECT_EQ(store->config().get_value("a"), ConfigValue(3));

  const std::optional<Commit> commit = store->commit_at(c);
  ASSERT_TRUE(commit.has_value());
  ASSERT_EQ(commit->changes.size(), 2u);
  EXPECT_EQ(commit->changes[0].kind, ChangeKind::kWrite);
  EXPECT_EQ(commit->changes[1].kind, ChangeKind::kEviction);
  EXPECT_EQ(commit->changes[1].old_value.has_value(), true);
  EXPECT_EQ(commit->changes[1].new_value, std::nullopt);

  const auto give_up = std::chrono::steady_clock::now() + seconds(20 * test::kSlowFactor);
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (seen.size() >= 5 || std::chrono::steady_clock::now() > give_up) break;
    }
    std::this_thread::sleep_for(milliseconds(5));
  }
  {
    std::lock_guard<std::mutex> lock(mu);
    ASSERT_EQ(seen.size(), 5u);
    EXPECT_EQ(seen[3].key, "c");
    EXPECT_EQ(seen[3].kind, ChangeKind::kWrite);
    EXPECT_EQ(seen[4].key, "b");
    EXPECT_EQ(seen[4].kind, ChangeKind::kEviction);
    EXPECT_EQ(seen[4].new_value, std::nullopt);
  }

  // Reverting that commit erases c and brings b back; the keyspace is at its bound again.
  store->revert(c);
  EXPECT_EQ(store->config().get_value("b"), ConfigValue(2));
  EXPECT_EQ(store->config().get_value("c"), std::nullopt);
  EXPECT_EQ(store->key_bound("config")->keys, 2u);
  EXPECT_TRUE(Verify(*store).ok());
}

TEST_F(BoundedKeyspaceTest, LoweringTheBoundEvictsAtOnceAndRemovingItStopsEvicting) {
  auto store = Store::open(path_, Opts());
  for (int i = 0; i < 5; ++i) store->put("cache", Key(i), Value(i));
  store->put("cache", Key(0), Value(10));  // k00000 is now the most recently written
  const Revision head = store->history_bounds().head;
  const Revision evicted = store->set_max_keys("cache", 2);
  EXPECT_EQ(evicted, head + 1);
  EXPECT_EQ(Keys(*store, "cache"), (std::vector<std::string>{Key(0), Key(4)}));
  EXPECT_EQ(store->commit_at(evicted)->changes.size(), 3u);
  EXPECT_EQ(store->key_bound("cache")->keys, 2u);
  // The same bound again, or a higher one: no revision.
  EXPECT_EQ(store->set_max_keys("cache", 2), 0u);
  EXPECT_EQ(store->set_max_keys("cache", 3), 0u);
  EXPECT_EQ(store->key_bound("cache")->max_keys, 3u);

  EXPECT_EQ(store->set_max_keys("cache", std::nullopt), 0u);
  EXPECT_EQ(store->key_bound("cache"), std::nullopt);
  for (int i = 5; i < 10; ++i) store->put("cache", Key(i), Value(i));
  EXPECT_EQ(Keys(*store, "cache").size(), 7u);
  // A new bound counts the keys already there.
  store->set_max_keys("cache", 7);
  EXPECT_EQ(store->key_bound("cache")->keys, 7u);
  store->erase("cache", Key(9));
  EXPECT_EQ(store->key_bound("cache")->keys, 6u);
  // Removing the bound of a keyspace without one, or of one that does not exist, is a no-op.
  EXPECT_EQ(store->set_max_keys("nothing-here", std::nullopt), 0u);
  EXPECT_EQ(store->key_bound("nothing-here"), std::nullopt);
  EXPECT_TRUE(Verify(*store).ok());
}

TEST_F(BoundedKeyspaceTest, ABodyMayHoldMoreUntilItEndsAndKeepsWhatItWroteLast) {
  auto store = Store::open(path_, Opts());
  store->set_max_keys("cache", 3);
  store->put("cache", "old", Value(0));
  const Revision r = store->transact([&](Transaction& tx) {
    for (int i = 0; i < 5; ++i) tx.put("cache", Key(i), Value(i));
    EXPECT_EQ(tx.list("cache", "", 100).size(), 6u);  // the bound is applied as the body ends
  });
  // The older key first, then ties among the body's own keys by key: the three largest stay.
  EXPECT_EQ(Keys(*store, "cache"), (std::vector<std::string>{Key(2), Key(3), Key(4)}));
  const Commit c = *store->commit_at(r);
  ASSERT_EQ(c.changes.size(), 8u);
  EXPECT_EQ(c.changes[5].key, "old");
  EXPECT_EQ(c.changes[6].key, Key(0));
  EXPECT_EQ(c.changes[7].key, Key(1));
  for (std::size_t i = 5; i < 8; ++i) EXPECT_EQ(c.changes[i].kind, ChangeKind::kEviction);
  EXPECT_TRUE(Verify(*store).ok());
}

TEST_F(BoundedKeyspaceTest, AnExpiredKeyChosenForEvictionIsRecordedAsItsExpiry) {
  auto store = Store::open(path_, Opts());
  store->set_max_keys("cache", 2);
  PutOptions ttl;
  ttl.ttl = seconds(1);
  store->put("cache", "short", Value(1), ttl);
  store->put("cache", "long", Value(2));
  clock_.advance(seconds(2));
  const Revision r = store->put("cache", "new", Value(3));
  const Commit c = *store->commit_at(r);
  ASSERT_EQ(c.changes.size(), 2u);
  EXPECT_EQ(c.changes[1].key, "short");
  EXPECT_EQ(c.changes[1].kind, ChangeKind::kExpiry);
  EXPECT_EQ(c.changes[1].expires_at, kStart + seconds(1));
  // The expiry made room: the live key stays.
  EXPECT_EQ(Keys(*store, "cache"), (std::vector<std::string>{"long", "new"}));
  EXPECT_EQ(store->key_bound("cache")->keys, 2u);

  // The sweep's removals are counted too.
  store->put("cache", "long", Value(4), ttl);
  clock_.advance(seconds(2));
  store.reset();
  Options sweeping = Opts();
  sweeping.expiry_sweep_interval = milliseconds(10);
  store = Store::open(path_, sweeping);
  const auto give_up = std::chrono::steady_clock::now() + seconds(20 * test::kSlowFactor);
  while (store->stats().keys_expired < 1 && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(milliseconds(5));
  }
  EXPECT_EQ(store->stats().keys_expired, 1u);
  EXPECT_EQ(store->key_bound("cache")->keys, 1u);
  EXPECT_TRUE(Verify(*store).ok());
}

TEST_F(BoundedKeyspaceTest, LeaseKeysLeaveTheCountWhenTheLeaseEnds) {
  Options o = Opts();
  o.redacted_keyspaces = {"secret"};
  auto store = Store::open(path_, o);
  store->set_max_keys("cache", 10);
  store->set_max_keys("secret", 10);
  const LeaseId lease = store->grant_lease(seconds(5));
  PutOptions attach;
  attach.lease = lease;
  store->transact([&](Transaction& tx) {
    tx.put("cache", "a", Value(1), attach);
    tx.put("cache", "b", Value(2), attach);
    tx.put("secret", "s", Value(3), attach);
    tx.put("cache", "plain", Value(4));
  });
  EXPECT_EQ(store->key_bound("cache")->keys, 3u);
  EXPECT_EQ(store->key_bound("secret")->keys, 1u);
  EXPECT_TRUE(store->revoke_lease(lease));
  EXPECT_EQ(store->key_bound("cache")->keys, 1u);
  EXPECT_EQ(store->key_bound("secret")->keys, 0u);
  EXPECT_TRUE(Verify(*store).ok());
}

TEST_F(BoundedKeyspaceTest, AnotherProcessKeepsTheBoundItWasNeverTold) {
  auto store = Store::open(path_, Opts());
  store->set_max_keys("cache", 2);
  store->put("cache", "a", Value(1));
  store->put("cache", "b", Value(2));
  EXPECT_EQ(store->get("cache", "a"), Value(1));  // now in this process's read cache
  auto worker = test::ChildProcess::SpawnWorker({"put", path_, "cache", "c", "3"});
  const auto wait = milliseconds(20000 * test::kSlowFactor);
  const std::optional<std::string> line = worker.ReadLine(wait);
  ASSERT_TRUE(line.has_value());
  EXPECT_EQ(line->rfind("rev ", 0), 0u) << *line;
  EXPECT_EQ(worker.Wait(wait), 0);
  EXPECT_EQ(store->get("cache", "a"), std::nullopt);
  EXPECT_EQ(Keys(*store, "cache"), (std::vector<std::string>{"b", "c"}));
  EXPECT_EQ(store->key_bound("cache")->keys, 2u);
}

TEST_F(BoundedKeyspaceTest, BadBoundsAreRefusedAndChangeNothing) {
  auto store = Store::open(path_, Opts());
  store->put("cache", "a", Value(1));
  const Revision head = store->history_bounds().head;
  EXPECT_EQ(CodeOf([&] { store->set_max_keys("cache", 0); }), ErrorCode::kInvalidArgument);
  EXPECT_EQ(CodeOf([&] { store->set_max_keys("cache", std::uint64_t{1} << 63); }),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(CodeOf([&] { store->set_max_keys("", 5); }), ErrorCode::kInvalidArgument);
  EXPECT_EQ(CodeOf([&] { store->key_bound(""); }), ErrorCode::kInvalidArgument);
  EXPECT_EQ(CodeOf([&] { store->read([](Transaction& tx) { tx.set_max_keys("cache", 5); }); }),
            ErrorCode::kReadOnly);
  try {
    store->set_max_keys("cache", 0);
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("nullopt"), std::string::npos) << e.what();
  }
  EXPECT_EQ(store->key_bound("cache"), std::nullopt);
  EXPECT_EQ(store->history_bounds().head, head);

  // A bound set inside a savepoint that rolls back never existed.
  store->transact([&](Transaction& tx) {
    EXPECT_THROW(tx.savepoint([](Transaction& inner) {
      inner.set_max_keys("cache", 1);
      throw std::runtime_error("roll back");
    }),
                 std::runtime_error);
    tx.put("cache", "b", Value(2));
  });
  EXPECT_EQ(store->key_bound("cache"), std::nullopt);
  EXPECT_EQ(Keys(*store, "cache").size(), 2u);
}

TEST_F(BoundedKeyspaceTest, VerifyFindsACountOrAMarkThatDrifted) {
  auto store = Store::open(path_, Opts());
  store->set_max_keys("cache", 5);
  store->put("cache", "a", Value(1));
  store->put("cache", "b", Value(2));
  EXPECT_TRUE(Verify(*store).ok());
  // A file edited outside statestore: the count is off, and one key lost its mark.
  test::SqlExec(path_,
                "UPDATE keyspace_bounds SET key_count = key_count + 1; "
                "UPDATE entries SET bounded = NULL WHERE key = 'b'");
  const VerifyReport report = Verify(*store);
  EXPECT_FALSE(report.ok());
  ASSERT_EQ(report.problems.size(), 2u);
  EXPECT_NE(report.problems[0].message.find("counts 3"), std::string::npos)
      << report.problems[0].message;
  EXPECT_EQ(report.problems[1].key, "b");
  EXPECT_NE(report.problems[1].message.find("not marked"), std::string::npos)
      << report.problems[1].message;
  // Removing the bound and setting it again marks and counts afresh.
  store->set_max_keys("cache", std::nullopt);
  store->set_max_keys("cache", 5);
  EXPECT_EQ(store->key_bound("cache")->keys, 2u);
  EXPECT_TRUE(Verify(*store).ok());
}

TEST_F(BoundedKeyspaceTest, FileOfSchemaSevenGainsBoundsWhenOpened) {
  {
    auto store = Store::open(path_, Opts());
    store->put("cache", "a", Value(1));
    store->put("cache", "b", Value(2));
  }
  test::SqlExec(path_, std::string(test::kUndoSchema8) + "PRAGMA user_version = 7;");
  ASSERT_EQ(test::SqlQueryInt(path_, "PRAGMA user_version"), std::optional<std::int64_t>(7));
  auto store = Store::open(path_, Opts());
  EXPECT_EQ(test::SqlQueryInt(path_, "PRAGMA user_version"),
            std::optional<std::int64_t>(SchemaVersion()));
  const Revision evicted = store->set_max_keys("cache", 1);
  EXPECT_EQ(evicted, store->history_bounds().head);
  EXPECT_EQ(Keys(*store, "cache"), (std::vector<std::string>{"b"}));
  EXPECT_TRUE(Verify(*store).ok());
}

}  // namespace
}  // namespace statestore

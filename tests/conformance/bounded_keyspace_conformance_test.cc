// Conformance: bounded keyspaces (issue 16, must-show 4; README "Bounded keyspaces",
// Transaction::set_max_keys), on every engine:
//   * a keyspace with a bound holds at most that many keys after every commit and evicts the
//     least recently written (smallest (revision, key) first); a body may hold more until it ends
//     and keeps what it wrote last; each eviction is a change of kind kEviction in the body's
//     revision, seen by watches, and revert brings the key back;
//   * lowering a bound evicts at once (the revision set_max_keys returns); setting the same or a
//     higher bound, or removing one, uses no revision; a new bound counts the keys already there;
//   * an expired key chosen for eviction is recorded as its expiry — with its lease's other keys
//     when it has a lease — and the sweep's removals, erases and lease ends leave the count;
//   * another process (the worker) applies a bound it was never told about;
//   * many threads writing at once (group commit) leave exactly the bound;
//   * bad bounds are refused (kInvalidArgument, kReadOnly) and change nothing; a bound set in a
//     savepoint that rolls back never existed.
// Engine-specific tests (Verify of a count or mark edited with SQL, the SQLite schema-seven
// migration) stay in tests/bounded_keyspace_test.cc and tests/postgres/pg_admin_test.cc.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "conformance/conformance_test.h"
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
using test::WithLease;

const Clock::time_point kBoundedStart = test::kManualClockStart;
const milliseconds kBoundedWait(20'000 * test::kSlowFactor);

std::string Key(int i) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "k%05d", i);
  return buf;
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

class BoundedKeyspaceConformance : public test::ConformanceTest {
 protected:
  // The test's clock (where the engine takes one); no expiry sweep unless asked, no reaper.
  Options Opts(milliseconds sweep_interval = milliseconds(0)) {
    Options o;
    if (engine().Supports(test::Capability::kInjectedClock)) o.clock = clock_.function();
    o.durability = Durability::kNormal;  // about which keys stay, not fsync
    o.expiry_sweep_interval = sweep_interval;
    o.sessions.sweep_interval = milliseconds(0);
    return o;
  }

  std::vector<std::string> Keys(std::string_view keyspace) {
    std::vector<std::string> keys;
    for (const Entry& e : store()->list(keyspace)) keys.push_back(e.key);
    return keys;
  }

  std::uint64_t Count(std::string_view keyspace) {
    const std::optional<KeyBound> bound = store()->key_bound(keyspace);
    EXPECT_TRUE(bound.has_value()) << keyspace << " has no bound";
    return bound ? bound->keys : ~std::uint64_t{0};
  }

  ManualClock clock_{kBoundedStart};
};

// Must-show 4: 100k writes of 30k keys into a keyspace of at most 10k. After every body the
// keyspace holds exactly the 10k most recently written keys (a model replays the rule: smallest
// (revision, key) goes first), and history holds one eviction for every key that left.
TEST_P(BoundedKeyspaceConformance, HoldsAtMostTheBoundAndEvictsTheLeastRecentlyWritten) {
  constexpr std::uint64_t kMax = 10000;
  constexpr int kWrites = 100000, kPerBody = 100, kKeySpace = 30000;
  Reopen(Opts());
  EXPECT_EQ(store()->set_max_keys("cache", kMax), 0u);  // nothing to evict yet
  const Revision first = store()->history_bounds().head + 1;

  std::map<std::string, std::pair<int, std::int64_t>> model;  // key -> (body, value)
  std::set<std::pair<int, std::string>> order;                // (body, key): eviction order
  std::mt19937 rng(16);
  std::uniform_int_distribution<int> pick(0, kKeySpace - 1);
  std::uint64_t left = 0;
  for (int body = 0; body < kWrites / kPerBody; ++body) {
    std::vector<std::pair<std::string, std::int64_t>> writes;
    for (int i = 0; i < kPerBody; ++i) writes.emplace_back(Key(pick(rng)), body * kPerBody + i);
    store()->transact([&](Transaction& tx) {
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
      const std::optional<KeyBound> bound = store()->key_bound("cache");
      ASSERT_TRUE(bound.has_value());
      EXPECT_EQ(bound->max_keys, kMax);
      EXPECT_EQ(bound->keys, model.size()) << "after body " << body;
    }
  }
  std::map<std::string, std::int64_t> expected;
  for (const auto& [key, at] : model) expected[key] = at.second;
  std::map<std::string, std::int64_t> held;
  for (const Entry& e : store()->list("cache")) held[e.key] = e.value.as_int();
  EXPECT_EQ(held.size(), kMax);
  EXPECT_TRUE(held == expected) << "the keyspace does not hold the most recently written keys";

  std::uint64_t evictions = 0;
  HistoryQuery q;
  q.from_revision = first;
  for (const Commit& c : store()->history(q)) {
    for (const Change& ch : c.changes) {
      if (ch.kind != ChangeKind::kEviction) continue;
      ++evictions;
      EXPECT_TRUE(ch.old_value.has_value());
      EXPECT_EQ(ch.new_value, std::nullopt);
      EXPECT_EQ(ch.expires_at, std::nullopt);
    }
  }
  EXPECT_EQ(evictions, left);
  ExpectVerified();
}

TEST_P(BoundedKeyspaceConformance, AnEvictionIsItsOwnKindInHistoryAndWatchesAndCanBeReverted) {
  Reopen(Opts());
  store()->set_max_keys("config", 2);  // Config's storage keyspace: a watch sees its changes
  std::mutex mu;
  std::vector<ConfigChange> seen;
  Watch w = store()->config().watch(
      "",
      [&](const WatchEvent& ev) {
        std::lock_guard<std::mutex> lock(mu);
        for (const ConfigChange& c : ev.changes) seen.push_back(c);
      },
      store()->history_bounds().head + 1);
  store()->config().set("a", ConfigValue(1));
  store()->config().set("b", ConfigValue(2));
  store()->config().set("a", ConfigValue(3));  // now b is the least recently written
  const Revision c = store()->config().set("c", ConfigValue(4));
  EXPECT_EQ(store()->config().get_value("b"), std::nullopt);
  EXPECT_EQ(store()->config().get_value("a"), ConfigValue(3));

  const std::optional<Commit> commit = store()->commit_at(c);
  ASSERT_TRUE(commit.has_value());
  ASSERT_EQ(commit->changes.size(), 2u);
  EXPECT_EQ(commit->changes[0].kind, ChangeKind::kWrite);
  EXPECT_EQ(commit->changes[1].kind, ChangeKind::kEviction);
  EXPECT_EQ(commit->changes[1].key, "override/b");  // Config stores a set as an override
  EXPECT_TRUE(commit->changes[1].old_value.has_value());
  EXPECT_EQ(commit->changes[1].new_value, std::nullopt);

  const auto give_up = std::chrono::steady_clock::now() + kBoundedWait;
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
  store()->revert(c);
  EXPECT_EQ(store()->config().get_value("b"), ConfigValue(2));
  EXPECT_EQ(store()->config().get_value("c"), std::nullopt);
  EXPECT_EQ(Count("config"), 2u);
  ExpectVerified();
}

TEST_P(BoundedKeyspaceConformance, LoweringTheBoundEvictsAtOnceAndRemovingItStopsEvicting) {
  Reopen(Opts());
  for (int i = 0; i < 5; ++i) store()->put("cache", Key(i), Value(i));
  store()->put("cache", Key(0), Value(10));  // k00000 is now the most recently written
  const Revision head = store()->history_bounds().head;
  const Revision evicted = store()->set_max_keys("cache", 2);
  EXPECT_EQ(evicted, head + 1);
  EXPECT_EQ(Keys("cache"), (std::vector<std::string>{Key(0), Key(4)}));
  const Commit c = *store()->commit_at(evicted);
  ASSERT_EQ(c.changes.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(c.changes[i].key, Key(i + 1));
    EXPECT_EQ(c.changes[i].kind, ChangeKind::kEviction);
  }
  EXPECT_EQ(Count("cache"), 2u);
  // The same bound again, or a higher one: no revision.
  EXPECT_EQ(store()->set_max_keys("cache", 2), 0u);
  EXPECT_EQ(store()->set_max_keys("cache", 3), 0u);
  EXPECT_EQ(store()->key_bound("cache")->max_keys, 3u);
  EXPECT_EQ(store()->history_bounds().head, evicted);

  EXPECT_EQ(store()->set_max_keys("cache", std::nullopt), 0u);
  EXPECT_EQ(store()->key_bound("cache"), std::nullopt);
  for (int i = 5; i < 10; ++i) store()->put("cache", Key(i), Value(i));
  EXPECT_EQ(Keys("cache").size(), 7u);
  // A new bound counts the keys already there, and new keys after it.
  store()->set_max_keys("cache", 8);
  EXPECT_EQ(Count("cache"), 7u);
  store()->put("cache", "new", Value(1));
  EXPECT_EQ(Count("cache"), 8u);
  store()->erase("cache", Key(9));
  EXPECT_EQ(Count("cache"), 7u);
  // Removing the bound of a keyspace without one, or of one that does not exist, is a no-op.
  EXPECT_EQ(store()->set_max_keys("nothing-here", std::nullopt), 0u);
  EXPECT_EQ(store()->key_bound("nothing-here"), std::nullopt);
  // The bound is stored: a restart keeps it.
  Reopen(Opts());
  EXPECT_EQ(store()->key_bound("cache")->max_keys, 8u);
  EXPECT_EQ(Count("cache"), 7u);
  ExpectVerified();
}

TEST_P(BoundedKeyspaceConformance, ABodyMayHoldMoreUntilItEndsAndKeepsWhatItWroteLast) {
  Reopen(Opts());
  store()->set_max_keys("cache", 3);
  store()->put("cache", "old", Value(0));
  const Revision r = store()->transact([&](Transaction& tx) {
    for (int i = 0; i < 5; ++i) tx.put("cache", Key(i), Value(i));
    EXPECT_EQ(tx.list("cache", "", 100).size(), 6u);  // the bound is applied as the body ends
    EXPECT_EQ(tx.key_bound("cache")->keys, 6u);
  });
  // The older key first, then ties among the body's own keys by key: the three largest stay.
  EXPECT_EQ(Keys("cache"), (std::vector<std::string>{Key(2), Key(3), Key(4)}));
  const Commit c = *store()->commit_at(r);
  ASSERT_EQ(c.changes.size(), 8u);
  EXPECT_EQ(c.changes[5].key, "old");
  EXPECT_EQ(c.changes[6].key, Key(0));
  EXPECT_EQ(c.changes[7].key, Key(1));
  for (std::size_t i = 5; i < 8; ++i) EXPECT_EQ(c.changes[i].kind, ChangeKind::kEviction);
  EXPECT_EQ(Count("cache"), 3u);
  ExpectVerified();
}

TEST_P(BoundedKeyspaceConformance, AnExpiredKeyChosenForEvictionIsRecordedAsItsExpiry) {
  CONFORMANCE_REQUIRE(test::Capability::kInjectedClock);
  Reopen(Opts());
  store()->set_max_keys("cache", 2);
  store()->put("cache", "short", Value(1), Ttl(seconds(1)));
  store()->put("cache", "long", Value(2));
  clock_.advance(seconds(2));
  const Revision r = store()->put("cache", "new", Value(3));
  const Commit c = *store()->commit_at(r);
  ASSERT_EQ(c.changes.size(), 2u);
  EXPECT_EQ(c.changes[1].key, "short");
  EXPECT_EQ(c.changes[1].kind, ChangeKind::kExpiry);
  EXPECT_EQ(c.changes[1].expires_at, kBoundedStart + seconds(1));
  // The expiry made room: the live key stays.
  EXPECT_EQ(Keys("cache"), (std::vector<std::string>{"long", "new"}));
  EXPECT_EQ(Count("cache"), 2u);

  // The sweep's removals are counted too.
  store()->put("cache", "long", Value(4), Ttl(seconds(1)));
  clock_.advance(seconds(2));
  Reopen(Opts(milliseconds(10)));
  const auto give_up = std::chrono::steady_clock::now() + kBoundedWait;
  while (store()->stats().keys_expired < 1 && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(milliseconds(5));
  }
  EXPECT_EQ(store()->stats().keys_expired, 1u);
  EXPECT_EQ(Count("cache"), 1u);
  ExpectVerified();
}

// The victim is a key of a lease past its deadline: the whole lease ends as an expiry (its keys
// in other keyspaces too) in the evicting body's revision, and since that made room, no live key
// is evicted.
TEST_P(BoundedKeyspaceConformance, AnExpiredLeaseKeyChosenForEvictionEndsItsWholeLease) {
  CONFORMANCE_REQUIRE(test::Capability::kInjectedClock);
  Reopen(Opts());
  store()->set_max_keys("cache", 3);
  const LeaseId lease = store()->grant_lease(seconds(1));
  store()->transact([&](Transaction& tx) {
    tx.put("cache", "a", Value(1), WithLease(lease));
    tx.put("cache", "b", Value(2), WithLease(lease));
    tx.put("other", "c", Value(3), WithLease(lease));
  });
  store()->put("cache", "live", Value(4));
  clock_.advance(seconds(2));
  const Revision r = store()->put("cache", "new", Value(5));
  const Commit c = *store()->commit_at(r);
  std::map<std::string, ChangeKind> kinds;
  for (const Change& ch : c.changes) kinds[ch.keyspace + "/" + ch.key] = ch.kind;
  EXPECT_EQ(kinds, (std::map<std::string, ChangeKind>{{"cache/a", ChangeKind::kExpiry},
                                                      {"cache/b", ChangeKind::kExpiry},
                                                      {"cache/new", ChangeKind::kWrite},
                                                      {"other/c", ChangeKind::kExpiry}}));
  EXPECT_EQ(Keys("cache"), (std::vector<std::string>{"live", "new"}));
  EXPECT_EQ(Count("cache"), 2u);
  EXPECT_EQ(store()->lease(lease), std::nullopt);
  EXPECT_TRUE(store()->leases().empty());
  ExpectVerified();
}

TEST_P(BoundedKeyspaceConformance, LeaseKeysLeaveTheCountWhenTheLeaseEnds) {
  Options o = Opts();
  o.redacted_keyspaces = {"secret"};
  Reopen(o);
  store()->set_max_keys("cache", 10);
  store()->set_max_keys("secret", 10);
  const LeaseId lease = store()->grant_lease(seconds(5));
  store()->transact([&](Transaction& tx) {
    tx.put("cache", "a", Value(1), WithLease(lease));
    tx.put("cache", "b", Value(2), WithLease(lease));
    tx.put("secret", "s", Value(3), WithLease(lease));
    tx.put("cache", "plain", Value(4));
  });
  EXPECT_EQ(Count("cache"), 3u);
  EXPECT_EQ(Count("secret"), 1u);
  EXPECT_TRUE(store()->revoke_lease(lease));
  EXPECT_EQ(Count("cache"), 1u);
  EXPECT_EQ(Count("secret"), 0u);
  // A redacted keyspace evicts too (its history holds digests).
  store()->set_max_keys("secret", 1);
  store()->put("secret", "x", Value(5));
  const Revision r = store()->put("secret", "y", Value(6));
  const Commit c = *store()->commit_at(r);
  ASSERT_EQ(c.changes.size(), 2u);
  EXPECT_EQ(c.changes[1].key, "x");
  EXPECT_EQ(c.changes[1].kind, ChangeKind::kEviction);
  EXPECT_EQ(Keys("secret"), (std::vector<std::string>{"y"}));
  ExpectVerified();
}

TEST_P(BoundedKeyspaceConformance, AnotherProcessKeepsTheBoundItWasNeverTold) {
  CONFORMANCE_REQUIRE(test::Capability::kMultiProcess);
  Reopen(Opts());
  store()->set_max_keys("cache", 2);
  store()->put("cache", "a", Value(1));
  store()->put("cache", "b", Value(2));
  EXPECT_EQ(store()->get("cache", "a"), Value(1));  // now in this process's read cache, if any
  auto worker = test::ChildProcess::SpawnWorker({"put", locator(), "cache", "c", "3"});
  const std::optional<std::string> line = worker.ReadLine(kBoundedWait);
  ASSERT_TRUE(line.has_value());
  EXPECT_EQ(line->rfind("rev ", 0), 0u) << *line;
  EXPECT_EQ(worker.Wait(kBoundedWait), 0);
  EXPECT_EQ(store()->get("cache", "a"), std::nullopt);
  EXPECT_EQ(Keys("cache"), (std::vector<std::string>{"b", "c"}));
  EXPECT_EQ(Count("cache"), 2u);
}

// Group commit: bodies of many threads share one server transaction (PostgreSQL) or one writer
// turn (SQLite), and a bound set among them applies to the bodies after it.
TEST_P(BoundedKeyspaceConformance, ManyWritersAtOnceLeaveExactlyTheBound) {
  constexpr int kThreads = 8, kPerThread = 200;
  constexpr std::uint64_t kMax = 50;
  Reopen(Opts());
  store()->put("cache", "before", Value(0));
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        if (t == 0 && i == kPerThread / 4) store()->set_max_keys("cache", kMax);
        store()->put("cache", Key(t * kPerThread + i), Value(i));
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(Count("cache"), kMax);
  // Each key was written once: history says when, and the keyspace holds the kMax largest
  // (revision, key).
  std::set<std::pair<Revision, std::string>> written;
  for (const Commit& c : store()->history(HistoryQuery{})) {
    for (const Change& ch : c.changes) {
      if (ch.keyspace == "cache" && ch.kind == ChangeKind::kWrite && ch.new_value) {
        written.emplace(c.revision, ch.key);
      }
    }
  }
  ASSERT_EQ(written.size(), static_cast<std::size_t>(kThreads * kPerThread + 1));
  std::set<std::string> expected;
  for (auto it = written.rbegin(); expected.size() < kMax; ++it) expected.insert(it->second);
  const std::vector<std::string> held = Keys("cache");
  EXPECT_EQ(std::set<std::string>(held.begin(), held.end()), expected);
  EXPECT_EQ(held.size(), kMax);
  ExpectVerified();
}

TEST_P(BoundedKeyspaceConformance, BadBoundsAreRefusedAndChangeNothing) {
  Reopen(Opts());
  store()->put("cache", "a", Value(1));
  const Revision head = store()->history_bounds().head;
  EXPECT_EQ(CodeOf([&] { store()->set_max_keys("cache", 0); }), ErrorCode::kInvalidArgument);
  EXPECT_EQ(CodeOf([&] { store()->set_max_keys("cache", std::uint64_t{1} << 63); }),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(CodeOf([&] { store()->set_max_keys("", 5); }), ErrorCode::kInvalidArgument);
  EXPECT_EQ(CodeOf([&] { store()->key_bound(""); }), ErrorCode::kInvalidArgument);
  EXPECT_EQ(CodeOf([&] { store()->read([](Transaction& tx) { tx.set_max_keys("cache", 5); }); }),
            ErrorCode::kReadOnly);
  try {
    store()->set_max_keys("cache", 0);
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("nullopt"), std::string::npos) << e.what();
  }
  EXPECT_EQ(store()->key_bound("cache"), std::nullopt);
  EXPECT_EQ(store()->history_bounds().head, head);

  // A bound set inside a savepoint that rolls back never existed, and the body's later writes
  // to the keyspace are not counted against it.
  store()->transact([&](Transaction& tx) {
    EXPECT_THROW(tx.savepoint([](Transaction& inner) {
      inner.set_max_keys("cache", 1);
      throw std::runtime_error("roll back");
    }),
                 std::runtime_error);
    tx.put("cache", "b", Value(2));
  });
  EXPECT_EQ(store()->key_bound("cache"), std::nullopt);
  EXPECT_EQ(Keys("cache").size(), 2u);
  ExpectVerified();
}

STATESTORE_CONFORMANCE_SUITE(BoundedKeyspaceConformance);

}  // namespace
}  // namespace statestore

// Leases and bounded keyspaces under concurrent writers (issue 16; SQLite files): the keys of one
// lease are seen all or none by every reader, and leave in one revision, while owners renew them
// under a moving clock and the sweep races both; a bounded keyspace never holds more than its
// bound. The rate-limit windows of "what it must show" 2 run on both engines:
// tests/conformance/ttl_concurrency_conformance_test.cc.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "manual_clock.h"
#include "statestore/admin.h"
#include "statestore/statestore.h"
#include "test_util.h"

namespace statestore {
namespace {

using std::chrono::milliseconds;
using test::ManualClock;

TEST(TtlConcurrency, LeaseKeysAreSeenAllOrNoneAndLeaveInOneRevision) {
  constexpr int kOwners = 4;
  constexpr int kKeysPerLease = 5;
  const int rounds = test::kUnderSanitizer ? 40 : 200;
  test::TempDir dir;
  ManualClock clock(test::kManualClockStart);
  Options options;
  options.clock = clock.function();
  options.durability = Durability::kNormal;
  options.expiry_sweep_interval = milliseconds(2);
  auto store = Store::open(dir.path() + "/leases.db", options);

  // The clock moves 10 ms per real millisecond; a lease lasts 200 ms of it unless renewed. An
  // owner renews a few times, then lets its lease lapse (the sweep or a later write ends it)
  // or revokes it, then grants the next one.
  std::atomic<bool> done{false};
  std::thread mover([&] {
    while (!done.load()) {
      clock.advance(milliseconds(10));
      std::this_thread::sleep_for(milliseconds(1));
    }
  });
  std::atomic<int> partial_views{0}, reads{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kOwners; ++t) {
    threads.emplace_back([&, t] {
      const std::string ks = "owner" + std::to_string(t);
      for (int round = 0; round < rounds; ++round) {
        LeaseId lease = 0;
        store->transact([&](Transaction& tx) {
          lease = tx.grant_lease(milliseconds(200));
          PutOptions o;
          o.lease = lease;
          for (int k = 0; k < kKeysPerLease; ++k) {
            tx.put(ks, "k" + std::to_string(k), Value(static_cast<std::int64_t>(round)), o);
          }
        });
        for (int renew = 0; renew < round % 4; ++renew) {
          if (!store->keep_alive(lease)) break;
        }
        if (round % 3 == 0) store->revoke_lease(lease);
        // Let every third lease lapse with its keys: the sweep, or the next round's writes,
        // record their expiry.
        if (round % 3 == 1) std::this_thread::sleep_for(milliseconds(30));
      }
    });
    threads.emplace_back([&, t] {
      const std::string ks = "owner" + std::to_string(t);
      while (!done.load()) {
        store->read([&](Transaction& tx) {
          const std::size_t n = tx.list(ks, "").size();
          if (n != 0 && n != static_cast<std::size_t>(kKeysPerLease)) partial_views.fetch_add(1);
        });
        reads.fetch_add(1);
      }
    });
  }
  for (int t = 0; t < kOwners; ++t) threads[2 * t].join();
  done.store(true);
  mover.join();
  for (int t = 0; t < kOwners; ++t) threads[2 * t + 1].join();
  EXPECT_EQ(partial_views.load(), 0) << "a reader saw part of a lease's keys";
  EXPECT_GT(reads.load(), 0);

  // Every revision that removes keys of an owner removes all five (the lease's) or none.
  std::map<std::string, int> expiries_of_owner;
  for (const Commit& c : store->history()) {
    std::map<std::string, std::set<std::string>> removed;
    for (const Change& ch : c.changes) {
      if (!ch.new_value) removed[ch.keyspace].insert(ch.key);
      if (ch.kind == ChangeKind::kExpiry) ++expiries_of_owner[ch.keyspace];
    }
    for (const auto& [ks, keys] : removed) {
      EXPECT_EQ(keys.size(), static_cast<std::size_t>(kKeysPerLease))
          << "revision " << c.revision << " removed part of a lease's keys in " << ks;
    }
  }
  std::cout << reads.load() << " snapshots read, " << store->stats().leases_expired
            << " leases expired by the sweep\n";
  EXPECT_FALSE(expiries_of_owner.empty()) << "no lease ever expired: the test checked nothing";
}

// Bounded keyspaces under concurrent writers (issue 16, must-show 4): 8 threads create and
// rewrite keys of a keyspace bounded to 300, some with a TTL under a moving clock, while the sweep
// runs and a reader lists it. No snapshot ever holds more than the bound, and history accounts for
// every key: each one created is still there, or left by an eviction, an expiry or an erase.
TEST(TtlConcurrency, ABoundedKeyspaceNeverHoldsMoreThanItsBound) {
  constexpr int kThreads = 8;
  constexpr std::uint64_t kMax = 300;
  const int per_thread = test::kUnderSanitizer ? 150 : 600;
  test::TempDir dir;
  ManualClock clock(test::kManualClockStart);
  Options options;
  options.clock = clock.function();
  options.durability = Durability::kNormal;
  options.expiry_sweep_interval = milliseconds(5);
  auto store = Store::open(dir.path() + "/bounded.db", options);
  store->set_max_keys("cache", kMax);
  const Revision first = store->history_bounds().head + 1;

  std::atomic<bool> done{false};
  std::thread mover([&] {
    while (!done.load()) {
      clock.advance(milliseconds(10));
      std::this_thread::sleep_for(milliseconds(1));
    }
  });
  std::atomic<std::size_t> most_seen{0};
  std::thread reader([&] {
    while (!done.load()) {
      const std::size_t n = store->list("cache").size();
      std::size_t seen = most_seen.load();
      while (n > seen && !most_seen.compare_exchange_weak(seen, n)) {
      }
    }
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::uint32_t x = 2166136261u ^ static_cast<std::uint32_t>(t);
      for (int i = 0; i < per_thread; ++i) {
        x = x * 1664525u + 1013904223u;
        store->transact([&](Transaction& tx) {
          for (int k = 0; k < 3; ++k) {
            const std::string key = "k" + std::to_string((x >> (8 * k)) % 2000);
            if (k == 2 && (x & 1) != 0) {
              tx.erase("cache", key);
              continue;
            }
            PutOptions o;
            if (k == 1) o.ttl = milliseconds(300);
            tx.put("cache", key, Value(static_cast<std::int64_t>(i)), o);
          }
        });
      }
    });
  }
  for (auto& th : threads) th.join();
  done = true;
  mover.join();
  reader.join();

  EXPECT_LE(most_seen.load(), kMax);
  // Without the sweep, so that the count and history below are of the same state.
  store.reset();
  options.expiry_sweep_interval = milliseconds(0);
  store = Store::open(dir.path() + "/bounded.db", options);
  const std::optional<KeyBound> bound = store->key_bound("cache");
  ASSERT_TRUE(bound.has_value());
  EXPECT_LE(bound->keys, kMax);
  // Every key created since the bound was set is still stored or has left, once each.
  std::int64_t created = 0, left = 0, evictions = 0;
  HistoryQuery q;
  q.from_revision = first;
  for (const Commit& c : store->history(q)) {
    for (const Change& ch : c.changes) {
      if (!ch.old_value && ch.new_value) ++created;
      if (ch.old_value && !ch.new_value) ++left;
      if (ch.kind == ChangeKind::kEviction) ++evictions;
    }
  }
  EXPECT_GT(evictions, 0);
  EXPECT_EQ(created - left, static_cast<std::int64_t>(bound->keys));
  EXPECT_TRUE(Verify(*store).ok());
}

}  // namespace
}  // namespace statestore

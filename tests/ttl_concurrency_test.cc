// Time-to-live under concurrent writers (issue 16, "what it must show" 2): 16 threads count
// requests in rate-limit windows — a key with a 1 s TTL, incremented with keep_ttl — while the
// clock moves. History must show every window counted exactly: no increment lost, none counted
// into a window after its deadline. Leases under the same moving clock: the keys of one lease are
// seen all or none by every reader, and leave in one revision, while owners renew them and the
// sweep races both.
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

TEST(TtlConcurrency, RateLimitWindowsCountExactlyUnderAMovingClock) {
  constexpr int kThreads = 16;
  const int per_thread = test::kUnderSanitizer ? 150 : 1000;
  constexpr milliseconds kWindow{1000};
  test::TempDir dir;
  ManualClock clock(test::kManualClockStart);
  Options options;
  options.clock = clock.function();
  options.durability = Durability::kNormal;         // the test is about counting, not fsync
  options.expiry_sweep_interval = milliseconds(5);  // the sweep races the writers too
  auto store = Store::open(dir.path() + "/rate.db", options);

  // The clock moves 10 ms per real millisecond: a window lasts about 100 ms of the run.
  std::atomic<bool> done{false};
  std::thread mover([&] {
    while (!done.load()) {
      clock.advance(milliseconds(10));
      std::this_thread::sleep_for(milliseconds(1));
    }
  });
  std::vector<std::thread> threads;
  std::atomic<int> increments{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < per_thread; ++i) {
        store->transact([&](Transaction& tx) {
          std::optional<Entry> e = tx.get_entry("rate", "client-1");
          if (!e) {
            PutOptions o;
            o.ttl = kWindow;
            tx.put("rate", "client-1", Value(1), o);
          } else {
            PutOptions o;
            o.keep_ttl = true;
            tx.put("rate", "client-1", Value(e->value.as_int() + 1), o);
          }
        });
        increments.fetch_add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  done.store(true);
  mover.join();
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
  for (const Commit& c : store->history(q)) {
    for (const Change& ch : c.changes) {
      if (ch.kind == ChangeKind::kExpiry) {
        ++expiries;
        ASSERT_TRUE(deadline.has_value());
        EXPECT_EQ(ch.expires_at, deadline) << "revision " << c.revision;
        EXPECT_EQ(ch.old_value, Value(static_cast<std::int64_t>(current)))
            << "revision " << c.revision;
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
            << store->stats().keys_expired << " by the sweep\n";
}

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

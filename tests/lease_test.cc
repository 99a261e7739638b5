// Leases (issue 16, second step), what only the SQLite engine shows: every way a lease ends
// deletes its row from the leases table (read with sqlite3), Verify finds a key whose deadline
// left its lease's, and a file of schema six gains leases when opened. The behaviour every engine
// shares — grant, attach, keep-alive, revoke, expiry of a lease's keys in one revision by the
// sweep or the first write after the deadline, in this process and another one — is
// tests/conformance/lease_conformance_test.cc.
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "manual_clock.h"
#include "old_schemas.h"
#include "put_options_helpers.h"
#include "sqlite_query.h"
#include "statestore/admin.h"
#include "statestore/statestore.h"
#include "test_util.h"

namespace statestore {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using test::ManualClock;
using test::WithLease;

const Clock::time_point kStart = test::kManualClockStart;

class LeaseTest : public ::testing::Test {
 protected:
  // No sweep unless asked: the tests decide when expiries are recorded.
  Options Opts(milliseconds sweep_interval = milliseconds(0)) {
    Options o;
    o.clock = clock_.function();
    o.expiry_sweep_interval = sweep_interval;
    o.sessions.sweep_interval = milliseconds(0);
    return o;
  }

  // Waits (in real time) until the store's sweep has expired `keys` keys.
  void AwaitExpired(Store& store, std::uint64_t keys) {
    const auto give_up = std::chrono::steady_clock::now() + seconds(30 * test::kSlowFactor);
    while (store.stats().keys_expired < keys && std::chrono::steady_clock::now() < give_up) {
      std::this_thread::sleep_for(milliseconds(5));
    }
    ASSERT_EQ(store.stats().keys_expired, keys);
  }

  test::TempDir dir_;
  const std::string path_ = dir_.path() + "/lease.db";
  ManualClock clock_{kStart};
};

// Every way a lease ends — revoke, the sweep (also above a sweep batch, and leases without keys),
// the first write to one of its keys after the deadline — deletes its row from the leases table
// in the same transaction, and Verify finds the file consistent after each.
TEST_F(LeaseTest, EveryWayALeaseEndsDeletesItsRow) {
  auto leases_rows = [&] { return test::SqlQueryInt(path_, "SELECT count(*) FROM leases"); };
  const auto none = std::optional<std::int64_t>(0);
  {
    auto store = Store::open(path_, Opts());
    const LeaseId revoked = store->grant_lease(seconds(60));
    store->put("app", "r", Value(1), WithLease(revoked));
    EXPECT_EQ(leases_rows(), std::optional<std::int64_t>(1));
    EXPECT_TRUE(store->revoke_lease(revoked));
    EXPECT_EQ(leases_rows(), none);
    EXPECT_TRUE(Verify(*store).ok());

    const LeaseId written = store->grant_lease(seconds(1));
    store->transact([&](Transaction& tx) {
      tx.put("app", "x", Value(1), WithLease(written));
      tx.put("app", "y", Value(2), WithLease(written));
    });
    clock_.advance(seconds(1));
    EXPECT_EQ(leases_rows(), std::optional<std::int64_t>(1));  // expired, not yet ended
    store->put("app", "x", Value(10));
    EXPECT_EQ(leases_rows(), none);
    EXPECT_TRUE(Verify(*store).ok());

    store->transact([&](Transaction& tx) {
      const LeaseId lease = tx.grant_lease(seconds(1));
      for (int i = 0; i < 300; ++i) {
        tx.put("worker", "job" + std::to_string(i), Value(i), WithLease(lease));
      }
      for (int i = 0; i < 600; ++i) tx.grant_lease(seconds(1));
    });
    EXPECT_EQ(leases_rows(), std::optional<std::int64_t>(601));
  }
  clock_.advance(seconds(2));
  auto store = Store::open(path_, Opts(milliseconds(10)));
  AwaitExpired(*store, 300);
  const auto give_up = std::chrono::steady_clock::now() + seconds(30 * test::kSlowFactor);
  while (store->stats().leases_expired < 601 && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(milliseconds(5));
  }
  EXPECT_EQ(store->stats().leases_expired, 601u);
  EXPECT_EQ(leases_rows(), none);
  EXPECT_EQ(test::SqlQueryInt(path_, "SELECT count(*) FROM entries WHERE lease_id IS NOT NULL"),
            none);
  EXPECT_TRUE(Verify(*store).ok());
}

TEST_F(LeaseTest, VerifyFindsAKeyWhoseDeadlineLeftItsLease) {
  auto store = Store::open(path_, Opts());
  const LeaseId lease = store->grant_lease(seconds(10));
  store->put("app", "k", Value(1), WithLease(lease));
  store->put("app", "orphan", Value(2), WithLease(lease));
  EXPECT_TRUE(Verify(*store).ok());
  // A file edited outside statestore: one key's deadline moved, another's lease deleted.
  test::SqlExec(path_,
                "UPDATE entries SET expires_us = expires_us + 1 WHERE key = 'k'; "
                "INSERT INTO leases (ttl_ms, expires_us) SELECT ttl_ms, expires_us "
                "FROM leases; UPDATE entries SET lease_id = lease_id + 1 WHERE key = "
                "'orphan'; DELETE FROM leases WHERE id = " +
                    std::to_string(lease + 1));
  const VerifyReport report = Verify(*store);
  EXPECT_FALSE(report.ok());
  ASSERT_EQ(report.problems.size(), 2u);
  EXPECT_EQ(report.problems[0].key, "k");
  EXPECT_NE(report.problems[0].message.find("deadline differs"), std::string::npos);
  EXPECT_EQ(report.problems[1].key, "orphan");
  EXPECT_NE(report.problems[1].message.find("does not exist"), std::string::npos);
}

TEST_F(LeaseTest, FileOfSchemaSixGainsLeasesWhenOpened) {
  {
    auto store = Store::open(path_, Opts());
    PutOptions ttl;
    ttl.ttl = seconds(10);
    store->put("app", "k", Value(1), ttl);
  }
  test::SqlExec(path_, std::string(test::kUndoSchema10) + test::kUndoSchema9 + test::kUndoSchema8 +
                           test::kUndoSchema7 + "PRAGMA user_version = 6;");
  ASSERT_EQ(test::SqlQueryInt(path_, "PRAGMA user_version"), std::optional<std::int64_t>(6));
  auto store = Store::open(path_, Opts());
  EXPECT_EQ(test::SqlQueryInt(path_, "PRAGMA user_version"),
            std::optional<std::int64_t>(SchemaVersion()));
  EXPECT_EQ(store->get_entry("app", "k")->expires_at, kStart + seconds(10));
  const LeaseId lease = store->grant_lease(seconds(5));
  store->put("app", "k", Value(2), WithLease(lease));
  EXPECT_EQ(store->get_entry("app", "k")->lease, lease);
  EXPECT_TRUE(Verify(*store).ok());
}

}  // namespace
}  // namespace statestore

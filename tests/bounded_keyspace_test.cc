// Bounded keyspaces on SQLite files: what only the SQLite engine has — Verify of a count or mark
// edited with SQL, and the migration of a schema-seven file. What bounded keyspaces do on every
// engine (must-show 4, evictions in history and watches, other processes, leases, bad bounds) is
// tests/conformance/bounded_keyspace_conformance_test.cc.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
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
using test::ManualClock;

const Clock::time_point kStart = test::kManualClockStart;

std::vector<std::string> Keys(Store& store, std::string_view keyspace) {
  std::vector<std::string> keys;
  for (const Entry& e : store.list(keyspace)) keys.push_back(e.key);
  return keys;
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
  test::SqlExec(path_, std::string(test::kUndoSchema10) + test::kUndoSchema9 + test::kUndoSchema8 +
                           "PRAGMA user_version = 7;");
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

// The crash harness (tests/harness/crash_harness.h) in both durability modes: a child with 4
// writer threads (so group commit is exercised) is SIGKILLed at random moments 24 times;
// after each kill every acknowledged revision is there, no transaction is there in part or twice,
// history replayed from empty equals the state, and PRAGMA integrity_check is ok.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <chrono>
#include <iostream>
#include <ostream>
#include <string>

#include "crash_harness.h"
#include "statestore/statestore.h"
#include "test_util.h"

#ifndef STATESTORE_CRASH_CHILD
#error "STATESTORE_CRASH_CHILD (the path of statestore_crash_child) must be defined"
#endif

namespace statestore {

// Readable test names in ctest ("GetParam() = kFull").
inline void PrintTo(Durability d, std::ostream* os) {
  *os << (d == Durability::kFull ? "kFull" : "kNormal");
}

namespace {

using std::chrono::milliseconds;

class CrashHarnessTest : public ::testing::TestWithParam<Durability> {};

TEST_P(CrashHarnessTest, KillsLoseNothingAndLeaveNoPartialTransaction) {
  test::TempDir dir;
  crash::CrashOptions o;
  o.db_path = dir.file("crash.db");
  o.child_argv = {STATESTORE_CRASH_CHILD};
  o.durability = GetParam();
  o.kills = 24;
  o.threads = 4;
  o.keys_per_txn = 4;
  o.min_run = milliseconds(20);
  o.max_run = milliseconds(150);
  o.child_timeout = milliseconds(60'000 * test::kSlowFactor);
  o.full_replay_every = 5;
  const crash::CrashReport r = crash::RunCrashHarness(o);
  std::cout << "crash harness (" << (GetParam() == Durability::kFull ? "kFull" : "kNormal")
            << "): " << r.Summary() << std::endl;
  for (const std::string& p : r.problems) ADD_FAILURE() << p;
  EXPECT_EQ(r.kills, 24);
  EXPECT_EQ(r.lost, 0u);
  EXPECT_EQ(r.partial, 0u);
  EXPECT_EQ(r.replay_mismatches, 0u);
  EXPECT_EQ(r.integrity_failures, 0u);
  EXPECT_EQ(r.child_failures, 0u);
  // The children did commit (most kills come after 20 ms or more of writing).
  EXPECT_GT(r.acks, 0u);
  EXPECT_GE(r.head_revision, r.acks);
  // With 4 writers waiting on fsyncs, some commits were grouped (kNormal commits are too quick
  // to be sure of that).
  if (GetParam() == Durability::kFull) {
    EXPECT_GE(r.max_group_size, 2u);
  }
  EXPECT_TRUE(r.ok());
}

// The checks are not vacuous: damage made behind the store's back is found.
class CrashHarnessCheckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    o_.db_path = dir_.file("crash.db");
    o_.child_argv = {STATESTORE_CRASH_CHILD};
    o_.durability = Durability::kNormal;
    o_.kills = 2;
    o_.early_kill_fraction = 0;
    o_.min_run = o_.max_run = milliseconds(100);
    o_.child_timeout = milliseconds(60'000 * test::kSlowFactor);
    const crash::CrashReport r = crash::RunCrashHarness(o_);
    ASSERT_TRUE(r.ok()) << r.Summary();
    ASSERT_GE(r.head_revision, 10u);
    head_ = r.head_revision;
    const crash::CrashReport clean = crash::CheckCrashDatabase(o_, {});
    ASSERT_TRUE(clean.lost == 0 && clean.partial == 0 && clean.replay_mismatches == 0 &&
                clean.integrity_failures == 0)
        << clean.Summary();
  }

  void Exec(const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open_v2(o_.db_path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
    char* err = nullptr;
    const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
    const std::string message = err ? err : "";
    sqlite3_free(err);
    const int changes = sqlite3_changes(db);
    sqlite3_close_v2(db);
    ASSERT_EQ(rc, SQLITE_OK) << message;
    ASSERT_EQ(changes, 1) << sql;
  }

  test::TempDir dir_;
  crash::CrashOptions o_;
  Revision head_ = 0;
};

TEST_F(CrashHarnessCheckTest, FindsATransactionPresentInPart) {
  Exec("DELETE FROM changes WHERE revision = 5 AND seq = 2");
  const crash::CrashReport r = crash::CheckCrashDatabase(o_, {});
  EXPECT_GE(r.partial, 1u) << r.Summary();
}

TEST_F(CrashHarnessCheckTest, FindsStateThatDisagreesWithHistory) {
  Exec(
      "UPDATE entries SET value = 'tampered' WHERE key = "
      "(SELECT key FROM entries WHERE key LIKE 'k/%' LIMIT 1)");
  const crash::CrashReport r = crash::CheckCrashDatabase(o_, {});
  EXPECT_GE(r.replay_mismatches, 1u) << r.Summary();
}

TEST_F(CrashHarnessCheckTest, FindsAnAcknowledgedRevisionThatIsMissing) {
  const crash::CrashReport r = crash::CheckCrashDatabase(
      o_, {crash::AckedTxn{head_ + 1, 2, 0, 1'000'000}, crash::AckedTxn{1, 2, 3, 999}});
  EXPECT_EQ(r.lost, 2u) << r.Summary();
  EXPECT_EQ(r.acks, 2u);
}

INSTANTIATE_TEST_SUITE_P(Durability, CrashHarnessTest,
                         ::testing::Values(Durability::kFull, Durability::kNormal),
                         [](const ::testing::TestParamInfo<Durability>& info) {
                           return info.param == Durability::kFull ? "Full" : "Normal";
                         });

}  // namespace
}  // namespace statestore

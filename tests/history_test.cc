// History on a SQLite file: time queries and verify on an old file whose clock went back, made by
// editing the file with sqlite3. What every engine's history does (what commits record, queries,
// revert, retention) is in conformance/history_conformance_test.cc.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "old_schemas.h"
#include "sqlite_query.h"
#include "statestore/admin.h"
#include "statestore/statestore.h"
#include "test_util.h"

namespace statestore {
namespace {

using std::chrono::microseconds;
using test::CatchError;
using test::SqlExec;
using test::SqlQueryInt;
using test::TempDir;

std::vector<Revision> Revisions(const std::vector<Commit>& commits) {
  std::vector<Revision> revs;
  for (const auto& c : commits) revs.push_back(c.revision);
  return revs;
}

class HistoryTest : public ::testing::Test {
 protected:
  void Open(const Options& options = {}) {
    store_.reset();
    store_ = Store::open(dir_.file("state.db"), options);
  }
  void SetUp() override { Open(); }

  TempDir dir_;
  std::shared_ptr<Store> store_;
};

// Time queries bisect commits by revision, which needs commit times that never decrease
// (transaction_impl.h invariant 6). A file from before schema 5 may hold a clock that went back:
// the migration records where times are ordered again, and every since/until query stays exact
// on both sides of that point.
TEST_F(HistoryTest, TimeQueriesAreExactWhenAnOldFileSClockWentBack) {
  for (int i = 1; i <= 20; ++i) store_->put("app", "k" + std::to_string(i % 3), i);
  store_.reset();
  const std::string path = dir_.file("state.db");
  // Revision r at base + r ms, except 5..7, stamped before revision 2 (the clock was set back);
  // then the file is made to look like schema version 4 again, so the migration sees it.
  const std::int64_t base = 1'700'000'000'000'000;
  std::map<Revision, std::int64_t> times;
  for (Revision r = 1; r <= 20; ++r) {
    times[r] = base + static_cast<std::int64_t>(r) * 1000;
    if (r >= 5 && r <= 7) times[r] = base + 1000 + static_cast<std::int64_t>(r) * 10;
    SqlExec(path, "UPDATE commits SET time_us = " + std::to_string(times[r]) +
                      " WHERE revision = " + std::to_string(r));
  }
  SqlExec(path,
          std::string(test::kUndoSchema10) + test::kUndoSchema9 + test::kUndoSchema8 +
              test::kUndoSchema7 + test::kUndoSchema6 +
              "CREATE INDEX commits_by_time ON commits (time_us); DELETE FROM meta WHERE name = "
              "'time_ordered_from'; DROP INDEX changes_by_keyspace; CREATE INDEX changes_by_key ON "
              "changes (keyspace_id, key, revision); PRAGMA user_version = 4;");
  Open();
  EXPECT_EQ(SqlQueryInt(path, "SELECT value FROM meta WHERE name = 'time_ordered_from'"),
            std::optional<std::int64_t>(8));
  EXPECT_EQ(SqlQueryInt(path, "SELECT count(*) FROM sqlite_schema WHERE name = 'commits_by_time'"),
            std::optional<std::int64_t>(0));
  EXPECT_TRUE(Verify(*store_).ok());

  auto at = [&](std::int64_t us) { return Clock::time_point(microseconds(us)); };
  std::vector<std::int64_t> points{base - 1,    base + 1000, base + 1040,  base + 1055,
                                   base + 1070, base + 1071, base + 2000,  base + 4500,
                                   base + 8000, base + 8001, base + 20000, base + 99000};
  for (std::int64_t since : points) {
    for (std::int64_t until : points) {
      for (int mode = 0; mode < 3; ++mode) {  // since only, until only, both
        HistoryQuery q;
        if (mode != 1) q.since = at(since);
        if (mode != 0) q.until = at(until);
        std::vector<Revision> want;
        for (const auto& [r, t] : times) {
          if ((!q.since || t >= since) && (!q.until || t < until)) want.push_back(r);
        }
        EXPECT_EQ(Revisions(store_->history(q)), want)
            << "mode " << mode << " since +" << since - base << " until +" << until - base;
        q.newest_first = true;
        std::reverse(want.begin(), want.end());
        EXPECT_EQ(Revisions(store_->history(q)), want);
      }
    }
  }

  // New commits continue from the newest time even when the clock is behind it.
  store_.reset();
  const std::int64_t future = base + 10LL * 365 * 24 * 3600 * 1000000;  // ten years ahead
  SqlExec(path, "UPDATE commits SET time_us = " + std::to_string(future) + " WHERE revision = 20");
  Open();
  const Revision next = store_->put("app", "after", 1);
  ASSERT_TRUE(store_->commit_at(next).has_value());
  EXPECT_EQ(store_->commit_at(next)->time, at(future));
  HistoryQuery recent;
  recent.since = at(future);
  EXPECT_EQ(Revisions(store_->history(recent)), (std::vector<Revision>{20, next}));
  EXPECT_TRUE(Verify(*store_).ok());

  // verify names a time that goes back where times must be ordered.
  store_.reset();
  SqlExec(path, "UPDATE commits SET time_us = " + std::to_string(base) + " WHERE revision = 12");
  Open();
  const VerifyReport v = Verify(*store_);
  ASSERT_EQ(v.problems.size(), 1u);
  EXPECT_EQ(v.problems[0].revision, 12u);
}

// Migrations 9 and 10 rebuild `changes` (0009_changes_rowid_table.sql: a rowid table;
// 0010_changes_by_commit_range.sql: an explicit id, and commit rows that name their changes' id
// range in place of the changes_by_revision index). A file of an older schema — made from one
// written today by undoing the migrations — keeps every change in order, with its values, kinds
// and the partial mark retention left; and the upgraded file appends, reverts and compacts as a
// new one does.
class HistoryUpgradeTest : public HistoryTest {
 protected:
  void UpgradeKeepsEveryChange(const std::string& undo,
                               const std::function<void(const std::string&)>& check_old_file) {
    const std::string path = dir_.file("state.db");
    store_->set_history_policy("noise", HistoryPolicy{2, std::chrono::seconds{0}, false});
    store_->transact([](Transaction& tx) {
      tx.put("app", "a", Value(1));
      tx.put("app", "b", Value("two"));
      tx.put("noise", "n", Value(0));
    });
    for (int i = 1; i <= 5; ++i) store_->put("noise", "n", Value(i));
    store_->transact([](Transaction& tx) {
      tx.put("app", "a", Value(2.5));
      tx.erase("app", "b");
      tx.put("app", "c", Value(std::vector<std::uint8_t>{0, 1, 2}));
    });
    store_->compact_history();  // noise keeps 2 revisions: the first commit becomes partial
    const std::vector<Commit> before = store_->history();
    ASSERT_EQ(before.size(), 4u);  // 1 (partial), noise 5 and 6, and the last
    ASSERT_TRUE(before.front().partial);
    store_.reset();

    SqlExec(path, undo);
    ASSERT_NO_FATAL_FAILURE(check_old_file(path));
    Open();
    EXPECT_EQ(SqlQueryInt(path, "PRAGMA user_version"),
              std::optional<std::int64_t>(SchemaVersion()));
    EXPECT_EQ(SqlQueryInt(path,
                          "SELECT count(*) FROM sqlite_schema WHERE name = 'changes' AND "
                          "sql LIKE '%WITHOUT ROWID%'"),
              std::optional<std::int64_t>(0));
    EXPECT_EQ(SqlQueryInt(path,
                          "SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name = "
                          "'changes_by_keyspace'"),
              std::optional<std::int64_t>(1));
    EXPECT_EQ(
        SqlQueryInt(path, "SELECT count(*) FROM sqlite_schema WHERE name = 'changes_by_revision'"),
        std::optional<std::int64_t>(0));
    // 0010: every commit names the id range of its changes, and each change lies in it.
    EXPECT_EQ(SqlQueryInt(path,
                          "SELECT count(*) FROM changes x JOIN commits c ON c.revision = "
                          "x.revision WHERE x.id BETWEEN c.first_change AND c.last_change"),
              SqlQueryInt(path, "SELECT count(*) FROM changes"));

    const std::vector<Commit> after = store_->history();
    ASSERT_EQ(after.size(), before.size());
    for (std::size_t i = 0; i < before.size(); ++i) {
      SCOPED_TRACE("commit " + std::to_string(before[i].revision));
      EXPECT_EQ(after[i].revision, before[i].revision);
      EXPECT_EQ(after[i].time, before[i].time);
      EXPECT_EQ(after[i].partial, before[i].partial);
      ASSERT_EQ(after[i].changes.size(), before[i].changes.size());
      for (std::size_t j = 0; j < before[i].changes.size(); ++j) {
        const Change& x = before[i].changes[j];
        const Change& y = after[i].changes[j];
        EXPECT_EQ(std::tie(y.keyspace, y.key, y.old_value, y.new_value, y.redacted, y.kind),
                  std::tie(x.keyspace, x.key, x.old_value, x.new_value, x.redacted, x.kind));
      }
    }
    EXPECT_TRUE(Verify(*store_).ok());

    // The upgraded file works as a new one: a commit appends after the copied rows, revert reads
    // the keyspace index, and retention removes by revision.
    const Revision last = store_->history_bounds().head;
    EXPECT_EQ(CatchError([&] { store_->revert(before.front().revision); })->code(),
              ErrorCode::kNotFound);  // partial: some of its changes are gone
    const Revision reverted = store_->revert(last);
    EXPECT_EQ(store_->get("app", "b"), std::optional<Value>(Value("two")));
    EXPECT_EQ(store_->get("app", "c"), std::nullopt);
    ASSERT_TRUE(store_->commit_at(reverted).has_value());
    EXPECT_EQ(store_->commit_at(reverted)->changes.size(), 3u);
    for (int i = 6; i <= 8; ++i) store_->put("noise", "n", Value(i));
    store_->compact_history();
    EXPECT_EQ(SqlQueryInt(path,
                          "SELECT count(*) FROM changes c JOIN keyspaces k ON "
                          "k.id = c.keyspace_id WHERE k.name = 'noise'"),
              std::optional<std::int64_t>(2));
    EXPECT_TRUE(Verify(*store_).ok());
  }
};

TEST_F(HistoryUpgradeTest, SchemaEightHistoryKeepsEveryChangeWhenChangesBecomesARowidTable) {
  UpgradeKeepsEveryChange(
      std::string(test::kUndoSchema10) + test::kUndoSchema9 + "PRAGMA user_version = 8;",
      [](const std::string& path) {
        ASSERT_EQ(SqlQueryInt(path,
                              "SELECT count(*) FROM sqlite_schema WHERE name = 'changes' AND "
                              "sql LIKE '%WITHOUT ROWID%'"),
                  std::optional<std::int64_t>(1));
      });
}

TEST_F(HistoryUpgradeTest, SchemaNineHistoryKeepsEveryChangeWhenCommitsNameTheirChangeRanges) {
  UpgradeKeepsEveryChange(std::string(test::kUndoSchema10) + "PRAGMA user_version = 9;",
                          [](const std::string& path) {
                            ASSERT_EQ(SqlQueryInt(path,
                                                  "SELECT count(*) FROM sqlite_schema WHERE name "
                                                  "= 'changes_by_revision'"),
                                      std::optional<std::int64_t>(1));
                          });
}

}  // namespace
}  // namespace statestore

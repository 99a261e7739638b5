// Per-keyspace history retention (HistoryPolicy) in a SQLite file: session churn never erases
// config history, keep_for / keep_none per keyspace counted in change rows and meta, policies
// stored in the file (seen by another open and by inspect), exact counts over a long backlog, and
// the upgrade of schema-3 and schema-4 files. The engine-neutral policy tests are in
// conformance/retention_conformance_test.cc.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "old_schemas.h"
#include "sqlite_query.h"
#include "statestore/admin.h"
#include "statestore/statestore.h"
#include "test_util.h"

namespace statestore {
namespace {

using test::CatchError;
using test::SqlExec;
using test::SqlQueryInt;
using test::TempDir;

std::int64_t ChangeRows(const std::string& path, const std::string& keyspace) {
  return SqlQueryInt(path,
                     "SELECT count(*) FROM changes WHERE keyspace_id = (SELECT id FROM keyspaces "
                     "WHERE name = '" +
                         keyspace + "')")
      .value_or(-1);
}

std::int64_t MetaCompactedThrough(const std::string& path) {
  return SqlQueryInt(path, "SELECT value FROM meta WHERE name = 'compacted_through'").value_or(-1);
}

HistoryPolicy KeepRevisions(std::uint64_t n) {
  HistoryPolicy p;
  p.keep_revisions = n;
  return p;
}

HistoryPolicy KeepNone() {
  HistoryPolicy p;
  p.keep_none = true;
  return p;
}

class HistoryPolicyTest : public ::testing::Test {
 protected:
  void Open(const Options& options = {}) {
    store_.reset();
    store_ = Store::open(path_, options);
  }
  void SetUp() override { Open(); }

  TempDir dir_;
  std::string path_ = dir_.file("state.db");
  std::shared_ptr<Store> store_;
};

// The production incident: with one global limit, session churn pushed config history out.
TEST_F(HistoryPolicyTest, ConfigHistorySurvivesSessionChurn) {
  Options options;
  options.durability = Durability::kNormal;  // 2000 commits; durability is not what is tested
  options.history_policies[std::string(kSessionsKeyspace)] = KeepRevisions(1000);
  Open(options);
  Config& config = store_->config();
  const Revision r1 = config.set("app.limit", 10);
  const Revision r2 = config.set("app.limit", 20);
  const Revision r3 = config.set("app.mode", "fast");

  // A config watch from an old revision, started before the churn.
  std::mutex mu;
  std::vector<WatchEvent> events;
  Watch watch = config.watch(
      "app.",
      [&](const WatchEvent& e) {
        std::lock_guard<std::mutex> lock(mu);
        events.push_back(e);
      },
      r1);

  constexpr int kSessionWrites = 20000;
  constexpr int kPerTx = 10;  // 2000 revisions: twice the sessions allowance
  for (int i = 0; i < kSessionWrites / kPerTx; ++i) {
    store_->transact([&](Transaction& tx) {
      for (int j = 0; j < kPerTx; ++j) {
        tx.put(kSessionsKeyspace, "t/churn" + std::to_string((i * kPerTx + j) % 3000),
               Value(static_cast<std::int64_t>(i)));
      }
    });
  }
  store_->compact_history();

  // Sessions history is bounded: exactly the changes of the last 1000 session revisions.
  const std::int64_t session_rows = ChangeRows(path_, "sessions");
  EXPECT_EQ(session_rows, 1000 * kPerTx);
  EXPECT_GE(MetaCompactedThrough(path_), static_cast<std::int64_t>(r3));
  // The store-wide bound moved past the config revisions; the config keyspace's did not.
  EXPECT_GT(store_->history_bounds().first, r3);
  HistoryBounds cb = store_->history_bounds("config");
  EXPECT_EQ(cb.compacted_through, 0u);
  EXPECT_EQ(cb.first, 1u);
  EXPECT_EQ(ChangeRows(path_, "config"), 3);

  HistoryQuery q;
  q.keyspace = "config";
  auto config_history = store_->history(q);
  ASSERT_EQ(config_history.size(), 3u);
  EXPECT_EQ(config_history[0].revision, r1);

  // A watch resumed from an old revision after the churn still gets every config change.
  std::vector<Revision> resumed;
  std::atomic<bool> compacted{false};
  Watch late = config.watch(
      "app.",
      [&](const WatchEvent& e) {
        std::lock_guard<std::mutex> lock(mu);
        if (e.kind == WatchEvent::Kind::kCompacted) compacted = true;
        resumed.push_back(e.revision);
      },
      r1);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (resumed.size() >= 3 && events.size() >= 3) break;
    }
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "watches did not deliver";
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  {
    std::lock_guard<std::mutex> lock(mu);
    EXPECT_FALSE(compacted.load());
    EXPECT_EQ(resumed, (std::vector<Revision>{r1, r2, r3}));
    for (const auto& e : events) EXPECT_EQ(e.kind, WatchEvent::Kind::kChanges);
  }
  EXPECT_TRUE(watch.active());
  EXPECT_TRUE(late.active());

  // Config time travel and revert work on the old revisions.
  EXPECT_EQ(config.at(r1).get<std::int64_t>("app.limit"), std::optional<std::int64_t>(10));
  config.revert(r2);
  EXPECT_EQ(config.get<std::int64_t>("app.limit"), std::optional<std::int64_t>(10));

  VerifyReport v = Verify(*store_);
  EXPECT_TRUE(v.ok()) << (v.problems.empty() ? "" : v.problems[0].message);
}

TEST_F(HistoryPolicyTest, KeepForRemovesOldChangesOfThatKeyspaceOnly) {
  HistoryPolicy p;
  p.keep_for = std::chrono::seconds(1);
  store_->set_history_policy("cache", p);
  store_->put("cache", "a", Value(1));
  store_->put("cache", "b", Value(2));
  const Revision kept_app = store_->put("app", "x", Value(1));
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  const Revision fresh = store_->put("cache", "c", Value(3));
  store_->put("app", "y", Value(2));  // so `fresh` is not the head
  EXPECT_EQ(store_->compact_history(), 2u);
  EXPECT_EQ(ChangeRows(path_, "cache"), 1);
  EXPECT_EQ(ChangeRows(path_, "app"), 2);
  HistoryBounds b = store_->history_bounds("cache");
  EXPECT_EQ(b.compacted_through, 2u);
  EXPECT_EQ(b.first, 3u);
  EXPECT_TRUE(store_->commit_at(kept_app).has_value());
  EXPECT_TRUE(store_->commit_at(fresh).has_value());
  EXPECT_FALSE(store_->commit_at(1).has_value());
  EXPECT_EQ(store_->get("cache", "a"), std::optional<Value>(Value(1)));  // state untouched
}

TEST_F(HistoryPolicyTest, KeepNoneRemovesEverythingButTheHead) {
  store_->put("app", "a", Value(1));
  for (int i = 0; i < 10; ++i) store_->put("scratch", "k" + std::to_string(i), Value(i));
  store_->put("app", "b", Value(2));
  const Revision before = store_->history_bounds().head;
  store_->set_history_policy("scratch", KeepNone());
  EXPECT_EQ(store_->history_bounds().head, before);  // setting a policy makes no revision
  EXPECT_EQ(MetaCompactedThrough(path_), 0);
  EXPECT_EQ(store_->compact_history(), 10u);
  EXPECT_EQ(ChangeRows(path_, "scratch"), 0);
  EXPECT_EQ(ChangeRows(path_, "app"), 2);
  EXPECT_EQ(MetaCompactedThrough(path_), 11);
  EXPECT_EQ(store_->history_bounds().compacted_through, 11u);
  EXPECT_EQ(store_->history_bounds("scratch").first, 12u);
  EXPECT_EQ(store_->history_bounds("app").compacted_through, 0u);
  EXPECT_EQ(store_->history().size(), 2u);
  EXPECT_EQ(store_->get("scratch", "k9"), std::optional<Value>(Value(9)));
  // A second pass has nothing left to do.
  EXPECT_EQ(store_->compact_history(), 0u);
  // The head's own changes are kept.
  const Revision head = store_->put("scratch", "last", Value(1));
  EXPECT_EQ(store_->compact_history(), 0u);
  ASSERT_TRUE(store_->commit_at(head).has_value());
  EXPECT_TRUE(Verify(*store_).ok());
}

TEST_F(HistoryPolicyTest, StoredPolicyIsSeenByAnotherOpenAndInspect) {
  {
    Options options;
    options.history_policies["audit"] = KeepRevisions(3);
    options.history_policies[std::string(kSessionsKeyspace)] = KeepNone();
    Open(options);
    store_->put("audit", "k", Value(1));
  }
  store_.reset();
  // A second open with no policies in its Options applies the stored ones.
  Options plain;
  plain.history_retention.keep_for = std::chrono::hours(1);
  Open(plain);
  EffectiveHistoryPolicy audit = store_->history_policy("audit");
  EXPECT_EQ(audit.source, HistoryPolicySource::kStored);
  EXPECT_EQ(audit.policy.keep_revisions, 3u);
  EXPECT_TRUE(store_->history_policy("sessions").policy.keep_none);
  for (int i = 0; i < 10; ++i) store_->put("audit", "k", Value(i));
  store_->compact_history();
  HistoryQuery q;
  q.keyspace = "audit";
  EXPECT_EQ(store_->history(q).size(), 3u);

  InspectReport r = Inspect(*store_, /*check_integrity=*/false);
  bool found = false;
  for (const KeyspaceInfo& k : r.keyspaces) {
    if (k.name != "audit") continue;
    found = true;
    EXPECT_EQ(k.history_policy.source, HistoryPolicySource::kStored);
    EXPECT_EQ(k.history_policy.policy.keep_revisions, 3u);
    EXPECT_EQ(k.history_changes, 3u);
    EXPECT_GT(k.history_bytes, 0u);
    EXPECT_EQ(k.history_first, 9u);
  }
  EXPECT_TRUE(found);
  EXPECT_TRUE(r.history_bytes_from_dbstat);  // Debian's SQLite has dbstat

  // The same policies again: no write (the head and the policy rows are unchanged).
  store_.reset();
  Options same;
  same.history_policies["audit"] = KeepRevisions(3);
  Open(same);
  EXPECT_EQ(store_->history_policy("audit").policy.keep_revisions, 3u);
}

// compact_history() counts exactly what it removed, also over a backlog of more than 128
// batches. Before, each retention batch counted as a commit, so every 64 batches the Store's own
// background retention ran a batch concurrently that the call did not count (statectl reported
// 55,102 removed revisions of 55,870; this test then saw 39,487 of 39,999). Prints how long the
// compaction took. ~8 s, nearly all of it writing the 40,000 commits.
TEST_F(HistoryPolicyTest, CompactHistoryCountsExactlyOverALongBacklog) {
  Options options;
  options.durability = Durability::kNormal;
  Open(options);                   // keep all while writing
  constexpr int kCommits = 40000;  // > 128 batches of 256 revisions
  for (int i = 0; i < kCommits; ++i) store_->put("app", "k" + std::to_string(i % 100), Value(i));
  store_.reset();
  options.history_retention.keep_revisions = 1;
  Open(options);
  const std::int64_t before = SqlQueryInt(path_, "SELECT count(*) FROM commits").value_or(-1);
  const auto start = std::chrono::steady_clock::now();
  const std::uint64_t removed = store_->compact_history();
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - start)
                      .count();
  const std::int64_t after = SqlQueryInt(path_, "SELECT count(*) FROM commits").value_or(-1);
  EXPECT_EQ(after, 1);
  EXPECT_EQ(static_cast<std::int64_t>(removed), before - after);
  std::cout << "compact_history: " << removed << " revisions in " << ms << " ms\n";
  EXPECT_TRUE(Verify(*store_).ok());
}

// A file written by the library at schema version 3 (before per-keyspace retention), with
// history compacted by the old global retention: the upgrade keeps its history and bounds, and
// per-keyspace retention then works on it.
TEST_F(HistoryPolicyTest, UpgradesASchema3File) {
  Options options;
  options.history_retention.keep_revisions = 10;
  Open(options);
  for (int i = 0; i < 30; ++i) {
    store_->transact([&](Transaction& tx) {
      tx.put("app", "k", Value(i));
      if (i % 3 == 0) tx.put("noise", "n", Value(i));
    });
  }
  store_->compact_history();
  ASSERT_EQ(store_->history_bounds().first, 21u);
  store_.reset();
  // What schema version 3 was: no keyspace_history, no commits.partial, history indexed by key.
  SqlExec(path_, std::string(test::kUndoSchema10) + test::kUndoSchema9 + test::kUndoSchema8 +
                     test::kUndoSchema7 + test::kUndoSchema6 +
                     "DROP TABLE keyspace_history; ALTER TABLE commits DROP COLUMN partial; "
                     "DROP INDEX changes_by_keyspace; "
                     "CREATE INDEX changes_by_key ON changes (keyspace_id, key, revision); "
                     "CREATE INDEX commits_by_time ON commits (time_us); "
                     "DELETE FROM meta WHERE name = 'time_ordered_from'; PRAGMA user_version = 3;");
  ASSERT_EQ(SqlQueryInt(path_, "PRAGMA user_version"), std::optional<std::int64_t>(3));

  Open();
  EXPECT_EQ(SqlQueryInt(path_, "PRAGMA user_version"),
            std::optional<std::int64_t>(SchemaVersion()));
  HistoryBounds b = store_->history_bounds();
  EXPECT_EQ(b.head, 30u);
  EXPECT_EQ(b.compacted_through, 20u);
  EXPECT_EQ(store_->history_bounds("app").compacted_through, 20u);
  EXPECT_EQ(store_->history_bounds("noise").compacted_through, 20u);
  EXPECT_EQ(store_->history().size(), 10u);
  EXPECT_TRUE(Verify(*store_).ok());

  store_->set_history_policy("noise", KeepNone());
  store_->compact_history();
  EXPECT_EQ(ChangeRows(path_, "noise"), 0);
  EXPECT_EQ(ChangeRows(path_, "app"), 10);
  EXPECT_EQ(store_->history().size(), 10u);  // the app changes keep their commits
  EXPECT_EQ(store_->history_bounds().compacted_through, 28u);
  std::optional<Commit> c = store_->commit_at(28);
  ASSERT_TRUE(c.has_value());
  EXPECT_TRUE(c->partial);
  EXPECT_TRUE(Verify(*store_).ok());
}

// tests/data/schema4: a file written by the library at schema version 4 (the release before
// changes_by_keyspace), by statectl: app/a set, erased (revision 3) and set again, app/b set,
// overwritten and reverted away, noise/n written 6 times under a stored keep-2-revisions policy
// and compacted (revisions 5..8 are gone). The upgrade keeps every retained revision, the state
// and the bounds, swaps the index, and the file then works as one made today.
TEST_F(HistoryPolicyTest, UpgradesASchema4FileWrittenByTheReleasedLibrary) {
  store_.reset();
  for (const char* name : {"schema4.db", "schema4.db-key"}) {
    std::filesystem::copy_file(std::string(STATESTORE_TEST_DATA) + "/schema4/" + name,
                               dir_.file(name));
    // git checks files out 0644; the key file must be 0600 (redaction_key.h), as statectl made it.
    std::filesystem::permissions(
        dir_.file(name), std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  }
  const std::string path = dir_.file("schema4.db");
  ASSERT_EQ(SqlQueryInt(path, "PRAGMA user_version"), std::optional<std::int64_t>(4));
  std::shared_ptr<Store> store = Store::open(path);
  EXPECT_EQ(SqlQueryInt(path, "PRAGMA user_version"), std::optional<std::int64_t>(SchemaVersion()));
  EXPECT_EQ(SqlQueryInt(path, "SELECT count(*) FROM sqlite_schema WHERE name = 'changes_by_key'"),
            std::optional<std::int64_t>(0));
  EXPECT_EQ(
      SqlQueryInt(path, "SELECT count(*) FROM sqlite_schema WHERE name = 'changes_by_keyspace'"),
      std::optional<std::int64_t>(1));
  EXPECT_EQ(SqlQueryInt(path, "SELECT count(*) FROM sqlite_schema WHERE name = 'commits_by_time'"),
            std::optional<std::int64_t>(0));
  EXPECT_EQ(SqlQueryInt(path,
                        "SELECT count(*) FROM sqlite_schema WHERE name = 'changes' AND "
                        "sql LIKE '%WITHOUT ROWID%'"),
            std::optional<std::int64_t>(0));  // migration 9
  // statectl stamped these commits with a clock that never went back: all of them are ordered.
  EXPECT_EQ(SqlQueryInt(path, "SELECT value FROM meta WHERE name = 'time_ordered_from'"),
            std::optional<std::int64_t>(0));

  EXPECT_EQ(store->get("app", "a"), std::optional<Value>(Value(std::int64_t{3})));
  EXPECT_EQ(store->get("app", "b"), std::nullopt);
  EXPECT_EQ(store->get("noise", "n"), std::optional<Value>(Value(std::int64_t{6})));
  const HistoryBounds b = store->history_bounds();
  EXPECT_EQ(b.head, 12u);
  EXPECT_EQ(b.compacted_through, 8u);
  EXPECT_EQ(store->history_bounds("noise").compacted_through, 8u);
  std::vector<Revision> revisions;
  for (const Commit& c : store->history()) revisions.push_back(c.revision);
  EXPECT_EQ(revisions, (std::vector<Revision>{1, 2, 3, 4, 9, 10, 11, 12}));
  EXPECT_TRUE(Verify(*store).ok());

  // Revert's "changed again later" check reads the new index: app/a was erased by 3 and set by 4.
  EXPECT_EQ(CatchError([&] { store->revert(1); })->code(), ErrorCode::kConflict);
  EXPECT_EQ(CatchError([&] { store->revert(3); })->code(), ErrorCode::kConflict);
  const Revision r = store->revert(4);  // the last change of app/a: allowed, erases it again
  EXPECT_EQ(store->get("app", "a"), std::nullopt);
  EXPECT_EQ(CatchError([&] { store->revert(3); })->code(), ErrorCode::kConflict);

  // Retention on the upgraded file: the stored policy keeps noise's 2 newest revisions.
  for (int i = 7; i <= 9; ++i) store->put("noise", "n", Value(i));
  store->compact_history();
  EXPECT_EQ(ChangeRows(path, "noise"), 2);
  EXPECT_EQ(store->history_bounds("noise").compacted_through, r + 1);
  EXPECT_TRUE(Verify(*store).ok());
}

}  // namespace
}  // namespace statestore

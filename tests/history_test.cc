// History: what each commit records (changes, origin, time), queries (revision and time ranges,
// keyspace, key prefix, label, pid, limit, order), commit_at, revert, and retention/compaction.
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

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

std::int64_t ThisThreadId() { return static_cast<std::int64_t>(::syscall(SYS_gettid)); }

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

TEST_F(HistoryTest, EmptyStoreHasEmptyHistory) {
  HistoryBounds b = store_->history_bounds();
  EXPECT_EQ(b.head, 0u);
  EXPECT_EQ(b.first, 1u);
  EXPECT_GT(b.first, b.head);
  EXPECT_EQ(b.compacted_through, 0u);
  EXPECT_TRUE(store_->history().empty());
  EXPECT_FALSE(store_->commit_at(0).has_value());
  EXPECT_FALSE(store_->commit_at(1).has_value());
}

TEST_F(HistoryTest, CommitsRecordChangesOriginAndTime) {
  const auto before = std::chrono::floor<microseconds>(Clock::now());
  Revision r1 = store_->transact([](Transaction& tx) {
    tx.put("app", "a", Value(1));
    tx.put("cfg", "b", Value("x"));
  });
  Revision r2 = store_->put("app", "a", Value(2));
  Revision r3 = store_->erase("app", "a");
  const auto after = std::chrono::ceil<microseconds>(Clock::now());
  EXPECT_EQ(r1, 1u);
  EXPECT_EQ(r2, 2u);
  EXPECT_EQ(r3, 3u);

  auto all = store_->history();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(Revisions(all), (std::vector<Revision>{1, 2, 3}));

  const Commit& c1 = all[0];
  ASSERT_EQ(c1.changes.size(), 2u);
  EXPECT_EQ(c1.changes[0].keyspace, "app");
  EXPECT_EQ(c1.changes[0].key, "a");
  EXPECT_EQ(c1.changes[0].old_value, std::nullopt);
  EXPECT_EQ(c1.changes[0].new_value, std::optional<Value>(Value(1)));
  EXPECT_EQ(c1.changes[1].keyspace, "cfg");
  EXPECT_EQ(c1.changes[1].key, "b");
  EXPECT_EQ(c1.changes[1].new_value, std::optional<Value>(Value("x")));

  ASSERT_EQ(all[1].changes.size(), 1u);
  EXPECT_EQ(all[1].changes[0].old_value, std::optional<Value>(Value(1)));
  EXPECT_EQ(all[1].changes[0].new_value, std::optional<Value>(Value(2)));
  ASSERT_EQ(all[2].changes.size(), 1u);
  EXPECT_EQ(all[2].changes[0].old_value, std::optional<Value>(Value(2)));
  EXPECT_EQ(all[2].changes[0].new_value, std::nullopt);

  for (const Commit& c : all) {
    EXPECT_EQ(c.origin.pid, static_cast<std::int64_t>(::getpid()));
    EXPECT_EQ(c.origin.thread_id, ThisThreadId());
    EXPECT_EQ(c.origin.label, "");
    EXPECT_GE(c.time, before);
    EXPECT_LE(c.time, after);
  }
  EXPECT_LE(all[0].time, all[1].time);
  EXPECT_LE(all[1].time, all[2].time);

  // commit_at agrees with history().
  auto c2 = store_->commit_at(r2);
  ASSERT_TRUE(c2.has_value());
  EXPECT_EQ(c2->revision, r2);
  EXPECT_EQ(c2->time, all[1].time);
  ASSERT_EQ(c2->changes.size(), 1u);
  EXPECT_EQ(c2->changes[0].new_value, std::optional<Value>(Value(2)));
  EXPECT_FALSE(store_->commit_at(r3 + 1).has_value());
}

TEST_F(HistoryTest, CommitFromAnotherThreadRecordsThatThread) {
  std::int64_t tid = 0;
  Revision rev = 0;
  std::thread t([&] {
    tid = ThisThreadId();
    rev = store_->put("app", "k", Value(1));
  });
  t.join();
  auto c = store_->commit_at(rev);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->origin.thread_id, tid);
  EXPECT_NE(c->origin.thread_id, ThisThreadId());
}

TEST_F(HistoryTest, LabelsFromOptionsTransactOptionsAndSetLabel) {
  Options options;
  options.origin_label = "svc";
  Open(options);
  Revision r_default = store_->transact([](Transaction& tx) { tx.put("app", "a", 1); });
  Revision r_put = store_->put("app", "a", 2);
  TransactOptions batch;
  batch.label = "batch";
  Revision r_batch = store_->transact([](Transaction& tx) { tx.put("app", "a", 3); }, batch);
  Revision r_set = store_->transact(
      [](Transaction& tx) {
        tx.put("app", "a", 4);
        tx.set_label("manual");
      },
      batch);
  Revision r_set2 = store_->transact([](Transaction& tx) {
    tx.set_label("early");  // set before any write
    tx.put("app", "a", 5);
  });

  EXPECT_EQ(store_->commit_at(r_default)->origin.label, "svc");
  EXPECT_EQ(store_->commit_at(r_put)->origin.label, "svc");
  EXPECT_EQ(store_->commit_at(r_batch)->origin.label, "batch");
  EXPECT_EQ(store_->commit_at(r_set)->origin.label, "manual");
  EXPECT_EQ(store_->commit_at(r_set2)->origin.label, "early");

  HistoryQuery q;
  q.label = "svc";
  EXPECT_EQ(Revisions(store_->history(q)), (std::vector<Revision>{r_default, r_put}));
  q.label = "batch";
  EXPECT_EQ(Revisions(store_->history(q)), (std::vector<Revision>{r_batch}));
  q.label = "manual";
  EXPECT_EQ(Revisions(store_->history(q)), (std::vector<Revision>{r_set}));
  q.label = "";
  EXPECT_TRUE(store_->history(q).empty());
  q.label = "nothing";
  EXPECT_TRUE(store_->history(q).empty());

  // Labels survive a reopen with a different origin_label.
  options.origin_label = "other";
  Open(options);
  EXPECT_EQ(store_->commit_at(r_default)->origin.label, "svc");
  Revision r_other = store_->put("app", "a", 6);
  EXPECT_EQ(store_->commit_at(r_other)->origin.label, "other");
}

TEST_F(HistoryTest, QueryByRevisionRangeLimitAndOrder) {
  for (int i = 1; i <= 10; ++i) store_->put("app", "k", i);
  HistoryQuery q;
  EXPECT_EQ(store_->history(q).size(), 10u);

  q.from_revision = 3;
  q.to_revision = 6;
  EXPECT_EQ(Revisions(store_->history(q)), (std::vector<Revision>{3, 4, 5, 6}));

  q.newest_first = true;
  EXPECT_EQ(Revisions(store_->history(q)), (std::vector<Revision>{6, 5, 4, 3}));

  q.limit = 2;
  EXPECT_EQ(Revisions(store_->history(q)), (std::vector<Revision>{6, 5}));
  q.newest_first = false;
  EXPECT_EQ(Revisions(store_->history(q)), (std::vector<Revision>{3, 4}));

  HistoryQuery latest;
  latest.newest_first = true;
  latest.limit = 3;
  EXPECT_EQ(Revisions(store_->history(latest)), (std::vector<Revision>{10, 9, 8}));

  HistoryQuery from_only;
  from_only.from_revision = 9;
  EXPECT_EQ(Revisions(store_->history(from_only)), (std::vector<Revision>{9, 10}));
  HistoryQuery to_only;
  to_only.to_revision = 2;
  EXPECT_EQ(Revisions(store_->history(to_only)), (std::vector<Revision>{1, 2}));
  HistoryQuery beyond;
  beyond.from_revision = 11;
  EXPECT_TRUE(store_->history(beyond).empty());
  HistoryQuery single;
  single.from_revision = 5;
  single.to_revision = 5;
  auto one = store_->history(single);
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].changes[0].new_value, std::optional<Value>(Value(5)));
}

TEST_F(HistoryTest, QueryByTimeRange) {
  Revision r1 = store_->put("app", "k", 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  const auto mid1 = Clock::now();
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  Revision r2 = store_->put("app", "k", 2);
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  const auto mid2 = Clock::now();
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  Revision r3 = store_->put("app", "k", 3);

  HistoryQuery q;
  q.since = mid1;
  EXPECT_EQ(Revisions(store_->history(q)), (std::vector<Revision>{r2, r3}));
  q.until = mid2;
  EXPECT_EQ(Revisions(store_->history(q)), (std::vector<Revision>{r2}));
  q.since.reset();
  EXPECT_EQ(Revisions(store_->history(q)), (std::vector<Revision>{r1, r2}));
  q.until = mid1;
  EXPECT_EQ(Revisions(store_->history(q)), (std::vector<Revision>{r1}));

  // since is inclusive and until exclusive, at the commit's recorded time.
  auto c2 = store_->commit_at(r2);
  ASSERT_TRUE(c2.has_value());
  HistoryQuery exact;
  exact.since = c2->time;
  exact.until = c2->time + microseconds(1);
  EXPECT_EQ(Revisions(store_->history(exact)), (std::vector<Revision>{r2}));
  exact.until = c2->time;
  EXPECT_TRUE(store_->history(exact).empty());

  HistoryQuery future;
  future.since = Clock::now() + std::chrono::hours(1);
  EXPECT_TRUE(store_->history(future).empty());
}

TEST_F(HistoryTest, QueryByKeyspaceAndKeyPrefixFiltersChanges) {
  Revision r1 = store_->transact([](Transaction& tx) {
    tx.put("app", "alpha1", 1);
    tx.put("app", "beta1", 2);
    tx.put("other", "alpha2", 3);
  });
  Revision r2 = store_->put("other", "beta2", 4);
  Revision r3 = store_->put("app", "alpha1", 5);

  HistoryQuery q;
  q.keyspace = "app";
  auto app = store_->history(q);
  EXPECT_EQ(Revisions(app), (std::vector<Revision>{r1, r3}));
  ASSERT_EQ(app[0].changes.size(), 2u);
  for (const auto& ch : app[0].changes) EXPECT_EQ(ch.keyspace, "app");

  q.key_prefix = "alpha";
  auto app_alpha = store_->history(q);
  EXPECT_EQ(Revisions(app_alpha), (std::vector<Revision>{r1, r3}));
  ASSERT_EQ(app_alpha[0].changes.size(), 1u);
  EXPECT_EQ(app_alpha[0].changes[0].key, "alpha1");
  EXPECT_EQ(app_alpha[0].changes[0].keyspace, "app");

  HistoryQuery prefix_only;
  prefix_only.key_prefix = "beta";
  auto beta = store_->history(prefix_only);
  EXPECT_EQ(Revisions(beta), (std::vector<Revision>{r1, r2}));
  ASSERT_EQ(beta[0].changes.size(), 1u);
  EXPECT_EQ(beta[0].changes[0].key, "beta1");
  ASSERT_EQ(beta[1].changes.size(), 1u);
  EXPECT_EQ(beta[1].changes[0].key, "beta2");

  HistoryQuery like_chars;  // prefix is literal bytes, not a LIKE pattern
  like_chars.key_prefix = "al_ha";
  EXPECT_TRUE(store_->history(like_chars).empty());
  like_chars.key_prefix = "%";
  EXPECT_TRUE(store_->history(like_chars).empty());

  HistoryQuery missing;
  missing.keyspace = "nokeyspace";
  EXPECT_TRUE(store_->history(missing).empty());

  // Filters combine with a limit that counts matching commits.
  HistoryQuery combined;
  combined.keyspace = "other";
  combined.limit = 1;
  combined.newest_first = true;
  EXPECT_EQ(Revisions(store_->history(combined)), (std::vector<Revision>{r2}));
}

TEST_F(HistoryTest, QueryByPid) {
  store_->put("app", "k", 1);
  store_->put("app", "k", 2);
  HistoryQuery q;
  q.pid = static_cast<std::int64_t>(::getpid());
  EXPECT_EQ(store_->history(q).size(), 2u);
  q.pid = static_cast<std::int64_t>(::getpid()) + 1000000;
  EXPECT_TRUE(store_->history(q).empty());
}

TEST_F(HistoryTest, ReplayingHistoryReproducesState) {
  store_->transact([](Transaction& tx) {
    tx.put("app", "a", 1);
    tx.put("app", "b", "x");
    tx.put("cfg", "c", true);
  });
  store_->erase("app", "b");
  store_->transact([](Transaction& tx) {
    tx.put("app", "a", 2.5);
    tx.put("app", "a", Value(Bytes{0, 1}));
    tx.put("app", "b", nullptr);
    tx.erase("cfg", "c");
    tx.put("cfg", "d", "y");
  });
  std::map<std::pair<std::string, std::string>, Value> replayed;
  for (const Commit& c : store_->history()) {
    for (const Change& ch : c.changes) {
      auto key = std::make_pair(ch.keyspace, ch.key);
      auto it = replayed.find(key);
      // old_value must match what replay says was there.
      if (it == replayed.end()) {
        EXPECT_EQ(ch.old_value, std::nullopt) << ch.key;
      } else {
        EXPECT_EQ(ch.old_value, std::optional<Value>(it->second)) << ch.key;
      }
      if (ch.new_value) {
        replayed[key] = *ch.new_value;
      } else {
        replayed.erase(key);
      }
    }
  }
  std::map<std::pair<std::string, std::string>, Value> state;
  for (const auto& ks : store_->keyspaces()) {
    for (const Entry& e : store_->list(ks)) state[{ks, e.key}] = e.value;
  }
  EXPECT_EQ(replayed, state);
}

TEST_F(HistoryTest, RevertRestoresOldValuesAsNewRevision) {
  store_->transact([](Transaction& tx) {
    tx.put("app", "x", 1);
    tx.put("app", "z", 3);
    tx.put("app", "untouched", 0);
  });
  Revision target = store_->transact([](Transaction& tx) {
    tx.put("app", "x", 2);      // overwrite
    tx.put("app", "y", "new");  // create
    tx.erase("app", "z");       // erase
  });
  Revision unrelated = store_->put("app", "untouched", 1);  // a later change to another key

  Revision rev = store_->revert(target);
  EXPECT_EQ(rev, unrelated + 1);
  EXPECT_EQ(store_->history_bounds().head, rev);
  EXPECT_EQ(store_->get("app", "x"), std::optional<Value>(Value(1)));
  EXPECT_EQ(store_->get("app", "y"), std::nullopt);
  EXPECT_EQ(store_->get("app", "z"), std::optional<Value>(Value(3)));
  EXPECT_EQ(store_->get("app", "untouched"), std::optional<Value>(Value(1)));

  auto c = store_->commit_at(rev);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->origin.label, "revert " + std::to_string(target));
  std::map<std::string, std::pair<std::optional<Value>, std::optional<Value>>> changes;
  for (const auto& ch : c->changes) changes[ch.key] = {ch.old_value, ch.new_value};
  ASSERT_EQ(changes.size(), 3u);
  EXPECT_EQ(changes["x"].first, std::optional<Value>(Value(2)));
  EXPECT_EQ(changes["x"].second, std::optional<Value>(Value(1)));
  EXPECT_EQ(changes["y"].first, std::optional<Value>(Value("new")));
  EXPECT_EQ(changes["y"].second, std::nullopt);
  EXPECT_EQ(changes["z"].first, std::nullopt);
  EXPECT_EQ(changes["z"].second, std::optional<Value>(Value(3)));

  // A custom label.
  Revision r2 = store_->put("app", "x", 10);
  RevertOptions opts;
  opts.label = "undo-x";
  Revision r3 = store_->revert(r2, opts);
  EXPECT_EQ(store_->commit_at(r3)->origin.label, "undo-x");
  EXPECT_EQ(store_->get("app", "x"), std::optional<Value>(Value(1)));
}

TEST_F(HistoryTest, RevertRefusedWhenLaterRevisionChangedSameKeyUnlessForced) {
  store_->put("app", "conflicting-key", 1);
  Revision target = store_->transact([](Transaction& tx) {
    tx.put("app", "conflicting-key", 2);
    tx.put("app", "free", 2);
  });
  Revision later = store_->put("app", "conflicting-key", 3);
  const Revision head = store_->history_bounds().head;

  auto err = CatchError([&] { store_->revert(target); });
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ(err->code(), ErrorCode::kConflict);
  EXPECT_TRUE(test::Contains(err->what(), "conflicting-key")) << err->what();
  EXPECT_TRUE(test::Contains(err->what(), std::to_string(later))) << err->what();
  // Nothing written.
  EXPECT_EQ(store_->history_bounds().head, head);
  EXPECT_EQ(store_->get("app", "conflicting-key"), std::optional<Value>(Value(3)));
  EXPECT_EQ(store_->get("app", "free"), std::optional<Value>(Value(2)));

  // An erase later also counts as a change.
  Revision target2 = store_->put("app", "e", 1);
  store_->erase("app", "e");
  err = CatchError([&] { store_->revert(target2); });
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ(err->code(), ErrorCode::kConflict);

  RevertOptions force;
  force.force = true;
  Revision rev = store_->revert(target, force);
  EXPECT_EQ(rev, store_->history_bounds().head);
  EXPECT_GT(rev, head);
  EXPECT_EQ(store_->get("app", "conflicting-key"), std::optional<Value>(Value(1)));
  EXPECT_EQ(store_->get("app", "free"), std::nullopt);
}

TEST_F(HistoryTest, RevertRestoresTheValueBeforeTheWholeCommit) {
  store_->put("app", "k", Value(0));
  Revision target = store_->transact([](Transaction& tx) {
    tx.put("app", "k", Value(1));
    tx.erase("app", "k");
    tx.put("app", "k", Value(3));
    tx.put("app", "n", Value(1));  // created ...
    tx.put("app", "n", Value(2));  // ... and overwritten in the same commit
  });
  store_->revert(target);
  EXPECT_EQ(store_->get("app", "k"), std::optional<Value>(Value(0)));
  EXPECT_EQ(store_->get("app", "n"), std::nullopt);
}

TEST_F(HistoryTest, RevertConflictsOnlyOnTheSameKeyInTheSameKeyspace) {
  Revision target = store_->put("app", "k", Value(1));
  store_->put("other", "k", Value(2));  // same key name, other keyspace
  store_->put("app", "k2", Value(3));   // same prefix, other key
  Revision rev = store_->revert(target);
  EXPECT_EQ(store_->get("app", "k"), std::nullopt);
  EXPECT_EQ(store_->get("other", "k"), std::optional<Value>(Value(2)));
  EXPECT_EQ(rev, store_->history_bounds().head);
}

TEST_F(HistoryTest, RevertOfARevertRedoes) {
  store_->put("app", "k", Value(1));
  Revision target = store_->put("app", "k", Value(2));
  Revision undo = store_->revert(target);
  EXPECT_EQ(store_->get("app", "k"), std::optional<Value>(Value(1)));
  store_->revert(undo);
  EXPECT_EQ(store_->get("app", "k"), std::optional<Value>(Value(2)));
}

TEST_F(HistoryTest, RevertUnknownRevisionIsNotFound) {
  store_->put("app", "k", 1);
  const Revision head = store_->history_bounds().head;
  for (Revision r : {head + 1, head + 100, Revision{0}}) {
    auto err = CatchError([&] { store_->revert(r); });
    ASSERT_TRUE(err.has_value()) << "revision " << r;
    EXPECT_EQ(err->code(), ErrorCode::kNotFound) << "revision " << r;
  }
  EXPECT_EQ(store_->history_bounds().head, head);
}

TEST_F(HistoryTest, RetentionByCountCompactsHistoryButNotState) {
  Options options;
  options.history_retention.keep_revisions = 10;
  Open(options);
  store_->put("app", "early", "written once");  // revision 1, never touched again
  for (int i = 2; i <= 100; ++i) store_->put("app", "counter", i);
  const Revision head = store_->history_bounds().head;
  ASSERT_EQ(head, 100u);

  const std::uint64_t removed = store_->compact_history();
  EXPECT_LE(removed, 90u);
  HistoryBounds b = store_->history_bounds();
  EXPECT_EQ(b.head, head);
  EXPECT_EQ(b.first, head - 9);
  EXPECT_EQ(b.compacted_through, head - 10);
  EXPECT_GE(store_->stats().compaction_runs, 1u);

  auto all = store_->history();
  ASSERT_EQ(all.size(), 10u);
  EXPECT_EQ(all.front().revision, head - 9);
  EXPECT_EQ(all.back().revision, head);
  EXPECT_FALSE(store_->commit_at(head - 10).has_value());
  EXPECT_FALSE(store_->commit_at(1).has_value());
  EXPECT_TRUE(store_->commit_at(head - 9).has_value());

  // State untouched.
  EXPECT_EQ(store_->get("app", "early"), std::optional<Value>(Value("written once")));
  EXPECT_EQ(store_->get("app", "counter"), std::optional<Value>(Value(100)));
  EXPECT_EQ(store_->get_entry("app", "early")->version, 1u);

  // Reverting a compacted revision is NotFound.
  auto err = CatchError([&] { store_->revert(5); });
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ(err->code(), ErrorCode::kNotFound);

  // Compacting again removes nothing.
  EXPECT_EQ(store_->compact_history(), 0u);

  // Revisions are never reused, also after a reopen.
  Open(options);
  b = store_->history_bounds();
  EXPECT_EQ(b.head, head);
  EXPECT_EQ(b.compacted_through, head - 10);
  EXPECT_EQ(store_->put("app", "counter", 101), head + 1);
  EXPECT_EQ(store_->get("app", "early"), std::optional<Value>(Value("written once")));
}

TEST_F(HistoryTest, RetentionByAgeKeepsRecentAndHead) {
  Options options;
  options.history_retention.keep_for = std::chrono::seconds(1);
  Open(options);
  store_->put("app", "old", 1);
  store_->put("app", "old", 2);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  Revision recent = store_->put("app", "new", 3);
  store_->compact_history();
  HistoryBounds b = store_->history_bounds();
  EXPECT_EQ(b.head, recent);
  EXPECT_EQ(b.first, recent);
  EXPECT_EQ(b.compacted_through, recent - 1);
  EXPECT_EQ(store_->get("app", "old"), std::optional<Value>(Value(2)));

  // The head revision is always kept, however old.
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  store_->compact_history();
  b = store_->history_bounds();
  EXPECT_EQ(b.first, recent);
  EXPECT_EQ(b.head, recent);
  EXPECT_TRUE(store_->commit_at(recent).has_value());
}

TEST_F(HistoryTest, HistorySurvivesReopen) {
  Options options;
  options.origin_label = "writer";
  Open(options);
  store_->put("app", "a", 1);
  store_->transact([](Transaction& tx) {
    tx.put("app", "a", 2);
    tx.put("app", "b", "two");
  });
  auto before = store_->history();
  Open();
  auto after = store_->history();
  ASSERT_EQ(after.size(), before.size());
  for (std::size_t i = 0; i < after.size(); ++i) {
    EXPECT_EQ(after[i].revision, before[i].revision);
    EXPECT_EQ(after[i].time, before[i].time);
    EXPECT_EQ(after[i].origin.pid, before[i].origin.pid);
    EXPECT_EQ(after[i].origin.thread_id, before[i].origin.thread_id);
    EXPECT_EQ(after[i].origin.label, "writer");
    ASSERT_EQ(after[i].changes.size(), before[i].changes.size());
    for (std::size_t j = 0; j < after[i].changes.size(); ++j) {
      EXPECT_EQ(after[i].changes[j].key, before[i].changes[j].key);
      EXPECT_EQ(after[i].changes[j].old_value, before[i].changes[j].old_value);
      EXPECT_EQ(after[i].changes[j].new_value, before[i].changes[j].new_value);
    }
  }
}

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

}  // namespace
}  // namespace statestore

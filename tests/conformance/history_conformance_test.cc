// Conformance: history — what each commit records (changes, origin, time), queries (revision and
// time ranges, keyspace, key prefix, label, pid, limit, order), commit_at, revert, and
// retention/compaction.
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

#include "conformance/conformance_test.h"
#include "statestore/admin.h"
#include "statestore/statestore.h"
#include "test_util.h"

namespace statestore {
namespace {

using std::chrono::microseconds;
using test::CatchError;

std::int64_t ThisThreadId() { return static_cast<std::int64_t>(::syscall(SYS_gettid)); }

std::vector<Revision> Revisions(const std::vector<Commit>& commits) {
  std::vector<Revision> revs;
  for (const auto& c : commits) revs.push_back(c.revision);
  return revs;
}

class HistoryConformance : public test::ConformanceTest {};

TEST_P(HistoryConformance, EmptyStoreHasEmptyHistory) {
  HistoryBounds b = store()->history_bounds();
  EXPECT_EQ(b.head, 0u);
  EXPECT_EQ(b.first, 1u);
  EXPECT_GT(b.first, b.head);
  EXPECT_EQ(b.compacted_through, 0u);
  EXPECT_TRUE(store()->history().empty());
  EXPECT_FALSE(store()->commit_at(0).has_value());
  EXPECT_FALSE(store()->commit_at(1).has_value());
}

TEST_P(HistoryConformance, CommitsRecordChangesOriginAndTime) {
  const auto before = std::chrono::floor<microseconds>(Clock::now());
  Revision r1 = store()->transact([](Transaction& tx) {
    tx.put("app", "a", Value(1));
    tx.put("cfg", "b", Value("x"));
  });
  Revision r2 = store()->put("app", "a", Value(2));
  Revision r3 = store()->erase("app", "a");
  const auto after = std::chrono::ceil<microseconds>(Clock::now());
  EXPECT_EQ(r1, 1u);
  EXPECT_EQ(r2, 2u);
  EXPECT_EQ(r3, 3u);

  auto all = store()->history();
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
  auto c2 = store()->commit_at(r2);
  ASSERT_TRUE(c2.has_value());
  EXPECT_EQ(c2->revision, r2);
  EXPECT_EQ(c2->time, all[1].time);
  ASSERT_EQ(c2->changes.size(), 1u);
  EXPECT_EQ(c2->changes[0].new_value, std::optional<Value>(Value(2)));
  EXPECT_FALSE(store()->commit_at(r3 + 1).has_value());
}

TEST_P(HistoryConformance, CommitFromAnotherThreadRecordsThatThread) {
  std::int64_t tid = 0;
  Revision rev = 0;
  std::thread t([&] {
    tid = ThisThreadId();
    rev = store()->put("app", "k", Value(1));
  });
  t.join();
  auto c = store()->commit_at(rev);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->origin.thread_id, tid);
  EXPECT_NE(c->origin.thread_id, ThisThreadId());
}

TEST_P(HistoryConformance, LabelsFromOptionsTransactOptionsAndSetLabel) {
  Options options;
  options.origin_label = "svc";
  Reopen(options);
  Revision r_default = store()->transact([](Transaction& tx) { tx.put("app", "a", 1); });
  Revision r_put = store()->put("app", "a", 2);
  TransactOptions batch;
  batch.label = "batch";
  Revision r_batch = store()->transact([](Transaction& tx) { tx.put("app", "a", 3); }, batch);
  Revision r_set = store()->transact(
      [](Transaction& tx) {
        tx.put("app", "a", 4);
        tx.set_label("manual");
      },
      batch);
  Revision r_set2 = store()->transact([](Transaction& tx) {
    tx.set_label("early");  // set before any write
    tx.put("app", "a", 5);
  });

  EXPECT_EQ(store()->commit_at(r_default)->origin.label, "svc");
  EXPECT_EQ(store()->commit_at(r_put)->origin.label, "svc");
  EXPECT_EQ(store()->commit_at(r_batch)->origin.label, "batch");
  EXPECT_EQ(store()->commit_at(r_set)->origin.label, "manual");
  EXPECT_EQ(store()->commit_at(r_set2)->origin.label, "early");

  HistoryQuery q;
  q.label = "svc";
  EXPECT_EQ(Revisions(store()->history(q)), (std::vector<Revision>{r_default, r_put}));
  q.label = "batch";
  EXPECT_EQ(Revisions(store()->history(q)), (std::vector<Revision>{r_batch}));
  q.label = "manual";
  EXPECT_EQ(Revisions(store()->history(q)), (std::vector<Revision>{r_set}));
  q.label = "";
  EXPECT_TRUE(store()->history(q).empty());
  q.label = "nothing";
  EXPECT_TRUE(store()->history(q).empty());

  // Labels survive a reopen with a different origin_label.
  options.origin_label = "other";
  Reopen(options);
  EXPECT_EQ(store()->commit_at(r_default)->origin.label, "svc");
  Revision r_other = store()->put("app", "a", 6);
  EXPECT_EQ(store()->commit_at(r_other)->origin.label, "other");
}

TEST_P(HistoryConformance, QueryByRevisionRangeLimitAndOrder) {
  for (int i = 1; i <= 10; ++i) store()->put("app", "k", i);
  HistoryQuery q;
  EXPECT_EQ(store()->history(q).size(), 10u);

  q.from_revision = 3;
  q.to_revision = 6;
  EXPECT_EQ(Revisions(store()->history(q)), (std::vector<Revision>{3, 4, 5, 6}));

  q.newest_first = true;
  EXPECT_EQ(Revisions(store()->history(q)), (std::vector<Revision>{6, 5, 4, 3}));

  q.limit = 2;
  EXPECT_EQ(Revisions(store()->history(q)), (std::vector<Revision>{6, 5}));
  q.newest_first = false;
  EXPECT_EQ(Revisions(store()->history(q)), (std::vector<Revision>{3, 4}));

  HistoryQuery latest;
  latest.newest_first = true;
  latest.limit = 3;
  EXPECT_EQ(Revisions(store()->history(latest)), (std::vector<Revision>{10, 9, 8}));

  HistoryQuery from_only;
  from_only.from_revision = 9;
  EXPECT_EQ(Revisions(store()->history(from_only)), (std::vector<Revision>{9, 10}));
  HistoryQuery to_only;
  to_only.to_revision = 2;
  EXPECT_EQ(Revisions(store()->history(to_only)), (std::vector<Revision>{1, 2}));
  HistoryQuery beyond;
  beyond.from_revision = 11;
  EXPECT_TRUE(store()->history(beyond).empty());
  HistoryQuery single;
  single.from_revision = 5;
  single.to_revision = 5;
  auto one = store()->history(single);
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].changes[0].new_value, std::optional<Value>(Value(5)));
}

TEST_P(HistoryConformance, QueryByTimeRange) {
  Revision r1 = store()->put("app", "k", 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  const auto mid1 = Clock::now();
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  Revision r2 = store()->put("app", "k", 2);
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  const auto mid2 = Clock::now();
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  Revision r3 = store()->put("app", "k", 3);

  HistoryQuery q;
  q.since = mid1;
  EXPECT_EQ(Revisions(store()->history(q)), (std::vector<Revision>{r2, r3}));
  q.until = mid2;
  EXPECT_EQ(Revisions(store()->history(q)), (std::vector<Revision>{r2}));
  q.since.reset();
  EXPECT_EQ(Revisions(store()->history(q)), (std::vector<Revision>{r1, r2}));
  q.until = mid1;
  EXPECT_EQ(Revisions(store()->history(q)), (std::vector<Revision>{r1}));

  // since is inclusive and until exclusive, at the commit's recorded time.
  auto c2 = store()->commit_at(r2);
  ASSERT_TRUE(c2.has_value());
  HistoryQuery exact;
  exact.since = c2->time;
  exact.until = c2->time + microseconds(1);
  EXPECT_EQ(Revisions(store()->history(exact)), (std::vector<Revision>{r2}));
  exact.until = c2->time;
  EXPECT_TRUE(store()->history(exact).empty());

  HistoryQuery future;
  future.since = Clock::now() + std::chrono::hours(1);
  EXPECT_TRUE(store()->history(future).empty());
}

TEST_P(HistoryConformance, QueryByKeyspaceAndKeyPrefixFiltersChanges) {
  Revision r1 = store()->transact([](Transaction& tx) {
    tx.put("app", "alpha1", 1);
    tx.put("app", "beta1", 2);
    tx.put("other", "alpha2", 3);
  });
  Revision r2 = store()->put("other", "beta2", 4);
  Revision r3 = store()->put("app", "alpha1", 5);

  HistoryQuery q;
  q.keyspace = "app";
  auto app = store()->history(q);
  EXPECT_EQ(Revisions(app), (std::vector<Revision>{r1, r3}));
  ASSERT_EQ(app[0].changes.size(), 2u);
  for (const auto& ch : app[0].changes) EXPECT_EQ(ch.keyspace, "app");

  q.key_prefix = "alpha";
  auto app_alpha = store()->history(q);
  EXPECT_EQ(Revisions(app_alpha), (std::vector<Revision>{r1, r3}));
  ASSERT_EQ(app_alpha[0].changes.size(), 1u);
  EXPECT_EQ(app_alpha[0].changes[0].key, "alpha1");
  EXPECT_EQ(app_alpha[0].changes[0].keyspace, "app");

  HistoryQuery prefix_only;
  prefix_only.key_prefix = "beta";
  auto beta = store()->history(prefix_only);
  EXPECT_EQ(Revisions(beta), (std::vector<Revision>{r1, r2}));
  ASSERT_EQ(beta[0].changes.size(), 1u);
  EXPECT_EQ(beta[0].changes[0].key, "beta1");
  ASSERT_EQ(beta[1].changes.size(), 1u);
  EXPECT_EQ(beta[1].changes[0].key, "beta2");

  HistoryQuery like_chars;  // prefix is literal bytes, not a LIKE pattern
  like_chars.key_prefix = "al_ha";
  EXPECT_TRUE(store()->history(like_chars).empty());
  like_chars.key_prefix = "%";
  EXPECT_TRUE(store()->history(like_chars).empty());

  HistoryQuery missing;
  missing.keyspace = "nokeyspace";
  EXPECT_TRUE(store()->history(missing).empty());

  // Filters combine with a limit that counts matching commits.
  HistoryQuery combined;
  combined.keyspace = "other";
  combined.limit = 1;
  combined.newest_first = true;
  EXPECT_EQ(Revisions(store()->history(combined)), (std::vector<Revision>{r2}));
}

TEST_P(HistoryConformance, QueryByPid) {
  store()->put("app", "k", 1);
  store()->put("app", "k", 2);
  HistoryQuery q;
  q.pid = static_cast<std::int64_t>(::getpid());
  EXPECT_EQ(store()->history(q).size(), 2u);
  q.pid = static_cast<std::int64_t>(::getpid()) + 1000000;
  EXPECT_TRUE(store()->history(q).empty());
}

TEST_P(HistoryConformance, ReplayingHistoryReproducesState) {
  store()->transact([](Transaction& tx) {
    tx.put("app", "a", 1);
    tx.put("app", "b", "x");
    tx.put("cfg", "c", true);
  });
  store()->erase("app", "b");
  store()->transact([](Transaction& tx) {
    tx.put("app", "a", 2.5);
    tx.put("app", "a", Value(Bytes{0, 1}));
    tx.put("app", "b", nullptr);
    tx.erase("cfg", "c");
    tx.put("cfg", "d", "y");
  });
  std::map<std::pair<std::string, std::string>, Value> replayed;
  for (const Commit& c : store()->history()) {
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
  for (const auto& ks : store()->keyspaces()) {
    for (const Entry& e : store()->list(ks)) state[{ks, e.key}] = e.value;
  }
  EXPECT_EQ(replayed, state);
}

TEST_P(HistoryConformance, RevertRestoresOldValuesAsNewRevision) {
  store()->transact([](Transaction& tx) {
    tx.put("app", "x", 1);
    tx.put("app", "z", 3);
    tx.put("app", "untouched", 0);
  });
  Revision target = store()->transact([](Transaction& tx) {
    tx.put("app", "x", 2);      // overwrite
    tx.put("app", "y", "new");  // create
    tx.erase("app", "z");       // erase
  });
  Revision unrelated = store()->put("app", "untouched", 1);  // a later change to another key

  Revision rev = store()->revert(target);
  EXPECT_EQ(rev, unrelated + 1);
  EXPECT_EQ(store()->history_bounds().head, rev);
  EXPECT_EQ(store()->get("app", "x"), std::optional<Value>(Value(1)));
  EXPECT_EQ(store()->get("app", "y"), std::nullopt);
  EXPECT_EQ(store()->get("app", "z"), std::optional<Value>(Value(3)));
  EXPECT_EQ(store()->get("app", "untouched"), std::optional<Value>(Value(1)));

  auto c = store()->commit_at(rev);
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
  Revision r2 = store()->put("app", "x", 10);
  RevertOptions opts;
  opts.label = "undo-x";
  Revision r3 = store()->revert(r2, opts);
  EXPECT_EQ(store()->commit_at(r3)->origin.label, "undo-x");
  EXPECT_EQ(store()->get("app", "x"), std::optional<Value>(Value(1)));
}

TEST_P(HistoryConformance, RevertRefusedWhenLaterRevisionChangedSameKeyUnlessForced) {
  store()->put("app", "conflicting-key", 1);
  Revision target = store()->transact([](Transaction& tx) {
    tx.put("app", "conflicting-key", 2);
    tx.put("app", "free", 2);
  });
  Revision later = store()->put("app", "conflicting-key", 3);
  const Revision head = store()->history_bounds().head;

  auto err = CatchError([&] { store()->revert(target); });
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ(err->code(), ErrorCode::kConflict);
  EXPECT_TRUE(test::Contains(err->what(), "conflicting-key")) << err->what();
  EXPECT_TRUE(test::Contains(err->what(), std::to_string(later))) << err->what();
  // Nothing written.
  EXPECT_EQ(store()->history_bounds().head, head);
  EXPECT_EQ(store()->get("app", "conflicting-key"), std::optional<Value>(Value(3)));
  EXPECT_EQ(store()->get("app", "free"), std::optional<Value>(Value(2)));

  // An erase later also counts as a change.
  Revision target2 = store()->put("app", "e", 1);
  store()->erase("app", "e");
  err = CatchError([&] { store()->revert(target2); });
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ(err->code(), ErrorCode::kConflict);

  RevertOptions force;
  force.force = true;
  Revision rev = store()->revert(target, force);
  EXPECT_EQ(rev, store()->history_bounds().head);
  EXPECT_GT(rev, head);
  EXPECT_EQ(store()->get("app", "conflicting-key"), std::optional<Value>(Value(1)));
  EXPECT_EQ(store()->get("app", "free"), std::nullopt);
}

TEST_P(HistoryConformance, RevertRestoresTheValueBeforeTheWholeCommit) {
  store()->put("app", "k", Value(0));
  Revision target = store()->transact([](Transaction& tx) {
    tx.put("app", "k", Value(1));
    tx.erase("app", "k");
    tx.put("app", "k", Value(3));
    tx.put("app", "n", Value(1));  // created ...
    tx.put("app", "n", Value(2));  // ... and overwritten in the same commit
  });
  store()->revert(target);
  EXPECT_EQ(store()->get("app", "k"), std::optional<Value>(Value(0)));
  EXPECT_EQ(store()->get("app", "n"), std::nullopt);
}

TEST_P(HistoryConformance, RevertConflictsOnlyOnTheSameKeyInTheSameKeyspace) {
  Revision target = store()->put("app", "k", Value(1));
  store()->put("other", "k", Value(2));  // same key name, other keyspace
  store()->put("app", "k2", Value(3));   // same prefix, other key
  Revision rev = store()->revert(target);
  EXPECT_EQ(store()->get("app", "k"), std::nullopt);
  EXPECT_EQ(store()->get("other", "k"), std::optional<Value>(Value(2)));
  EXPECT_EQ(rev, store()->history_bounds().head);
}

TEST_P(HistoryConformance, RevertOfARevertRedoes) {
  store()->put("app", "k", Value(1));
  Revision target = store()->put("app", "k", Value(2));
  Revision undo = store()->revert(target);
  EXPECT_EQ(store()->get("app", "k"), std::optional<Value>(Value(1)));
  store()->revert(undo);
  EXPECT_EQ(store()->get("app", "k"), std::optional<Value>(Value(2)));
}

TEST_P(HistoryConformance, RevertUnknownRevisionIsNotFound) {
  store()->put("app", "k", 1);
  const Revision head = store()->history_bounds().head;
  for (Revision r : {head + 1, head + 100, Revision{0}}) {
    auto err = CatchError([&] { store()->revert(r); });
    ASSERT_TRUE(err.has_value()) << "revision " << r;
    EXPECT_EQ(err->code(), ErrorCode::kNotFound) << "revision " << r;
  }
  EXPECT_EQ(store()->history_bounds().head, head);
}

TEST_P(HistoryConformance, RetentionByCountCompactsHistoryButNotState) {
  Options options;
  options.history_retention.keep_revisions = 10;
  Reopen(options);
  store()->put("app", "early", "written once");  // revision 1, never touched again
  for (int i = 2; i <= 100; ++i) store()->put("app", "counter", i);
  const Revision head = store()->history_bounds().head;
  ASSERT_EQ(head, 100u);

  const std::uint64_t removed = store()->compact_history();
  EXPECT_LE(removed, 90u);
  HistoryBounds b = store()->history_bounds();
  EXPECT_EQ(b.head, head);
  EXPECT_EQ(b.first, head - 9);
  EXPECT_EQ(b.compacted_through, head - 10);
  EXPECT_GE(store()->stats().compaction_runs, 1u);

  auto all = store()->history();
  ASSERT_EQ(all.size(), 10u);
  EXPECT_EQ(all.front().revision, head - 9);
  EXPECT_EQ(all.back().revision, head);
  EXPECT_FALSE(store()->commit_at(head - 10).has_value());
  EXPECT_FALSE(store()->commit_at(1).has_value());
  EXPECT_TRUE(store()->commit_at(head - 9).has_value());

  // State untouched.
  EXPECT_EQ(store()->get("app", "early"), std::optional<Value>(Value("written once")));
  EXPECT_EQ(store()->get("app", "counter"), std::optional<Value>(Value(100)));
  EXPECT_EQ(store()->get_entry("app", "early")->version, 1u);

  // Reverting a compacted revision is NotFound.
  auto err = CatchError([&] { store()->revert(5); });
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ(err->code(), ErrorCode::kNotFound);

  // Compacting again removes nothing.
  EXPECT_EQ(store()->compact_history(), 0u);

  // Revisions are never reused, also after a reopen.
  Reopen(options);
  b = store()->history_bounds();
  EXPECT_EQ(b.head, head);
  EXPECT_EQ(b.compacted_through, head - 10);
  EXPECT_EQ(store()->put("app", "counter", 101), head + 1);
  EXPECT_EQ(store()->get("app", "early"), std::optional<Value>(Value("written once")));
}

TEST_P(HistoryConformance, RetentionByAgeKeepsRecentAndHead) {
  Options options;
  options.history_retention.keep_for = std::chrono::seconds(1);
  Reopen(options);
  store()->put("app", "old", 1);
  store()->put("app", "old", 2);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  Revision recent = store()->put("app", "new", 3);
  store()->compact_history();
  HistoryBounds b = store()->history_bounds();
  EXPECT_EQ(b.head, recent);
  EXPECT_EQ(b.first, recent);
  EXPECT_EQ(b.compacted_through, recent - 1);
  EXPECT_EQ(store()->get("app", "old"), std::optional<Value>(Value(2)));

  // The head revision is always kept, however old.
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  store()->compact_history();
  b = store()->history_bounds();
  EXPECT_EQ(b.first, recent);
  EXPECT_EQ(b.head, recent);
  EXPECT_TRUE(store()->commit_at(recent).has_value());
}

TEST_P(HistoryConformance, HistorySurvivesReopen) {
  Options options;
  options.origin_label = "writer";
  Reopen(options);
  store()->put("app", "a", 1);
  store()->transact([](Transaction& tx) {
    tx.put("app", "a", 2);
    tx.put("app", "b", "two");
  });
  auto before = store()->history();
  Reopen();
  auto after = store()->history();
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

STATESTORE_CONFORMANCE_SUITE(HistoryConformance);

}  // namespace
}  // namespace statestore

// LocalCommitLog (lib/src/core/local_commit_log.h) on its own: what it may answer "unchanged" and
// what it must leave to a history read. The Store-level behaviour (which commits it records) is in
// store_test.cc (KnownUnchanged*), and a config watch that relies on it is in
// config_watch_conformance_test.cc.
#include "core/local_commit_log.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace statestore::internal {
namespace {

using Keyspaces = std::vector<std::string>;

TEST(LocalCommitLog, AnswersOnlyForRecordedRevisionsWithoutTheKeyspace) {
  LocalCommitLog log;
  EXPECT_FALSE(log.Unchanged("config", 1, 1));  // nothing recorded: cannot tell
  log.Record(1, 3, Keyspaces{"sessions"});
  log.Record(4, 4, Keyspaces{"sessions", "config"});
  log.Record(5, 9, Keyspaces{"app", "sessions"});
  EXPECT_TRUE(log.Unchanged("config", 1, 3));
  EXPECT_TRUE(log.Unchanged("config", 2, 2));
  EXPECT_FALSE(log.Unchanged("config", 3, 4));  // 4 changed config
  EXPECT_FALSE(log.Unchanged("config", 4, 4));
  EXPECT_TRUE(log.Unchanged("config", 5, 9));
  EXPECT_FALSE(log.Unchanged("config", 5, 10));  // 10 is not this Store's (yet)
  EXPECT_FALSE(log.Unchanged("sessions", 1, 1));
  EXPECT_TRUE(log.Unchanged("app", 1, 4));
  EXPECT_FALSE(log.Unchanged("app", 1, 5));
  EXPECT_TRUE(log.Unchanged("other", 1, 9));
  // Empty or impossible ranges are never "unchanged".
  EXPECT_FALSE(log.Unchanged("other", 5, 4));
  EXPECT_FALSE(log.Unchanged("other", 0, 3));
}

TEST(LocalCommitLog, ARevisionSomeoneElseCommittedIsNeverAnswered) {
  LocalCommitLog log;
  log.Record(1, 5, Keyspaces{"sessions"});
  // Revisions 6 and 7 were committed by another process: not recorded.
  log.Record(8, 10, Keyspaces{"sessions"});
  EXPECT_TRUE(log.Unchanged("config", 1, 5));
  EXPECT_TRUE(log.Unchanged("config", 8, 10));
  EXPECT_FALSE(log.Unchanged("config", 5, 8));
  EXPECT_FALSE(log.Unchanged("config", 6, 6));
  EXPECT_FALSE(log.Unchanged("config", 7, 9));
  EXPECT_FALSE(log.Unchanged("config", 1, 10));
}

TEST(LocalCommitLog, DuplicateKeyspacesAndEmptyGroupsAreHandled) {
  LocalCommitLog log;
  log.Record(1, 1, Keyspaces{"b", "a", "b", "a"});
  log.Record(2, 2, Keyspaces{});          // revisions that changed no key (e.g. a policy change)
  log.Record(3, 2, Keyspaces{"config"});  // no revision: ignored
  log.Record(0, 0, Keyspaces{"config"});  // ignored
  EXPECT_FALSE(log.Unchanged("a", 1, 1));
  EXPECT_FALSE(log.Unchanged("b", 1, 2));
  EXPECT_TRUE(log.Unchanged("a", 2, 2));
  EXPECT_TRUE(log.Unchanged("config", 1, 2));
}

TEST(LocalCommitLog, ForgetsTheOldestRangesButStaysExact) {
  LocalCommitLog log;
  // Alternating keyspaces: no two neighbours merge, so every group is a range of its own.
  const Revision groups = LocalCommitLog::kMaxRanges + 100;
  for (Revision r = 1; r <= groups; ++r) log.Record(r, r, Keyspaces{r % 2 ? "odd" : "even"});
  EXPECT_FALSE(log.Unchanged("config", 1, 1));      // forgotten
  EXPECT_FALSE(log.Unchanged("config", 100, 100));  // forgotten
  EXPECT_TRUE(log.Unchanged("config", 101, groups));
  EXPECT_FALSE(log.Unchanged("odd", groups - 1, groups));
  EXPECT_TRUE(log.Unchanged("odd", groups, groups));  // an even revision
}

TEST(LocalCommitLog, SteadyChurnOfOneKeyspaceIsOneRange) {
  LocalCommitLog log;
  const Revision groups = 10 * LocalCommitLog::kMaxRanges;
  for (Revision r = 1; r <= groups; ++r) log.Record(r, r, Keyspaces{"sessions"});
  EXPECT_TRUE(log.Unchanged("config", 1, groups));  // merged, so nothing was forgotten
  EXPECT_FALSE(log.Unchanged("sessions", groups, groups));
}

TEST(LocalCommitLog, ARevisionRecordedOutOfOrderForgetsEverything) {
  LocalCommitLog log;
  log.Record(5, 9, Keyspaces{"sessions"});
  log.Record(3, 4, Keyspaces{"sessions"});  // cannot happen (revisions grow); must not confuse
  EXPECT_FALSE(log.Unchanged("config", 5, 9));
  EXPECT_TRUE(log.Unchanged("config", 3, 4));
}

}  // namespace
}  // namespace statestore::internal

// Group commit (issue 6, test 1): 32 threads commit at once, one body in five throws. Exactly the
// non-throwing bodies are committed, each once in history under the revision its caller was
// given; every caller gets its own outcome; and a caller is told "committed" only once its commit
// is visible to an independent SQLite connection (the group's COMMIT really happened).
#include <sqlite3.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "statestore/statestore.h"
#include "test_util.h"

namespace statestore {
namespace {

using test::TempDir;

// A plain read-only SQLite connection of the test's own: it sees only what was committed.
class RawReader {
 public:
  explicit RawReader(const std::string& path) {
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
      throw std::runtime_error("cannot open " + path);
    }
    sqlite3_busy_timeout(db_, 5000);
  }
  ~RawReader() { sqlite3_close(db_); }
  RawReader(const RawReader&) = delete;
  RawReader& operator=(const RawReader&) = delete;

  // The revision that last wrote `key` in keyspace "group", or 0 if it is absent.
  std::int64_t VersionOf(const std::string& key) {
    sqlite3_stmt* s = nullptr;
    sqlite3_prepare_v2(db_,
                       "SELECT e.version FROM entries e JOIN keyspaces k ON k.id = e.keyspace_id "
                       "WHERE k.name = 'group' AND e.key = ?1",
                       -1, &s, nullptr);
    sqlite3_bind_text(s, 1, key.c_str(), static_cast<int>(key.size()), SQLITE_TRANSIENT);
    std::int64_t version = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_finalize(s);
    return version;
  }

 private:
  sqlite3* db_ = nullptr;
};

struct Outcome {
  bool should_fail = false;
  bool committed = false;
  Revision revision = 0;
  std::string error;  // what the caller caught, if anything
};

class GroupCommitTest : public ::testing::TestWithParam<Durability> {};

TEST_P(GroupCommitTest, ThirtyTwoThreadsOneInFiveThrows) {
  TempDir dir;
  Options options;
  options.durability = GetParam();
  auto store = Store::open(dir.file("state.db"), options);

  constexpr int kThreads = 32;
  const int kPerThread = test::kUnderSanitizer ? 15 : 40;
  std::vector<std::vector<Outcome>> outcomes(kThreads, std::vector<Outcome>(kPerThread));
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::atomic<int> invisible_after_ack{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      RawReader reader(store->path());
      ++ready;
      while (!go.load()) std::this_thread::yield();
      for (int i = 0; i < kPerThread; ++i) {
        Outcome& out = outcomes[t][i];
        const int n = t * kPerThread + i;
        out.should_fail = n % 5 == 0;
        const std::string key = "t" + std::to_string(t) + "-" + std::to_string(i);
        try {
          TransactOptions to;
          to.label = "caller " + key;
          out.revision = store->transact(
              [&](Transaction& tx) {
                tx.put("group", key, Value(n));
                tx.put("group", "shared", Value(n));
                if (out.should_fail) throw std::invalid_argument("body " + key + " refused");
              },
              to);
          out.committed = true;
          // Invariant 1 of group_commit.h: acknowledged only after the group's COMMIT.
          if (reader.VersionOf(key) != static_cast<std::int64_t>(out.revision)) {
            ++invisible_after_ack;
          }
        } catch (const std::invalid_argument& e) {
          out.error = e.what();
        } catch (const std::exception& e) {
          out.error = std::string("unexpected: ") + e.what();
        }
      }
    });
  }
  while (ready.load() < kThreads) std::this_thread::yield();
  go = true;
  for (auto& th : threads) th.join();

  EXPECT_EQ(invisible_after_ack.load(), 0)
      << "a caller was told 'committed' before its commit was visible to other connections";

  // Every caller got its own outcome.
  std::set<Revision> revisions;
  int expected_commits = 0;
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kPerThread; ++i) {
      const Outcome& out = outcomes[t][i];
      const std::string key = "t" + std::to_string(t) + "-" + std::to_string(i);
      if (out.should_fail) {
        EXPECT_FALSE(out.committed) << key;
        EXPECT_EQ(out.error, "body " + key + " refused") << "caller got someone else's outcome";
        EXPECT_EQ(store->get("group", key), std::nullopt) << key;
      } else {
        ++expected_commits;
        EXPECT_TRUE(out.committed) << key << ": " << out.error;
        EXPECT_TRUE(revisions.insert(out.revision).second)
            << "revision " << out.revision << " handed to two callers";
        auto entry = store->get_entry("group", key);
        ASSERT_TRUE(entry.has_value()) << key;
        EXPECT_EQ(entry->version, out.revision) << key;
      }
    }
  }

  // History: exactly one commit per non-throwing caller, under the revision it was given, with
  // its own label and its own two writes; revisions 1..N with no gaps.
  const auto history = store->history();
  ASSERT_EQ(history.size(), static_cast<std::size_t>(expected_commits));
  EXPECT_EQ(store->history_bounds().head, static_cast<Revision>(expected_commits));
  std::map<std::string, int> seen;
  Revision expected_revision = 1;
  for (const Commit& c : history) {
    EXPECT_EQ(c.revision, expected_revision++);
    ASSERT_EQ(c.changes.size(), 2u) << "revision " << c.revision;
    const std::string& key = c.changes[0].key;
    EXPECT_EQ(c.origin.label, "caller " + key);
    EXPECT_EQ(c.changes[1].key, "shared");
    EXPECT_EQ(c.changes[0].new_value, c.changes[1].new_value);
    EXPECT_TRUE(revisions.count(c.revision)) << "revision " << c.revision << " has no caller";
    ++seen[key];
    // The "shared" key's old value is the previous commit's new value: bodies ran in order.
    if (c.revision > 1) {
      EXPECT_EQ(c.changes[1].old_value, history[c.revision - 2].changes[1].new_value)
          << "revision " << c.revision;
    }
  }
  for (const auto& [key, count] : seen) EXPECT_EQ(count, 1) << key;

  const Stats s = store->stats();
  EXPECT_EQ(s.commits, static_cast<std::uint64_t>(expected_commits));
  EXPECT_EQ(s.rollbacks, static_cast<std::uint64_t>(kThreads * kPerThread - expected_commits));
  // 32 threads at once must have shared transactions (the point of group commit).
  EXPECT_GT(s.max_group_size, 1u);
  EXPECT_LT(s.groups, s.commits);
}

INSTANTIATE_TEST_SUITE_P(Durability, GroupCommitTest,
                         ::testing::Values(Durability::kFull, Durability::kNormal),
                         [](const auto& info) {
                           return info.param == Durability::kFull ? "Full" : "Normal";
                         });

// Checkpoints run on the maintenance thread, not inside a commit: writing far more than one
// checkpoint's worth of WAL still keeps the -wal file bounded (the RESTART after a PASSIVE pass
// lets writers rewind it even though they never pause).
TEST(BackgroundCheckpointTest, CheckpointsKeepTheWalBoundedWithoutBlockingCommits) {
  TempDir dir;
  Options options;
  options.durability = Durability::kNormal;
  options.wal_checkpoint_bytes = 1 << 20;
  auto store = Store::open(dir.file("state.db"), options);
  const std::string chunk(16 * 1024, 'c');
  constexpr int kCommits = 1200;  // ~40 MB of WAL frames (values and history), no fsync each
  for (int i = 0; i < kCommits; ++i) {
    store->put("app", "k" + std::to_string(i % 10), Value(chunk));
  }
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(5 * test::kSlowFactor);
  while (store->stats().checkpoints == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_GE(store->stats().checkpoints, 1u);
  // A writer with no fsync outruns the checkpoints for a while, so the file can exceed its
  // 1 MiB bound by what is written during one checkpoint; it must not hold the whole history.
  EXPECT_LT(test::FileSize(dir.file("state.db") + "-wal"), 12u << 20);
  EXPECT_EQ(store->get("app", "k9"), std::optional<Value>(Value(chunk)));
}

}  // namespace
}  // namespace statestore

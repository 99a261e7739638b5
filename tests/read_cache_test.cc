// ReadCache (lib/src/core/read_cache.h) on its own, with a scripted change feed: what it does when
// the server behind it lost commits it had seen (issue 15: a failover with synchronous_commit off,
// or a restored backup), so that revision numbers come back for other commits. The failover tests
// (tests/postgres/pg_failover_test.cc) show the same end to end, but there which path catches it
// (the Forget on reconnect, or a catch-up that sees the head behind) depends on timing.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/change_signal.h"
#include "core/read_cache.h"
#include "core/store_counters.h"

namespace statestore::internal {
namespace {

class TestSignal final : public ChangeSignal {
 public:
  std::uint64_t Load() const override { return value_.load(); }
  std::uint64_t Bump() override { return value_.fetch_add(1); }
  bool usable() const override { return true; }

 private:
  std::atomic<std::uint64_t> value_{1};
};

// A server's history as the cache sees it: its head, and the keys changed after a revision.
// `changed` lists (revision, "keyspace\0key").
class ScriptedFeed final : public ChangeFeed {
 public:
  Revision head = 0;
  std::vector<std::pair<Revision, std::string>> changed;
  // What PgChangeFeed answers: a head behind `after` means history went back; it cannot tell.
  bool ChangedKeys(Revision after, Revision through, std::size_t, Revision* out_head,
                   std::vector<std::string>* keys) noexcept override {
    *out_head = head;
    if (head < after) return false;
    for (const auto& [rev, key] : changed) {
      if (rev > after && (through == 0 || rev <= through)) keys->push_back(key);
    }
    return true;
  }
};

std::string Id(const std::string& key) { return std::string("app") + '\0' + key; }

Entry At(std::int64_t value, Revision rev) {
  return Entry{"x", Value(value), rev, std::nullopt, std::nullopt};
}

class ReadCacheTest : public ::testing::Test {
 protected:
  // Reads "x" as a reader would: a hit, or a miss that fills `on_server`.
  std::optional<std::int64_t> Get(const std::optional<Entry>& on_server) {
    CachedEntry hit;
    if (cache_.Lookup("app", "x", &hit))
      return hit ? std::optional(hit->value.as_int()) : std::nullopt;
    ReadCache::FillTicket ticket = cache_.BeginFill();
    cache_.ObserveHead(feed_.head, &ticket);
    cache_.Fill(ticket, "app", "x", on_server);
    ++misses_;
    return on_server ? std::optional(on_server->value.as_int()) : std::nullopt;
  }
  // Another process commits: the server's head moves and the signal is bumped.
  void ForeignCommit(Revision rev, const std::string& key) {
    feed_.head = rev;
    feed_.changed.emplace_back(rev, Id(key));
    signal_.Bump();
  }

  TestSignal signal_;
  StoreCounters counters_;
  ScriptedFeed feed_;
  ReadCache cache_{1024, &signal_, &counters_};
  int misses_ = 0;
};

TEST_F(ReadCacheTest, AHeadBehindTheCacheDropsEverythingAndSettlesThere) {
  feed_.head = 5;
  cache_.SetChangeFeed(&feed_, 5);
  ASSERT_EQ(Get(At(2, 5)), 2);   // miss, filled
  ASSERT_EQ(Get(At(99, 5)), 2);  // hit
  ASSERT_EQ(misses_, 1);
  // The server lost revisions 4 and 5: its head is 3 and x is 1 there.
  feed_.head = 3;
  feed_.changed.clear();
  signal_.Bump();
  EXPECT_EQ(Get(At(1, 3)), 1) << "answered from a commit the server no longer has";
  EXPECT_EQ(cache_.coherent_head(), 3u);
  // From there on the revisions after 3 are caught up as usual.
  ASSERT_EQ(Get(At(1, 3)), 1);
  ForeignCommit(4, "x");
  EXPECT_EQ(Get(At(7, 4)), 7);
}

TEST_F(ReadCacheTest, ForgetDropsEntriesEvenWhenTheHeadCameBackToTheSameRevision) {
  feed_.head = 5;
  cache_.SetChangeFeed(&feed_, 5);
  ASSERT_EQ(Get(At(2, 5)), 2);
  ASSERT_EQ(Get(At(99, 5)), 2);
  // Revision 5 was lost and another commit took its number: by revision, nothing changed.
  feed_.changed.clear();
  signal_.Bump();
  ASSERT_EQ(Get(At(3, 5)), 2) << "the scripted feed should not reveal the loss by itself";
  cache_.Forget();
  EXPECT_EQ(cache_.coherent_head(), 0u);
  signal_.Bump();
  EXPECT_EQ(Get(At(3, 5)), 3);
  EXPECT_EQ(cache_.coherent_head(), 5u);
  EXPECT_EQ(Get(At(99, 5)), 3);  // cached again
}

}  // namespace
}  // namespace statestore::internal

// Conformance: the read cache inside one process: filled on read, updated only by successful
// commits (never by rolled-back transactions or savepoints), negative entries, bounded capacity,
// and every write path (put, erase, CAS, revert) keeping it right. Cross-process coherence is in
// cache_coherence_conformance_test.cc.
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "conformance/conformance_test.h"
#include "statestore/statestore.h"
#include "test_util.h"

namespace statestore {
namespace {

class CacheConformance : public test::ConformanceTest {
 protected:
  void Open(const Options& options = {}) { Reopen(WithReadCache(options)); }
  void SetUp() override {
    ConformanceTest::SetUp();
    if (IsSkipped()) return;
    Open();
  }

  // get() twice: the second must be answered from the cache.
  std::optional<Value> GetCached(std::string_view ks, std::string_view key) {
    auto first = store()->get(ks, key);
    const auto hits = store()->stats().cache_hits;
    auto second = store()->get(ks, key);
    EXPECT_EQ(store()->stats().cache_hits, hits + 1) << "second get of " << key << " missed";
    EXPECT_EQ(first, second);
    return second;
  }
};

TEST_P(CacheConformance, RepeatedGetIsAHit) {
  store()->put("app", "k", Value(1));
  EXPECT_EQ(GetCached("app", "k"), std::optional<Value>(Value(1)));
  const Stats s = store()->stats();
  EXPECT_EQ(s.reads, 2u);
  EXPECT_EQ(s.cache_hits + s.cache_misses, s.reads);
}

TEST_P(CacheConformance, MissingKeyIsCachedAndInvalidatedByCommit) {
  EXPECT_EQ(GetCached("app", "k"), std::nullopt);
  EXPECT_EQ(GetCached("nokeyspace", "k"), std::nullopt);
  store()->put("app", "k", Value(1));
  EXPECT_EQ(store()->get("app", "k"), std::optional<Value>(Value(1)));
  store()->transact([](Transaction& tx) { tx.put("nokeyspace", "k", Value(2)); });
  EXPECT_EQ(store()->get("nokeyspace", "k"), std::optional<Value>(Value(2)));
}

TEST_P(CacheConformance, EveryWritePathUpdatesTheCache) {
  Revision r1 = store()->put("app", "k", Value(1));
  ASSERT_EQ(GetCached("app", "k"), std::optional<Value>(Value(1)));

  store()->put("app", "k", Value(2));
  EXPECT_EQ(GetCached("app", "k"), std::optional<Value>(Value(2)));

  store()->erase("app", "k");
  EXPECT_EQ(GetCached("app", "k"), std::nullopt);

  Revision r4 = store()->transact([](Transaction& tx) { tx.put_if_version("app", "k", 4, 0); });
  EXPECT_EQ(GetCached("app", "k"), std::optional<Value>(Value(4)));
  EXPECT_EQ(store()->get_entry("app", "k")->version, r4);

  store()->transact([&](Transaction& tx) { tx.erase_if_version("app", "k", r4); });
  EXPECT_EQ(GetCached("app", "k"), std::nullopt);
  EXPECT_EQ(store()->get_entry("app", "k"), std::nullopt);

  // revert(r1) is refused (later changes), forced it writes back "absent" (what r1 overwrote).
  store()->put("app", "k", Value(5));
  ASSERT_EQ(GetCached("app", "k"), std::optional<Value>(Value(5)));
  Revision r6 = store()->put("app", "k", Value(6));
  ASSERT_EQ(GetCached("app", "k"), std::optional<Value>(Value(6)));
  store()->revert(r6);
  EXPECT_EQ(GetCached("app", "k"), std::optional<Value>(Value(5)));
  RevertOptions force;
  force.force = true;
  store()->revert(r1, force);
  EXPECT_EQ(GetCached("app", "k"), std::nullopt);

  // A multi-key transaction updates every key it wrote.
  store()->put("app", "a", Value("a0"));
  store()->put("app", "b", Value("b0"));
  ASSERT_EQ(GetCached("app", "a"), std::optional<Value>(Value("a0")));
  ASSERT_EQ(GetCached("app", "b"), std::optional<Value>(Value("b0")));
  store()->transact([](Transaction& tx) {
    tx.put("app", "a", Value("a1"));
    tx.erase("app", "b");
    tx.put("app", "b", Value("b1"));
    tx.put("app", "a", Value("a2"));
  });
  EXPECT_EQ(GetCached("app", "a"), std::optional<Value>(Value("a2")));
  EXPECT_EQ(GetCached("app", "b"), std::optional<Value>(Value("b1")));
  // get_entry sees the new version through the cache as well.
  auto e = store()->get_entry("app", "a");
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->version, store()->history_bounds().head);
}

TEST_P(CacheConformance, RolledBackTransactionLeavesNoTraceInCache) {
  store()->put("app", "k", Value("old"));
  ASSERT_EQ(GetCached("app", "k"), std::optional<Value>(Value("old")));
  ASSERT_EQ(GetCached("app", "absent"), std::nullopt);
  EXPECT_THROW(store()->transact([](Transaction& tx) {
    tx.put("app", "k", Value("new"));
    tx.put("app", "absent", Value("present"));
    // Reading inside the body must not fill the shared cache with uncommitted values.
    EXPECT_EQ(tx.get("app", "k"), std::optional<Value>(Value("new")));
    EXPECT_EQ(tx.get_entry("app", "absent")->value, Value("present"));
    throw std::runtime_error("roll back");
  }),
               std::runtime_error);
  EXPECT_EQ(GetCached("app", "k"), std::optional<Value>(Value("old")));
  EXPECT_EQ(GetCached("app", "absent"), std::nullopt);
}

TEST_P(CacheConformance, UncachedKeyReadInsideRolledBackBodyStaysAbsent) {
  // The key was never read through Store::get, so only the body could have cached it.
  store()->put("app", "k", Value("old"));
  EXPECT_THROW(store()->transact([](Transaction& tx) {
    tx.put("app", "fresh", Value("uncommitted"));
    EXPECT_TRUE(tx.get("app", "fresh").has_value());
    tx.put("app", "k", Value("uncommitted"));
    EXPECT_TRUE(tx.get("app", "k").has_value());
    throw std::runtime_error("roll back");
  }),
               std::runtime_error);
  EXPECT_EQ(store()->get("app", "fresh"), std::nullopt);
  EXPECT_EQ(store()->get("app", "k"), std::optional<Value>(Value("old")));
}

TEST_P(CacheConformance, RolledBackSavepointLeavesNoTraceInCache) {
  store()->put("app", "inner", Value("old"));
  ASSERT_EQ(GetCached("app", "inner"), std::optional<Value>(Value("old")));
  store()->transact([](Transaction& tx) {
    tx.put("app", "outer", Value(1));
    try {
      tx.savepoint([](Transaction& s) {
        s.put("app", "inner", Value("new"));
        throw std::runtime_error("inner");
      });
    } catch (const std::runtime_error&) {
    }
  });
  EXPECT_EQ(GetCached("app", "inner"), std::optional<Value>(Value("old")));
  EXPECT_EQ(GetCached("app", "outer"), std::optional<Value>(Value(1)));
}

TEST_P(CacheConformance, FailedConflictLeavesNoTraceInCache) {
  Revision r = store()->put("app", "k", Value(1));
  ASSERT_EQ(GetCached("app", "k"), std::optional<Value>(Value(1)));
  EXPECT_THROW(store()->transact([&](Transaction& tx) {
    tx.put("app", "k", Value(2));
    tx.put_if_version("app", "other", Value(3), r + 7);
  }),
               Error);
  EXPECT_EQ(GetCached("app", "k"), std::optional<Value>(Value(1)));
  EXPECT_EQ(GetCached("app", "other"), std::nullopt);
}

TEST_P(CacheConformance, SmallCapacityStaysCorrect) {
  Options options;
  options.cache_capacity = 8;
  Open(options);
  constexpr int kKeys = 200;
  store()->transact([](Transaction& tx) {
    for (int i = 0; i < kKeys; ++i) tx.put("app", "k" + std::to_string(i), Value(i));
  });
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < kKeys; ++i) {
      ASSERT_EQ(store()->get("app", "k" + std::to_string(i)), std::optional<Value>(Value(i)))
          << "round " << round;
    }
    // Also misses for keys that do not exist.
    EXPECT_EQ(store()->get("app", "none" + std::to_string(round)), std::nullopt);
  }
  for (int i = 0; i < kKeys; i += 3) store()->put("app", "k" + std::to_string(i), Value(-i));
  for (int i = 0; i < kKeys; ++i) {
    ASSERT_EQ(store()->get("app", "k" + std::to_string(i)),
              std::optional<Value>(Value(i % 3 == 0 ? -i : i)));
  }
  const Stats s = store()->stats();
  EXPECT_EQ(s.cache_hits + s.cache_misses, s.reads);
}

TEST_P(CacheConformance, DisabledCacheStillReadsCommittedValues) {
  Options options;
  options.cache_capacity = 0;
  Open(options);
  store()->put("app", "k", Value(1));
  EXPECT_EQ(store()->get("app", "k"), std::optional<Value>(Value(1)));
  store()->put("app", "k", Value(2));
  EXPECT_EQ(store()->get("app", "k"), std::optional<Value>(Value(2)));
  EXPECT_EQ(store()->stats().cache_hits, 0u);
}

TEST_P(CacheConformance, SameKeyInDifferentKeyspacesIsSeparate) {
  store()->put("one", "k", Value(1));
  store()->put("two", "k", Value(2));
  EXPECT_EQ(GetCached("one", "k"), std::optional<Value>(Value(1)));
  EXPECT_EQ(GetCached("two", "k"), std::optional<Value>(Value(2)));
  store()->erase("one", "k");
  EXPECT_EQ(GetCached("one", "k"), std::nullopt);
  EXPECT_EQ(GetCached("two", "k"), std::optional<Value>(Value(2)));
}

STATESTORE_CONFORMANCE_SUITE(CacheConformance);

}  // namespace
}  // namespace statestore

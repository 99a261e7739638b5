// Conformance: Store lifecycle and bookkeeping — two stores are independent, contradicting
// Options for an open store are refused, data survives close and reopen, read-only stores, the
// stats counters and the reported Options. What is particular to SQLite files (paths and
// symlinks, the file's mode and pragmas, WAL checkpoints, synchronous=FULL syncs) is in
// store_test.cc.
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "conformance/conformance_test.h"
#include "statestore/statestore.h"
#include "test_util.h"

namespace statestore {
namespace {

using test::CatchError;

class StoreConformance : public test::ConformanceTest {};

TEST_P(StoreConformance, TwoLocationsAreIndependent) {
  std::unique_ptr<test::StoreLocation> location_a = engine().NewLocation();
  std::unique_ptr<test::StoreLocation> location_b = engine().NewLocation();
  auto a = location_a->Open();
  auto b = location_b->Open();
  ASSERT_NE(a.get(), b.get());
  a->put("app", "k", Value("a"));
  EXPECT_EQ(b->get("app", "k"), std::nullopt);
  b->put("app", "k", Value("b"));
  EXPECT_EQ(a->get("app", "k"), std::optional<Value>(Value("a")));
  EXPECT_EQ(b->get("app", "k"), std::optional<Value>(Value("b")));
  EXPECT_EQ(a->history_bounds().head, 1u);
  EXPECT_EQ(b->history_bounds().head, 1u);
  // A transaction on one file inside a body of the other is refused, not deadlocked.
  std::optional<Error> nested;
  a->transact([&](Transaction& tx) {
    tx.put("app", "k2", Value(1));
    nested = CatchError([&] { b->put("app", "k2", Value(1)); });
  });
  if (nested) {
    EXPECT_EQ(nested->code(), ErrorCode::kInvalidArgument) << nested->what();
  }
  EXPECT_EQ(a->get("app", "k2"), std::optional<Value>(Value(1)));
}

TEST_P(StoreConformance, ContradictingOptionsForOpenStoreAreRefused) {
  auto a = OpenSecond();
  Options other;
  other.durability = Durability::kNormal;
  auto err = CatchError([&] { OpenSecond(other); });
  ASSERT_TRUE(err.has_value()) << "a second durability mode for an open file was accepted";
  EXPECT_EQ(err->code(), ErrorCode::kInvalidArgument) << err->what();

  // A second config profile would silently get the first Store's Config: refused too.
  Options profile;
  profile.config.profile = "test";
  err = CatchError([&] { OpenSecond(profile); });
  ASSERT_TRUE(err.has_value()) << "a second config profile for an open file was accepted";
  EXPECT_EQ(err->code(), ErrorCode::kInvalidArgument) << err->what();
  EXPECT_TRUE(test::Contains(err->what(), "profile")) << err->what();
}

TEST_P(StoreConformance, DataSurvivesCloseAndReopen) {
  Revision head = 0;
  {
    auto store = OpenSecond();
    store->put("app", "int", Value(42));
    store->put("app", "text", Value("hello"));
    store->put("cfg", "flag", Value(true));
    store->erase("app", "text");
    head = store->transact([](Transaction& tx) {
      tx.put("app", "bytes", Value(Bytes{0, 255}));
      tx.put("app", "double", Value(0.5));
    });
  }
  // All shared_ptrs released: the Store is closed; a new open reads the file again.
  auto store = OpenSecond();
  EXPECT_EQ(store->get("app", "int"), std::optional<Value>(Value(42)));
  EXPECT_EQ(store->get("app", "text"), std::nullopt);
  EXPECT_EQ(store->get("cfg", "flag"), std::optional<Value>(Value(true)));
  EXPECT_EQ(store->get("app", "bytes"), std::optional<Value>(Value(Bytes{0, 255})));
  EXPECT_EQ(store->get("app", "double"), std::optional<Value>(Value(0.5)));
  EXPECT_EQ(store->history_bounds().head, head);
  EXPECT_EQ(store->history().size(), 5u);
  EXPECT_EQ(store->keyspaces(), (std::vector<std::string>{"app", "cfg"}));
  // Counters start from zero in a new Store.
  EXPECT_EQ(store->stats().commits, 0u);
  EXPECT_EQ(store->put("app", "int", Value(43)), head + 1);
}

TEST_P(StoreConformance, ReadOnlyStoreReadsButRefusesWrites) {
  {
    auto store = OpenSecond();
    store->put("app", "k", Value("v"));
  }
  Options options;
  options.read_only = true;
  auto store = OpenSecond(options);
  EXPECT_TRUE(store->options().read_only);
  EXPECT_EQ(store->get("app", "k"), std::optional<Value>(Value("v")));
  EXPECT_EQ(store->list("app").size(), 1u);
  EXPECT_EQ(store->history().size(), 1u);
  store->read([](Transaction& tx) { EXPECT_EQ(tx.get("app", "k"), std::optional<Value>("v")); });

  const Revision head = store->history_bounds().head;
  std::vector<std::pair<std::string, std::function<void()>>> writes = {
      {"put", [&] { store->put("app", "k", Value("w")); }},
      {"put new keyspace", [&] { store->put("other", "k", Value("w")); }},
      {"erase", [&] { store->erase("app", "k"); }},
      {"transact", [&] { store->transact([](Transaction& tx) { tx.put("app", "k", "w"); }); }},
      {"revert", [&] { store->revert(head); }},
  };
  for (const auto& [name, call] : writes) {
    auto err = CatchError(call);
    ASSERT_TRUE(err.has_value()) << name << " was accepted by a read-only store";
    EXPECT_EQ(err->code(), ErrorCode::kReadOnly) << name << ": " << err->what();
  }
  EXPECT_EQ(store->get("app", "k"), std::optional<Value>(Value("v")));
  EXPECT_EQ(store->history_bounds().head, head);
  EXPECT_EQ(store->stats().commits, 0u);
}

TEST_P(StoreConformance, StatsCountReadsHitsMissesCommitsRollbacks) {
  auto store = OpenSecond(WithReadCache());
  Stats s0 = store->stats();
  EXPECT_EQ(s0.reads, 0u);
  EXPECT_EQ(s0.commits, 0u);
  EXPECT_EQ(s0.rollbacks, 0u);

  store->put("app", "k", Value(1));
  Stats s1 = store->stats();
  EXPECT_EQ(s1.commits, 1u);
  EXPECT_GE(s1.groups, 1u);
  EXPECT_GE(s1.max_group_size, 1u);
  EXPECT_LE(s1.groups, s1.commits);

  (void)store->get("app", "k");
  Stats s2 = store->stats();
  EXPECT_EQ(s2.reads, 1u);
  EXPECT_EQ(s2.cache_hits + s2.cache_misses, s2.reads);

  (void)store->get("app", "k");
  (void)store->get_entry("app", "k");
  Stats s3 = store->stats();
  EXPECT_EQ(s3.reads, 3u);
  EXPECT_EQ(s3.cache_hits + s3.cache_misses, s3.reads);
  EXPECT_GE(s3.cache_hits, s2.cache_hits + 1) << "a repeated get was not a cache hit";

  // list and history are not counted as reads.
  (void)store->list("app");
  (void)store->history();
  EXPECT_EQ(store->stats().reads, 3u);

  EXPECT_THROW(store->transact([](Transaction& tx) {
    tx.put("app", "k", 2);
    throw std::runtime_error("no");
  }),
               std::runtime_error);
  Stats s4 = store->stats();
  EXPECT_EQ(s4.commits, 1u);
  EXPECT_EQ(s4.rollbacks, 1u);

  store->transact([](Transaction&) {});  // a no-op commit counts
  EXPECT_EQ(store->stats().commits, 2u);
  EXPECT_EQ(store->stats().busy_retries, 0u);
}

TEST_P(StoreConformance, StatsWithCacheDisabledAreAllMisses) {
  Options options;
  options.cache_capacity = 0;
  auto store = OpenSecond(options);
  store->put("app", "k", Value(1));
  for (int i = 0; i < 5; ++i) EXPECT_EQ(store->get("app", "k"), std::optional<Value>(Value(1)));
  EXPECT_EQ(store->get("app", "missing"), std::nullopt);
  Stats s = store->stats();
  EXPECT_EQ(s.reads, 6u);
  EXPECT_EQ(s.cache_hits, 0u);
  EXPECT_EQ(s.cache_misses, 6u);
}

TEST_P(StoreConformance, OptionsAreReported) {
  Options options;
  options.origin_label = "reporter";
  options.busy_timeout = std::chrono::milliseconds(1234);
  options.cache_capacity = 77;
  auto store = OpenSecond(options);
  EXPECT_EQ(store->options().origin_label, "reporter");
  EXPECT_EQ(store->options().busy_timeout, std::chrono::milliseconds(1234));
  EXPECT_EQ(store->options().cache_capacity, 77u);
}

STATESTORE_CONFORMANCE_SUITE(StoreConformance);

}  // namespace
}  // namespace statestore

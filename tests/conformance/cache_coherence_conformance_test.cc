// Conformance: cross-process cache coherence — a read that starts after another process's commit
// returned sees that commit, even when the key is in this process's read cache. The other process
// is statestore_test_worker (worker_main.cc).
#include <chrono>
#include <csignal>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "conformance/conformance_test.h"
#include "statestore/statestore.h"
#include "test_util.h"

namespace statestore {
namespace {

using std::chrono::milliseconds;
using test::ChildProcess;

const milliseconds kCoherenceChildTimeout(60'000 * test::kSlowFactor);

class CacheCoherenceConformance : public test::ConformanceTest {
 protected:
  void SetUp() override {
    ConformanceTest::SetUp();
    if (IsSkipped()) return;
    CONFORMANCE_REQUIRE(test::Capability::kMultiProcess);
    CONFORMANCE_REQUIRE(test::Capability::kStrictSharedCache);
  }

  // Runs the worker to completion; returns its first output line (e.g. "rev 5").
  std::string RunWorker(const std::vector<std::string>& args) {
    auto child = ChildProcess::SpawnWorker(args);
    std::string out = child.ReadAll(kCoherenceChildTimeout);
    int code = child.Wait(kCoherenceChildTimeout);
    EXPECT_EQ(code, 0) << "worker " << args[0] << " failed: " << out;
    auto nl = out.find('\n');
    return nl == std::string::npos ? out : out.substr(0, nl);
  }

  // A get that must be answered from the cache (the key is read twice).
  std::optional<Value> GetTwiceSecondHit(const std::string& key) {
    (void)store()->get("app", key);
    const auto hits = store()->stats().cache_hits;
    auto v = store()->get("app", key);
    EXPECT_EQ(store()->stats().cache_hits, hits + 1) << "second get of " << key << " missed";
    return v;
  }

  // Reads `key`, expecting `value` after exactly one whole-cache flush, then from the cache.
  void ExpectOneFullFlushThenCached(const std::string& key, const Value& value) {
    const auto flushes = store()->stats().cache_invalidations;
    EXPECT_EQ(store()->get("app", key), std::optional<Value>(value));
    EXPECT_EQ(store()->stats().cache_invalidations, flushes + 1);
    EXPECT_EQ(GetTwiceSecondHit(key), std::optional<Value>(value));
  }

  // Sends one command to a serving worker and returns its answer line.
  static std::string Ask(ChildProcess& worker, const std::string& command) {
    EXPECT_TRUE(worker.Write(command + "\n"));
    auto line = worker.ReadLine(kCoherenceChildTimeout);
    EXPECT_TRUE(line.has_value()) << "no answer to " << command;
    return line.value_or("");
  }
};

TEST_P(CacheCoherenceConformance, OtherProcessPutIsSeenAfterCaching) {
  store()->put("app", "k", Value(0));
  ASSERT_EQ(GetTwiceSecondHit("k"), std::optional<Value>(Value(0)));
  for (int round = 1; round <= 4; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    const Revision head = store()->history_bounds().head;
    std::string out = RunWorker({"put", locator(), "app", "k", std::to_string(round * 10)});
    EXPECT_EQ(out, "rev " + std::to_string(head + 1));
    // The worker's put returned and it exited: our next get must see its value.
    EXPECT_EQ(store()->get("app", "k"), std::optional<Value>(Value(round * 10)));
    // And it is cached again afterwards.
    EXPECT_EQ(GetTwiceSecondHit("k"), std::optional<Value>(Value(round * 10)));
    // Our own writes interleave correctly.
    store()->put("app", "mine", Value(round));
    EXPECT_EQ(GetTwiceSecondHit("mine"), std::optional<Value>(Value(round)));
  }
  // Each foreign commit dropped only its own key, never the whole cache.
  EXPECT_GE(store()->stats().cache_keys_invalidated, 4u);
  EXPECT_EQ(store()->stats().cache_invalidations, 0u);
  EXPECT_EQ(store()->history_bounds().head, 9u);
}

TEST_P(CacheCoherenceConformance, OtherProcessCreateAndEraseAreSeen) {
  // A cached "absent" must not hide a key created by another process ...
  ASSERT_EQ(GetTwiceSecondHit("created"), std::nullopt);
  RunWorker({"put", locator(), "app", "created", "7"});
  EXPECT_EQ(store()->get("app", "created"), std::optional<Value>(Value(7)));
  // ... and a cached value must not hide an erase.
  ASSERT_EQ(GetTwiceSecondHit("created"), std::optional<Value>(Value(7)));
  RunWorker({"erase", locator(), "app", "created"});
  EXPECT_EQ(store()->get("app", "created"), std::nullopt);
  // get_entry too (its version comes from the other process's commit).
  RunWorker({"put", locator(), "app", "created", "8"});
  auto e = store()->get_entry("app", "created");
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->value, Value(8));
  EXPECT_EQ(e->version, store()->history_bounds().head);
}

TEST_P(CacheCoherenceConformance, BothDirectionsWithALongLivedWorker) {
  store()->put("app", "k", Value(0));
  auto worker = ChildProcess::SpawnWorker({"serve", locator()});
  ASSERT_TRUE(worker.WaitForLine("ready", kCoherenceChildTimeout));
  for (int round = 1; round <= 3; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    // Both processes have the current value cached.
    ASSERT_EQ(GetTwiceSecondHit("k"), std::optional<Value>(Value(2 * round - 2)));
    EXPECT_EQ(Ask(worker, "get app k"), "value " + std::to_string(2 * round - 2));
    auto before = test::SplitWords(Ask(worker, "stats"));
    EXPECT_EQ(Ask(worker, "get app k"), "value " + std::to_string(2 * round - 2));
    auto after = test::SplitWords(Ask(worker, "stats"));
    ASSERT_EQ(before.size(), 6u);
    ASSERT_EQ(after.size(), 6u);
    EXPECT_EQ(std::stoull(after[2]), std::stoull(before[2]) + 1) << "worker's get missed";

    // We write, the worker (with the old value cached) reads.
    store()->put("app", "k", Value(2 * round - 1));
    EXPECT_EQ(Ask(worker, "get app k"), "value " + std::to_string(2 * round - 1));

    // The worker writes, we (with the old value cached) read.
    ASSERT_EQ(GetTwiceSecondHit("k"), std::optional<Value>(Value(2 * round - 1)));
    const Revision head = store()->history_bounds().head;
    EXPECT_EQ(Ask(worker, "put app k " + std::to_string(2 * round)),
              "rev " + std::to_string(head + 1));
    EXPECT_EQ(store()->get("app", "k"), std::optional<Value>(Value(2 * round)));
  }
  EXPECT_TRUE(worker.Write("quit\n"));
  EXPECT_EQ(worker.Wait(kCoherenceChildTimeout), 0);
}

// Issue 11: a second process writing other keys must not empty this one's cache. The worker
// commits continuously (keys a, b, filler); this process reads its own 200 cached keys and, after
// each acknowledgement it receives, the worker's key `a`, which must never be older than what the
// worker acknowledged.
TEST_P(CacheCoherenceConformance, OtherProcessWritingUnrelatedKeysKeepsOurCacheWarm) {
  constexpr int kKeys = 200;
  store()->transact([&](Transaction& tx) {
    for (int i = 0; i < kKeys; ++i) tx.put("app", "mine/" + std::to_string(i), Value(i));
  });
  for (int i = 0; i < kKeys; ++i) ASSERT_TRUE(store()->get("app", "mine/" + std::to_string(i)));
  auto worker = ChildProcess::SpawnWorker({"write-forever", locator()});
  ASSERT_TRUE(worker.WaitForLine("ready", kCoherenceChildTimeout));
  const Stats before = store()->stats();
  std::int64_t last_acked = 0;
  for (int round = 0; round < 200; ++round) {
    auto line = worker.ReadLine(kCoherenceChildTimeout);
    ASSERT_TRUE(line.has_value()) << "worker stopped acknowledging";
    auto words = test::SplitWords(*line);
    ASSERT_EQ(words.size(), 2u) << *line;
    ASSERT_EQ(words[0], "ack");
    const std::int64_t acked = std::stoll(words[1]);
    ASSERT_GT(acked, last_acked);
    last_acked = acked;
    auto a = store()->get("app", "a");
    ASSERT_TRUE(a.has_value());
    ASSERT_GE(a->as_int(), acked) << "a cached value older than an acknowledged commit";
    for (int i = 0; i < 100; ++i) {
      const int k = (round * 100 + i) % kKeys;
      ASSERT_EQ(store()->get("app", "mine/" + std::to_string(k)), std::optional<Value>(Value(k)));
    }
  }
  worker.Kill(SIGKILL);
  worker.Wait(kCoherenceChildTimeout);
  const Stats after = store()->stats();
  const double reads = static_cast<double>(after.reads - before.reads);
  const double hits = static_cast<double>(after.cache_hits - before.cache_hits);
  EXPECT_GE(hits / reads, 0.95) << hits << " hits of " << reads << " reads";
  EXPECT_EQ(after.cache_invalidations, before.cache_invalidations) << "whole-cache flushes";
  EXPECT_GT(after.cache_keys_invalidated, before.cache_keys_invalidated);
}

// When history no longer covers what this process missed (compacted meanwhile), the cache drops
// everything rather than guess.
TEST_P(CacheCoherenceConformance, CompactedHistoryFallsBackToAFullFlush) {
  store()->put("app", "k", Value(1));
  ASSERT_EQ(GetTwiceSecondHit("k"), std::optional<Value>(Value(1)));
  auto worker = ChildProcess::SpawnWorker({"serve", locator()});
  ASSERT_TRUE(worker.WaitForLine("ready", kCoherenceChildTimeout));
  // The worker commits twice more, and history up to its first commit is compacted by a third
  // process (statestore's own retention would do the same under load).
  EXPECT_EQ(Ask(worker, "put app k 2").rfind("rev ", 0), 0u);
  EXPECT_EQ(Ask(worker, "put app other 3").rfind("rev ", 0), 0u);
  EXPECT_NE(RunWorker({"compact", locator(), "1"}), "removed 0");
  ExpectOneFullFlushThenCached("k", Value(2));
  EXPECT_TRUE(worker.Write("quit\n"));
  EXPECT_EQ(worker.Wait(kCoherenceChildTimeout), 0);
}

// More revisions behind than a catch-up reads (ReadCache::kMaxCatchUpKeys, 4,096): the cache
// drops everything rather than apply the keys of a prefix of them. The key read here changes in
// the last of the other process's commits.
TEST_P(CacheCoherenceConformance, FarBehindFallsBackToAFullFlush) {
  store()->put("app", "k", Value(1));
  ASSERT_EQ(GetTwiceSecondHit("k"), std::optional<Value>(Value(1)));
  auto worker = ChildProcess::SpawnWorker({"serve", locator()});
  ASSERT_TRUE(worker.WaitForLine("ready", kCoherenceChildTimeout));
  EXPECT_EQ(Ask(worker, "put-many app filler 4200").rfind("rev ", 0), 0u);
  EXPECT_EQ(Ask(worker, "put app k 2").rfind("rev ", 0), 0u);
  ExpectOneFullFlushThenCached("k", Value(2));
  EXPECT_TRUE(worker.Write("quit\n"));
  EXPECT_EQ(worker.Wait(kCoherenceChildTimeout), 0);
}

// A few revisions behind: the catch-up reads the changed keys of exactly the revisions missed
// (through the commits' change id ranges on SQLite), and the rest of the cache stays warm.
TEST_P(CacheCoherenceConformance, CatchUpInvalidatesExactlyTheKeysChanged) {
  store()->transact([](Transaction& tx) {
    for (int i = 0; i < 20; ++i) tx.put("app", "mine/" + std::to_string(i), Value(i));
  });
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(store()->get("app", "mine/" + std::to_string(i)));
  auto worker = ChildProcess::SpawnWorker({"serve", locator()});
  ASSERT_TRUE(worker.WaitForLine("ready", kCoherenceChildTimeout));
  EXPECT_EQ(Ask(worker, "put-many other x 30").rfind("rev ", 0), 0u);
  EXPECT_EQ(Ask(worker, "put app mine/7 700").rfind("rev ", 0), 0u);
  EXPECT_EQ(Ask(worker, "put app k 5").rfind("rev ", 0), 0u);
  const Stats before = store()->stats();
  EXPECT_EQ(store()->get("app", "k"), std::optional<Value>(Value(5)));
  EXPECT_EQ(store()->get("app", "mine/7"), std::optional<Value>(Value(700)));
  for (int i = 0; i < 20; ++i) {
    if (i == 7) continue;
    EXPECT_EQ(store()->get("app", "mine/" + std::to_string(i)), std::optional<Value>(Value(i)));
  }
  const Stats after = store()->stats();
  EXPECT_EQ(after.cache_invalidations, before.cache_invalidations) << "a whole-cache flush";
  EXPECT_EQ(after.cache_hits - before.cache_hits, 19u) << "every untouched key is still cached";
  EXPECT_TRUE(worker.Write("quit\n"));
  EXPECT_EQ(worker.Wait(kCoherenceChildTimeout), 0);
}

TEST_P(CacheCoherenceConformance, ReadBodyAndListSeeOtherProcessCommits) {
  store()->put("app", "k", Value(1));
  store()->read([](Transaction& tx) { EXPECT_EQ(tx.get("app", "k"), std::optional<Value>(1)); });
  ASSERT_EQ(store()->list("app").size(), 1u);
  RunWorker({"put", locator(), "app", "k2", "2"});
  store()->read(
      [](Transaction& tx) { EXPECT_EQ(tx.get("app", "k2"), std::optional<Value>(Value(2))); });
  EXPECT_EQ(store()->list("app").size(), 2u);
  // And a write transaction reads the other process's value.
  store()->transact([](Transaction& tx) {
    auto v = tx.get("app", "k2");
    ASSERT_TRUE(v.has_value());
    tx.put("app", "k2", v->as_int() + 1);
  });
  EXPECT_EQ(store()->get("app", "k2"), std::optional<Value>(Value(3)));
}

STATESTORE_CONFORMANCE_SUITE(CacheCoherenceConformance);

}  // namespace
}  // namespace statestore

// Failover of a primary with a synchronous standby (issue 15), with real servers and processes:
// the run itself (writer processes, config watch, cached reader, SIGKILL of the primary and
// promotion of the standby, then the checks on the last primary) is RunFailovers
// (pg_failover_run.h), which the benchmark's failover section runs too.
//
// The same run with synchronous_commit=off must find lost acknowledged commits: that shows the
// checks can fail, so their passing means something. The engine sets synchronous_commit for its
// own sessions from Options::durability (kFull: on, kNormal: off; pg_schema.h), whatever the
// server's default, so the control run opens its stores with Durability::kNormal.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "postgres/pg_failover_pair.h"
#include "postgres/pg_failover_run.h"
#include "statestore/statestore.h"
#include "test_util.h"

namespace statestore::test {
namespace {

using std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;

const milliseconds kChildTimeout(180'000 * kSlowFactor);
constexpr int kKills = 5;

FailoverOutcome RunWith(Durability durability) {
  FailoverRunOptions o;
  o.durability = durability;
  o.kills = kKills;
  o.writer_command = {kWorkerPath, "failover-write"};
  o.log = [](const std::string& line) { std::cout << line << "\n"; };
  FailoverOutcome out = RunFailovers(o);
  std::cout << "failover run: " << out.Summary() << "\n";
  for (const std::string& e : out.run_errors) ADD_FAILURE() << e;
  return out;
}

std::string SkipReason() {
  std::string why;
  if (PgCluster::BinDir(&why).empty()) return why;
  return {};
}

TEST(PgFailoverTest, SynchronousStandbyFailoversLoseNoAcknowledgedCommit) {
  if (const std::string why = SkipReason(); !why.empty()) GTEST_SKIP() << why;
  const FailoverOutcome out = RunWith(Durability::kFull);
  EXPECT_GT(out.acked, 0u);
  EXPECT_EQ(out.lost, 0u) << "acknowledged commits missing after a failover";
  EXPECT_EQ(out.partial, 0u);
  EXPECT_EQ(out.failed_but_present, 0u)
      << "a commit reported as failed (busy/unavailable) is there";
  EXPECT_EQ(out.counter, static_cast<std::int64_t>(out.pairs_present)) << "lost update";
  EXPECT_EQ(out.revision_gaps, 0u);
  EXPECT_TRUE(out.history_replays_to_state);
  EXPECT_GT(out.config_acked, 0u);
  EXPECT_EQ(out.watch_missed, 0u) << "acknowledged config values the watch never delivered";
  EXPECT_EQ(out.watch_repeated, 0u);
  EXPECT_TRUE(out.watch_in_order);
  EXPECT_FALSE(out.watch_compacted);
  EXPECT_EQ(out.reader_went_back, 0u);
  EXPECT_EQ(out.first_commit_ms.size(), static_cast<std::size_t>(kKills));
  const auto unknown = out.failures.find("commit_unknown");
  EXPECT_EQ(out.unknown_present + out.unknown_absent,
            static_cast<std::size_t>(unknown == out.failures.end() ? 0 : unknown->second));
}

// The control: with synchronous_commit=off (Durability::kNormal) a commit is acknowledged before
// any server has it on disk, so killing the primary loses acknowledged commits, and the checks
// above must see it.
TEST(PgFailoverTest, WithoutSynchronousCommitTheChecksFindLostCommits) {
  if (const std::string why = SkipReason(); !why.empty()) GTEST_SKIP() << why;
  const FailoverOutcome out = RunWith(Durability::kNormal);
  EXPECT_GT(out.acked, 0u);
  EXPECT_GT(out.lost, 0u) << "synchronous_commit=off lost nothing across " << kKills
                          << " kills: the failover test could not tell";
  // What is lost is lost whole, and no later commit built on a lost one: the writers' read caches
  // forgot what they had seen when their connections broke (ReadCache::Forget).
  EXPECT_EQ(out.partial, 0u);
  EXPECT_EQ(out.counter, static_cast<std::int64_t>(out.pairs_present)) << "lost update";
}

// A failover that loses commits reuses their revision numbers for other commits. A process that
// had read (and cached) a lost commit must not go on answering with it — not from get(), not
// inside a transaction body — even when the new primary's head has come back to the same
// revision, where a catch-up by revision would see nothing to do.
TEST(PgFailoverTest, CachesForgetCommitsAFailoverLost) {
  if (const std::string why = SkipReason(); !why.empty()) GTEST_SKIP() << why;
  PgFailoverPair::Settings settings;
  settings.synchronous = false;
  std::unique_ptr<PgFailoverPair> pair = PgFailoverPair::Start(settings);
  Options options;
  options.busy_timeout = milliseconds(5000);
  options.postgres.cache_reads_with_bounded_staleness = true;  // get() answers from the cache
  auto a = Store::open(pair->uri(), options);
  const Revision kept = a->put("app", "x", Value(1));
  pair->DetachStandby();
  const Revision lost = a->put("app", "x", Value(2));
  ASSERT_EQ(lost, kept + 1);
  ASSERT_EQ(a->get("app", "x"), Value(2));  // and cached
  ASSERT_EQ(a->get("app", "x"), Value(2));

  pair->FailOver();  // x = 2 is lost
  // Another process commits on the new primary: the same revision number, another commit.
  auto worker_says = [&](const std::vector<std::string>& args) {
    ChildProcess b = ChildProcess::SpawnWorker(args);
    auto line = b.ReadLine(kChildTimeout);
    b.Wait(kChildTimeout);
    return line.value_or("(nothing)");
  };
  ASSERT_EQ(worker_says({"get", pair->uri(), "app", "x"}), "value 1");
  ASSERT_EQ(worker_says({"put", pair->uri(), "app", "x", "3"}), "rev " + std::to_string(lost));
  // a's listener and writer reconnect to the new primary; from then on it reads 3.
  std::optional<Value> seen;
  const auto deadline = SteadyClock::now() + std::chrono::seconds(30);
  while (SteadyClock::now() < deadline) {
    try {
      seen = a->get("app", "x");
      if (seen == Value(3)) break;
    } catch (const Error&) {
    }
    std::this_thread::sleep_for(milliseconds(20));
  }
  EXPECT_EQ(seen, Value(3)) << "a still answers with the commit the failover lost";
  a->transact([](Transaction& tx) { tx.put("app", "x", tx.get("app", "x")->as_int() + 1); });
  EXPECT_EQ(a->get("app", "x"), Value(4));
  EXPECT_EQ(worker_says({"get", pair->uri(), "app", "x"}), "value 4");
}

}  // namespace
}  // namespace statestore::test

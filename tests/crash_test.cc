// Crash safety: a worker process commits as fast as it can and reports every acknowledged commit;
// it is killed with SIGKILL at a random moment. After a reopen every acknowledged commit is there,
// no transaction is there in part, and history agrees with the state. Both durability modes
// promise this for a process crash.
#include <signal.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "statestore/statestore.h"
#include "test_util.h"

namespace statestore {
namespace {

using std::chrono::milliseconds;
using test::ChildProcess;
using test::TempDir;

const milliseconds kChildTimeout(60'000 * test::kSlowFactor);

class CrashTest : public ::testing::TestWithParam<bool> {
 protected:
  bool normal() const { return GetParam(); }
  TempDir dir_;
  std::string db_ = dir_.file("state.db");
};

TEST_P(CrashTest, AcknowledgedCommitsSurviveSigkill) {
  std::mt19937 rng(std::random_device{}());
  std::int64_t last_ack_overall = 0;
  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    std::vector<std::string> args{"write-forever", db_};
    if (normal()) args.push_back("--normal");
    auto worker = ChildProcess::SpawnWorker(args);
    ASSERT_TRUE(worker.WaitForLine("ready", kChildTimeout));

    // Let it commit for a random while (at least until a few commits were acknowledged).
    const auto run_for = milliseconds(100 + rng() % 500);
    const auto deadline = std::chrono::steady_clock::now() + run_for;
    std::int64_t last_ack = 0;
    int acks = 0;
    while (std::chrono::steady_clock::now() < deadline || acks < 3) {
      auto line = worker.ReadLine(kChildTimeout);
      ASSERT_TRUE(line.has_value()) << "worker stopped";
      auto words = test::SplitWords(*line);
      ASSERT_EQ(words.size(), 2u) << *line;
      ASSERT_EQ(words[0], "ack") << *line;
      last_ack = std::stoll(words[1]);
      ++acks;
    }
    worker.Kill(SIGKILL);
    // Acks written before the kill are still in the pipe.
    for (const auto& line : [&] {
           std::vector<std::string> lines;
           std::string rest = worker.ReadAll(kChildTimeout);
           std::size_t pos = 0;
           while (pos < rest.size()) {
             auto nl = rest.find('\n', pos);
             if (nl == std::string::npos) break;  // a line cut by the kill
             lines.push_back(rest.substr(pos, nl - pos));
             pos = nl + 1;
           }
           return lines;
         }()) {
      auto words = test::SplitWords(line);
      if (words.size() == 2 && words[0] == "ack") last_ack = std::stoll(words[1]);
    }
    EXPECT_EQ(worker.Wait(kChildTimeout), 128 + SIGKILL);
    EXPECT_GT(last_ack, last_ack_overall);

    auto store = Store::open(db_);
    auto a = store->get("app", "a");
    auto b = store->get("app", "b");
    ASSERT_TRUE(a.has_value());
    ASSERT_TRUE(b.has_value());
    EXPECT_EQ(*a, *b) << "a transaction survived in part";
    EXPECT_GE(a->as_int(), last_ack) << "an acknowledged commit was lost";
    // At most the one commit in flight when the kill came can be there unacknowledged.
    EXPECT_LE(a->as_int(), last_ack + 1);
    // One revision per transaction; history agrees with the state.
    const HistoryBounds bounds = store->history_bounds();
    EXPECT_EQ(bounds.head, static_cast<Revision>(a->as_int()));
    auto head_commit = store->commit_at(bounds.head);
    ASSERT_TRUE(head_commit.has_value());
    ASSERT_EQ(head_commit->changes.size(), 3u);
    EXPECT_EQ(head_commit->changes[0].new_value, std::optional<Value>(*a));
    EXPECT_EQ(head_commit->changes[2].new_value, std::optional<Value>(*b));
    EXPECT_EQ(store->history().size(), static_cast<std::size_t>(bounds.head));
    last_ack_overall = a->as_int();
    // The store is writable after the crash.
    store->transact([](Transaction& tx) {
      auto v = tx.get("app", "a");
      tx.put("app", "a", v->as_int() + 1);
      tx.put("app", "filler", "x");
      tx.put("app", "b", v->as_int() + 1);
    });
    ++last_ack_overall;
  }
}

INSTANTIATE_TEST_SUITE_P(Durability, CrashTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "Normal" : "Full";
                         });

}  // namespace
}  // namespace statestore

// Conformance: several processes on one store: read-increment-write transactions from 3 worker
// processes (plus this one) lose no update, never fail with "database is locked", and history
// attributes every commit to the process that made it.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "conformance/conformance_test.h"
#include "statestore/statestore.h"
#include "test_util.h"

namespace statestore {
namespace {

using std::chrono::milliseconds;
using test::ChildProcess;

const milliseconds kChildTimeout(120'000 * test::kSlowFactor);

class MultiProcessConformance : public test::ConformanceTest {
 protected:
  void SetUp() override {
    ConformanceTest::SetUp();
    if (IsSkipped()) return;
    CONFORMANCE_REQUIRE(test::Capability::kMultiProcess);
  }
};

// The test: separate processes each doing N increments on one counter.
TEST_P(MultiProcessConformance, WorkerProcessesIncrementOneCounter) {
  constexpr int kProcesses = 3;
  constexpr int kPerProcess = 500;
  {
    // Create the file first so that the workers race on increments, not on creation.
    auto store = OpenSecond();
  }
  std::vector<ChildProcess> workers;
  for (int p = 0; p < kProcesses; ++p) {
    workers.push_back(ChildProcess::SpawnWorker(
        {"increment", locator(), std::to_string(kPerProcess), "--wait-go"}));
  }
  for (auto& w : workers) {
    std::string skipped;
    ASSERT_TRUE(w.WaitForLine("ready", kChildTimeout, &skipped)) << "worker output: " << skipped;
  }
  for (auto& w : workers) ASSERT_TRUE(w.Write("go\n"));

  std::map<pid_t, int> pids;
  for (auto& w : workers) {
    const pid_t pid = w.pid();
    std::string out = w.ReadAll(kChildTimeout);
    int code = w.Wait(kChildTimeout);
    EXPECT_EQ(code, 0) << "worker " << pid << " failed; output:\n" << out;
    EXPECT_EQ(out, "done\n") << "worker " << pid;
    EXPECT_FALSE(test::Contains(test::ToLower(out), "locked")) << out;
    pids[pid] = 0;
  }

  auto store = OpenSecond();
  EXPECT_EQ(store->get("app", "counter"), std::optional<Value>(Value(kProcesses * kPerProcess)));
  const HistoryBounds b = store->history_bounds();
  EXPECT_EQ(b.head, static_cast<Revision>(kProcesses * kPerProcess));

  const auto commits = store->history();
  ASSERT_EQ(commits.size(), static_cast<std::size_t>(kProcesses * kPerProcess));
  int bad = 0;
  for (std::size_t i = 0; i < commits.size(); ++i) {
    const Commit& c = commits[i];
    const std::int64_t expected_new = static_cast<std::int64_t>(i) + 1;
    bool ok = c.changes.size() == 1 &&
              c.changes[0].new_value == std::optional<Value>(Value(expected_new)) &&
              (i == 0 ? !c.changes[0].old_value.has_value()
                      : c.changes[0].old_value == std::optional<Value>(Value(expected_new - 1)));
    if (!ok && ++bad <= 5) ADD_FAILURE() << "revision " << c.revision << " is wrong";
    auto it = pids.find(static_cast<pid_t>(c.origin.pid));
    if (it == pids.end()) {
      if (++bad <= 5) ADD_FAILURE() << "revision " << c.revision << " has pid " << c.origin.pid;
    } else {
      ++it->second;
    }
  }
  EXPECT_EQ(bad, 0);
  for (const auto& [pid, count] : pids) {
    EXPECT_EQ(count, kPerProcess) << "commits of worker " << pid;
    HistoryQuery q;
    q.pid = pid;
    EXPECT_EQ(store->history(q).size(), static_cast<std::size_t>(kPerProcess)) << pid;
  }
}

// Worker processes and threads of this process increment the same counter at the same time.
TEST_P(MultiProcessConformance, WorkersAndLocalThreadsShareOneCounter) {
  constexpr int kProcesses = 2;
  constexpr int kPerProcess = 300;
  constexpr int kThreads = 2;
  constexpr int kPerThread = 300;
  auto store = OpenSecond();
  std::vector<ChildProcess> workers;
  for (int p = 0; p < kProcesses; ++p) {
    workers.push_back(ChildProcess::SpawnWorker(
        {"increment", locator(), std::to_string(kPerProcess), "--wait-go"}));
  }
  for (auto& w : workers) ASSERT_TRUE(w.WaitForLine("ready", kChildTimeout));
  for (auto& w : workers) ASSERT_TRUE(w.Write("go\n"));

  std::atomic<int> errors{0};
  std::string first_error;
  std::mutex mu;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) {
        try {
          store->transact([](Transaction& tx) {
            auto v = tx.get("app", "counter");
            tx.put("app", "counter", (v ? v->as_int() : 0) + 1);
          });
        } catch (const std::exception& e) {
          std::lock_guard<std::mutex> lock(mu);
          if (errors++ == 0) first_error = e.what();
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  for (auto& w : workers) {
    std::string out = w.ReadAll(kChildTimeout);
    EXPECT_EQ(w.Wait(kChildTimeout), 0) << out;
  }
  EXPECT_EQ(errors.load(), 0) << first_error;
  const int total = kProcesses * kPerProcess + kThreads * kPerThread;
  EXPECT_EQ(store->get("app", "counter"), std::optional<Value>(Value(total)));
  EXPECT_EQ(store->history_bounds().head, static_cast<Revision>(total));
  HistoryQuery mine;
  mine.pid = ::getpid();
  EXPECT_EQ(store->history(mine).size(), static_cast<std::size_t>(kThreads * kPerThread));
}

// Reads in this process never go back in time while other processes commit: once a get() returned
// a value, a later get() on the same thread never returns an older one (the read cache must not be
// refilled with a value read before another process's commit).
// Runs kProcesses workers incrementing "counter" and `local_writers` local threads doing the same,
// while local reader threads check that get() never returns an older value than before.
void RunReadersAgainstWriters(const test::StoreLocation& location, int local_writers) {
  constexpr int kProcesses = 2;
  const int kPerProcess = test::kUnderSanitizer ? 300 : 1000;
  const int kPerLocalWriter = test::kUnderSanitizer ? 300 : 1000;
  constexpr int kReaders = 2;
  const std::string& db = location.locator();
  auto store = location.Open();
  store->put("app", "counter", Value(0));
  std::vector<ChildProcess> workers;
  for (int p = 0; p < kProcesses; ++p) {
    workers.push_back(
        ChildProcess::SpawnWorker({"increment", db, std::to_string(kPerProcess), "--wait-go"}));
  }
  for (auto& w : workers) ASSERT_TRUE(w.WaitForLine("ready", kChildTimeout));

  std::atomic<bool> done{false};
  std::atomic<int> backwards{0}, errors{0}, reads{0};
  std::mutex mu;
  std::string first_problem;
  auto note = [&](const std::string& what) {
    std::lock_guard<std::mutex> lock(mu);
    if (first_problem.empty()) first_problem = what;
  };
  std::vector<std::thread> readers, writers;
  for (int r = 0; r < kReaders; ++r) {
    readers.emplace_back([&, r] {
      std::int64_t last = 0;
      while (!done.load()) {
        try {
          auto v = store->get("app", "counter");
          const std::int64_t now = v ? v->as_int() : -1;
          ++reads;
          if (now < last) {
            ++backwards;
            note("reader " + std::to_string(r) + " read " + std::to_string(now) + " after " +
                 std::to_string(last));
          }
          last = std::max(last, now);
        } catch (const std::exception& e) {
          ++errors;
          note(e.what());
        }
      }
    });
  }
  for (auto& w : workers) ASSERT_TRUE(w.Write("go\n"));
  for (int t = 0; t < local_writers; ++t) {
    writers.emplace_back([&] {
      for (int i = 0; i < kPerLocalWriter; ++i) {
        try {
          store->transact([](Transaction& tx) {
            auto v = tx.get("app", "counter");
            tx.put("app", "counter", (v ? v->as_int() : 0) + 1);
          });
        } catch (const std::exception& e) {
          ++errors;
          note(e.what());
        }
      }
    });
  }
  for (auto& t : writers) t.join();
  for (auto& w : workers) {
    std::string out = w.ReadAll(kChildTimeout);
    EXPECT_EQ(w.Wait(kChildTimeout), 0) << out;
  }
  done = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(errors.load(), 0) << first_problem;
  EXPECT_EQ(backwards.load(), 0) << first_problem;
  EXPECT_GT(reads.load(), 0);
  EXPECT_EQ(
      store->get("app", "counter"),
      std::optional<Value>(Value(kProcesses * kPerProcess + local_writers * kPerLocalWriter)));
}

// Reads in this process never go back in time while other processes commit: once a get() returned
// a value, a later get() on the same thread never returns an older one (the read cache must not be
// refilled with a value read before another process's commit).
TEST_P(MultiProcessConformance, LocalReadersNeverGoBackInTimeWhileWorkersCommit) {
  RunReadersAgainstWriters(location(), /*local_writers=*/0);
}

// The same with local writer threads committing too (their commits publish into the cache).
TEST_P(MultiProcessConformance, LocalReadersNeverGoBackInTimeWhileWorkersAndLocalThreadsCommit) {
  RunReadersAgainstWriters(location(), /*local_writers=*/2);
}

STATESTORE_CONFORMANCE_SUITE(MultiProcessConformance);

}  // namespace
}  // namespace statestore

// Several processes on one SQLite file: a writer waiting for the write lock is listed in the
// NAME-gen side file, woken by the holder's commit, and a SIGKILLed waiter's slot is cleared. The
// engine-neutral multi-process tests (no lost update, no "database is locked", history names each
// process, readers never go back in time) are in conformance/multiprocess_conformance_test.cc.
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

#include "statestore/statestore.h"
#include "test_util.h"

namespace statestore {
namespace {

using std::chrono::milliseconds;
using test::ChildProcess;
using test::TempDir;

const milliseconds kChildTimeout(120'000 * test::kSlowFactor);

class MultiProcessTest : public ::testing::Test {
 protected:
  TempDir dir_;
  std::string db_ = dir_.file("state.db");
};

// The write lock is handed between processes through words of the shared page NAME-gen
// (lib/src/sqlite/writer_turns.h): a process whose writer waits for the lock lists its pid there
// until it gets the lock, and the holder's commit wakes it. Read straight from the file, as another
// process would see it.
std::vector<std::int32_t> ListedWaiters(const std::string& db) {
  const std::string page = test::ReadFile(db + "-gen");
  std::vector<std::int32_t> pids;
  constexpr std::size_t kSlotsOffset = 64 + 4;  // SharedGeneration::kSpareOffset + `release`
  for (std::size_t i = 0; i < 16; ++i) {
    std::int32_t pid = 0;
    std::memcpy(&pid, page.data() + kSlotsOffset + 4 * i, sizeof pid);
    if (pid != 0) pids.push_back(pid);
  }
  return pids;
}

bool IsListed(const std::string& db, pid_t pid) {
  const auto pids = ListedWaiters(db);
  return std::find(pids.begin(), pids.end(), pid) != pids.end();
}

// Polls until `pid` is listed (or 20 s passed); returns whether it is.
bool WaitUntilListed(const std::string& db, pid_t pid) {
  const auto deadline = std::chrono::steady_clock::now() + milliseconds(20'000);
  while (!IsListed(db, pid) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(5));
  }
  return IsListed(db, pid);
}

TEST_F(MultiProcessTest, WaitingWriterIsListedAndWokenAndDeadWaitersAreCleared) {
  auto store = Store::open(db_);
  store->put("app", "k", Value(0));
  auto holder = ChildProcess::SpawnWorker({"hold", db_});
  ASSERT_TRUE(holder.WaitForLine("holding", kChildTimeout));
  // A second worker waits for the lock and is SIGKILLed while it waits: its slot stays behind.
  auto doomed = ChildProcess::SpawnWorker({"put", db_, "app", "doomed", "1"});
  ASSERT_TRUE(WaitUntilListed(db_, doomed.pid())) << "a writer waiting for the lock is not listed";
  doomed.Kill(SIGKILL);
  doomed.Wait(kChildTimeout);
  // This process waits too, on another thread, and is listed while it waits.
  std::atomic<bool> done{false};
  std::thread writer([&] {
    store->put("app", "k", Value(1));
    done = true;
  });
  EXPECT_TRUE(WaitUntilListed(db_, ::getpid()));
  EXPECT_FALSE(done.load());
  // The holder commits; this process's put goes through and its slot is cleared.
  ASSERT_TRUE(holder.Write("commit\n"));
  EXPECT_EQ(holder.Wait(kChildTimeout), 0);
  writer.join();
  EXPECT_EQ(store->get("app", "k"), std::optional<Value>(Value(1)));
  EXPECT_EQ(store->get("app", "held"), std::optional<Value>(Value(1)));
  EXPECT_FALSE(IsListed(db_, ::getpid()));
  // The next writer that finds the dead process listed clears its slot, and is not held up by
  // it for long (its yield is bounded).
  const auto before = std::chrono::steady_clock::now();
  store->put("app", "k", Value(2));
  EXPECT_LT(std::chrono::steady_clock::now() - before, milliseconds(2'000));
  EXPECT_FALSE(IsListed(db_, doomed.pid())) << "a dead waiter's slot was not cleared";
}

}  // namespace
}  // namespace statestore

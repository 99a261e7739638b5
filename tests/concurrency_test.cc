// Threads and the SQLite engine's per-thread connections: a long-lived thread outlives the Stores
// it used, connections of exited threads are reclaimed (counted in file descriptors), and
// concurrent opens of one file return one Store. The engine-neutral thread tests (no lost update,
// history, readers and snapshots) are in conformance/concurrency_conformance_test.cc.
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <optional>
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

void Increment(Store& store) {
  store.transact([](Transaction& tx) {
    auto v = tx.get("app", "counter");
    tx.put("app", "counter", (v ? v->as_int() : 0) + 1);
  });
}

class ConcurrencyTest : public ::testing::Test {
 protected:
  void SetUp() override { store_ = Store::open(dir_.file("state.db")); }
  TempDir dir_;
  std::shared_ptr<Store> store_;
};

// A thread that outlives several Stores (of the same file and of other files) must not reuse a
// connection of a closed Store.
TEST_F(ConcurrencyTest, LongLivedThreadOutlivesStores) {
  store_.reset();
  std::mutex mu;
  std::condition_variable cv;
  std::function<void()> job;
  bool quit = false;
  std::thread worker([&] {
    std::unique_lock<std::mutex> lock(mu);
    for (;;) {
      cv.wait(lock, [&] { return job || quit; });
      if (job) {
        job();
        job = nullptr;
        cv.notify_all();
      } else {
        return;
      }
    }
  });
  auto run_on_worker = [&](std::function<void()> fn) {
    std::unique_lock<std::mutex> lock(mu);
    job = std::move(fn);
    cv.notify_all();
    cv.wait(lock, [&] { return !job; });
  };

  const std::vector<std::string> files = {dir_.file("one.db"), dir_.file("two.db"),
                                          dir_.file("one.db"), dir_.file("three.db"),
                                          dir_.file("two.db")};
  for (std::size_t round = 0; round < files.size(); ++round) {
    auto store = Store::open(files[round]);
    std::optional<std::string> error;
    run_on_worker([&] {
      try {
        store->put("app", "round" + std::to_string(round), Value(static_cast<int>(round)));
        (void)store->get("app", "round" + std::to_string(round));
      } catch (const std::exception& e) {
        error = e.what();
      }
    });
    ASSERT_FALSE(error.has_value()) << *error;
    store.reset();  // the worker thread is still alive
  }
  {
    std::lock_guard<std::mutex> lock(mu);
    quit = true;
    cv.notify_all();
  }
  worker.join();

  auto one = Store::open(dir_.file("one.db"));
  auto two = Store::open(dir_.file("two.db"));
  auto three = Store::open(dir_.file("three.db"));
  auto keys = [](Store& s) {
    std::vector<std::string> k;
    for (const auto& e : s.list("app")) k.push_back(e.key);
    return k;
  };
  EXPECT_EQ(keys(*one), (std::vector<std::string>{"round0", "round2"}));
  EXPECT_EQ(keys(*two), (std::vector<std::string>{"round1", "round4"}));
  EXPECT_EQ(keys(*three), (std::vector<std::string>{"round3"}));
}

// The thread-exit test: 50 short-lived threads, one transaction each.
TEST_F(ConcurrencyTest, ShortLivedThreadsDoNotLeakConnections) {
  Increment(*store_);  // the main thread's connection exists before we count
  (void)store_->get("app", "counter");
  const int fds_before = test::CountOpenFds();

  test::ThreadErrors errors;
  constexpr int kRounds = 5;
  constexpr int kThreadsPerRound = 10;
  for (int round = 0; round < kRounds; ++round) {
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreadsPerRound; ++t) {
      threads.emplace_back([&] {
        try {
          Increment(*store_);
        } catch (const std::exception& e) {
          errors.Add(e.what());
        }
      });
    }
    for (auto& t : threads) t.join();
  }
  // Readers too (a read opens a connection as well).
  for (int i = 0; i < kThreadsPerRound; ++i) {
    std::thread([&] {
      try {
        (void)store_->list("app");
        store_->read([](Transaction& tx) { (void)tx.get("app", "counter"); });
      } catch (const std::exception& e) {
        errors.Add(e.what());
      }
    }).join();
  }
  ASSERT_EQ(errors.count(), 0) << errors.Summary();

  // The store keeps working.
  Increment(*store_);
  EXPECT_EQ(store_->get("app", "counter"),
            std::optional<Value>(Value(2 + kRounds * kThreadsPerRound)));
  const int fds_after = test::CountOpenFds();
  // 60 leaked connections would leave 60-120 descriptors open.
  EXPECT_LE(fds_after, fds_before + 8)
      << "open descriptors grew from " << fds_before << " to " << fds_after;
}

TEST(ConcurrentOpenTest, ConcurrentOpensOfOneFileReturnOneStore) {
  TempDir dir;
  const std::string db = dir.file("state.db");
  constexpr int kThreads = 8;
  std::vector<std::shared_ptr<Store>> stores(kThreads);
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      while (!go.load()) std::this_thread::yield();
      stores[i] = Store::open(db);
    });
  }
  go = true;
  for (auto& t : threads) t.join();
  for (int i = 1; i < kThreads; ++i) EXPECT_EQ(stores[i].get(), stores[0].get());
}

}  // namespace
}  // namespace statestore

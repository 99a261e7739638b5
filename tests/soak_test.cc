// Soak: the concurrency invariants at a larger scale and for longer. Not part of the default run;
// configure with -DSTATESTORE_TEST_SOAK=ON and run `ctest -L soak`.
//
// STATESTORE_SOAK_SCALE (environment, default 1) multiplies every iteration count.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
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

int Scale() {
  const char* s = std::getenv("STATESTORE_SOAK_SCALE");
  int v = s ? std::atoi(s) : 1;
  return v > 0 ? v : 1;
}

const milliseconds kChildTimeout(3'600'000);

TEST(SoakTest, ThreadsProcessesAndReadersOnOneFile) {
  const int scale = Scale();
  const int kThreads = 8;
  const int kPerThread = 5000 * scale;
  const int kProcesses = 4;
  const int kPerProcess = 2500 * scale;
  const int kReaders = 4;

  TempDir dir;
  const std::string db = dir.file("state.db");
  Options options;
  options.history_retention.keep_revisions = 5000;  // exercise compaction while writing
  auto store = Store::open(db, options);

  std::vector<ChildProcess> workers;
  for (int p = 0; p < kProcesses; ++p) {
    workers.push_back(
        ChildProcess::SpawnWorker({"increment", db, std::to_string(kPerProcess), "--wait-go"}));
  }
  for (auto& w : workers) ASSERT_TRUE(w.WaitForLine("ready", kChildTimeout));
  for (auto& w : workers) ASSERT_TRUE(w.Write("go\n"));

  std::atomic<int> errors{0};
  std::atomic<bool> done{false};
  std::atomic<int> backwards{0}, torn{0};
  std::mutex mu;
  std::string first_error;
  auto record = [&](const std::string& what) {
    std::lock_guard<std::mutex> lock(mu);
    if (errors++ == 0) first_error = what;
  };

  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        try {
          store->transact([&](Transaction& tx) {
            auto v = tx.get("app", "counter");
            const std::int64_t n = (v ? v->as_int() : 0) + 1;
            tx.put("app", "counter", n);
            tx.put("app", "mirror", n);
            if (i % 97 == 0) {
              try {
                tx.savepoint([&](Transaction& s) {
                  s.put("app", "counter", Value(-1));
                  throw std::runtime_error("inner");
                });
              } catch (const std::runtime_error&) {
              }
            }
          });
          if (i % 50 == 0) store->put("t" + std::to_string(t), "last", i);
        } catch (const std::exception& e) {
          record(e.what());
        }
      }
    });
  }
  std::vector<std::thread> readers;
  for (int r = 0; r < kReaders; ++r) {
    readers.emplace_back([&] {
      std::int64_t last = 0;
      while (!done.load()) {
        try {
          std::int64_t c = 0, m = 0;
          store->read([&](Transaction& tx) {
            auto cv = tx.get("app", "counter");
            auto mv = tx.get("app", "mirror");
            c = cv ? cv->as_int() : 0;
            m = mv ? mv->as_int() : 0;
          });
          // Worker processes only write "counter", so mirror may lag but never lead.
          if (m > c) {
            ++torn;
            record("read() saw mirror " + std::to_string(m) + " > counter " + std::to_string(c));
          }
          auto g = store->get("app", "counter");
          std::int64_t gv = g ? g->as_int() : 0;
          if (gv < last || gv < 0) {
            ++backwards;
            record("get() returned " + std::to_string(gv) + " after " + std::to_string(last));
          }
          last = std::max(last, gv);
        } catch (const std::exception& e) {
          record(e.what());
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  for (auto& w : workers) {
    std::string out = w.ReadAll(kChildTimeout);
    EXPECT_EQ(w.Wait(kChildTimeout), 0) << out;
  }
  done = true;
  for (auto& r : readers) r.join();

  EXPECT_EQ(errors.load(), torn.load() + backwards.load()) << first_error;
  EXPECT_EQ(torn.load(), 0) << first_error;
  EXPECT_EQ(backwards.load(), 0) << first_error;
  const std::int64_t total = static_cast<std::int64_t>(kThreads) * kPerThread +
                             static_cast<std::int64_t>(kProcesses) * kPerProcess;
  EXPECT_EQ(store->get("app", "counter"), std::optional<Value>(Value(total)));

  store->compact_history();
  const HistoryBounds b = store->history_bounds();
  EXPECT_EQ(b.head - b.first + 1, 5000u);
  // The retained history is contiguous and its counter values increase by one per change.
  HistoryQuery q;
  q.keyspace = "app";
  q.key_prefix = "counter";
  std::int64_t prev = -1;
  for (const Commit& c : store->history(q)) {
    for (const Change& ch : c.changes) {
      ASSERT_TRUE(ch.new_value.has_value());
      if (prev >= 0) {
        ASSERT_EQ(ch.old_value, std::optional<Value>(Value(prev))) << "revision " << c.revision;
      }
      prev = ch.new_value->as_int();
    }
  }
  EXPECT_EQ(prev, total);
}

}  // namespace
}  // namespace statestore

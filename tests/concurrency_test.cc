// Many threads on one Store: no lost updates, every commit in history exactly once with the right
// old/new values, readers never see part of a transaction and never go back in time, uncommitted
// writes stay invisible, and connections of exited threads are reclaimed.
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

std::int64_t ThisThreadId() { return static_cast<std::int64_t>(::syscall(SYS_gettid)); }

// Errors seen by worker threads, reported on the main thread.
class ErrorLog {
 public:
  void Add(const std::string& what) {
    std::lock_guard<std::mutex> lock(mu_);
    if (errors_.size() < 20) errors_.push_back(what);
    ++count_;
  }
  int count() const {
    std::lock_guard<std::mutex> lock(mu_);
    return count_;
  }
  std::string Summary() const {
    std::lock_guard<std::mutex> lock(mu_);
    std::string s;
    for (const auto& e : errors_) s += "  " + e + "\n";
    return s;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> errors_;
  int count_ = 0;
};

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

// The issue's test: 8 threads x 1,000 read-increment-write transactions on one counter.
TEST_F(ConcurrencyTest, EightThreadsIncrementOneCounter) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 1000;
  constexpr int kTotal = kThreads * kPerThread;
  const Revision head0 = store_->history_bounds().head;
  const Stats stats0 = store_->stats();

  ErrorLog errors;
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      while (!go.load()) std::this_thread::yield();
      for (int i = 0; i < kPerThread; ++i) {
        try {
          Increment(*store_);
        } catch (const std::exception& e) {
          errors.Add(e.what());
        }
      }
    });
  }
  go = true;
  for (auto& t : threads) t.join();

  ASSERT_EQ(errors.count(), 0) << errors.Summary();
  EXPECT_EQ(store_->get("app", "counter"), std::optional<Value>(Value(kTotal)));
  store_->read([&](Transaction& tx) {
    EXPECT_EQ(tx.get("app", "counter"), std::optional<Value>(Value(kTotal)));
  });

  const HistoryBounds bounds = store_->history_bounds();
  EXPECT_EQ(bounds.head - head0, static_cast<Revision>(kTotal));

  HistoryQuery q;
  q.from_revision = head0 + 1;
  const auto commits = store_->history(q);
  ASSERT_EQ(commits.size(), static_cast<std::size_t>(kTotal));
  int bad = 0;
  for (std::size_t i = 0; i < commits.size(); ++i) {
    const Commit& c = commits[i];
    const std::int64_t expected_new = static_cast<std::int64_t>(i) + 1;
    bool ok = c.revision == head0 + 1 + i && c.changes.size() == 1 &&
              c.changes[0].keyspace == "app" && c.changes[0].key == "counter" &&
              c.changes[0].new_value == std::optional<Value>(Value(expected_new));
    if (ok) {
      if (i == 0) {
        ok = !c.changes[0].old_value.has_value() ||
             c.changes[0].old_value == std::optional<Value>(Value(0));
      } else {
        ok = c.changes[0].old_value == std::optional<Value>(Value(expected_new - 1));
      }
    }
    if (!ok && ++bad <= 5) {
      ADD_FAILURE() << "commit #" << i << " (revision " << c.revision << ") has "
                    << c.changes.size() << " changes; first: "
                    << (c.changes.empty()
                            ? std::string("-")
                            : (c.changes[0].old_value ? c.changes[0].old_value->to_display()
                                                      : std::string("absent")) +
                                  " -> " +
                                  (c.changes[0].new_value ? c.changes[0].new_value->to_display()
                                                          : std::string("absent")));
    }
  }
  EXPECT_EQ(bad, 0);

  const Stats stats = store_->stats();
  EXPECT_EQ(stats.commits - stats0.commits, static_cast<std::uint64_t>(kTotal));
  EXPECT_EQ(stats.rollbacks - stats0.rollbacks, 0u);
  EXPECT_LE(stats.groups - stats0.groups, stats.commits - stats0.commits);
  EXPECT_GE(stats.max_group_size, 1u);
  RecordProperty("groups", static_cast<int>(stats.groups - stats0.groups));
  RecordProperty("max_group_size", static_cast<int>(stats.max_group_size));
}

TEST_F(ConcurrencyTest, CommitsRecordTheCallingThread) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 100;
  std::vector<std::int64_t> tids(kThreads);
  ErrorLog errors;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      tids[t] = ThisThreadId();
      for (int i = 0; i < kPerThread; ++i) {
        try {
          store_->transact(
              [&](Transaction& tx) { tx.put("app", "t" + std::to_string(t), Value(i)); });
        } catch (const std::exception& e) {
          errors.Add(e.what());
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_EQ(errors.count(), 0) << errors.Summary();

  std::map<std::int64_t, int> per_tid;
  std::map<std::int64_t, std::string> key_of_tid;
  for (int t = 0; t < kThreads; ++t) key_of_tid[tids[t]] = "t" + std::to_string(t);
  for (const Commit& c : store_->history()) {
    ++per_tid[c.origin.thread_id];
    ASSERT_EQ(c.changes.size(), 1u);
    EXPECT_EQ(c.changes[0].key, key_of_tid[c.origin.thread_id])
        << "revision " << c.revision << " attributed to the wrong thread";
  }
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(per_tid[tids[t]], kPerThread) << "thread " << t;
    EXPECT_EQ(store_->get("app", "t" + std::to_string(t)),
              std::optional<Value>(Value(kPerThread - 1)));
  }
  EXPECT_EQ(per_tid.size(), static_cast<std::size_t>(kThreads));
}

TEST_F(ConcurrencyTest, OptimisticCasLoopLosesNoUpdates) {
  constexpr int kThreads = 4;
  const int kPerThread = test::kUnderTsan ? 100 : 250;
  store_->put("app", "cas", Value(0));
  ErrorLog errors;
  std::atomic<int> conflicts{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) {
        for (;;) {
          try {
            auto e = store_->get_entry("app", "cas");  // outside any transaction
            if (!e) throw std::runtime_error("key vanished");
            store_->transact([&](Transaction& tx) {
              tx.put_if_version("app", "cas", Value(e->value.as_int() + 1), e->version);
            });
            break;
          } catch (const Error& err) {
            if (err.code() != ErrorCode::kConflict) {
              errors.Add(err.what());
              break;
            }
            ++conflicts;
          } catch (const std::exception& err) {
            errors.Add(err.what());
            break;
          }
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_EQ(errors.count(), 0) << errors.Summary();
  EXPECT_EQ(store_->get("app", "cas"), std::optional<Value>(Value(kThreads * kPerThread)));
  EXPECT_EQ(store_->history_bounds().head, static_cast<Revision>(1 + kThreads * kPerThread));
  RecordProperty("conflicts", conflicts.load());
}

// The issue's readers-vs-writers test: a writer writes a and b together (a == b); readers never
// see them differ in one read() snapshot, and get() never goes back in time.
TEST_F(ConcurrencyTest, ReadersNeverSeeTornTransactionsOrGoBackInTime) {
  constexpr int kReaders = 4;
  const int kWrites = test::kUnderSanitizer ? 500 : 2000;
  std::atomic<bool> done{false};
  ErrorLog errors;
  std::atomic<int> torn{0}, backwards{0}, snapshots{0}, gets{0};

  std::thread writer([&] {
    for (int i = 1; i <= kWrites; ++i) {
      try {
        store_->transact([&](Transaction& tx) {
          tx.put("app", "a", Value(i));
          tx.put("app", "b", Value(i));
        });
      } catch (const std::exception& e) {
        errors.Add(std::string("writer: ") + e.what());
      }
    }
    done = true;
  });

  std::vector<std::thread> readers;
  for (int r = 0; r < kReaders; ++r) {
    readers.emplace_back([&, r] {
      std::int64_t last_a = 0, last_b = 0, last_snapshot = 0;
      std::uint64_t last_version = 0;
      auto value_of = [](const std::optional<Value>& v) -> std::int64_t {
        return v ? v->as_int() : 0;
      };
      int iteration = 0;
      while (!done.load()) {
        try {
          if (iteration++ % 2 == r % 2) {
            std::int64_t a = -1, b = -2;
            store_->read([&](Transaction& tx) {
              a = value_of(tx.get("app", "a"));
              b = value_of(tx.get("app", "b"));
            });
            ++snapshots;
            if (a != b) ++torn;
            if (a < last_snapshot) ++backwards;
            last_snapshot = a;
          } else {
            std::int64_t a = value_of(store_->get("app", "a"));
            if (a < last_a) ++backwards;
            last_a = a;
            std::int64_t b = value_of(store_->get("app", "b"));
            if (b < last_b) ++backwards;
            last_b = b;
            auto e = store_->get_entry("app", "a");
            if (e) {
              if (e->version < last_version) ++backwards;
              last_version = e->version;
            }
            gets += 3;
          }
        } catch (const std::exception& e) {
          errors.Add(std::string("reader: ") + e.what());
        }
      }
    });
  }
  writer.join();
  for (auto& t : readers) t.join();

  ASSERT_EQ(errors.count(), 0) << errors.Summary();
  EXPECT_EQ(torn.load(), 0) << "read() saw a != b";
  EXPECT_EQ(backwards.load(), 0) << "a reader saw a value older than one it saw before";
  EXPECT_GT(snapshots.load(), 0);
  EXPECT_GT(gets.load(), 0);
  EXPECT_EQ(store_->get("app", "a"), std::optional<Value>(Value(kWrites)));
  EXPECT_EQ(store_->get("app", "b"), std::optional<Value>(Value(kWrites)));
  RecordProperty("snapshots", snapshots.load());
  RecordProperty("gets", gets.load());
}

// get() loops against a stream of commits from two local writer threads (so commits are grouped):
// a reader thread never reads an older value after a newer one. A stale value can get into the
// read cache when a group's commit publishes each request's writes in turn and overwrites a newer
// value that a concurrent miss already filled in.
TEST_F(ConcurrencyTest, GetNeverGoesBackInTimeUnderLocalWriters) {
  constexpr int kWriters = 2;
  constexpr int kReaders = 3;
  const int kPerWriter = test::kUnderSanitizer ? 300 : 1000;
  store_->put("app", "counter", Value(0));
  std::atomic<bool> done{false};
  std::atomic<int> backwards{0}, reads{0};
  ErrorLog errors;
  std::vector<std::thread> writers, readers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&] {
      for (int i = 0; i < kPerWriter; ++i) {
        try {
          Increment(*store_);
        } catch (const std::exception& e) {
          errors.Add(e.what());
        }
      }
    });
  }
  for (int r = 0; r < kReaders; ++r) {
    readers.emplace_back([&] {
      std::int64_t last = 0;
      while (!done.load()) {
        try {
          // A read() of an unrelated key between the gets spaces them out; without it the
          // readers mostly hit the cache and rarely race with a commit.
          store_->read([](Transaction& tx) { (void)tx.get("app", "unrelated"); });
          auto v = store_->get("app", "counter");
          const std::int64_t now = v ? v->as_int() : -1;
          ++reads;
          if (now < last) {
            if (backwards++ == 0) {
              errors.Add("read " + std::to_string(now) + " after " + std::to_string(last));
            }
          }
          last = std::max(last, now);
        } catch (const std::exception& e) {
          errors.Add(e.what());
        }
      }
    });
  }
  for (auto& t : writers) t.join();
  done = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(backwards.load(), 0) << errors.Summary();
  EXPECT_EQ(errors.count(), 0) << errors.Summary();
  EXPECT_GT(reads.load(), 0);
  EXPECT_EQ(store_->get("app", "counter"), std::optional<Value>(Value(kWriters * kPerWriter)));
}

// A key written twice in one transaction: readers see the value before the transaction or the
// value it committed, never the intermediate one (invariant 4: no part of a transaction).
TEST_F(ConcurrencyTest, ReadersNeverSeeIntermediateValuesOfATransaction) {
  const int kWrites = test::kUnderSanitizer ? 100 : 300;
  constexpr int kReaders = 2;
  const std::string pad(500, 'p');
  std::atomic<bool> done{false};
  std::atomic<long> intermediate{0}, reads{0};
  ErrorLog errors;
  std::thread writer([&] {
    for (int i = 1; i <= kWrites; ++i) {
      try {
        store_->transact([&](Transaction& tx) {
          tx.put("app", "k", Value("intermediate"));
          for (int j = 0; j < 10; ++j) tx.put("app", "pad" + std::to_string(j), Value(pad));
          tx.put("app", "k", Value(i));
        });
      } catch (const std::exception& e) {
        errors.Add(e.what());
      }
    }
    done = true;
  });
  std::vector<std::thread> readers;
  for (int r = 0; r < kReaders; ++r) {
    readers.emplace_back([&] {
      while (!done.load()) {
        try {
          auto v = store_->get("app", "k");
          ++reads;
          if (v && v->type() != ValueType::kInt) ++intermediate;
        } catch (const std::exception& e) {
          errors.Add(e.what());
        }
      }
    });
  }
  writer.join();
  for (auto& t : readers) t.join();
  ASSERT_EQ(errors.count(), 0) << errors.Summary();
  EXPECT_EQ(intermediate.load(), 0) << "get() returned a value that was overwritten later in the "
                                       "same transaction ("
                                    << intermediate.load() << " of " << reads.load() << " reads)";
  EXPECT_EQ(store_->get("app", "k"), std::optional<Value>(Value(kWrites)));
}

TEST_F(ConcurrencyTest, UncommittedWritesAreInvisibleToOtherThreads) {
  store_->put("app", "k", Value("committed"));
  ASSERT_EQ(store_->get("app", "k"), std::optional<Value>(Value("committed")));
  const auto timeout = std::chrono::seconds(20 * test::kSlowFactor);
  for (bool commit : {false, true}) {
    SCOPED_TRACE(commit ? "then committed" : "then rolled back");
    try {
      store_->transact([&](Transaction& tx) {
        tx.put("app", "k", Value("uncommitted"));
        tx.put("app", "fresh", Value("uncommitted"));
        auto seen = std::async(std::launch::async, [&] {
          std::vector<std::optional<Value>> out;
          out.push_back(store_->get("app", "k"));
          out.push_back(store_->get("app", "fresh"));
          store_->read([&](Transaction& rtx) { out.push_back(rtx.get("app", "k")); });
          return out;
        });
        if (seen.wait_for(timeout) != std::future_status::ready) {
          ADD_FAILURE() << "a reader in another thread blocked on an open write transaction";
          throw std::runtime_error("reader blocked");
        }
        auto out = seen.get();
        EXPECT_EQ(out[0], std::optional<Value>(Value("committed")));
        EXPECT_EQ(out[1], std::nullopt);
        EXPECT_EQ(out[2], std::optional<Value>(Value("committed")));
        if (!commit) throw std::runtime_error("roll back");
      });
    } catch (const std::runtime_error&) {
    }
  }
  EXPECT_EQ(store_->get("app", "k"), std::optional<Value>(Value("uncommitted")));
  EXPECT_EQ(store_->get("app", "fresh"), std::optional<Value>(Value("uncommitted")));
}

// Group commit: bodies that throw roll back alone; the others in the same group commit.
TEST_F(ConcurrencyTest, FailingBodiesRollBackAloneUnderConcurrency) {
  constexpr int kThreads = 8;
  const int kPerThread = test::kUnderTsan ? 100 : 200;
  std::atomic<bool> go{false};
  ErrorLog errors;
  std::atomic<int> wrong_exception{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      while (!go.load()) std::this_thread::yield();
      for (int i = 0; i < kPerThread; ++i) {
        const bool fail = (i + t) % 3 == 0;
        const std::string key = "t" + std::to_string(t) + "-" + std::to_string(i);
        try {
          store_->transact([&](Transaction& tx) {
            tx.put("app", key, Value(i));
            tx.put("app", "last-" + std::to_string(t), Value(i));
            if (fail) throw std::logic_error("planned failure " + key);
          });
          if (fail) errors.Add("a failing body committed: " + key);
        } catch (const std::logic_error& e) {
          if (!fail || std::string(e.what()) != "planned failure " + key) ++wrong_exception;
        } catch (const std::exception& e) {
          errors.Add(key + ": " + e.what());
        }
      }
    });
  }
  go = true;
  for (auto& t : threads) t.join();
  ASSERT_EQ(errors.count(), 0) << errors.Summary();
  EXPECT_EQ(wrong_exception.load(), 0);

  int expected_commits = 0;
  for (int t = 0; t < kThreads; ++t) {
    int last_good = -1;
    for (int i = 0; i < kPerThread; ++i) {
      const bool fail = (i + t) % 3 == 0;
      const std::string key = "t" + std::to_string(t) + "-" + std::to_string(i);
      auto v = store_->get("app", key);
      if (fail) {
        EXPECT_EQ(v, std::nullopt) << key;
      } else {
        EXPECT_EQ(v, std::optional<Value>(Value(i))) << key;
        ++expected_commits;
        last_good = i;
      }
    }
    EXPECT_EQ(store_->get("app", "last-" + std::to_string(t)),
              std::optional<Value>(Value(last_good)));
  }
  EXPECT_EQ(store_->history_bounds().head, static_cast<Revision>(expected_commits));
  const auto history = store_->history();
  ASSERT_EQ(history.size(), static_cast<std::size_t>(expected_commits));
  for (const Commit& c : history) {
    ASSERT_EQ(c.changes.size(), 2u) << "revision " << c.revision;
    EXPECT_EQ(c.changes[0].new_value, c.changes[1].new_value) << "revision " << c.revision;
  }
  const Stats s = store_->stats();
  EXPECT_EQ(s.commits, static_cast<std::uint64_t>(expected_commits));
  EXPECT_EQ(s.rollbacks, static_cast<std::uint64_t>(kThreads * kPerThread - expected_commits));
}

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

// The issue's thread-exit test: 50 short-lived threads, one transaction each.
TEST_F(ConcurrencyTest, ShortLivedThreadsDoNotLeakConnections) {
  Increment(*store_);  // the main thread's connection exists before we count
  (void)store_->get("app", "counter");
  const int fds_before = test::CountOpenFds();

  ErrorLog errors;
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

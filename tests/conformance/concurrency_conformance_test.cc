// Conformance: many threads on one Store — no lost updates, every commit in history exactly once
// with the right old/new values, readers never see part of a transaction and never go back in
// time, uncommitted writes stay invisible, and bodies that throw roll back alone.
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

#include "conformance/conformance_test.h"
#include "statestore/statestore.h"
#include "test_util.h"

namespace statestore {
namespace {

std::int64_t ThisThreadId() { return static_cast<std::int64_t>(::syscall(SYS_gettid)); }

void Increment(Store& store) {
  store.transact([](Transaction& tx) {
    auto v = tx.get("app", "counter");
    tx.put("app", "counter", (v ? v->as_int() : 0) + 1);
  });
}

class ConcurrencyConformance : public test::ConformanceTest {};

// The issue's test: 8 threads x 1,000 read-increment-write transactions on one counter.
TEST_P(ConcurrencyConformance, EightThreadsIncrementOneCounter) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 1000;
  constexpr int kTotal = kThreads * kPerThread;
  const Revision head0 = store()->history_bounds().head;
  const Stats stats0 = store()->stats();

  test::ThreadErrors errors;
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      while (!go.load()) std::this_thread::yield();
      for (int i = 0; i < kPerThread; ++i) {
        try {
          Increment(*store());
        } catch (const std::exception& e) {
          errors.Add(e.what());
        }
      }
    });
  }
  go = true;
  for (auto& t : threads) t.join();

  ASSERT_EQ(errors.count(), 0) << errors.Summary();
  EXPECT_EQ(store()->get("app", "counter"), std::optional<Value>(Value(kTotal)));
  store()->read([&](Transaction& tx) {
    EXPECT_EQ(tx.get("app", "counter"), std::optional<Value>(Value(kTotal)));
  });

  const HistoryBounds bounds = store()->history_bounds();
  EXPECT_EQ(bounds.head - head0, static_cast<Revision>(kTotal));

  HistoryQuery q;
  q.from_revision = head0 + 1;
  const auto commits = store()->history(q);
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

  const Stats stats = store()->stats();
  EXPECT_EQ(stats.commits - stats0.commits, static_cast<std::uint64_t>(kTotal));
  EXPECT_EQ(stats.rollbacks - stats0.rollbacks, 0u);
  EXPECT_LE(stats.groups - stats0.groups, stats.commits - stats0.commits);
  EXPECT_GE(stats.max_group_size, 1u);
  RecordProperty("groups", static_cast<int>(stats.groups - stats0.groups));
  RecordProperty("max_group_size", static_cast<int>(stats.max_group_size));
}

TEST_P(ConcurrencyConformance, CommitsRecordTheCallingThread) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 100;
  std::vector<std::int64_t> tids(kThreads);
  test::ThreadErrors errors;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      tids[t] = ThisThreadId();
      for (int i = 0; i < kPerThread; ++i) {
        try {
          store()->transact(
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
  for (const Commit& c : store()->history()) {
    ++per_tid[c.origin.thread_id];
    ASSERT_EQ(c.changes.size(), 1u);
    EXPECT_EQ(c.changes[0].key, key_of_tid[c.origin.thread_id])
        << "revision " << c.revision << " attributed to the wrong thread";
  }
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(per_tid[tids[t]], kPerThread) << "thread " << t;
    EXPECT_EQ(store()->get("app", "t" + std::to_string(t)),
              std::optional<Value>(Value(kPerThread - 1)));
  }
  EXPECT_EQ(per_tid.size(), static_cast<std::size_t>(kThreads));
}

TEST_P(ConcurrencyConformance, OptimisticCasLoopLosesNoUpdates) {
  constexpr int kThreads = 4;
  const int kPerThread = test::kUnderTsan ? 100 : 250;
  store()->put("app", "cas", Value(0));
  test::ThreadErrors errors;
  std::atomic<int> conflicts{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) {
        for (;;) {
          try {
            auto e = store()->get_entry("app", "cas");  // outside any transaction
            if (!e) throw std::runtime_error("key vanished");
            store()->transact([&](Transaction& tx) {
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
  EXPECT_EQ(store()->get("app", "cas"), std::optional<Value>(Value(kThreads * kPerThread)));
  EXPECT_EQ(store()->history_bounds().head, static_cast<Revision>(1 + kThreads * kPerThread));
  RecordProperty("conflicts", conflicts.load());
}

// The issue's readers-vs-writers test: a writer writes a and b together (a == b); readers never
// see them differ in one read() snapshot, and get() never goes back in time.
TEST_P(ConcurrencyConformance, ReadersNeverSeeTornTransactionsOrGoBackInTime) {
  constexpr int kReaders = 4;
  const int kWrites = test::kUnderSanitizer ? 500 : 2000;
  std::atomic<bool> done{false};
  test::ThreadErrors errors;
  std::atomic<int> torn{0}, backwards{0}, snapshots{0}, gets{0};

  std::thread writer([&] {
    for (int i = 1; i <= kWrites; ++i) {
      try {
        store()->transact([&](Transaction& tx) {
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
            store()->read([&](Transaction& tx) {
              a = value_of(tx.get("app", "a"));
              b = value_of(tx.get("app", "b"));
            });
            ++snapshots;
            if (a != b) ++torn;
            if (a < last_snapshot) ++backwards;
            last_snapshot = a;
          } else {
            std::int64_t a = value_of(store()->get("app", "a"));
            if (a < last_a) ++backwards;
            last_a = a;
            std::int64_t b = value_of(store()->get("app", "b"));
            if (b < last_b) ++backwards;
            last_b = b;
            auto e = store()->get_entry("app", "a");
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
  EXPECT_EQ(store()->get("app", "a"), std::optional<Value>(Value(kWrites)));
  EXPECT_EQ(store()->get("app", "b"), std::optional<Value>(Value(kWrites)));
  RecordProperty("snapshots", snapshots.load());
  RecordProperty("gets", gets.load());
}

// get() loops against a stream of commits from two local writer threads (so commits are grouped):
// a reader thread never reads an older value after a newer one. A stale value can get into the
// read cache when a group's commit publishes each request's writes in turn and overwrites a newer
// value that a concurrent miss already filled in.
TEST_P(ConcurrencyConformance, GetNeverGoesBackInTimeUnderLocalWriters) {
  constexpr int kWriters = 2;
  constexpr int kReaders = 3;
  const int kPerWriter = test::kUnderSanitizer ? 300 : 1000;
  store()->put("app", "counter", Value(0));
  std::atomic<bool> done{false};
  std::atomic<int> backwards{0}, reads{0};
  test::ThreadErrors errors;
  std::vector<std::thread> writers, readers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&] {
      for (int i = 0; i < kPerWriter; ++i) {
        try {
          Increment(*store());
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
          store()->read([](Transaction& tx) { (void)tx.get("app", "unrelated"); });
          auto v = store()->get("app", "counter");
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
  EXPECT_EQ(store()->get("app", "counter"), std::optional<Value>(Value(kWriters * kPerWriter)));
}

// A key written twice in one transaction: readers see the value before the transaction or the
// value it committed, never the intermediate one (invariant 4: no part of a transaction).
TEST_P(ConcurrencyConformance, ReadersNeverSeeIntermediateValuesOfATransaction) {
  const int kWrites = test::kUnderSanitizer ? 100 : 300;
  constexpr int kReaders = 2;
  const std::string pad(500, 'p');
  std::atomic<bool> done{false};
  std::atomic<long> intermediate{0}, reads{0};
  test::ThreadErrors errors;
  std::thread writer([&] {
    for (int i = 1; i <= kWrites; ++i) {
      try {
        store()->transact([&](Transaction& tx) {
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
          auto v = store()->get("app", "k");
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
  EXPECT_EQ(store()->get("app", "k"), std::optional<Value>(Value(kWrites)));
}

TEST_P(ConcurrencyConformance, UncommittedWritesAreInvisibleToOtherThreads) {
  store()->put("app", "k", Value("committed"));
  ASSERT_EQ(store()->get("app", "k"), std::optional<Value>(Value("committed")));
  const auto timeout = std::chrono::seconds(20 * test::kSlowFactor);
  for (bool commit : {false, true}) {
    SCOPED_TRACE(commit ? "then committed" : "then rolled back");
    try {
      store()->transact([&](Transaction& tx) {
        tx.put("app", "k", Value("uncommitted"));
        tx.put("app", "fresh", Value("uncommitted"));
        auto seen = std::async(std::launch::async, [&] {
          std::vector<std::optional<Value>> out;
          out.push_back(store()->get("app", "k"));
          out.push_back(store()->get("app", "fresh"));
          store()->read([&](Transaction& rtx) { out.push_back(rtx.get("app", "k")); });
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
  EXPECT_EQ(store()->get("app", "k"), std::optional<Value>(Value("uncommitted")));
  EXPECT_EQ(store()->get("app", "fresh"), std::optional<Value>(Value("uncommitted")));
}

// Group commit: bodies that throw roll back alone; the others in the same group commit.
TEST_P(ConcurrencyConformance, FailingBodiesRollBackAloneUnderConcurrency) {
  constexpr int kThreads = 8;
  const int kPerThread = test::kUnderTsan ? 100 : 200;
  std::atomic<bool> go{false};
  test::ThreadErrors errors;
  std::atomic<int> wrong_exception{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      while (!go.load()) std::this_thread::yield();
      for (int i = 0; i < kPerThread; ++i) {
        const bool fail = (i + t) % 3 == 0;
        const std::string key = "t" + std::to_string(t) + "-" + std::to_string(i);
        try {
          store()->transact([&](Transaction& tx) {
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
      auto v = store()->get("app", key);
      if (fail) {
        EXPECT_EQ(v, std::nullopt) << key;
      } else {
        EXPECT_EQ(v, std::optional<Value>(Value(i))) << key;
        ++expected_commits;
        last_good = i;
      }
    }
    EXPECT_EQ(store()->get("app", "last-" + std::to_string(t)),
              std::optional<Value>(Value(last_good)));
  }
  EXPECT_EQ(store()->history_bounds().head, static_cast<Revision>(expected_commits));
  const auto history = store()->history();
  ASSERT_EQ(history.size(), static_cast<std::size_t>(expected_commits));
  for (const Commit& c : history) {
    ASSERT_EQ(c.changes.size(), 2u) << "revision " << c.revision;
    EXPECT_EQ(c.changes[0].new_value, c.changes[1].new_value) << "revision " << c.revision;
  }
  const Stats s = store()->stats();
  EXPECT_EQ(s.commits, static_cast<std::uint64_t>(expected_commits));
  EXPECT_EQ(s.rollbacks, static_cast<std::uint64_t>(kThreads * kPerThread - expected_commits));
}

STATESTORE_CONFORMANCE_SUITE(ConcurrencyConformance);

}  // namespace
}  // namespace statestore

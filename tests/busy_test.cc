// Lock waits against a foreign writer: the sqlite3 command-line shell holds BEGIN IMMEDIATE on the
// database file. A transact() waits for it within busy_timeout and succeeds; past busy_timeout it
// fails with kBusy and writes nothing; reads never wait for the write lock.
#include <sqlite3.h>

#include <chrono>
#include <optional>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "statestore/statestore.h"
#include "test_util.h"

namespace statestore {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;
using test::ChildProcess;
using test::TempDir;

const milliseconds kChildTimeout(30'000 * test::kSlowFactor);

// The sqlite3 shell holding the write lock on a database file.
class ShellLock {
 public:
  // Starts the shell and takes the lock; returns once the lock is held.
  explicit ShellLock(const std::string& db)
      : shell_(ChildProcess::Spawn({test::kSqliteShellPath, "-bail", db})) {
    // With -bail the shell exits if BEGIN IMMEDIATE fails, so 'locked' means the lock is held.
    shell_.Write(".timeout 5000\nBEGIN IMMEDIATE;\nSELECT 'locked';\n");
    held_ = shell_.WaitForLine("locked", kChildTimeout);
  }
  ~ShellLock() { Release(); }

  bool held() const { return held_; }

  // Commits the shell's (empty) transaction and quits; returns the shell's exit code.
  int Release() {
    if (!released_) {
      released_ = true;
      shell_.Write("COMMIT;\n.quit\n");
      shell_.CloseStdin();
      exit_code_ = shell_.Wait(kChildTimeout);
    }
    return exit_code_;
  }

 private:
  ChildProcess shell_;
  bool held_ = false;
  bool released_ = false;
  int exit_code_ = -1;
};

double Seconds(steady_clock::duration d) {
  return std::chrono::duration_cast<std::chrono::duration<double>>(d).count();
}

class BusyTest : public ::testing::Test {
 protected:
  TempDir dir_;
  std::string db_ = dir_.file("state.db");
};

TEST_F(BusyTest, TransactWaitsForShellLockAndSucceeds) {
  Options options;
  options.busy_timeout = milliseconds(5000);
  auto store = Store::open(db_, options);
  store->put("app", "counter", Value(0));
  const Revision head = store->history_bounds().head;

  ShellLock lock(db_);
  ASSERT_TRUE(lock.held()) << "the sqlite3 shell could not take the write lock";

  std::optional<Error> error;
  std::optional<Revision> rev;
  double elapsed = 0;
  std::thread writer([&] {
    const auto start = steady_clock::now();
    try {
      rev = store->transact([](Transaction& tx) {
        auto v = tx.get("app", "counter");
        tx.put("app", "counter", (v ? v->as_int() : 0) + 1);
      });
    } catch (const Error& e) {
      error = e;
    }
    elapsed = Seconds(steady_clock::now() - start);
  });
  std::this_thread::sleep_for(milliseconds(2000));
  EXPECT_EQ(lock.Release(), 0);
  writer.join();

  ASSERT_FALSE(error.has_value()) << "transact failed while the lock was held for 2 s of a 5 s "
                                     "busy_timeout: "
                                  << ToString(error->code()) << ": " << error->what();
  EXPECT_GE(elapsed, 1.5) << "transact did not wait for the lock";
  ASSERT_TRUE(rev.has_value());
  EXPECT_EQ(*rev, head + 1);
  EXPECT_EQ(store->get("app", "counter"), std::optional<Value>(Value(1)));
  EXPECT_GE(store->stats().busy_retries, 1u);
}

TEST_F(BusyTest, SingleWriteWaitsForShellLockAndSucceeds) {
  auto store = Store::open(db_);
  ShellLock lock(db_);
  ASSERT_TRUE(lock.held());
  std::optional<Error> error;
  double elapsed = 0;
  std::thread writer([&] {
    const auto start = steady_clock::now();
    try {
      store->put("app", "k", Value("v"));
    } catch (const Error& e) {
      error = e;
    }
    elapsed = Seconds(steady_clock::now() - start);
  });
  std::this_thread::sleep_for(milliseconds(2000));
  EXPECT_EQ(lock.Release(), 0);
  writer.join();
  ASSERT_FALSE(error.has_value()) << error->what();
  EXPECT_GE(elapsed, 1.5);
  EXPECT_EQ(store->get("app", "k"), std::optional<Value>(Value("v")));
}

TEST_F(BusyTest, LockHeldPastBusyTimeoutGivesBusyAndWritesNothing) {
  Options options;
  options.busy_timeout = milliseconds(300);
  auto store = Store::open(db_, options);
  store->put("app", "k", Value("before"));
  ASSERT_EQ(store->get("app", "k"), std::optional<Value>(Value("before")));  // cached
  const Revision head = store->history_bounds().head;
  const std::uint64_t commits = store->stats().commits;
  // Sanitizers slow everything down: hold the lock longer there so that the 300 ms timeout
  // surely expires while it is held.
  const milliseconds hold(test::kUnderSanitizer ? 4000 : 1500);

  ShellLock lock(db_);
  ASSERT_TRUE(lock.held());
  std::optional<Error> tx_error, put_error;
  double tx_elapsed = 0;
  std::thread writer([&] {
    auto start = steady_clock::now();
    try {
      store->transact([](Transaction& tx) {
        tx.put("app", "k", Value("after"));
        tx.put("app", "k2", Value("new"));
      });
    } catch (const Error& e) {
      tx_error = e;
    }
    tx_elapsed = Seconds(steady_clock::now() - start);
    try {
      store->put("app", "k", Value("after-put"));
    } catch (const Error& e) {
      put_error = e;
    }
  });
  std::this_thread::sleep_for(hold);
  EXPECT_EQ(lock.Release(), 0);
  writer.join();

  ASSERT_TRUE(tx_error.has_value()) << "transact succeeded although the lock was held past "
                                       "busy_timeout (it waited "
                                    << tx_elapsed << " s)";
  EXPECT_EQ(tx_error->code(), ErrorCode::kBusy) << tx_error->what();
  EXPECT_GE(tx_elapsed, 0.25) << "gave up before busy_timeout";
  const std::string msg = test::ToLower(tx_error->what());
  EXPECT_TRUE(test::Contains(msg, "lock") || test::Contains(msg, "busy")) << tx_error->what();
  EXPECT_TRUE(test::Contains(msg, "timeout")) << "the message should tell the user which setting "
                                                 "to change: "
                                              << tx_error->what();
  EXPECT_EQ(tx_error->sqlite_code() & 0xFF, SQLITE_BUSY) << tx_error->sqlite_code();

  ASSERT_TRUE(put_error.has_value());
  EXPECT_EQ(put_error->code(), ErrorCode::kBusy) << put_error->what();

  // Nothing written: not in the cache, the file, or history.
  EXPECT_EQ(store->get("app", "k"), std::optional<Value>(Value("before")));
  EXPECT_EQ(store->get("app", "k2"), std::nullopt);
  EXPECT_EQ(store->history_bounds().head, head);
  EXPECT_EQ(store->stats().commits, commits);
  EXPECT_GE(store->stats().rollbacks, 1u);
  store->read([](Transaction& tx) {
    EXPECT_EQ(tx.get("app", "k"), std::optional<Value>(Value("before")));
    EXPECT_EQ(tx.get("app", "k2"), std::nullopt);
  });
  // The store works again once the lock is gone.
  EXPECT_EQ(store->put("app", "k", Value("later")), head + 1);
}

TEST_F(BusyTest, ReadsDoNotWaitForTheWriteLock) {
  Options options;
  options.cache_capacity = 0;  // every read goes to SQLite
  auto store = Store::open(db_, options);
  store->put("app", "k", Value(1));
  store->put("app", "k2", Value(2));
  ShellLock lock(db_);
  ASSERT_TRUE(lock.held());
  // If a read waited for the lock it would block until busy_timeout (5 s) and fail.
  const double limit = 2.5;
  auto time_it = [](const std::function<void()>& fn) {
    auto start = steady_clock::now();
    fn();
    return Seconds(steady_clock::now() - start);
  };
  EXPECT_LT(time_it([&] { EXPECT_EQ(store->get("app", "k"), std::optional<Value>(Value(1))); }),
            limit);
  EXPECT_LT(time_it([&] { EXPECT_EQ(store->list("app").size(), 2u); }), limit);
  EXPECT_LT(time_it([&] {
              store->read([](Transaction& tx) {
                EXPECT_EQ(tx.get("app", "k2"), std::optional<Value>(Value(2)));
              });
            }),
            limit);
  EXPECT_LT(time_it([&] { EXPECT_EQ(store->history().size(), 2u); }), limit);
  // A reader in another thread too (its own connection).
  double elapsed = 0;
  std::thread reader([&] {
    elapsed = time_it([&] { EXPECT_EQ(store->get("app", "k2"), std::optional<Value>(2)); });
  });
  reader.join();
  EXPECT_LT(elapsed, limit);
  EXPECT_EQ(lock.Release(), 0);
}

}  // namespace
}  // namespace statestore

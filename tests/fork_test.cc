// fork() after Store::open (issue 10): a child that releases the Store it inherited must not
// abort or hang (the parent's threads do not exist in the child, and the parent's SQLite
// connections must not be closed there); it cannot reopen the same file (SQLite's lock
// bookkeeping for it was inherited) but can open another one; and the parent is unaffected.
//
// A real fork() of the (multi-threaded) test process: not under ThreadSanitizer, which does not
// support fork without exec. The child only uses statestore and _exit()s.
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "statestore/admin.h"
#include "statestore/statestore.h"
#include "test_util.h"

namespace statestore {
namespace {

using test::TempDir;

// Child exit codes.
enum ChildResult {
  kChildOk = 0,
  kReopenedSameFile = 10,
  kWrongReopenError = 11,
  kOtherFileFailed = 12,
  kOtherFileWrongValue = 13,
};

int WaitForChild(pid_t pid, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (std::chrono::steady_clock::now() >= deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return -1;  // hung
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

TEST(ForkTest, ChildReleasesInheritedStoreAndParentCarriesOn) {
  if (test::kUnderTsan) GTEST_SKIP() << "ThreadSanitizer does not support fork() without exec";
  TempDir dir;
  const std::string db = dir.file("state.db");
  const std::string other = dir.file("other.db");
  Options options;
  options.sessions.sweep_interval = std::chrono::milliseconds(20);  // a reaper thread runs
  std::shared_ptr<Store> store = Store::open(db, options);
  store->put("app", "k", Value(1));  // the writer connection and the maintenance thread exist
  ASSERT_EQ(store->get("app", "k"), std::optional<Value>(Value(1)));  // and a pooled one

  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // Child: never use `store`; release it.
    store.reset();
    int code = kChildOk;
    try {
      Store::open(db);
      code = kReopenedSameFile;
    } catch (const Error& e) {
      if (e.code() != ErrorCode::kInvalidArgument ||
          !test::Contains(e.what(), "opened by this process's parent before fork()")) {
        code = kWrongReopenError;
      }
    }
    if (code == kChildOk) {
      try {
        auto mine = Store::open(other);
        mine->put("app", "k", Value(7));
        if (mine->get("app", "k") != std::optional<Value>(Value(7))) code = kOtherFileWrongValue;
      } catch (...) {
        code = kOtherFileFailed;
      }
    }
    ::_exit(code);
  }
  const int code = WaitForChild(pid, std::chrono::milliseconds(60000));
  EXPECT_EQ(code, kChildOk) << (code == -1 ? "the child hung releasing the inherited Store"
                                : code >= 128
                                    ? "the child died of signal " + std::to_string(code - 128)
                                    : "child check " + std::to_string(code) + " failed");

  // The parent's Store still works, and still counts as having the file open.
  store->put("app", "k", Value(2));
  EXPECT_EQ(store->get("app", "k"), std::optional<Value>(Value(2)));
  EXPECT_EQ(store->history_bounds().head, 2u);
  EXPECT_EQ(Store::open(other)->get("app", "k"), std::optional<Value>(Value(7)));
  auto err = test::CatchError([&] { Restore(other, db); });
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ(err->code(), ErrorCode::kBusy) << err->what();
}

}  // namespace
}  // namespace statestore

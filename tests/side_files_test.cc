// The files beside a database, attacked while processes use it (issue 10, bugs 2, 5, 6, 7):
//
//   1. NAME-gen truncated to 0 bytes while a reader process loops on cached reads and a writer
//      process commits: nobody dies of SIGBUS, and every read that starts after a commit
//      returned sees it (bug 5).
//   2. NAME-gen deleted while a reader and a writer process have the store open: a new
//      read-write opener is refused with a message saying why and what to do (a new counter
//      would never reach the running processes' caches), a read-only one still reads, and the
//      running processes keep seeing each other's commits (bug 6).
//   3. NAME-gen replaced by a FIFO, a symlink, a directory, a hard-linked file or another user's
//      file: read-only and read-write opens are refused quickly with a message naming the file
//      and the problem — never a hang (bug 7).
//   4. A database (or its -wal) with two hard links is refused: two names mean two WALs, and
//      commits made through one are lost to the other (bug 2).
//
// Real processes (tests/worker_main.cc, statectl) on real files; every child runs with a
// deadline so a hang fails the test instead of blocking ctest.
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "run_util.h"
#include "statestore/statestore.h"
#include "test_util.h"

namespace statestore {
namespace {

using std::chrono::milliseconds;
using test::ChildProcess;
using test::Contains;
using test::RunResult;
using test::TempDir;

const milliseconds kLineTimeout(30'000 * test::kSlowFactor);
// A refused open must come back quickly; the deadline only keeps a hang from blocking ctest.
const milliseconds kRunTimeout(20'000 * test::kSlowFactor);

class SideFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = Store::open(db_);
    store->put("app", "k", Value(0));
  }

  ChildProcess Spawn(const std::vector<std::string>& args) {
    ChildProcess child = ChildProcess::SpawnWorker(args);
    std::string skipped;
    EXPECT_TRUE(child.WaitForLine("ready", kLineTimeout, &skipped)) << skipped;
    return child;
  }

  // A "serve" worker's put; returns its reply ("rev R" or "error ...").
  static std::string Put(ChildProcess& writer, int value) {
    EXPECT_TRUE(writer.Write("put app k " + std::to_string(value) + "\n"));
    return writer.ReadLine(kLineTimeout).value_or("(no reply: the writer died)");
  }

  // A "read-loop" worker's check; "ok" when its reads see `value`.
  static std::string Check(ChildProcess& reader, int value) {
    EXPECT_TRUE(reader.Write("check " + std::to_string(value) + "\n"));
    return reader.ReadLine(kLineTimeout).value_or("(no reply: the reader died)");
  }

  static void Quit(ChildProcess& child, const char* who) {
    child.Write("quit\n");
    EXPECT_EQ(child.Wait(kLineTimeout), 0) << who << " did not exit cleanly";
  }

  TempDir dir_;
  std::string db_ = dir_.file("state.db");
  std::string gen_ = db_ + "-gen";
};

// ---- 1. truncated -gen (bug 5)

TEST_F(SideFilesTest, TruncatedCounterKillsNoProcessAndReadsStayCurrent) {
  ChildProcess writer = Spawn({"serve", db_});
  ChildProcess reader = Spawn({"read-loop", db_, "app", "k"});
  ChildProcess ro_reader = Spawn({"read-loop", db_, "app", "k", "--read-only"});
  ASSERT_EQ(Put(writer, 1).rfind("rev ", 0), 0u);
  ASSERT_EQ(Check(reader, 1), "ok");
  ASSERT_EQ(Check(ro_reader, 1), "ok");
  for (int round = 2; round <= 6; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    ASSERT_EQ(::truncate(gen_.c_str(), 0), 0);
    // The readers' loops touch the truncated mapping now (a SIGBUS without the handler).
    std::this_thread::sleep_for(milliseconds(30));
    EXPECT_EQ(Check(reader, round - 1), "ok");
    EXPECT_EQ(Check(ro_reader, round - 1), "ok");
    // The writer's own bump faults too; its commit must still reach the readers.
    std::string rev = Put(writer, round);
    ASSERT_EQ(rev.rfind("rev ", 0), 0u) << rev;
    EXPECT_EQ(Check(reader, round), "ok");
    EXPECT_EQ(Check(ro_reader, round), "ok");
  }
  // A commit from a process that opened after the damage reaches them as well.
  RunResult put = test::RunWorker({"put", db_, "app", "k", "100"}, kRunTimeout);
  ASSERT_EQ(put.code, 0) << put.Describe();
  EXPECT_EQ(Check(reader, 100), "ok");
  EXPECT_EQ(Check(ro_reader, 100), "ok");
  EXPECT_EQ(test::FileSize(gen_), 4096u) << "the counter file was not repaired";
  Quit(ro_reader, "read-only reader");
  Quit(reader, "reader");
  Quit(writer, "writer");
}

// Only a read-only reader beside the writer, so nobody repairs the file before the writer's own
// bump faults (before and after its COMMIT): the commit must still reach the reader.
TEST_F(SideFilesTest, TruncatedCounterDuringAWritersBump) {
  ChildProcess writer = Spawn({"serve", db_});
  ChildProcess ro_reader = Spawn({"read-loop", db_, "app", "k", "--read-only"});
  for (int round = 1; round <= 5; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    ASSERT_EQ(::truncate(gen_.c_str(), 0), 0);
    std::string rev = Put(writer, round);  // at once: the maintenance thread repairs only ~1/s
    ASSERT_EQ(rev.rfind("rev ", 0), 0u) << rev;
    EXPECT_EQ(test::FileSize(gen_), 4096u) << "the writer's bump did not repair the file";
    EXPECT_EQ(Check(ro_reader, round), "ok");
  }
  Quit(ro_reader, "read-only reader");
  Quit(writer, "writer");
}

// ---- 2. deleted -gen (bug 6)

TEST_F(SideFilesTest, DeletedCounterRefusesNewWritersAndKeepsRunningProcessesCoherent) {
  ChildProcess writer = Spawn({"serve", db_});
  ChildProcess reader = Spawn({"read-loop", db_, "app", "k"});
  ASSERT_EQ(Put(writer, 1).rfind("rev ", 0), 0u);
  ASSERT_EQ(Check(reader, 1), "ok");
  ASSERT_EQ(::unlink(gen_.c_str()), 0);

  // A new read-write process must not start a second counter the running ones never see.
  RunResult refused = test::RunWorker({"put", db_, "app", "k", "99"}, kRunTimeout);
  EXPECT_FALSE(refused.timed_out) << refused.Describe();
  EXPECT_EQ(refused.code, 1) << refused.Describe();
  EXPECT_TRUE(Contains(refused.out, "busy")) << refused.Describe();
  EXPECT_TRUE(Contains(refused.out, gen_ + " was deleted while other processes have"))
      << refused.Describe();
  EXPECT_TRUE(Contains(refused.out, "Restart them")) << refused.Describe();
  EXPECT_FALSE(test::FileExists(gen_)) << "a refused open created a new counter";

  // A read-only process still reads (without a cache).
  RunResult get = test::RunStatectl({"get", db_, "app", "k"}, kRunTimeout);
  EXPECT_EQ(get.code, 0) << get.Describe();
  EXPECT_EQ(get.out, "1\n") << get.Describe();

  // The running processes still share the (unlinked) counter: commits keep reaching the cache.
  for (int v = 2; v <= 4; ++v) {
    ASSERT_EQ(Put(writer, v).rfind("rev ", 0), 0u);
    EXPECT_EQ(Check(reader, v), "ok");
  }
  Quit(reader, "reader");
  Quit(writer, "writer");

  // Once they are gone, the next opener creates a new counter.
  RunResult put = test::RunWorker({"put", db_, "app", "k", "5"}, kRunTimeout);
  EXPECT_EQ(put.code, 0) << put.Describe();
  EXPECT_TRUE(test::FileExists(gen_));
}

// ---- 3. hostile -gen (bug 7)

struct HostileCase {
  const char* name;
  const char* expect;  // in the error message
};

class HostileCounterTest : public SideFilesTest,
                           public ::testing::WithParamInterface<HostileCase> {};

TEST_P(HostileCounterTest, RefusedQuicklyWithAClearMessage) {
  const HostileCase& c = GetParam();
  const std::string name = c.name;
  if (name == "WrongOwner" && ::geteuid() != 0) GTEST_SKIP() << "needs root to chown";
  if (name == "HardLink") {
    ASSERT_EQ(::link(gen_.c_str(), dir_.file("counter-copy").c_str()), 0);
  } else if (name == "WrongOwner") {
    ASSERT_EQ(::chown(gen_.c_str(), 65534, 65534), 0);  // nobody
  } else {
    ASSERT_EQ(::unlink(gen_.c_str()), 0);
    if (name == "Fifo") {
      ASSERT_EQ(::mkfifo(gen_.c_str(), 0600), 0);
    } else if (name == "Symlink") {
      test::WriteFile(dir_.file("elsewhere"), std::string(4096, '\0'));
      ASSERT_EQ(::symlink(dir_.file("elsewhere").c_str(), gen_.c_str()), 0);
    } else if (name == "Directory") {
      ASSERT_EQ(::mkdir(gen_.c_str(), 0700), 0);
    }
  }
  // Read-only (statectl's default) and read-write opens.
  for (const auto& [what, result] :
       {std::pair<std::string, RunResult>{"statectl get",
                                          test::RunStatectl({"get", db_, "app", "k"}, kRunTimeout)},
        std::pair<std::string, RunResult>{
            "read-write open", test::RunWorker({"get", db_, "app", "k"}, kRunTimeout)}}) {
    SCOPED_TRACE(what);
    ASSERT_FALSE(result.timed_out) << "hung: " << result.Describe();
    EXPECT_EQ(result.code, 1) << result.Describe();
    const std::string text = result.out + result.err;
    EXPECT_TRUE(Contains(text, gen_)) << result.Describe();
    EXPECT_TRUE(Contains(text, c.expect)) << result.Describe();
    EXPECT_TRUE(Contains(text, "remove it")) << result.Describe();
    EXPECT_LT(result.elapsed, milliseconds(5000 * test::kSlowFactor)) << result.Describe();
  }
}

INSTANTIATE_TEST_SUITE_P(Kinds, HostileCounterTest,
                         ::testing::Values(HostileCase{"Fifo", "a FIFO"},
                                           HostileCase{"Symlink", "symbolic link"},
                                           HostileCase{"Directory", "a directory"},
                                           HostileCase{"HardLink", "2 hard links"},
                                           HostileCase{"WrongOwner", "belongs to uid 65534"}),
                         [](const ::testing::TestParamInfo<HostileCase>& info) {
                           return std::string(info.param.name);
                         });

// ---- 4. hard links (bug 2)

TEST_F(SideFilesTest, HardLinkedDatabaseIsRefusedUnderEitherName) {
  const std::string other = dir_.file("other-name.db");
  ASSERT_EQ(::link(db_.c_str(), other.c_str()), 0);
  for (const std::string& name : {db_, other}) {
    for (bool read_only : {false, true}) {
      SCOPED_TRACE(name + (read_only ? " read-only" : " read-write"));
      Options options;
      options.read_only = read_only;
      auto err = test::CatchError([&] { Store::open(name, options); });
      ASSERT_TRUE(err.has_value()) << "a hard-linked database was opened";
      EXPECT_EQ(err->code(), ErrorCode::kInvalidArgument) << err->what();
      EXPECT_TRUE(Contains(err->what(), "2 hard links")) << err->what();
      EXPECT_TRUE(Contains(err->what(), "own WAL")) << err->what();
    }
  }
  EXPECT_FALSE(test::FileExists(other + "-wal"));
  EXPECT_FALSE(test::FileExists(other + "-gen"));
  // Once the extra name is gone, the file opens again.
  ASSERT_EQ(::unlink(other.c_str()), 0);
  auto store = Store::open(db_);
  EXPECT_EQ(store->get("app", "k"), std::optional<Value>(Value(0)));
}

TEST_F(SideFilesTest, HardLinkedWalIsRefused) {
  ChildProcess writer = Spawn({"serve", db_});  // keeps the -wal in place
  ASSERT_EQ(Put(writer, 1).rfind("rev ", 0), 0u);
  ASSERT_TRUE(test::FileExists(db_ + "-wal"));
  ASSERT_EQ(::link((db_ + "-wal").c_str(), dir_.file("wal-copy").c_str()), 0);
  RunResult r = test::RunWorker({"get", db_, "app", "k"}, kRunTimeout);
  EXPECT_EQ(r.code, 1) << r.Describe();
  EXPECT_TRUE(Contains(r.out, db_ + "-wal has 2 hard links")) << r.Describe();
  Quit(writer, "writer");
}

}  // namespace
}  // namespace statestore

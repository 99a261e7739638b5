// Whole-file operations against live processes and unusual storage (issue 10):
//
//   1. Restore refuses while another process (a writer, or a read-only `statectl follow`) or a
//      Store of this process has the target open, and changes nothing (bug 3).
//   2. While a restore runs, Store::open of the target waits up to its busy_timeout and then
//      fails with kBusy naming the restore (bug 3).
//   3. A `statectl backup` killed with SIGKILL in the middle of the copy leaves no destination;
//      what it leaves is not mistaken for a database, and the next backup works.
//   4. Read-only storage (a read-only bind mount in a private mount namespace): read commands
//      work; a -wal holding commits there is refused with what to do.
//   5. An empty (0-byte) file opened read-only: "empty file, not a statestore database".
//   6. A restore between page sizes killed with SIGKILL leaves the target's old state.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "run_util.h"
#include "statestore/admin.h"
#include "statestore/statestore.h"
#include "test_util.h"

namespace statestore {
namespace {

using std::chrono::milliseconds;
using test::ChildProcess;
using test::Contains;
using test::RunResult;
using test::TempDir;

const milliseconds kTimeout(60'000 * test::kSlowFactor);
// For a lock another process takes within moments (a few seconds even under sanitizers).
const milliseconds kLockSeen(30'000);

// The presence byte of presence_lock.h: every Store holds a shared OFD lock on it, a restore an
// exclusive one. Returns the type of lock some process holds that conflicts with `type`.
short PresenceHeld(const std::string& db, short type) {
  int fd = ::open(db.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return F_UNLCK;
  struct flock fl {};
  fl.l_type = type;
  fl.l_whence = SEEK_SET;
  fl.l_start = 0x53545354;
  fl.l_len = 1;
  short held = ::fcntl(fd, F_OFD_GETLK, &fl) == 0 ? fl.l_type : F_UNLCK;
  ::close(fd);  // this test process has no SQLite connection to `db` at this point
  return held;
}

bool WaitFor(const std::function<bool()>& condition, milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(milliseconds(2));
  }
  return true;
}

std::optional<Value> ReadKey(const std::string& db, const std::string& key = "k") {
  Options ro;
  ro.read_only = true;
  return Store::open(db, ro)->get("app", key);
}

// 4,000 keys of 4,000 bytes (~16 MB): a copy of it with one page per step takes long enough to
// be killed in the middle.
void FillLarge(const std::string& db) {
  auto store = Store::open(db);
  const std::string big(4000, 'x');
  for (int batch = 0; batch < 40; ++batch) {
    store->transact([&](Transaction& tx) {
      for (int i = 0; i < 100; ++i) {
        tx.put("app", "k" + std::to_string(batch * 100 + i), Value(big));
      }
    });
  }
}

class RestoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    {
      auto store = Store::open(db_);
      store->put("app", "k", Value(1));
    }
    RunResult backup = test::RunStatectl({"backup", db_, copy_}, kTimeout);
    ASSERT_EQ(backup.code, 0) << backup.Describe();
    Store::open(db_)->put("app", "k", Value(2));
  }

  void ExpectRefused(const RunResult& r) {
    EXPECT_EQ(r.code, 1) << r.Describe();
    EXPECT_TRUE(
        Contains(r.err, "other processes have " + db_ + " open; stop them before restoring"))
        << r.Describe();
  }

  TempDir dir_;
  std::string db_ = dir_.file("state.db");
  std::string copy_ = dir_.file("copy.db");
};

// ---- 1. refused while open (bug 3)

TEST_F(RestoreTest, RefusedWhileAnotherProcessHasTheStoreOpen) {
  ChildProcess writer = ChildProcess::SpawnWorker({"serve", db_});
  ASSERT_TRUE(writer.WaitForLine("ready", kTimeout));
  const Revision head = [&] {
    Options ro;
    ro.read_only = true;
    return Store::open(db_, ro)->history_bounds().head;
  }();
  ExpectRefused(test::RunStatectl({"restore", db_, copy_}, kTimeout));
  // Nothing changed, and the writer carries on.
  ASSERT_TRUE(writer.Write("get app k\n"));
  EXPECT_EQ(writer.ReadLine(kTimeout), "value 2");
  ASSERT_TRUE(writer.Write("put app k 3\n"));
  EXPECT_EQ(writer.ReadLine(kTimeout), "rev " + std::to_string(head + 1));
  ASSERT_TRUE(writer.Write("quit\n"));
  EXPECT_EQ(writer.Wait(kTimeout), 0);

  // With every process gone the restore goes through.
  RunResult r = test::RunStatectl({"restore", db_, copy_}, kTimeout);
  ASSERT_EQ(r.code, 0) << r.Describe();
  EXPECT_EQ(ReadKey(db_), std::optional<Value>(Value(1)));
}

TEST_F(RestoreTest, RefusedWhileAReadOnlyFollowerRuns) {
  ChildProcess follow = ChildProcess::Spawn({test::kStatectlPath, "follow", db_});
  ASSERT_TRUE(WaitFor([&] { return PresenceHeld(db_, F_WRLCK) == F_RDLCK; }, kLockSeen))
      << "statectl follow never opened the store";
  ExpectRefused(test::RunStatectl({"restore", db_, copy_}, kTimeout));
  EXPECT_EQ(ReadKey(db_), std::optional<Value>(Value(2)));
  follow.Kill(SIGTERM);
  follow.Wait(kTimeout);
}

TEST_F(RestoreTest, RefusedWhileThisProcessHasTheStoreOpen) {
  auto store = Store::open(db_);
  auto err = test::CatchError([&] { Restore(copy_, db_); });
  ASSERT_TRUE(err.has_value()) << "restored under an open Store";
  EXPECT_EQ(err->code(), ErrorCode::kBusy) << err->what();
  EXPECT_TRUE(Contains(err->what(), "this process has " + db_ + " open")) << err->what();
  // The Store is untouched and keeps its locks: it writes and reads as before.
  EXPECT_EQ(store->get("app", "k"), std::optional<Value>(Value(2)));
  store->put("app", "k", Value(7));
  EXPECT_EQ(store->get("app", "k"), std::optional<Value>(Value(7)));
  EXPECT_EQ(store->history_bounds().head, 3u);
}

// ---- 2. opens wait for a running restore (bug 3)

TEST_F(RestoreTest, OpenDuringARestoreWaitsThenFailsBusy) {
  // Hold SQLite's write lock on the target from another process (no Store: the restore starts),
  // so the restore holds its exclusive presence lock while it waits for the write lock.
  ChildProcess shell = ChildProcess::Spawn({test::kSqliteShellPath, db_});
  ASSERT_TRUE(shell.Write("BEGIN IMMEDIATE;\nSELECT 'locked';\n"));
  ASSERT_TRUE(shell.WaitForLine("locked", kTimeout));
  ChildProcess restore = ChildProcess::Spawn({test::kStatectlPath, "restore", db_, copy_});
  ASSERT_TRUE(WaitFor([&] { return PresenceHeld(db_, F_RDLCK) == F_WRLCK; }, kLockSeen))
      << "the restore never took the file for itself";

  Options options;
  options.busy_timeout = milliseconds(300);
  const auto start = std::chrono::steady_clock::now();
  auto err = test::CatchError([&] { Store::open(db_, options); });
  const auto waited = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(err.has_value()) << "opened during a restore";
  EXPECT_EQ(err->code(), ErrorCode::kBusy) << err->what();
  EXPECT_TRUE(Contains(err->what(), "a restore (or another exclusive operation) holds " + db_))
      << err->what();
  EXPECT_GE(waited, milliseconds(250));

  ASSERT_TRUE(shell.Write("COMMIT;\n.quit\n"));
  EXPECT_EQ(shell.Wait(kTimeout), 0);
  std::string out = restore.ReadAll(kTimeout);
  EXPECT_EQ(restore.Wait(kTimeout), 0) << out;
  EXPECT_EQ(ReadKey(db_), std::optional<Value>(Value(1)));
}

// ---- 3. SIGKILLed backup

TEST(BackupKillTest, KilledBackupLeavesNoDestination) {
  TempDir dir;
  const std::string db = dir.file("state.db");
  const std::string dest = dir.file("dest.db");
  FillLarge(db);
  ChildProcess backup =
      ChildProcess::Spawn({test::kStatectlPath, "backup", db, dest, "--step-pages", "1"});
  // Kill it as soon as it has started writing (a temporary file, or the destination itself).
  ASSERT_TRUE(WaitFor(
      [&] {
        for (const std::string& name : test::ListDir(dir.path())) {
          if (name.rfind(".dest.db.backup-", 0) == 0 || name.rfind("dest.db", 0) == 0) return true;
        }
        return false;
      },
      kTimeout));
  backup.Kill(SIGKILL);
  const int code = backup.Wait(kTimeout);
  ASSERT_EQ(code, 128 + SIGKILL) << "the backup finished before it could be killed; make the "
                                    "database larger";
  EXPECT_FALSE(test::FileExists(dest)) << "a killed backup left a partial destination";
  for (const std::string& name : test::ListDir(dir.path())) {
    EXPECT_TRUE(name.rfind("state.db", 0) == 0 || name.rfind(".dest.db.backup-", 0) == 0)
        << "unexpected file after the kill: " << name;
  }
  // Nothing there is taken for the destination database...
  RunResult get = test::RunStatectl({"get", dest, "app", "k0"}, kTimeout);
  EXPECT_EQ(get.code, 3) << get.Describe();
  EXPECT_FALSE(test::FileExists(dest));
  // ...and the next backup to the same name works.
  RunResult again = test::RunStatectl({"backup", db, dest}, kTimeout);
  ASSERT_EQ(again.code, 0) << again.Describe();
  RunResult verify = test::RunStatectl({"verify", dest}, kTimeout);
  EXPECT_EQ(verify.code, 0) << verify.Describe();
  EXPECT_EQ(test::RunStatectl({"get", dest, "app", "k3999"}, kTimeout).out,
            std::string(4000, 'x') + "\n");
}

// A restore between different page sizes takes the target out of WAL mode for the copy
// (admin_backup.cc AllowPageSizeChange). Killed in the middle, it leaves a hot rollback journal:
// the target keeps its old state, a read-only open says to open it read-write once, and that
// open rolls the journal back and returns to WAL mode.
TEST(RestoreKillTest, KilledRestoreAcrossPageSizesLeavesTheOldState) {
  TempDir dir;
  const std::string source = dir.file("source.db");
  const std::string target = dir.file("target.db");
  FillLarge(source);  // 1 KiB pages
  RunResult make = test::RunCommand(
      {test::kSqliteShellPath, target, "PRAGMA page_size = 4096; PRAGMA journal_mode = WAL;"},
      kTimeout);
  ASSERT_EQ(make.code, 0) << make.Describe();
  Store::open(target)->put("app", "k", Value(1));

  ChildProcess restore =
      ChildProcess::Spawn({test::kStatectlPath, "restore", target, source, "--step-pages", "1"});
  // Killed during the copy: the switch out of WAL mode has committed (header bytes 18-19 are 1,
  // rollback-journal mode) and the copy's journal exists.
  ASSERT_TRUE(WaitFor(
      [&] {
        if (!test::FileExists(target + "-journal")) return false;
        char header[20] = {};
        const int fd = ::open(target.c_str(), O_RDONLY | O_CLOEXEC);
        const bool read = fd >= 0 && ::pread(fd, header, sizeof header, 0) == sizeof header;
        if (fd >= 0) ::close(fd);  // no SQLite connection to `target` in this process now
        return read && header[18] == 1 && header[19] == 1;
      },
      kTimeout));
  restore.Kill(SIGKILL);
  ASSERT_EQ(restore.Wait(kTimeout), 128 + SIGKILL)
      << "the restore finished before it could be killed; make the source larger";

  RunResult get = test::RunStatectl({"get", target, "app", "k"}, kTimeout);
  EXPECT_EQ(get.code, 1) << get.Describe();
  // Either message, by when the kill came: the journal mode the header says ('delete'), or, once
  // the copy's journal is hot, SQLite's refusal to roll it back without write access.
  EXPECT_TRUE(Contains(get.err, "open it read-write once")) << get.Describe();
  Store::open(target)->put("app", "after", Value(2));  // rolls the journal back
  EXPECT_FALSE(test::FileExists(target + "-journal"));
  EXPECT_EQ(ReadKey(target, "k"), std::optional<Value>(Value(1)));
  EXPECT_EQ(ReadKey(target, "k0"), std::nullopt) << "part of the killed copy is visible";
  RunResult verify = test::RunStatectl({"verify", target}, kTimeout);
  EXPECT_EQ(verify.code, 0) << verify.Describe();
}

// ---- 4. read-only storage

// Runs `statectl ARGS` with `dir` bind-mounted read-only over itself, in a private mount
// namespace (unshare -m): what a database on a read-only mount or medium sees. Needs root.
RunResult StatectlOnReadOnlyMount(const std::string& dir, const std::vector<std::string>& args) {
  const std::string d = "'" + dir + "'";
  std::string command = "set -e; mount --bind " + d + " " + d + "; mount -o remount,bind,ro " + d +
                        "; if touch " + d + "/probe 2>/dev/null; then exit 99; fi; exec '" +
                        test::kStatectlPath + "'";
  for (const auto& a : args) command += " '" + a + "'";
  return test::RunCommand({"/usr/bin/unshare", "-m", "/bin/sh", "-c", command}, kTimeout);
}

bool CanMountReadOnly(std::string* why) {
  if (::geteuid() != 0) {
    *why = "needs root (mount namespaces and bind mounts)";
    return false;
  }
  RunResult r = test::RunCommand({"/usr/bin/unshare", "-m", "/bin/true"}, kTimeout);
  if (r.code != 0) {
    *why = "unshare -m does not work here: " + r.Describe();
    return false;
  }
  return true;
}

TEST(ReadOnlyMediaTest, ReadCommandsWorkOnAReadOnlyMount) {
  std::string why;
  if (!CanMountReadOnly(&why)) GTEST_SKIP() << why;
  TempDir dir;
  const std::string db = dir.file("state.db");
  {
    auto store = Store::open(db);
    store->put("app", "k", Value(42));
  }  // closed cleanly: no -wal, no -shm left
  ASSERT_FALSE(test::FileExists(db + "-wal"));
  ASSERT_FALSE(test::FileExists(db + "-shm"));
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"get", db, "app", "k"}, {"dump", db}, {"history", db}, {"verify", db}}) {
    RunResult r = StatectlOnReadOnlyMount(dir.path(), args);
    ASSERT_NE(r.code, 99) << "the bind mount is not read-only";
    EXPECT_EQ(r.code, 0) << args[0] << ": " << r.Describe();
    if (args[0] == "get") {
      EXPECT_EQ(r.out, "42\n");
    }
  }
  // Also without the counter file: reads just are not cached.
  ASSERT_EQ(::unlink((db + "-gen").c_str()), 0);
  RunResult r = StatectlOnReadOnlyMount(dir.path(), {"get", db, "app", "k"});
  EXPECT_EQ(r.code, 0) << r.Describe();
  EXPECT_EQ(r.out, "42\n");
}

TEST(ReadOnlyMediaTest, CommitsInTheWalAreRefusedWithWhatToDo) {
  std::string why;
  if (!CanMountReadOnly(&why)) GTEST_SKIP() << why;
  TempDir dir;
  TempDir media;
  const std::string db = dir.file("state.db");
  const std::string copy = media.file("state.db");
  {
    auto store = Store::open(db);
    store->put("app", "k", Value(1));
    // A copy taken while the store is open: the commit is still in the -wal. (By another
    // process: opening and closing the files here would drop this process's SQLite locks.)
    ASSERT_GT(test::FileSize(db + "-wal"), 0u);
    RunResult cp = test::RunCommand({"/bin/cp", db, db + "-wal", media.path()}, kTimeout);
    ASSERT_EQ(cp.code, 0) << cp.Describe();
  }
  RunResult r = StatectlOnReadOnlyMount(media.path(), {"get", copy, "app", "k"});
  EXPECT_EQ(r.code, 1) << r.Describe();
  EXPECT_TRUE(Contains(r.err, "read-only storage")) << r.Describe();
  EXPECT_TRUE(Contains(r.err, "to writable storage")) << r.Describe();
}

// vacuum rewrites the file: on a read-only mount it is refused (exit 1, one line), the file
// unchanged; a backup from there still works into writable storage.
TEST(ReadOnlyMediaTest, VacuumIsRefusedOnAReadOnlyMount) {
  std::string why;
  if (!CanMountReadOnly(&why)) GTEST_SKIP() << why;
  TempDir dir;
  const std::string db = dir.file("state.db");
  {
    auto store = Store::open(db);
    store->put("app", "k", Value(42));
  }
  const std::string before = test::ReadFile(db);
  RunResult r = StatectlOnReadOnlyMount(dir.path(), {"vacuum", db});
  ASSERT_NE(r.code, 99) << "the bind mount is not read-only";
  EXPECT_EQ(r.code, 1) << r.Describe();
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.Describe();
  EXPECT_TRUE(Contains(r.err, "statectl: ")) << r.Describe();
  EXPECT_TRUE(Contains(test::ToLower(r.err), "read")) << r.Describe();
  EXPECT_EQ(test::ReadFile(db), before);
}

// ---- 5. empty file

TEST(EmptyFileTest, StatectlSaysEmptyFileNotAStatestoreDatabase) {
  TempDir dir;
  const std::string db = dir.file("empty.db");
  test::WriteFile(db, "");
  RunResult r = test::RunStatectl({"inspect", db}, kTimeout);
  EXPECT_EQ(r.code, 1) << r.Describe();
  EXPECT_TRUE(Contains(r.err, db + ": empty file, not a statestore database")) << r.Describe();
  EXPECT_EQ(test::FileSize(db), 0u);
  EXPECT_EQ(test::ListDir(dir.path()), std::vector<std::string>{"empty.db"});
}

}  // namespace
}  // namespace statestore

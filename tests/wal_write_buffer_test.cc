// The WAL write buffer (lib/src/sqlite/wal_write_buffer.h): a commit's frames reach the -wal in
// one write, and what SQLite acknowledged is in the file at that moment — a copy of the files
// taken right after a kNormal commit (what a process killed then would leave) recovers it, also
// for a transaction too large for SQLite's page cache, which writes frames before its commit and
// rewrites some of them (and then their checksums) in place.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include "fault_vfs.h"
#include "run_util.h"
#include "sqlite/wal_write_buffer.h"
#include "statestore/admin.h"
#include "statestore/statestore.h"
#include "test_util.h"

namespace statestore {
namespace {

using test::FaultOp;
using test::FaultVfs;
using test::TempDir;

// The files a process killed now would leave: the database and its -wal as the operating system
// has them (no -shm: recovery rebuilds it from the -wal), and the redaction key.
void CopyAsAfterAKill(const std::string& from, const std::string& to) {
  for (const char* suffix : {"", "-wal", "-key"}) {
    if (std::filesystem::exists(from + suffix)) {
      std::filesystem::copy_file(from + suffix, to + suffix);
    }
  }
}

TEST(WalWriteBufferTest, ACommitIsOneWriteToTheWal) {
  FaultVfs& vfs = FaultVfs::Install();
  FaultVfs::Uninstall();  // only the Store below goes through it (Options::vfs)
  vfs.Reset();
  TempDir dir;
  Options options;
  options.vfs = FaultVfs::kName;
  options.durability = Durability::kNormal;  // no fsync: writes are all that is counted
  auto store = Store::open(dir.file("state.db"), options);
  store->put("app", "warm", Value(0));
  const std::uint64_t before = vfs.ops(FaultOp::kWrite);
  constexpr int kCommits = 20;
  for (int i = 0; i < kCommits; ++i) {
    store->transact([&](Transaction& tx) {  // about nine pages: SQLite writes 18 times
      tx.put("app", "k" + std::to_string(i), Value(std::string(100, 'v')));
      const std::optional<Value> c = tx.get("app", "counter");
      tx.put("app", "counter", Value((c ? c->as_int() : 0) + 1));
    });
  }
  EXPECT_EQ(vfs.ops(FaultOp::kWrite) - before, static_cast<std::uint64_t>(kCommits));
}

TEST(WalWriteBufferTest, ANormalCommitIsInTheFileWhenAcknowledged) {
  TempDir dir;
  Options options;
  options.durability = Durability::kNormal;
  auto store = Store::open(dir.file("state.db"), options);
  for (int i = 0; i < 50; ++i) store->put("app", "k" + std::to_string(i), Value(i));

  CopyAsAfterAKill(dir.file("state.db"), dir.file("copy.db"));
  auto copy = Store::open(dir.file("copy.db"));
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(copy->get("app", "k" + std::to_string(i)), std::optional<Value>(Value(i)));
  }
  EXPECT_TRUE(Verify(*copy).ok());
}

TEST(WalWriteBufferTest, ATransactionLargerThanThePageCacheIsInTheFileWhenAcknowledged) {
  TempDir dir;
  Options options;
  options.durability = Durability::kNormal;
  auto store = Store::open(dir.file("state.db"), options);
  store->put("app", "before", Value(1));
  // ~6 MB of new pages in one transaction: SQLite's page cache (2 MB) spills frames to the -wal
  // before the commit, and the pages written again after a spill are rewritten in place.
  constexpr int kKeys = 3000;
  const std::string value(1500, 'x');
  store->transact([&](Transaction& tx) {
    for (int i = 0; i < kKeys; ++i) {
      tx.put("big", "k" + std::to_string(i), Value(value + std::to_string(i)));
      tx.put("big", "count", Value(i + 1));
    }
  });
  // Copied before any other write: SQLite's last writes of that commit (the rewritten frames'
  // checksums) must already be in the file.
  CopyAsAfterAKill(dir.file("state.db"), dir.file("copy.db"));
  store->put("app", "after", Value(2));
  CopyAsAfterAKill(dir.file("state.db"), dir.file("copy2.db"));
  auto copy = Store::open(dir.file("copy.db"));
  EXPECT_EQ(copy->get("big", "count"), std::optional<Value>(Value(kKeys)));
  for (int i = 0; i < kKeys; i += 97) {
    EXPECT_EQ(copy->get("big", "k" + std::to_string(i)),
              std::optional<Value>(Value(value + std::to_string(i))));
  }
  EXPECT_TRUE(Verify(*copy).ok());
  auto copy2 = Store::open(dir.file("copy2.db"));
  EXPECT_EQ(copy2->get("big", "count"), std::optional<Value>(Value(kKeys)));
  EXPECT_EQ(copy2->get("app", "after"), std::optional<Value>(Value(2)));
}

// End to end through the Store: a transaction larger than the page cache spills frames to the
// -wal before its commit, then rolls back; another process commits over the same offsets; this
// process reads and commits again, and a copy taken then (a crash) recovers everything. (SQLite's
// rollback itself re-reads pages while it still holds the write lock, which writes the held
// frames out at a harmless moment; FramesHeldWhenTheWriteLockIsReleasedAreDropped pins
// invariant 6 without relying on that.)
TEST(WalWriteBufferTest, FramesOfARolledBackTransactionAreNeverWritten) {
  TempDir dir;
  const std::string path = dir.file("state.db");
  Options options;
  options.durability = Durability::kNormal;
  options.cache_capacity = 0;  // every get() reads through a connection
  constexpr int kIncrements = 800;
  {
    auto store = Store::open(path, options);
    store->put("app", "before", Value(1));
    // ~3 MB of new pages: what exceeds SQLite's 2 MB page cache is spilled to the -wal first.
    const std::string big(1500, 'x');
    EXPECT_ANY_THROW(store->transact([&](Transaction& tx) {
      for (int i = 0; i < 800; ++i) tx.put("big", "k" + std::to_string(i), Value(big));
      throw std::runtime_error("rolled back");
    }));
    // Another process commits several MB of frames from the offset the spilled ones started at.
    const test::RunResult other = test::RunWorker({"increment", path, std::to_string(kIncrements)},
                                                  std::chrono::seconds(120));
    ASSERT_EQ(other.code, 0) << other.Describe();
    // This process's writer connection touches its -wal again: reads, then a commit.
    EXPECT_EQ(store->get("app", "counter"), std::optional<Value>(Value(kIncrements)));
    store->put("app", "after", Value(2));
    EXPECT_EQ(store->get("big", "k0"), std::nullopt);
    // What a crash now would leave: recovery reads the whole -wal, frame by frame, and stops at
    // the first frame whose checksum does not follow (where stale bytes would have landed).
    CopyAsAfterAKill(path, dir.file("copy.db"));
  }
  auto copy = Store::open(dir.file("copy.db"));
  EXPECT_EQ(copy->get("app", "counter"), std::optional<Value>(Value(kIncrements)));
  EXPECT_EQ(copy->get("app", "after"), std::optional<Value>(Value(2)));
  EXPECT_TRUE(Verify(*copy).ok());
  auto store = Store::open(path);
  EXPECT_EQ(store->get("app", "counter"), std::optional<Value>(Value(kIncrements)));
  EXPECT_EQ(store->get("app", "after"), std::optional<Value>(Value(2)));
  EXPECT_EQ(store->get("big", "k0"), std::nullopt);
  EXPECT_TRUE(Verify(*store).ok());
}

// The shim's methods driven as SQLite drives them, on real files, so each invariant is checked
// at the moment it matters rather than through whatever SQLite happens to do next.
class WalShimTest : public ::testing::Test {
 protected:
  void SetUp() override {
    vfs_ = sqlite3_vfs_find(internal::ShimVfsName("").c_str());
    ASSERT_NE(vfs_, nullptr);
    path_ = dir_.file("raw.db");
    name_ = sqlite3_create_filename(path_.c_str(), (path_ + "-journal").c_str(),
                                    (path_ + "-wal").c_str(), 0, nullptr);
    db_mem_.assign(static_cast<std::size_t>(vfs_->szOsFile), 0);
    wal_mem_.assign(static_cast<std::size_t>(vfs_->szOsFile), 0);
    int out = 0;
    const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    ASSERT_EQ(vfs_->xOpen(vfs_, name_, db(), flags | SQLITE_OPEN_MAIN_DB, &out), SQLITE_OK);
    ASSERT_EQ(vfs_->xOpen(vfs_, sqlite3_filename_wal(name_), wal(), flags | SQLITE_OPEN_WAL, &out),
              SQLITE_OK);
    void volatile* shm = nullptr;
    ASSERT_EQ(db()->pMethods->xShmMap(db(), 0, 32 * 1024, 1, &shm), SQLITE_OK);
  }
  void TearDown() override {
    wal()->pMethods->xClose(wal());
    db()->pMethods->xShmUnmap(db(), 1);
    db()->pMethods->xClose(db());
    sqlite3_free_filename(name_);
  }
  sqlite3_file* db() { return reinterpret_cast<sqlite3_file*>(db_mem_.data()); }
  sqlite3_file* wal() { return reinterpret_cast<sqlite3_file*>(wal_mem_.data()); }
  int WriteLock(int how) {
    return db()->pMethods->xShmLock(db(), 0, 1, how | SQLITE_SHM_EXCLUSIVE);
  }
  // A frame header (commit: "database size" non-zero) and its page, as SQLite writes them.
  void WriteFrame(sqlite3_int64 off, bool commit, char fill) {
    unsigned char header[24] = {0, 0, 0, 1};
    if (commit) header[7] = 1;
    const std::string page(1024, fill);
    ASSERT_EQ(wal()->pMethods->xWrite(wal(), header, 24, off), SQLITE_OK);
    ASSERT_EQ(wal()->pMethods->xWrite(wal(), page.data(), 1024, off + 24), SQLITE_OK);
  }
  // The -wal's bytes at `off` as another process sees them: read through its own descriptor.
  std::string OnDisk(sqlite3_int64 off, std::size_t n) {
    const std::string all = test::ReadFile(path_ + "-wal");
    const auto at = static_cast<std::size_t>(off);
    return at < all.size() ? all.substr(at, n) : std::string();
  }

  TempDir dir_;
  sqlite3_vfs* vfs_ = nullptr;
  std::string path_;
  sqlite3_filename name_ = nullptr;
  std::vector<char> db_mem_, wal_mem_;
};

TEST_F(WalShimTest, ACommitFrameWritesTheTransactionOutAtOnce) {  // invariant 1
  ASSERT_EQ(WriteLock(SQLITE_SHM_LOCK), SQLITE_OK);
  WriteFrame(32, false, 'a');
  EXPECT_EQ(OnDisk(32 + 24, 1), "") << "a frame before the commit frame was written alone";
  WriteFrame(32 + 1048, true, 'b');
  EXPECT_EQ(OnDisk(32 + 24, 1024), std::string(1024, 'a'));  // before any other call
  EXPECT_EQ(OnDisk(32 + 1048 + 24, 1024), std::string(1024, 'b'));
  EXPECT_EQ(WriteLock(SQLITE_SHM_UNLOCK), SQLITE_OK);
}

TEST_F(WalShimTest, ARewriteInsideTheTransactionGoesStraightToTheFile) {  // invariant 2
  ASSERT_EQ(WriteLock(SQLITE_SHM_LOCK), SQLITE_OK);
  WriteFrame(32, false, 'a');
  WriteFrame(32 + 1048, false, 'b');
  const std::string again(1024, 'c');
  ASSERT_EQ(wal()->pMethods->xWrite(wal(), again.data(), 1024, 32 + 24), SQLITE_OK);
  EXPECT_EQ(OnDisk(32 + 24, 1024), again);                          // the rewrite, in place
  EXPECT_EQ(OnDisk(32 + 1048 + 24, 1024), std::string(1024, 'b'));  // and what came before it
  EXPECT_EQ(WriteLock(SQLITE_SHM_UNLOCK), SQLITE_OK);
}

TEST_F(WalShimTest, FramesHeldWhenTheWriteLockIsReleasedAreDropped) {  // invariant 6
  ASSERT_EQ(WriteLock(SQLITE_SHM_LOCK), SQLITE_OK);
  WriteFrame(32, false, 'a');  // a spilled frame; then the transaction rolls back
  ASSERT_EQ(WriteLock(SQLITE_SHM_UNLOCK), SQLITE_OK);
  // Another connection commits a frame at the same offset.
  const std::string theirs(1048, 'T');
  const int fd = ::open((path_ + "-wal").c_str(), O_WRONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::pwrite(fd, theirs.data(), theirs.size(), 32), static_cast<ssize_t>(theirs.size()));
  ::close(fd);
  // This connection reads the -wal, then writes its next transaction elsewhere and closes.
  char buf[1048];
  ASSERT_EQ(wal()->pMethods->xRead(wal(), buf, sizeof buf, 32), SQLITE_OK);
  EXPECT_EQ(std::string(buf, sizeof buf), theirs);
  ASSERT_EQ(WriteLock(SQLITE_SHM_LOCK), SQLITE_OK);
  WriteFrame(32 + 1048, true, 'b');
  ASSERT_EQ(WriteLock(SQLITE_SHM_UNLOCK), SQLITE_OK);
  EXPECT_EQ(OnDisk(32, 1048), theirs) << "the rolled-back frame was written over a committed one";
}

}  // namespace
}  // namespace statestore

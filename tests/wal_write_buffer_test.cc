// The WAL write buffer (lib/src/sqlite/wal_write_buffer.h): a commit's frames reach the -wal in
// one write, and what SQLite acknowledged is in the file at that moment — a copy of the files
// taken right after a kNormal commit (what a process killed then would leave) recovers it, also
// for a transaction too large for SQLite's page cache, which writes frames before its commit and
// rewrites some of them (and then their checksums) in place.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include <gtest/gtest.h>

#include "fault_vfs.h"
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

}  // namespace
}  // namespace statestore

// Store lifecycle on SQLite files: one Store per file per process (whatever the path spelling),
// durability modes and their syncs, the file's mode and pragmas, WAL checkpoints; and the error
// codes. The engine-neutral lifecycle tests (independent stores, close/reopen, read-only stores,
// stats, options) are in conformance/store_conformance_test.cc.
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
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

using test::CatchError;
using test::TempDir;

// Reads one integer with a separate read-only SQLite connection.
std::optional<std::int64_t> QueryInt(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    sqlite3_close(db);
    return std::nullopt;
  }
  std::optional<std::int64_t> out;
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK &&
      sqlite3_step(stmt) == SQLITE_ROW) {
    out = sqlite3_column_int64(stmt, 0);
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return out;
}

std::optional<std::string> QueryText(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    sqlite3_close(db);
    return std::nullopt;
  }
  std::optional<std::string> out;
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK &&
      sqlite3_step(stmt) == SQLITE_ROW) {
    out = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return out;
}

class StoreTest : public ::testing::Test {
 protected:
  TempDir dir_;
  std::string db_ = dir_.file("state.db");
};

TEST_F(StoreTest, OpenCreatesFileAndReportsCanonicalPath) {
  auto store = Store::open(db_);
  EXPECT_TRUE(test::FileExists(db_));
  const std::string canonical = std::filesystem::canonical(db_).string();
  EXPECT_EQ(store->path(), canonical);
  EXPECT_EQ(store->history_bounds().head, 0u);
  EXPECT_TRUE(store->keyspaces().empty());
}

TEST_F(StoreTest, RelativePathIsMadeAbsolute) {
  const auto old_cwd = std::filesystem::current_path();
  std::filesystem::current_path(dir_.path());
  std::shared_ptr<Store> store;
  auto err = CatchError([&] { store = Store::open("relative.db"); });
  std::filesystem::current_path(old_cwd);
  ASSERT_FALSE(err.has_value()) << err->what();
  EXPECT_EQ(store->path(), std::filesystem::canonical(dir_.file("relative.db")).string());
  store->put("app", "k", 1);
  // Still the same file after the working directory changed.
  auto again = Store::open(dir_.file("relative.db"));
  EXPECT_EQ(again.get(), store.get());
}

TEST_F(StoreTest, SamePathTwiceReturnsSameStore) {
  auto a = Store::open(db_);
  auto b = Store::open(db_);
  EXPECT_EQ(a.get(), b.get());
  auto c = Store::open(dir_.path() + "/./state.db");
  EXPECT_EQ(a.get(), c.get());
  auto d = Store::open(dir_.path() + "//state.db");
  EXPECT_EQ(a.get(), d.get());
  std::filesystem::create_directory(dir_.file("sub"));
  auto e = Store::open(dir_.path() + "/sub/../state.db");
  EXPECT_EQ(a.get(), e.get());
  std::filesystem::create_directory_symlink(dir_.path(), dir_.file("link"));
  auto f = Store::open(dir_.path() + "/link/state.db");
  EXPECT_EQ(a.get(), f.get());
  std::filesystem::create_symlink(db_, dir_.file("alias.db"));
  auto g = Store::open(dir_.file("alias.db"));
  EXPECT_EQ(a.get(), g.get());
  // One cache: a write through one handle is read through another.
  a->put("app", "k", Value(1));
  EXPECT_EQ(f->get("app", "k"), std::optional<Value>(Value(1)));
}

TEST_F(StoreTest, DurabilityFullSyncsAndNormalWorks) {
  {
    auto store = Store::open(db_);
    EXPECT_EQ(store->options().durability, Durability::kFull);
    store->put("app", "full", Value(1));
    store->put("app", "full", Value(2));
    Stats s = store->stats();
    EXPECT_GE(s.syncs, 1u);
    EXPECT_LE(s.syncs, s.groups);
  }
  {
    Options options;
    options.durability = Durability::kNormal;
    auto store = Store::open(db_, options);
    EXPECT_EQ(store->options().durability, Durability::kNormal);
    EXPECT_EQ(store->get("app", "full"), std::optional<Value>(Value(2)));
    for (int i = 0; i < 20; ++i) store->put("app", "normal", Value(i));
    store->transact([](Transaction& tx) {
      tx.put("app", "a", 1);
      tx.put("app", "b", 2);
    });
    Stats s = store->stats();
    EXPECT_EQ(s.commits, 21u);
    EXPECT_EQ(s.syncs, 0u) << "syncs counts synchronous=FULL commits only";
  }
  auto store = Store::open(db_);
  EXPECT_EQ(store->get("app", "normal"), std::optional<Value>(Value(19)));
  EXPECT_EQ(store->get("app", "b"), std::optional<Value>(Value(2)));
  EXPECT_EQ(store->history_bounds().head, 23u);
}

TEST_F(StoreTest, FileIsWalModeWithCurrentSchemaAndPrivateMode) {
  auto store = Store::open(db_);
  store->put("app", "k", 1);
  EXPECT_EQ(QueryText(db_, "PRAGMA journal_mode"), std::optional<std::string>("wal"));
  EXPECT_EQ(QueryInt(db_, "PRAGMA user_version"), std::optional<std::int64_t>(SchemaVersion()));
  EXPECT_GE(SchemaVersion(), 1);
  EXPECT_EQ(QueryInt(db_, "SELECT value FROM meta WHERE name = 'head_revision'"),
            std::optional<std::int64_t>(1));
  struct stat st;
  ASSERT_EQ(::stat(db_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u) << std::oct << (st.st_mode & 0777);
  for (const char* side : {"-wal", "-shm"}) {
    if (::stat((db_ + side).c_str(), &st) == 0) {
      EXPECT_EQ(st.st_mode & 07, 0u) << side << " is readable or writable by others";
    }
  }
  EXPECT_NE(std::string(LibraryVersion()), "");
}

TEST_F(StoreTest, WalIsCheckpointedPastThreshold) {
  Options options;
  options.wal_checkpoint_bytes = 256 * 1024;
  auto store = Store::open(db_, options);
  const std::string chunk(64 * 1024, 'w');
  for (int i = 0; i < 60; ++i) store->put("app", "k" + std::to_string(i % 5), Value(chunk));
  // Checkpoints may run after the commit returns; give them time.
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(5 * test::kSlowFactor);
  while (store->stats().checkpoints == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_GE(store->stats().checkpoints, 1u);
  // 60 puts of 64 KiB wrote ~11.5 MB of WAL frames (the value, and its old and new value in
  // history). Checkpoints run in the background, so the file may pass its 256 KiB bound by what
  // is written during one checkpoint, but it must not keep everything.
  EXPECT_LT(test::FileSize(db_ + "-wal"), 4u * 1024 * 1024);
  EXPECT_EQ(store->get("app", "k4"), std::optional<Value>(Value(chunk)));
}

// The checkpoint interval is a WAL size (~4 MB, SQLite's 1000 frames at 4 KiB pages), not a
// frame count: a file with 1 KiB pages is not checkpointed after 1 MB, which would copy the
// same hot pages into the database file four times as often.
TEST_F(StoreTest, CheckpointIntervalIsBytesWhateverThePageSize) {
  auto store = Store::open(db_);
  const std::string chunk(16 * 1024, 'w');
  int puts = 0;
  while (test::FileSize(db_ + "-wal") < 3u * 1000 * 1024 && puts < 1000) {
    store->put("app", "k" + std::to_string(puts++ % 5), Value(chunk));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(store->stats().checkpoints, 0u) << "checkpointed before 3 MB of WAL";
  while (test::FileSize(db_ + "-wal") < 5u * 1000 * 1024 && store->stats().checkpoints == 0 &&
         puts < 2000) {
    store->put("app", "k" + std::to_string(puts++ % 5), Value(chunk));
  }
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(5 * test::kSlowFactor);
  while (store->stats().checkpoints == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_GE(store->stats().checkpoints, 1u) << "no checkpoint after 5 MB of WAL";
}

TEST_F(StoreTest, ErrorCodeNamesAndFields) {
  EXPECT_EQ(ToString(ErrorCode::kBusy), "busy");
  EXPECT_EQ(ToString(ErrorCode::kConflict), "conflict");
  const std::vector<ErrorCode> codes = {ErrorCode::kBusy,         ErrorCode::kConflict,
                                        ErrorCode::kNotFound,     ErrorCode::kInvalidArgument,
                                        ErrorCode::kCorruption,   ErrorCode::kIoError,
                                        ErrorCode::kFull,         ErrorCode::kReadOnly,
                                        ErrorCode::kSchemaTooNew, ErrorCode::kInternal};
  std::vector<std::string> names;
  for (ErrorCode c : codes) {
    std::string name(ToString(c));
    EXPECT_FALSE(name.empty());
    EXPECT_EQ(name, test::ToLower(name));
    names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  EXPECT_EQ(std::unique(names.begin(), names.end()), names.end()) << "names are not distinct";
  Error e(ErrorCode::kBusy, "msg", 517);
  EXPECT_EQ(e.code(), ErrorCode::kBusy);
  EXPECT_EQ(e.sqlite_code(), 517);
  EXPECT_TRUE(test::Contains(e.what(), "msg"));
  EXPECT_EQ(Error(ErrorCode::kInternal, "x").sqlite_code(), 0);
  const std::runtime_error& base = e;  // derives from std::runtime_error
  (void)base;
}

// Store::known_unchanged (core/local_commit_log.h): what a config watch may skip without reading
// history. Only this Store's own commits are answered, with every keyspace they changed —
// including keys a lease's end deleted in one bulk statement.
TEST_F(StoreTest, KnownUnchangedAnswersOnlyForThisStoresOwnCommits) {
  auto store = Store::open(db_);
  const Revision r1 = store->put("app", "a", 1);
  const Revision r2 = store->put("app", "b", 2);
  EXPECT_TRUE(store->known_unchanged("config", r1, r2));
  EXPECT_FALSE(store->known_unchanged("app", r1, r2));
  EXPECT_FALSE(store->known_unchanged("config", r2, r2 + 1));  // not committed (yet)

  // A revision another process commits is not this Store's to answer, whatever it changed.
  test::ChildProcess child = test::ChildProcess::SpawnWorker({"put", db_, "other", "k", "7"});
  ASSERT_EQ(child.Wait(std::chrono::milliseconds(20000 * test::kSlowFactor)), 0);
  const Revision foreign = store->history_bounds().head;
  ASSERT_EQ(foreign, r2 + 1);
  const Revision r4 = store->put("app", "c", 3);
  EXPECT_FALSE(store->known_unchanged("config", foreign, foreign));
  EXPECT_FALSE(store->known_unchanged("config", r2, r4));
  EXPECT_TRUE(store->known_unchanged("config", r4, r4));

  // One body, two keyspaces; a body that throws makes no revision.
  const Revision r5 = store->transact([](Transaction& tx) {
    tx.put("config", "x", 1);
    tx.put("app", "d", 1);
  });
  EXPECT_THROW(store->transact([](Transaction& tx) {
    tx.put("thrown", "x", 1);
    throw std::runtime_error("no");
  }),
               std::runtime_error);
  EXPECT_FALSE(store->known_unchanged("config", r5, r5));
  EXPECT_FALSE(store->known_unchanged("app", r5, r5));
  EXPECT_TRUE(store->known_unchanged("thrown", r4, r5));
  EXPECT_EQ(store->history_bounds().head, r5);

  // A lease's end: its keys' history rows are written in bulk, and their keyspace still counts.
  const LeaseId lease = store->grant_lease(std::chrono::minutes(1));
  PutOptions leased;
  leased.lease = lease;
  const Revision r6 = store->put("leased", "k", 1, leased);
  ASSERT_TRUE(store->revoke_lease(lease));
  const Revision revoked = store->history_bounds().head;
  ASSERT_GT(revoked, r6);
  EXPECT_FALSE(store->known_unchanged("leased", revoked, revoked));
  EXPECT_TRUE(store->known_unchanged("config", r6, revoked));
}

}  // namespace
}  // namespace statestore

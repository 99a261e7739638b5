// Opening files that are not healthy statestore databases: each is refused with the right
// ErrorCode and left byte-for-byte unchanged. Also: missing files with read_only /
// !create_if_missing create nothing.
#include <sqlite3.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "statestore/statestore.h"
#include "test_util.h"

namespace statestore {
namespace {

using test::CatchError;
using test::FileExists;
using test::ReadFile;
using test::TempDir;

// Runs `sql` on `path` with the SQLite C API (not through statestore), then closes the
// connection, which checkpoints and removes the -wal file.
void RunSql(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
  ASSERT_EQ(rc, SQLITE_OK) << sqlite3_errstr(rc);
  char* err = nullptr;
  rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  EXPECT_EQ(rc, SQLITE_OK) << (err ? err : "") << " in: " << sql;
  sqlite3_free(err);
  ASSERT_EQ(sqlite3_close(db), SQLITE_OK);
}

// Makes sure no -wal/-shm side file holds part of the database, so that the main file is all of
// it and a byte comparison means something.
void SettleFile(const std::string& path) {
  if (FileExists(path + "-wal")) RunSql(path, "PRAGMA wal_checkpoint(TRUNCATE);");
  ASSERT_FALSE(FileExists(path + "-wal") && test::FileSize(path + "-wal") > 0)
      << "a non-empty -wal file is left beside " << path;
}

// Creates a real statestore database with some data and history, and closes it.
void CreateStoreWithData(const std::string& path) {
  auto store = Store::open(path);
  for (int batch = 0; batch < 10; ++batch) {
    store->transact([&](Transaction& tx) {
      for (int i = 0; i < 30; ++i) {
        tx.put("app", "key-" + std::to_string(batch) + "-" + std::to_string(i),
               Value(std::string(200, static_cast<char>('a' + i % 26))));
      }
    });
  }
  store.reset();
  SettleFile(path);
}

struct OpenOutcome {
  std::optional<Error> error;
  bool unchanged = false;
};

// Opens `path` with `options`, expecting a refusal, and checks that the file is unchanged.
OpenOutcome OpenAndCompare(const std::string& path, const Options& options) {
  const std::string before = ReadFile(path);
  OpenOutcome out;
  out.error = CatchError([&] {
    auto store = Store::open(path, options);
    // If the open wrongly succeeded, still release the store before comparing.
  });
  out.unchanged = ReadFile(path) == before;
  return out;
}

class OpenErrorsTest : public ::testing::TestWithParam<bool> {
 protected:
  Options OpenOptions() const {
    Options o;
    o.read_only = GetParam();
    return o;
  }
  TempDir dir_;
  std::string db_ = dir_.file("state.db");
};

TEST_P(OpenErrorsTest, RandomBytesFileIsCorruption) {
  std::mt19937 rng(12345);
  std::string junk(3 * 4096 + 17, '\0');
  for (char& c : junk) c = static_cast<char>(rng() & 0xFF);
  test::WriteFile(db_, junk);
  auto out = OpenAndCompare(db_, OpenOptions());
  ASSERT_TRUE(out.error.has_value()) << "a random-bytes file was opened as a statestore";
  EXPECT_EQ(out.error->code(), ErrorCode::kCorruption) << out.error->what();
  EXPECT_TRUE(out.unchanged);
  EXPECT_EQ(ReadFile(db_), junk);
}

TEST_P(OpenErrorsTest, TextFileIsCorruption) {
  std::string text;
  for (int i = 0; i < 200; ++i)
    text += "this is a plain text file, line " + std::to_string(i) + "\n";
  test::WriteFile(db_, text);
  auto out = OpenAndCompare(db_, OpenOptions());
  ASSERT_TRUE(out.error.has_value()) << "a text file was opened as a statestore";
  EXPECT_EQ(out.error->code(), ErrorCode::kCorruption) << out.error->what();
  EXPECT_TRUE(out.unchanged);
  EXPECT_EQ(ReadFile(db_), text);
}

TEST_P(OpenErrorsTest, TruncatedDatabaseIsCorruption) {
  CreateStoreWithData(db_);
  ASSERT_GT(test::FileSize(db_), 4u * 4096u) << "test database too small to truncate";
  std::string full = ReadFile(db_);
  test::WriteFile(db_, std::string_view(full).substr(0, 2 * 4096));
  auto out = OpenAndCompare(db_, OpenOptions());
  ASSERT_TRUE(out.error.has_value()) << "a truncated database was opened";
  EXPECT_EQ(out.error->code(), ErrorCode::kCorruption) << out.error->what();
  EXPECT_TRUE(out.unchanged);
  EXPECT_EQ(test::FileSize(db_), 2u * 4096u);
}

TEST_P(OpenErrorsTest, NewerSchemaIsSchemaTooNew) {
  CreateStoreWithData(db_);
  RunSql(db_, "PRAGMA user_version = 999;");
  SettleFile(db_);
  auto out = OpenAndCompare(db_, OpenOptions());
  ASSERT_TRUE(out.error.has_value()) << "a database from a newer statestore was opened";
  EXPECT_EQ(out.error->code(), ErrorCode::kSchemaTooNew) << out.error->what();
  EXPECT_TRUE(out.unchanged);
  EXPECT_TRUE(test::Contains(out.error->what(), "999")) << out.error->what();
}

TEST_P(OpenErrorsTest, ForeignSqliteDatabaseIsCorruption) {
  RunSql(db_,
         "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT);"
         "INSERT INTO customers (name) VALUES ('alice'), ('bob');");
  SettleFile(db_);
  auto out = OpenAndCompare(db_, OpenOptions());
  ASSERT_TRUE(out.error.has_value()) << "a foreign SQLite database was opened as a statestore";
  EXPECT_EQ(out.error->code(), ErrorCode::kCorruption) << out.error->what();
  EXPECT_TRUE(test::Contains(test::ToLower(out.error->what()), "not a statestore database"))
      << out.error->what();
  EXPECT_TRUE(out.unchanged);
}

TEST_P(OpenErrorsTest, ForeignWalDatabaseIsCorruption) {
  RunSql(db_,
         "PRAGMA journal_mode=WAL;"
         "CREATE TABLE entries (k TEXT, v TEXT);"  // a name clash with our schema
         "INSERT INTO entries VALUES ('a', 'b');");
  SettleFile(db_);
  auto out = OpenAndCompare(db_, OpenOptions());
  ASSERT_TRUE(out.error.has_value()) << "a foreign SQLite database was opened as a statestore";
  EXPECT_EQ(out.error->code(), ErrorCode::kCorruption) << out.error->what();
  EXPECT_TRUE(out.unchanged);
}

INSTANTIATE_TEST_SUITE_P(ReadWriteAndReadOnly, OpenErrorsTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "ReadOnly" : "ReadWrite";
                         });

class OpenMissingTest : public ::testing::Test {
 protected:
  TempDir dir_;
};

TEST_F(OpenMissingTest, ReadOnlyMissingFileIsNotFoundAndCreatesNothing) {
  Options options;
  options.read_only = true;
  auto err = CatchError([&] { Store::open(dir_.file("missing.db"), options); });
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ(err->code(), ErrorCode::kNotFound) << err->what();
  EXPECT_TRUE(test::ListDir(dir_.path()).empty());
}

TEST_F(OpenMissingTest, NoCreateMissingFileIsNotFoundAndCreatesNothing) {
  Options options;
  options.create_if_missing = false;
  auto err = CatchError([&] { Store::open(dir_.file("missing.db"), options); });
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ(err->code(), ErrorCode::kNotFound) << err->what();
  EXPECT_TRUE(test::ListDir(dir_.path()).empty());
}

TEST_F(OpenMissingTest, MissingDirectoryIsAnErrorAndCreatesNothing) {
  auto err = CatchError([&] { Store::open(dir_.file("no/such/dir/state.db")); });
  ASSERT_TRUE(err.has_value());
  EXPECT_TRUE(test::ListDir(dir_.path()).empty());
}

TEST_F(OpenMissingTest, DirectoryPathIsRefused) {
  auto err = CatchError([&] { Store::open(dir_.path()); });
  ASSERT_TRUE(err.has_value());
}

// Issue 10: an empty file is not "a database in journal mode 'delete'". Read-only: refused as
// not a statestore database, untouched, nothing created beside it. Read-write: initialized as a
// new store (as SQLite would; a crash while statestore creates a file can leave an empty one).
TEST_F(OpenMissingTest, EmptyFileReadOnlyIsNotAStatestoreDatabase) {
  const std::string db = dir_.file("empty.db");
  test::WriteFile(db, "");
  Options options;
  options.read_only = true;
  auto err = CatchError([&] { Store::open(db, options); });
  ASSERT_TRUE(err.has_value()) << "an empty file was opened read-only";
  EXPECT_EQ(err->code(), ErrorCode::kCorruption) << err->what();
  EXPECT_TRUE(test::Contains(err->what(), db + ": empty file, not a statestore database"))
      << err->what();
  EXPECT_EQ(test::FileSize(db), 0u);
  EXPECT_EQ(test::ListDir(dir_.path()), std::vector<std::string>{"empty.db"});
}

TEST_F(OpenMissingTest, EmptyFileReadWriteBecomesANewStore) {
  const std::string db = dir_.file("empty.db");
  test::WriteFile(db, "");
  auto store = Store::open(db);
  EXPECT_EQ(store->history_bounds().head, 0u);
  store->put("app", "k", Value(1));
  EXPECT_EQ(store->get("app", "k"), std::optional<Value>(Value(1)));
}

TEST_F(OpenMissingTest, HealthyFileStillOpensAfterRefusals) {
  // A sanity check that the refusals above are not the store refusing everything.
  const std::string db = dir_.file("state.db");
  CreateStoreWithData(db);
  Options ro;
  ro.read_only = true;
  auto store = Store::open(db, ro);
  EXPECT_EQ(store->list("app").size(), 300u);
  EXPECT_EQ(store->history_bounds().head, 10u);
}

}  // namespace
}  // namespace statestore

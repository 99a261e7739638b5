// Page size of database files (database_file.h invariant 10):
//   1. a new file gets 1 KiB pages;
//   2. a file that already has another page size (every file made before invariant 10 has 4 KiB)
//      keeps it, and works as before;
//   3. a restore works across page sizes in both directions (a WAL-mode target cannot change
//      its page size by itself), leaving the target in WAL mode with the source's state;
//   4. a backup has 1 KiB pages whatever its source's, so backup + restore converts an old file.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <string>

#include "statestore/admin.h"
#include "statestore/statestore.h"
#include "test_util.h"

namespace statestore {
namespace {

using test::TempDir;

std::string PragmaText(const std::string& path, const char* pragma) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  std::string v = "(no row)";
  if (sqlite3_prepare_v2(db, pragma, -1, &st, nullptr) == SQLITE_OK &&
      sqlite3_step(st) == SQLITE_ROW) {
    v = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return v;
}

// An empty WAL-mode SQLite file with `page_size` pages and no table: what an older statestore
// (4 KiB, SQLite's default) had written by the time it created its schema.
void MakeEmptyWalFile(const std::string& path, int page_size) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  const std::string sql =
      "PRAGMA page_size = " + std::to_string(page_size) + "; PRAGMA journal_mode = WAL;";
  EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
}

// Backups do not carry the redaction key file; a restore onto another store's file needs the
// source's key beside it, as an operator would copy it.
void CopyKey(const std::string& from_db, const std::string& to_db) {
  std::filesystem::copy_file(from_db + "-key", to_db + "-key",
                             std::filesystem::copy_options::overwrite_existing);
}

void Fill(const std::string& path, const std::string& tag) {
  auto store = Store::open(path);
  store->transact([&](Transaction& tx) {
    for (int i = 0; i < 300; ++i) {
      // Some rows larger than a 1 KiB page can hold, so overflow pages are copied too.
      tx.put("app", "k" + std::to_string(i),
             Value(tag + std::string(static_cast<std::size_t>(i % 3 == 0 ? 1500 : 20), 'x')));
    }
  });
  store->put("app", "tag", Value(tag));
}

void ExpectState(const std::string& path, const std::string& tag) {
  auto store = Store::open(path);
  ASSERT_EQ(store->list("app").size(), 301u);
  EXPECT_EQ(store->get("app", "tag")->as_string(), tag);
  EXPECT_EQ(store->get("app", "k3")->as_string(), tag + std::string(1500, 'x'));
  EXPECT_EQ(store->history().size(), 2u);
}

// A restored target: the source's page size, back in WAL mode, sound, with the source's state.
void ExpectRestored(const std::string& target, const std::string& page_size,
                    const std::string& tag) {
  EXPECT_EQ(PragmaText(target, "PRAGMA page_size"), page_size);
  EXPECT_EQ(PragmaText(target, "PRAGMA journal_mode"), "wal");
  EXPECT_EQ(PragmaText(target, "PRAGMA integrity_check"), "ok");
  ExpectState(target, tag);
}

TEST(PageSizeTest, NewFileHasOneKibPages) {
  TempDir dir;
  const std::string db = dir.file("new.db");
  Fill(db, "a");
  EXPECT_EQ(PragmaText(db, "PRAGMA page_size"), "1024");
  EXPECT_EQ(PragmaText(db, "PRAGMA journal_mode"), "wal");
  ExpectState(db, "a");
}

TEST(PageSizeTest, ExistingFileKeepsItsPageSize) {
  TempDir dir;
  const std::string db = dir.file("old.db");
  MakeEmptyWalFile(db, 4096);
  Fill(db, "a");
  EXPECT_EQ(PragmaText(db, "PRAGMA page_size"), "4096");
  ExpectState(db, "a");
  EXPECT_EQ(PragmaText(db, "PRAGMA integrity_check"), "ok");
}

TEST(PageSizeTest, RestoreOfAFourKibFileOntoAOneKibFile) {
  TempDir dir;
  const std::string old_db = dir.file("old.db");
  const std::string target = dir.file("new.db");
  MakeEmptyWalFile(old_db, 4096);
  Fill(old_db, "old");
  Fill(target, "new");
  ASSERT_EQ(PragmaText(target, "PRAGMA page_size"), "1024");

  Restore(old_db, target);  // any statestore file is a valid restore source
  CopyKey(old_db, target);
  ExpectRestored(target, "4096", "old");
}

TEST(PageSizeTest, BackupAndRestoreConvertAFourKibFile) {
  TempDir dir;
  const std::string db = dir.file("old.db");
  const std::string backup = dir.file("old.backup");
  MakeEmptyWalFile(db, 4096);
  Fill(db, "old");
  Backup(*Store::open(db), backup);
  EXPECT_EQ(PragmaText(backup, "PRAGMA page_size"), "1024");
  EXPECT_EQ(PragmaText(db, "PRAGMA page_size"), "4096") << "backup changed its source";
  CopyKey(db, backup);
  ExpectState(backup, "old");

  Restore(backup, db);
  ExpectRestored(db, "1024", "old");
}

TEST(PageSizeTest, RestoreOfOneKibBackupOntoFourKibFile) {
  TempDir dir;
  const std::string db = dir.file("new.db");
  const std::string backup = dir.file("new.backup");
  const std::string target = dir.file("old.db");
  Fill(db, "new");
  Backup(*Store::open(db), backup);
  EXPECT_EQ(PragmaText(backup, "PRAGMA page_size"), "1024");
  MakeEmptyWalFile(target, 4096);
  Fill(target, "old");

  Restore(backup, target);
  CopyKey(db, target);
  ExpectRestored(target, "1024", "new");
  // The restored file takes writes as any other.
  Store::open(target)->put("app", "after", Value(1));
  EXPECT_EQ(Store::open(target)->get("app", "after")->as_int(), 1);
}

}  // namespace
}  // namespace statestore

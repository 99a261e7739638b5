// Space comes back (issue 11, part 2):
//   1. a new file is in incremental auto-vacuum mode;
//   2. compact_history() hands the freed pages back: the file shrinks and its freelist is small;
//      the maintenance thread does the same by itself after retention batches;
//   3. a backup of a file with a large freelist is compact and restores to the same state;
//   4. Vacuum / `statectl vacuum` shrinks a file created before incremental mode and switches it;
//      refuses a read-only Store;
//   5. measurements: time a step holds the write lock per step size, and the longest
//      transact() of 4 writers while a large freelist is returned (printed; README "Space").
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <thread>
#include <vector>

#include "statectl_runner.h"
#include "statestore/admin.h"
#include "statestore/statestore.h"
#include "test_util.h"

namespace statestore {
namespace {

using std::chrono::steady_clock;
using test::TempDir;

constexpr int kKeys = 100;
constexpr int kTransactions = 200;  // x kKeys changes = 20,000 history rows
const std::string kBig(500, 'v');

std::int64_t PragmaInt(const std::string& path, const char* pragma) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  std::int64_t v = -1;
  if (sqlite3_prepare_v2(db, pragma, -1, &st, nullptr) == SQLITE_OK &&
      sqlite3_step(st) == SQLITE_ROW) {
    v = sqlite3_column_int64(st, 0);
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return v;
}

void ExecRaw(const std::string& path, const char* sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr),
            SQLITE_OK);
  char* err = nullptr;
  const int rc = sqlite3_exec(db, sql, nullptr, nullptr, &err);
  EXPECT_EQ(rc, SQLITE_OK) << (err ? err : "") << " in " << sql;
  sqlite3_free(err);
  sqlite3_close(db);
}

// ~20,000 history rows over kKeys keys (the state stays small, the history is ~20 MB).
void Fill(const std::string& path) {
  Options o;
  o.durability = Durability::kNormal;  // the fill is not what is measured
  auto store = Store::open(path, o);
  for (int t = 0; t < kTransactions; ++t) {
    store->transact([&](Transaction& tx) {
      for (int k = 0; k < kKeys; ++k) {
        tx.put("app", "k" + std::to_string(k), Value(kBig + std::to_string(t)));
      }
    });
  }
}

// A file as an older statestore made it: auto_vacuum NONE (the test's own rewrite).
void MakeLegacy(const std::string& path) { ExecRaw(path, "PRAGMA auto_vacuum = NONE; VACUUM;"); }

std::map<std::string, std::string> State(Store& store) {
  std::map<std::string, std::string> out;
  for (const auto& e : store.list("app")) out[e.key] = e.value.as_string();
  return out;
}

std::shared_ptr<Store> OpenKeeping(const std::string& path, std::uint64_t keep) {
  Options o;
  o.history_retention.keep_revisions = keep;
  return Store::open(path, o);
}

TEST(FreeSpaceTest, NewFileIsIncremental) {
  TempDir dir;
  const std::string db = dir.file("new.db");
  { auto store = Store::open(db); }
  EXPECT_EQ(PragmaInt(db, "PRAGMA auto_vacuum"), 2);
}

TEST(FreeSpaceTest, CompactHistoryShrinksTheFile) {
  TempDir dir;
  const std::string db = dir.file("shrink.db");
  Fill(db);
  const auto bytes_before = test::FileSize(db);
  const auto pages_before = PragmaInt(db, "PRAGMA page_count");
  Stats stats;
  {
    auto store = OpenKeeping(db, 10);
    EXPECT_GT(store->compact_history(), 150u);
    stats = store->stats();
  }  // closing checkpoints: the main file takes its new length
  const auto bytes_after = test::FileSize(db);
  const auto free_after = PragmaInt(db, "PRAGMA freelist_count");
  std::printf(
      "[ space ] compact_history --keep 10: %llu -> %llu bytes, %lld -> %lld pages, "
      "%llu pages returned in %llu steps, %lld free after\n",
      static_cast<unsigned long long>(bytes_before), static_cast<unsigned long long>(bytes_after),
      static_cast<long long>(pages_before),
      static_cast<long long>(PragmaInt(db, "PRAGMA page_count")),
      static_cast<unsigned long long>(stats.free_pages_returned),
      static_cast<unsigned long long>(stats.free_space_steps), static_cast<long long>(free_after));
  EXPECT_LT(bytes_after * 4, bytes_before);
  EXPECT_LE(free_after, 256);  // FreeSpace::kFreePagesKept
  EXPECT_GT(stats.free_pages_returned, static_cast<std::uint64_t>(pages_before / 2));
  EXPECT_GT(stats.free_space_steps, 1u);  // in steps, not in one go
}

TEST(FreeSpaceTest, MaintenanceReturnsPagesAfterRetention) {
  TempDir dir;
  const std::string db = dir.file("maint.db");
  Fill(db);
  const auto bytes_before = test::FileSize(db);
  auto store = OpenKeeping(db, 10);
  // Commits drive retention batches (one per 64 commits) on the maintenance thread, which then
  // returns pages by itself.
  const auto deadline = steady_clock::now() + std::chrono::seconds(60);
  while (steady_clock::now() < deadline && store->stats().free_pages_returned < 15000) {
    for (int i = 0; i < 64; ++i) store->put("w", "x", Value(i));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_GE(store->stats().free_pages_returned, 15000u);
  store.reset();
  EXPECT_LT(test::FileSize(db) * 2, bytes_before);
}

TEST(FreeSpaceTest, BackupIsCompactAndRestoresTheSameState) {
  TempDir dir;
  const std::string db = dir.file("src.db");
  Fill(db);
  MakeLegacy(db);  // NONE mode: compaction leaves its pages on the freelist
  std::map<std::string, std::string> state;
  Revision head = 0;
  {
    auto store = OpenKeeping(db, 10);
    store->compact_history();
    EXPECT_EQ(store->stats().free_pages_returned, 0u);  // not incremental: left alone
    state = State(*store);
    head = store->history_bounds().head;
    auto r = Backup(*store, dir.file("copy.db"));
    EXPECT_EQ(r.revision, head);
  }
  const auto src_bytes = test::FileSize(db);
  const auto copy_bytes = test::FileSize(dir.file("copy.db"));
  std::printf("[ space ] backup of a file with %lld free pages: %llu -> %llu bytes\n",
              static_cast<long long>(PragmaInt(db, "PRAGMA freelist_count")),
              static_cast<unsigned long long>(src_bytes),
              static_cast<unsigned long long>(copy_bytes));
  EXPECT_FALSE(test::FileExists(dir.file("copy.db-key")));  // the key is not copied
  EXPECT_FALSE(test::FileExists(dir.file("copy.db-wal")));  // checkpointed into one file
  EXPECT_GT(PragmaInt(db, "PRAGMA freelist_count"), 1000);
  EXPECT_LT(copy_bytes * 4, src_bytes);
  EXPECT_EQ(PragmaInt(dir.file("copy.db"), "PRAGMA freelist_count"), 0);
  EXPECT_EQ(PragmaInt(dir.file("copy.db"), "PRAGMA auto_vacuum"), 2);  // converted

  Restore(dir.file("copy.db"), dir.file("restored.db"));
  Options ro;
  ro.read_only = true;
  ro.redaction_key = test::ReadFile(db + "-key");
  auto restored = Store::open(dir.file("restored.db"), ro);
  EXPECT_EQ(State(*restored), state);
  EXPECT_EQ(restored->history_bounds().head, head);
  EXPECT_TRUE(Verify(*restored).ok());
  restored.reset();
  // Restoring the copy over the old file converts it: compact and incremental.
  Restore(dir.file("copy.db"), db);
  EXPECT_EQ(PragmaInt(db, "PRAGMA auto_vacuum"), 2);
  EXPECT_LT(test::FileSize(db) * 4, src_bytes);
  auto back = Store::open(db);
  EXPECT_EQ(State(*back), state);
}

TEST(FreeSpaceTest, VacuumShrinksALegacyFileAndSwitchesItToIncremental) {
  TempDir dir;
  const std::string db = dir.file("legacy.db");
  Fill(db);
  MakeLegacy(db);
  std::map<std::string, std::string> state;
  {
    auto store = OpenKeeping(db, 10);
    store->compact_history();
    state = State(*store);
  }
  ASSERT_EQ(PragmaInt(db, "PRAGMA auto_vacuum"), 0);
  const auto before = test::FileSize(db);
  auto r = test::RunStatectl({"vacuum", db, "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(test::Contains(r.out, "\"auto_vacuum_before\": \"none\"")) << r.out;
  EXPECT_TRUE(test::Contains(r.out, "\"auto_vacuum_after\": \"incremental\"")) << r.out;
  EXPECT_EQ(PragmaInt(db, "PRAGMA auto_vacuum"), 2);
  EXPECT_EQ(PragmaInt(db, "PRAGMA freelist_count"), 0);
  const auto after = test::FileSize(db);
  std::printf("[ space ] statectl vacuum of a legacy file: %llu -> %llu bytes\n",
              static_cast<unsigned long long>(before), static_cast<unsigned long long>(after));
  EXPECT_LT(after * 4, before);
  auto store = Store::open(db);
  EXPECT_EQ(State(*store), state);
  EXPECT_TRUE(Verify(*store).ok());
  // Text output names the sizes.
  r = test::RunStatectl({"vacuum", db});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(test::Contains(r.out, "auto_vacuum")) << r.out;
}

TEST(FreeSpaceTest, VacuumRefusesAReadOnlyStore) {
  TempDir dir;
  const std::string db = dir.file("ro.db");
  { auto store = Store::open(db); }
  Options ro;
  ro.read_only = true;
  auto store = Store::open(db, ro);
  auto err = test::CatchError([&] { Vacuum(*store); });
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ(err->code(), ErrorCode::kReadOnly);
  EXPECT_TRUE(test::Contains(err->what(), "opened read-only")) << err->what();
}

// ---- measurements

// A WAL file (synchronous=FULL, incremental) with a large freelist: time each
// PRAGMA incremental_vacuum(N) — the time a step holds the write lock, COMMIT's fsync included.
TEST(FreeSpaceMeasure, StepTimeByPagesPerStep) {
  TempDir dir;
  for (int n : {16, 64, 128, 256, 1024}) {
    const std::string path = dir.file("steps" + std::to_string(n) + ".db");
    ExecRaw(path,
            "PRAGMA auto_vacuum = INCREMENTAL; PRAGMA journal_mode = WAL; CREATE TABLE t(x);"
            "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 20000) "
            "INSERT INTO t SELECT randomblob(3900) FROM c; DELETE FROM t WHERE rowid % 4 != 0;");
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    sqlite3_exec(db, "PRAGMA synchronous = FULL", nullptr, nullptr, nullptr);
    const std::string sql = "PRAGMA incremental_vacuum(" + std::to_string(n) + ")";
    std::vector<double> ms;
    for (int i = 0; i < 10; ++i) {  // 10 x 1024 < the 15,000 free pages
      const auto t0 = steady_clock::now();
      ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
      ms.push_back(std::chrono::duration<double, std::milli>(steady_clock::now() - t0).count());
    }
    sqlite3_close(db);
    std::sort(ms.begin(), ms.end());
    std::printf("[ space ] incremental_vacuum(%4d): median %.2f ms, max %.2f ms per step\n", n,
                ms[ms.size() / 2], ms.back());
  }
}

struct WriterLatency {
  double max_ms = 0;
  double p99_ms = 0;
  std::size_t commits = 0;
};

// 4 writer threads commit one small put each, as fast as they can, while `during` runs.
WriterLatency MeasureWriters(Store& store, const std::function<void()>& during) {
  std::atomic<bool> stop{false};
  std::vector<std::vector<double>> lat(4);
  std::vector<std::thread> writers;
  for (int w = 0; w < 4; ++w) {
    writers.emplace_back([&, w] {
      for (int i = 0; !stop.load(); ++i) {
        const auto t0 = steady_clock::now();
        store.put("load", "w" + std::to_string(w), Value(i));
        lat[w].push_back(
            std::chrono::duration<double, std::milli>(steady_clock::now() - t0).count());
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  during();
  stop = true;
  for (auto& t : writers) t.join();
  std::vector<double> all;
  for (auto& l : lat) all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  WriterLatency r;
  r.commits = all.size();
  if (!all.empty()) {
    r.max_ms = all.back();
    r.p99_ms = all[all.size() * 99 / 100];
  }
  return r;
}

// A store file in incremental mode with `pages` free pages and nothing else to do: a table
// added and dropped with the sqlite3 API while no Store has it open (SQLite puts a dropped
// table's pages on the freelist; incremental mode leaves them there).
void MakeFreelist(const std::string& path, int pages) {
  const std::string sql =
      "CREATE TABLE junk(x); WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c "
      "WHERE i < " +
      std::to_string(pages) +
      ") INSERT INTO junk SELECT randomblob(3900) FROM c; "
      "DROP TABLE junk; PRAGMA wal_checkpoint(TRUNCATE);";
  ExecRaw(path, sql.c_str());
}

// The longest transact() of 4 writers while the maintenance steps return ~20,000 free pages
// (compact_history with nothing to compact: only the steps run), against the same writers
// alone. Retention is measured apart: its batches (256 revisions) are the other engineer's.
TEST(FreeSpaceMeasure, LongestWriterWaitWhileTheFreelistIsReturned) {
  TempDir dir;
  {
    auto store = Store::open(dir.file("baseline.db"));
    WriterLatency r = MeasureWriters(
        *store, [] { std::this_thread::sleep_for(std::chrono::milliseconds(2000)); });
    std::printf("[ space ] 4 writers alone: %zu commits, p99 %.2f ms, max %.2f ms\n", r.commits,
                r.p99_ms, r.max_ms);
  }
  const std::string inc = dir.file("incremental.db");
  { auto store = Store::open(inc); }
  MakeFreelist(inc, 20000);
  const auto free_before = PragmaInt(inc, "PRAGMA freelist_count");
  auto store = Store::open(inc);
  double vacuum_ms = 0;
  WriterLatency r = MeasureWriters(*store, [&] {
    const auto v0 = steady_clock::now();
    store->compact_history();  // no retention configured: only the free-space steps
    vacuum_ms = std::chrono::duration<double, std::milli>(steady_clock::now() - v0).count();
  });
  const Stats s = store->stats();
  std::printf(
      "[ space ] 4 writers while %lld free pages are returned (%llu pages in %llu steps "
      "of <= 128, %.0f ms): %zu commits, p99 %.2f ms, max %.2f ms\n",
      static_cast<long long>(free_before), static_cast<unsigned long long>(s.free_pages_returned),
      static_cast<unsigned long long>(s.free_space_steps), vacuum_ms, r.commits, r.p99_ms,
      r.max_ms);
  EXPECT_GT(s.free_pages_returned, 15000u);
  EXPECT_GT(r.commits, 0u);
  // A loose bound (shared CI machines): no step may stall a writer for a second.
  EXPECT_LT(r.max_ms, 1000.0);
}

}  // namespace
}  // namespace statestore

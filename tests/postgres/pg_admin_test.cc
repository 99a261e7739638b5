// statestore/admin.h and statectl on a PostgreSQL store (issue 14: "statectl takes the same URI
// wherever it takes a database path"), against the run's shared server (PG_FIXTURE); each test
// works in a fresh database that it drops at the end. Damage is done with raw libpq, never
// through the engine under test.
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "manual_clock.h"
#include "postgres/pg_cluster.h"
#include "sqlite_query.h"
#include "statectl_json.h"
#include "statectl_runner.h"
#include "statestore/admin.h"
#include "statestore/statestore.h"
#include "test_util.h"

namespace statestore::test {
namespace {

using json = nlohmann::json;

// ---------------------------------------------------------------------------------------------
// Raw libpq administration.

using PgConnPtr = std::unique_ptr<PGconn, decltype(&PQfinish)>;
using PgResultPtr = std::unique_ptr<PGresult, decltype(&PQclear)>;

// Runs `sql` and returns the first column of the last statement's rows, as text.
std::vector<std::string> AdminQuery(const std::string& conninfo, const std::string& sql) {
  PgConnPtr conn(PQconnectdb(conninfo.c_str()), &PQfinish);
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    throw std::runtime_error("admin connect: " + std::string(PQerrorMessage(conn.get())));
  }
  PgResultPtr res(PQexec(conn.get(), sql.c_str()), &PQclear);
  const ExecStatusType status = PQresultStatus(res.get());
  if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
    throw std::runtime_error(sql + ": " + PQresultErrorMessage(res.get()));
  }
  std::vector<std::string> rows;
  for (int r = 0; r < PQntuples(res.get()); ++r) rows.push_back(PQgetvalue(res.get(), r, 0));
  return rows;
}

void AdminExec(const std::string& conninfo, const std::string& sql) { AdminQuery(conninfo, sql); }

// A fresh database, dropped when this goes out of scope. Names are built from integers only.
class TestDatabase {
 public:
  explicit TestDatabase(const PgCluster& cluster) : cluster_(cluster) {
    static std::atomic<int> next{0};
    name_ = "pgadmin_" + std::to_string(::getpid()) + "_" + std::to_string(next++);
    AdminExec(cluster_.conninfo(), "CREATE DATABASE " + name_);
  }
  ~TestDatabase() {
    try {
      AdminExec(cluster_.conninfo(), "DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
    } catch (const std::exception&) {
      // The cluster goes away with the test run anyway.
    }
  }
  TestDatabase(const TestDatabase&) = delete;
  TestDatabase& operator=(const TestDatabase&) = delete;

  std::string uri() const { return cluster_.uri(name_); }
  std::string conninfo() const { return cluster_.conninfo(name_); }
  // Raw SQL in the store's schema.
  std::vector<std::string> Sql(const std::string& sql) const {
    return AdminQuery(conninfo(), "SET search_path TO statestore; " + sql);
  }

 private:
  const PgCluster& cluster_;
  std::string name_;
};

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

bool AnyProblemContains(const VerifyReport& report, const std::string& part) {
  for (const auto& p : report.problems) {
    if (Contains(p.message, part)) return true;
  }
  return false;
}

std::string Problems(const VerifyReport& report) {
  std::string out;
  for (const auto& p : report.problems)
    out += "  r" + std::to_string(p.revision) + ": " + p.message + "\n";
  return out;
}

class PgAdminTest : public testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (PgCluster::BinDir(&why).empty()) GTEST_SKIP() << why;
    cluster_ = PgCluster::Shared(&why);
    ASSERT_NE(cluster_, nullptr) << why;
  }

  // A store with two keyspaces ("app" plain, "secret" redacted) and a few revisions:
  //   r1 app/a=1, r2 app/b="two", r3 secret/s="hidden", r4 app/a=3, r5 erase app/b.
  static Options FixtureOptions() {
    Options o;
    o.redacted_keyspaces = {"secret"};
    return o;
  }
  static void Fill(Store& s) {
    s.put("app", "a", Value(std::int64_t{1}));
    s.put("app", "b", Value("two"));
    s.put("secret", "s", Value("hidden"));
    s.put("app", "a", Value(std::int64_t{3}));
    s.erase("app", "b");
  }

  PgCluster* cluster_ = nullptr;
};

// ---------------------------------------------------------------------------------------------
// 1. Reads.

TEST_F(PgAdminTest, ListKeyspacesAndRedactedKeyspacesReadTheServer) {
  TestDatabase db(*cluster_);
  auto store = Store::open(db.uri(), FixtureOptions());
  Fill(*store);
  store->put("app", "c", Value(true));
  std::map<std::string, KeyspaceInfo> ks;
  for (const auto& k : ListKeyspaces(*store)) ks[k.name] = k;
  ASSERT_EQ(ks.count("app"), 1u);
  ASSERT_EQ(ks.count("secret"), 1u);
  EXPECT_EQ(ks["app"].keys, 2u);  // a, c (b erased)
  EXPECT_FALSE(ks["app"].redacted);
  EXPECT_EQ(ks["secret"].keys, 1u);
  EXPECT_TRUE(ks["secret"].redacted);
  const std::vector<std::string> redacted = RedactedKeyspaces(*store);
  EXPECT_NE(std::find(redacted.begin(), redacted.end(), "secret"), redacted.end());
  EXPECT_EQ(std::find(redacted.begin(), redacted.end(), "app"), redacted.end());
}

TEST_F(PgAdminTest, InspectReportsServerFactsAndNotApplicableFileFields) {
  TestDatabase db(*cluster_);
  {
    auto store = Store::open(db.uri(), FixtureOptions());
    Fill(*store);
  }
  Options ro;
  ro.read_only = true;
  auto store = Store::open(db.uri(), ro);
  const InspectReport r = Inspect(*store);
  EXPECT_EQ(r.engine, "postgresql");
  // The number of migrations/postgresql files (0004_bounded_keyspaces.sql the newest).
  EXPECT_EQ(r.schema_version, 4);
  EXPECT_EQ(r.library_schema_version, 4);
  EXPECT_EQ(r.journal_mode, "n/a (postgresql)");
  EXPECT_EQ(r.integrity, "n/a (postgresql)");
  EXPECT_EQ(r.page_size, 0u);
  EXPECT_EQ(r.wal_bytes, 0u);
  EXPECT_EQ(r.history.head, 5u);
  EXPECT_EQ(r.history.first, 1u);
  EXPECT_EQ(r.commits_retained, 5u);
  std::map<std::string, std::uint64_t> tables(r.table_bytes.begin(), r.table_bytes.end());
  ASSERT_EQ(tables.count("entries"), 1u);
  EXPECT_GT(tables["entries"], 0u);
  EXPECT_GT(tables["changes"], 0u);
  std::uint64_t sum = 0;
  for (const auto& [name, bytes] : r.table_bytes) sum += bytes;
  EXPECT_EQ(r.file_bytes, sum);
  std::map<std::string, std::string> settings(r.server_settings.begin(), r.server_settings.end());
  EXPECT_EQ(settings.count("fsync"), 1u);
  EXPECT_EQ(settings.count("synchronous_commit"), 1u);
  std::map<std::string, KeyspaceInfo> ks;
  for (const auto& k : r.keyspaces) ks[k.name] = k;
  EXPECT_EQ(ks["app"].keys, 1u);
  EXPECT_EQ(ks["app"].history_changes, 4u);
  EXPECT_GT(ks["app"].history_bytes, 0u);
  EXPECT_EQ(ks["secret"].history_changes, 1u);
  EXPECT_TRUE(ks["secret"].redacted);
}

TEST_F(PgAdminTest, MigrationStatusOfAUri) {
  TestDatabase db(*cluster_);
  try {
    GetMigrationStatus(db.uri());
    ADD_FAILURE() << "a database without the schema has no migration status";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kNotFound) << e.what();
    EXPECT_TRUE(Contains(e.what(), "no statestore schema")) << e.what();
  }
  Store::open(db.uri());
  const MigrationStatus status = GetMigrationStatus(db.uri());
  EXPECT_EQ(status.applied, 4);
  EXPECT_EQ(status.library, 4);
  EXPECT_TRUE(status.pending.empty());
  EXPECT_FALSE(status.too_new());
  db.Sql("UPDATE meta SET value = 99 WHERE name = 'schema_version'");
  EXPECT_TRUE(GetMigrationStatus(db.conninfo()).too_new());
}

// ---------------------------------------------------------------------------------------------
// 2. Verify.

TEST_F(PgAdminTest, VerifyOfAHealthyStoreIsOkAndReportsProgress) {
  TestDatabase db(*cluster_);
  auto store = Store::open(db.uri(), FixtureOptions());
  Fill(*store);
  std::uint64_t last_done = 0;
  int calls = 0;
  const VerifyReport r = Verify(*store, [&](std::uint64_t done, std::uint64_t) {
    last_done = done;
    ++calls;
  });
  EXPECT_TRUE(r.ok()) << Problems(r);
  EXPECT_EQ(r.integrity, "n/a (postgresql)");
  EXPECT_EQ(r.commits_checked, 5u);
  EXPECT_EQ(r.changes_checked, 5u);
  EXPECT_EQ(r.keys_checked, 3u);
  EXPECT_GE(calls, 1);
  EXPECT_EQ(last_done, 5u);
}

TEST_F(PgAdminTest, VerifyFindsRowsDamagedWithRawSql) {
  TestDatabase db(*cluster_);
  auto store = Store::open(db.uri(), FixtureOptions());
  Fill(*store);
  ASSERT_TRUE(Verify(*store).ok());

  // The current value of app/a no longer matches the last change that wrote it (3).
  db.Sql("UPDATE entries SET value = int8send(7) WHERE key = 'a'::bytea");
  VerifyReport r = Verify(*store);
  EXPECT_TRUE(AnyProblemContains(r, "but the current value is 7")) << Problems(r);

  // A stored int that is not 8 bytes does not decode.
  db.Sql("UPDATE entries SET value = '\\x01'::bytea WHERE key = 'a'::bytea");
  r = Verify(*store);
  EXPECT_TRUE(AnyProblemContains(r, "current value of app/a is unreadable")) << Problems(r);

  // A change without its commit row, and a head revision that runs ahead of history.
  db.Sql("DELETE FROM commits WHERE revision = 2");
  db.Sql("UPDATE meta SET value = 9 WHERE name = 'head_revision'");
  r = Verify(*store);
  EXPECT_TRUE(AnyProblemContains(r, "revision 2 has changes but no commit row")) << Problems(r);
  EXPECT_TRUE(AnyProblemContains(r, "meta head_revision is 9 but the newest commit is 5"))
      << Problems(r);
  EXPECT_TRUE(AnyProblemContains(r, "revisions 6..9 are missing from history")) << Problems(r);
}

TEST_F(PgAdminTest, VerifyFindsABrokenHistoryChain) {
  TestDatabase db(*cluster_);
  auto store = Store::open(db.uri(), FixtureOptions());
  Fill(*store);
  // r4 says app/a was 2 before it, but r1 left it 1.
  db.Sql("UPDATE changes SET old_value = int8send(2) WHERE revision = 4");
  const VerifyReport r = Verify(*store);
  EXPECT_TRUE(AnyProblemContains(r,
                                 "revision 4: old value 2 of app/a does not match the new "
                                 "value 1 written by revision 1"))
      << Problems(r);
}

// ---------------------------------------------------------------------------------------------
// 4. Vacuum.

TEST_F(PgAdminTest, VacuumAnalyzesTheStoreTablesAndRefusesAReadOnlyStore) {
  TestDatabase db(*cluster_);
  {
    auto store = Store::open(db.uri());
    for (int i = 0; i < 50; ++i) store->put("app", "k" + std::to_string(i), Value(i));
    const VacuumResult r = Vacuum(*store);
    EXPECT_GT(r.page_size, 0u);
    EXPECT_GT(r.bytes_before, 0u);
    EXPECT_GT(r.bytes_after, 0u);
    EXPECT_EQ(r.auto_vacuum_after, "n/a (postgresql autovacuum)");
  }
  // VACUUM (ANALYZE) ran on the store's tables: the statistics collector saw it.
  const auto analyzed = db.Sql(
      "SELECT count(*) FROM pg_stat_user_tables WHERE schemaname = 'statestore' AND "
      "last_vacuum IS NOT NULL AND last_analyze IS NOT NULL AND relname = 'entries'");
  ASSERT_EQ(analyzed.size(), 1u);
  EXPECT_EQ(analyzed[0], "1");
  Options ro;
  ro.read_only = true;
  auto store = Store::open(db.uri(), ro);
  try {
    Vacuum(*store);
    ADD_FAILURE() << "vacuum of a read-only store";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kReadOnly) << e.what();
  }
}

// ---------------------------------------------------------------------------------------------
// 3. Backup to an SQLite file, restore into PostgreSQL.

using State = std::map<std::string, std::map<std::string, std::pair<Value, std::uint64_t>>>;

State StateOf(Store& s) {
  State out;
  for (const std::string& ks : s.keyspaces()) {
    for (const Entry& e : s.list(ks, "", 0)) out[ks][e.key] = {e.value, e.version};
  }
  return out;
}

// History as comparable text: revision, time, origin, partial, each change with its values.
std::vector<std::string> HistoryOf(Store& s) {
  std::vector<std::string> out;
  for (const Commit& c : s.history(HistoryQuery{})) {
    std::string line =
        std::to_string(c.revision) + " t=" + std::to_string(c.time.time_since_epoch().count()) +
        " pid=" + std::to_string(c.origin.pid) + " tid=" + std::to_string(c.origin.thread_id) +
        " label=" + c.origin.label + (c.partial ? " partial" : "");
    for (const Change& ch : c.changes) {
      line += " | " + ch.keyspace + "/" + ch.key + " " +
              (ch.old_value ? ch.old_value->to_display(80) : "-") + " -> " +
              (ch.new_value ? ch.new_value->to_display(80) : "-") + (ch.redacted ? " R" : "");
    }
    out.push_back(line);
  }
  return out;
}

TEST_F(PgAdminTest, BackupToSqliteAndRestoreIntoAFreshStoreRoundTrips) {
  TestDatabase db(*cluster_);
  TempDir dir;
  const std::string file = dir.path() + "/copy.db";
  auto src = Store::open(db.uri(), FixtureOptions());
  Fill(*src);
  src->put("app", "d", Value(2.5));
  src->put("app", "blob", Value(Bytes{0, 1, 2, 255}));
  const std::string token = src->sessions().create(std::chrono::hours(1), {{"user", Value("ann")}});
  src->set_history_policy("app", HistoryPolicy{100, std::chrono::seconds(0), false});
  const State state = StateOf(*src);
  const std::vector<std::string> history = HistoryOf(*src);
  const Revision head = src->history_bounds().head;

  int progress_calls = 0;
  const BackupResult b =
      Backup(*src, file, [&](std::uint64_t, std::uint64_t) { ++progress_calls; });
  EXPECT_EQ(b.revision, head);
  EXPECT_GT(b.pages, 0u);
  EXPECT_GT(b.bytes, 0u);
  EXPECT_GE(progress_calls, 1);
  // The key stored in the schema travels with the copy, where the SQLite engine looks for it.
  EXPECT_TRUE(std::filesystem::exists(file + "-key"));
  EXPECT_EQ(
      std::filesystem::status(file + "-key").permissions() & std::filesystem::perms::group_all,
      std::filesystem::perms::none);
  // A second backup to the same name is refused.
  try {
    Backup(*src, file);
    ADD_FAILURE() << "backup over an existing file";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument) << e.what();
  }

  {
    // The copy is an ordinary statestore file.
    auto lite = Store::open(file);
    EXPECT_EQ(StateOf(*lite), state);
    EXPECT_EQ(HistoryOf(*lite), history);
    EXPECT_EQ(lite->history_policy("app").policy,
              (HistoryPolicy{100, std::chrono::seconds(0), false}));
    const VerifyReport v = Verify(*lite);
    EXPECT_TRUE(v.ok()) << Problems(v);
    EXPECT_EQ(v.unverifiable, 0u) << v.note;
    ASSERT_TRUE(lite->sessions().get(token).has_value());
    EXPECT_EQ(lite->sessions().get(token)->attributes.at("user"), Value("ann"));
  }

  TestDatabase fresh(*cluster_);
  const BackupResult r = Restore(file, fresh.uri());
  EXPECT_EQ(r.revision, head);
  {
    auto back = Store::open(fresh.uri());  // writable: the restored key matches the fingerprint
    EXPECT_EQ(StateOf(*back), state);
    EXPECT_EQ(HistoryOf(*back), history);
    const VerifyReport v = Verify(*back);
    EXPECT_TRUE(v.ok()) << Problems(v);
    EXPECT_EQ(v.unverifiable, 0u) << v.note;
    ASSERT_TRUE(back->sessions().get(token).has_value());
    // Writes carry on from the restored head, in a keyspace made after the restore too.
    EXPECT_EQ(back->put("app", "e", Value(5)), head + 1);
    EXPECT_EQ(back->put("new_keyspace", "x", Value(1)), head + 2);
    EXPECT_TRUE(Verify(*back).ok());
  }
  // A store with data is never overwritten.
  try {
    Restore(file, fresh.uri());
    ADD_FAILURE() << "restore over a store with data";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument) << e.what();
    EXPECT_TRUE(Contains(e.what(), "already has data")) << e.what();
  }
  auto check = Store::open(fresh.uri());
  EXPECT_EQ(check->history_bounds().head, head + 2);
}

// A store that was opened (schema and its own key made) but never written is "empty": the
// restore replaces its key with the source's, so digests and session lookups keep working.
TEST_F(PgAdminTest, RestoreIntoAnOpenedButEmptyStoreTakesTheSourceKey) {
  TestDatabase db(*cluster_);
  TempDir dir;
  const std::string file = dir.path() + "/copy.db";
  std::string token;
  {
    auto src = Store::open(db.uri(), FixtureOptions());
    Fill(*src);
    token = src->sessions().create(std::chrono::hours(1), {{"user", Value("bo")}});
    Backup(*src, file);
  }
  TestDatabase target(*cluster_);
  Store::open(target.uri()).reset();  // creates the schema with a key of its own
  const std::string key_before = target.Sql("SELECT encode(key, 'hex') FROM redaction_key")[0];
  Restore(file, target.uri());
  EXPECT_NE(target.Sql("SELECT encode(key, 'hex') FROM redaction_key")[0], key_before);
  auto back = Store::open(target.uri(), FixtureOptions());
  const VerifyReport v = Verify(*back);
  EXPECT_TRUE(v.ok()) << Problems(v);
  EXPECT_EQ(v.unverifiable, 0u) << v.note;
  ASSERT_TRUE(back->sessions().get(token).has_value());
  EXPECT_EQ(back->sessions().get(token)->attributes.at("user"), Value("bo"));
}

// Compacted history survives the trip: per-keyspace floors, partial commits and the store-wide
// compaction floor are copied, so the copies verify and report the same bounds.
TEST_F(PgAdminTest, BackupAndRestoreKeepCompactedHistory) {
  TestDatabase db(*cluster_);
  TempDir dir;
  const std::string file = dir.path() + "/compacted.db";
  auto src = Store::open(db.uri());
  src->set_history_policy("churn", HistoryPolicy{2, std::chrono::seconds(0), false});
  for (int i = 0; i < 10; ++i) {
    src->transact([&](Transaction& tx) {
      tx.put("churn", "k", Value(i));
      tx.put("keep", "k" + std::to_string(i), Value(i));
    });
  }
  src->compact_history();
  const HistoryBounds bounds = src->history_bounds();
  const HistoryBounds churn = src->history_bounds("churn");
  ASSERT_GT(churn.compacted_through, 0u);
  ASSERT_TRUE(Verify(*src).ok());
  const std::vector<std::string> history = HistoryOf(*src);
  Backup(*src, file);
  TestDatabase fresh(*cluster_);
  Restore(file, fresh.uri());
  auto lite = Store::open(file);
  auto back = Store::open(fresh.uri());
  for (Store* copy : {lite.get(), back.get()}) {
    SCOPED_TRACE(copy->path());
    EXPECT_EQ(copy->history_bounds().first, bounds.first);
    EXPECT_EQ(copy->history_bounds().head, bounds.head);
    EXPECT_EQ(copy->history_bounds("churn").compacted_through, churn.compacted_through);
    EXPECT_EQ(copy->history_policy("churn").policy,
              (HistoryPolicy{2, std::chrono::seconds(0), false}));
    EXPECT_EQ(HistoryOf(*copy), history);
    const VerifyReport v = Verify(*copy);
    EXPECT_TRUE(v.ok()) << Problems(v);
  }
}

TEST_F(PgAdminTest, BackupIsOneSnapshotWhileWritersCommit) {
  TestDatabase db(*cluster_);
  TempDir dir;
  auto src = Store::open(db.uri());
  for (int i = 0; i < 200; ++i) src->put("app", "k" + std::to_string(i % 20), Value(i));
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (int i = 0; !stop; ++i) src->put("app", "w" + std::to_string(i % 50), Value(i));
  });
  const BackupResult b = Backup(*src, dir.path() + "/snap.db");
  stop = true;
  writer.join();
  auto lite = Store::open(dir.path() + "/snap.db");
  EXPECT_EQ(lite->history_bounds().head, b.revision);
  const VerifyReport v = Verify(*lite);  // history and state of one revision
  EXPECT_TRUE(v.ok()) << Problems(v);
}

TEST_F(PgAdminTest, RestoreRefusesBadSourcesAndChangesNothing) {
  TestDatabase db(*cluster_);
  TempDir dir;
  const std::string junk = dir.path() + "/junk.db";
  test::WriteFile(junk, "this is not a database");
  EXPECT_THROW(Restore(junk, db.uri()), Error);
  EXPECT_THROW(Restore(dir.path() + "/missing.db", db.uri()), Error);
  try {
    Restore(db.uri(), dir.path() + "/x.db");
    ADD_FAILURE() << "restore from a PostgreSQL store into a file";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument) << e.what();
  }
  EXPECT_EQ(db.Sql("SELECT count(*) FROM pg_namespace WHERE nspname = 'statestore'")[0], "0");
}

// ---------------------------------------------------------------------------------------------
// Time-to-live in history, backup and restore (issue 16). Until the PostgreSQL transaction writes
// deadlines, the rows that carry them are made with raw SQL on rows the API wrote, or restored
// from a file the SQLite engine wrote.

std::int64_t Micros(Clock::time_point t) { return test::ManualClock::Micros(t); }
Clock::time_point AtMicros(std::int64_t us) {
  return Clock::time_point(std::chrono::microseconds(us));
}

std::string KindName(ChangeKind kind) {
  switch (kind) {
    case ChangeKind::kWrite:
      return "write";
    case ChangeKind::kExpiry:
      return "expiry";
    case ChangeKind::kEviction:
      return "eviction";
  }
  return "?";
}

// HistoryOf with each change's kind and deadline.
std::vector<std::string> HistoryWithKinds(Store& s) {
  std::vector<std::string> out;
  for (const Commit& c : s.history(HistoryQuery{})) {
    std::string line = std::to_string(c.revision) +
                       " t=" + std::to_string(c.time.time_since_epoch().count()) +
                       " label=" + c.origin.label;
    for (const Change& ch : c.changes) {
      line += " | " + ch.keyspace + "/" + ch.key + " " +
              (ch.old_value ? ch.old_value->to_display(80) : "-") + " -> " +
              (ch.new_value ? ch.new_value->to_display(80) : "-") + " " + KindName(ch.kind) +
              (ch.expires_at ? " until " + std::to_string(Micros(*ch.expires_at)) : "");
    }
    out.push_back(line);
  }
  return out;
}

// No sweep: nothing may expire on its own while a test looks (on either engine).
Options NoSweep(Options o = {}) {
  o.expiry_sweep_interval = std::chrono::milliseconds(0);
  return o;
}

// After Fill: these writes, and deadlines and kinds put on them with raw SQL:
//   r6 cache/x = 1; r7 app/t = "ttl" until `ahead_us`; r8 the expiry of app/a (3; the deadline
//   that passed: `passed_us`); r9 the eviction of cache/x; r10 app/gone = 1 until `passed_us`
//   (expired, not swept: still stored).
struct TtlRows {
  std::int64_t ahead_us = 0;
  std::int64_t passed_us = 0;
};

TtlRows AddTtlRows(Store& s, const TestDatabase& db) {
  const std::int64_t now = Micros(Clock::now());
  const TtlRows t{now + 3600 * 1000000LL, now - 1000000};
  s.put("cache", "x", Value(1));
  s.put("app", "t", Value("ttl"));
  s.erase("app", "a");
  s.erase("cache", "x");
  s.put("app", "gone", Value(1));
  const std::string ahead = std::to_string(t.ahead_us);
  const std::string passed = std::to_string(t.passed_us);
  db.Sql("UPDATE entries SET expires_us = " + ahead + " WHERE key = 't'::bytea");
  db.Sql("UPDATE changes SET expires_us = " + ahead + " WHERE revision = 7");
  db.Sql("UPDATE changes SET kind = 1, expires_us = " + passed + " WHERE revision = 8");
  db.Sql("UPDATE changes SET kind = 2 WHERE revision = 9");
  db.Sql("UPDATE entries SET expires_us = " + passed + " WHERE key = 'gone'::bytea");
  db.Sql("UPDATE changes SET expires_us = " + passed + " WHERE revision = 10");
  return t;
}

TEST_F(PgAdminTest, HistoryReportsKindAndDeadlineOfEachChange) {
  TestDatabase db(*cluster_);
  auto store = Store::open(db.uri(), NoSweep(FixtureOptions()));
  Fill(*store);
  const TtlRows t = AddTtlRows(*store, db);

  HistoryQuery q;
  q.from_revision = 7;
  const std::vector<Commit> h = store->history(q);
  ASSERT_EQ(h.size(), 4u);
  for (const Commit& c : h) ASSERT_EQ(c.changes.size(), 1u) << c.revision;
  const Change& ttl = h[0].changes[0];
  EXPECT_EQ(ttl.kind, ChangeKind::kWrite);
  EXPECT_EQ(ttl.expires_at, AtMicros(t.ahead_us));
  const Change& expiry = h[1].changes[0];
  EXPECT_EQ(expiry.kind, ChangeKind::kExpiry);
  EXPECT_EQ(expiry.expires_at, AtMicros(t.passed_us));
  EXPECT_EQ(expiry.old_value, Value(std::int64_t{3}));
  EXPECT_FALSE(expiry.new_value.has_value());
  const Change& eviction = h[2].changes[0];
  EXPECT_EQ(eviction.kind, ChangeKind::kEviction);
  EXPECT_FALSE(eviction.expires_at.has_value());
  EXPECT_EQ(eviction.old_value, Value(1));
  EXPECT_EQ(h[3].changes[0].kind, ChangeKind::kWrite);
  EXPECT_EQ(h[3].changes[0].expires_at, AtMicros(t.passed_us));
  // A plain write has neither.
  EXPECT_EQ(store->commit_at(1)->changes.at(0).kind, ChangeKind::kWrite);
  EXPECT_FALSE(store->commit_at(1)->changes.at(0).expires_at.has_value());
  // One commit read alone (PgReadCommit) says the same; so do filtered queries.
  ASSERT_TRUE(store->commit_at(8).has_value());
  EXPECT_EQ(store->commit_at(8)->changes.at(0).kind, ChangeKind::kExpiry);
  EXPECT_EQ(store->commit_at(8)->changes.at(0).expires_at, AtMicros(t.passed_us));
  HistoryQuery cache;
  cache.keyspace = "cache";
  const std::vector<Commit> hc = store->history(cache);
  ASSERT_EQ(hc.size(), 2u);
  EXPECT_EQ(hc[1].changes.at(0).kind, ChangeKind::kEviction);
  // History and state agree: an expiry or an eviction ends a key's chain like an erase.
  const VerifyReport v = Verify(*store);
  EXPECT_TRUE(v.ok()) << Problems(v);

  // Revert as on SQLite: the value comes back with a plain put, without a deadline.
  store->revert(8);
  ASSERT_TRUE(store->get_entry("app", "a").has_value());
  EXPECT_EQ(store->get_entry("app", "a")->value, Value(std::int64_t{3}));
  EXPECT_EQ(db.Sql("SELECT count(*) FROM entries WHERE key = 'a'::bytea AND expires_us IS NULL")[0],
            "1");
  store->revert(9);
  EXPECT_EQ(store->get("cache", "x"), Value(1));
  store->revert(7);  // a key the write with a TTL created: erased
  EXPECT_FALSE(store->get("app", "t").has_value());
}

TEST_F(PgAdminTest, BackupKeepsDeadlinesExpiriesAndEvictions) {
  TestDatabase db(*cluster_);
  TempDir dir;
  const std::string file = dir.path() + "/ttl.db";
  auto src = Store::open(db.uri(), NoSweep(FixtureOptions()));
  Fill(*src);
  const TtlRows t = AddTtlRows(*src, db);
  const std::vector<std::string> history = HistoryWithKinds(*src);
  const InspectReport pg_inspect = Inspect(*src);
  EXPECT_EQ(pg_inspect.keys_with_ttl, 1u);  // app/t
  EXPECT_EQ(pg_inspect.keys_expired, 1u);   // app/gone
  Backup(*src, file);

  // The SQLite file's own columns: an eviction is kind 1 without a deadline there.
  EXPECT_EQ(SqlQueryInt(file, "SELECT expires_us FROM entries WHERE CAST(key AS TEXT) = 't'"),
            t.ahead_us);
  EXPECT_EQ(SqlQueryInt(file, "SELECT expires_us FROM entries WHERE CAST(key AS TEXT) = 'gone'"),
            t.passed_us);
  EXPECT_EQ(SqlQueryInt(file, "SELECT count(*) FROM entries WHERE expires_us IS NOT NULL"), 2);
  EXPECT_EQ(SqlQueryInt(file, "SELECT kind FROM changes WHERE revision = 8"), 1);
  EXPECT_EQ(SqlQueryInt(file, "SELECT expires_us FROM changes WHERE revision = 8"), t.passed_us);
  EXPECT_EQ(SqlQueryInt(file, "SELECT kind FROM changes WHERE revision = 9"), 1);
  EXPECT_EQ(SqlQueryInt(file, "SELECT expires_us FROM changes WHERE revision = 9"), std::nullopt);
  EXPECT_EQ(SqlQueryInt(file, "SELECT expires_us FROM changes WHERE revision = 7"), t.ahead_us);

  Options ro = NoSweep();
  ro.read_only = true;
  auto lite = Store::open(file, ro);
  ASSERT_TRUE(lite->get_entry("app", "t").has_value());
  EXPECT_EQ(lite->get_entry("app", "t")->expires_at, AtMicros(t.ahead_us));
  EXPECT_FALSE(lite->get("app", "gone").has_value());  // its deadline has passed
  EXPECT_EQ(HistoryWithKinds(*lite), history);
  const InspectReport lite_inspect = Inspect(*lite);
  EXPECT_EQ(lite_inspect.keys_with_ttl, 1u);
  EXPECT_EQ(lite_inspect.keys_expired, 1u);
  const VerifyReport v = Verify(*lite);
  EXPECT_TRUE(v.ok()) << Problems(v);
}

// A change an SQLite file cannot hold with the same meaning stops the backup, never changes it.
TEST_F(PgAdminTest, BackupRefusesKindsAnSqliteFileWouldMisread) {
  TestDatabase db(*cluster_);
  TempDir dir;
  auto src = Store::open(db.uri(), NoSweep(FixtureOptions()));
  Fill(*src);
  AddTtlRows(*src, db);
  struct Case {
    const char* damage;
    const char* undo;
    const char* says;
  };
  const Case cases[] = {
      {"UPDATE changes SET expires_us = NULL WHERE revision = 8",
       "UPDATE changes SET expires_us = 1 WHERE revision = 8", "(an expiry) has no deadline"},
      {"UPDATE changes SET expires_us = 1 WHERE revision = 9",
       "UPDATE changes SET expires_us = NULL WHERE revision = 9", "(an eviction) has a deadline"},
  };
  int n = 0;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.damage);
    db.Sql(c.damage);
    const std::string file = dir.path() + "/refused" + std::to_string(n++) + ".db";
    try {
      Backup(*src, file);
      ADD_FAILURE() << "backup copied a change it cannot keep";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kCorruption) << e.what();
      EXPECT_TRUE(Contains(e.what(), c.says)) << e.what();
      EXPECT_TRUE(Contains(e.what(), "nothing was copied")) << e.what();
    }
    EXPECT_FALSE(std::filesystem::exists(file));
    db.Sql(c.undo);
  }
  Backup(*src, dir.path() + "/fine.db");
}

// A file the SQLite engine wrote with deadlines, an expiry and an eviction: restored as it is,
// and backed up again to the same history.
TEST_F(PgAdminTest, RestoreKeepsDeadlinesExpiriesAndEvictions) {
  TestDatabase db(*cluster_);
  TempDir dir;
  const std::string file = dir.path() + "/ttl.db";
  test::ManualClock clock(test::kManualClockStart);
  Options o = NoSweep();
  o.clock = clock.function();
  const std::int64_t deadline = Micros(test::kManualClockStart + std::chrono::seconds(10));
  std::vector<std::string> history;
  {
    auto lite = Store::open(file, o);
    PutOptions ttl;
    ttl.ttl = std::chrono::seconds(10);
    lite->put("app", "t", Value("ttl"), ttl);
    lite->put("app", "p", Value(1));
    PutOptions brief;
    brief.ttl = std::chrono::seconds(1);
    lite->put("app", "e", Value("brief"), brief);
    clock.advance(std::chrono::seconds(2));
    lite->put("app", "e", Value("again"));  // records the expiry of app/e first
    lite->set_max_keys("cache", 1);
    lite->put("cache", "a", Value(1));
    lite->put("cache", "b", Value(2));  // evicts cache/a
    lite->set_max_keys("cache", std::nullopt);
    history = HistoryWithKinds(*lite);
  }
  ASSERT_EQ(SqlQueryInt(file,
                        "SELECT count(*) FROM changes WHERE kind = 1 AND expires_us IS "
                        "NOT NULL"),
            1);
  ASSERT_EQ(SqlQueryInt(file, "SELECT count(*) FROM changes WHERE kind = 1 AND expires_us IS NULL"),
            1);

  Restore(file, db.uri());
  EXPECT_EQ(db.Sql("SELECT expires_us FROM entries WHERE key = 't'::bytea")[0],
            std::to_string(deadline));
  EXPECT_EQ(db.Sql("SELECT count(*) FROM entries WHERE expires_us IS NOT NULL")[0], "1");
  // SQLite's kind 1 without a deadline is PostgreSQL's kind 2.
  EXPECT_EQ(db.Sql("SELECT count(*) FROM changes WHERE kind = 1 AND expires_us IS NOT NULL")[0],
            "1");
  EXPECT_EQ(db.Sql("SELECT count(*) FROM changes WHERE kind = 2 AND expires_us IS NULL")[0], "1");
  EXPECT_EQ(db.Sql("SELECT count(*) FROM changes WHERE kind = 0 AND expires_us IS NOT NULL")[0],
            "2");  // app/t and the first app/e
  {
    auto back = Store::open(db.uri(), NoSweep());
    EXPECT_EQ(HistoryWithKinds(*back), history);
    bool saw_expiry = false;
    bool saw_eviction = false;
    for (const Commit& c : back->history(HistoryQuery{})) {
      for (const Change& ch : c.changes) {
        if (ch.kind == ChangeKind::kExpiry) {
          saw_expiry = true;
          EXPECT_EQ(ch.key, "e");
          EXPECT_EQ(ch.expires_at,
                    AtMicros(Micros(test::kManualClockStart + std::chrono::seconds(1))));
        }
        if (ch.kind == ChangeKind::kEviction) {
          saw_eviction = true;
          EXPECT_EQ(ch.key, "a");
          EXPECT_FALSE(ch.expires_at.has_value());
        }
      }
    }
    EXPECT_TRUE(saw_expiry);
    EXPECT_TRUE(saw_eviction);
    const VerifyReport v = Verify(*back);
    EXPECT_TRUE(v.ok()) << Problems(v);
    // And back to a file: the same history, the eviction kind 1 without a deadline again.
    const std::string again = dir.path() + "/again.db";
    Backup(*back, again);
    Options ro = NoSweep();
    ro.read_only = true;
    EXPECT_EQ(HistoryWithKinds(*Store::open(again, ro)), history);
    EXPECT_EQ(SqlQueryInt(again,
                          "SELECT count(*) FROM changes WHERE kind = 1 AND expires_us IS "
                          "NULL"),
              1);
    EXPECT_EQ(SqlQueryInt(again, "SELECT expires_us FROM entries WHERE CAST(key AS TEXT) = 't'"),
              deadline);
  }
}

// ---------------------------------------------------------------------------------------------
// Leases in backup, restore, inspect and verify (0003_leases.sql). Most tests make the rows
// exactly as they want them: restored from a file the SQLite engine wrote, or with raw SQL; one
// grants them through the PostgreSQL engine.

// Every lease as "id:ttl_ms:expires_us", by id, then every attached key as
// "keyspace/key=lease@deadline", by keyspace and key: the same text from either engine's rows.
std::string PgLeaseRows(const TestDatabase& db) {
  return db.Sql(
      "SELECT coalesce((SELECT string_agg(id || ':' || ttl_ms || ':' || expires_us, ',' ORDER BY "
      "id) FROM leases), '') || ' | ' || coalesce((SELECT string_agg(k.name || '/' || "
      "convert_from(e.key, 'UTF8') || '=' || e.lease_id || '@' || coalesce(e.expires_us::text, "
      "'-'), ',' ORDER BY k.name, e.key) FROM entries e JOIN keyspaces k ON k.id = e.keyspace_id "
      "WHERE e.lease_id IS NOT NULL), '')")[0];
}

// The first column of the first row of `sql` on the file, as text ("" for none).
std::string SqlQueryText(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  std::string out;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_stmt* q = nullptr;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &q, nullptr) == SQLITE_OK &&
        sqlite3_step(q) == SQLITE_ROW && sqlite3_column_type(q, 0) != SQLITE_NULL) {
      out = reinterpret_cast<const char*>(sqlite3_column_text(q, 0));
    } else {
      ADD_FAILURE() << sql << ": " << sqlite3_errmsg(db);
    }
    sqlite3_finalize(q);
  }
  sqlite3_close(db);
  return out;
}

std::string LiteLeaseRows(const std::string& file) {
  return SqlQueryText(
      file,
      "SELECT coalesce((SELECT group_concat(x, ',') FROM (SELECT id || ':' || ttl_ms || ':' || "
      "expires_us AS x FROM leases ORDER BY id)), '') || ' | ' || coalesce((SELECT "
      "group_concat(x, ',') FROM (SELECT k.name || '/' || CAST(e.key AS TEXT) || '=' || "
      "e.lease_id || '@' || coalesce(e.expires_us, '-') AS x FROM entries e JOIN keyspaces k ON "
      "k.id = e.keyspace_id WHERE e.lease_id IS NOT NULL ORDER BY k.name, e.key)), '')");
}

// The id the lease identity hands out next, taken with a raw insert (the engine's grant takes
// it the same way: the column's default).
std::string NextPgLeaseId(const TestDatabase& db) {
  return db.Sql("INSERT INTO leases (ttl_ms, expires_us) VALUES (1000, 0) RETURNING id")[0];
}

// Lease as comparable text: id, TTL, deadline and keys.
std::string LeaseText(const Lease& l) {
  std::string out = std::to_string(l.id) + " ttl=" + std::to_string(l.ttl.count()) +
                    " until=" + std::to_string(Micros(l.expires_at));
  for (const LeaseKey& k : l.keys) out += " " + k.keyspace + "/" + k.key;
  return out;
}

std::vector<std::string> LeasesOf(Store& s) {
  std::vector<std::string> out;
  for (const Lease& l : s.leases()) out.push_back(LeaseText(l));
  return out;
}

// A file the SQLite engine wrote by `clock` (kManualClockStart on): lease 1 (10 s, renewed after
// 5 s) holding app/a and app/b, lease 2 (1 h) holding jobs/w, lease 3 granted and revoked (its id
// stays used), app/plain without a lease and app/ttl with a TTL of its own.
struct LeasedFile {
  std::vector<std::string> leases;  // LeasesOf the file's store
  std::string rows;                 // LiteLeaseRows
};

LeasedFile WriteLeasedFile(const std::string& file, test::ManualClock& clock) {
  Options o = NoSweep();
  o.clock = clock.function();
  auto lite = Store::open(file, o);
  const LeaseId one = lite->grant_lease(std::chrono::seconds(10));
  const LeaseId two = lite->grant_lease(std::chrono::hours(1));
  const LeaseId three = lite->grant_lease(std::chrono::minutes(1));
  EXPECT_EQ(std::vector<LeaseId>({one, two, three}), std::vector<LeaseId>({1, 2, 3}));
  lite->revoke_lease(three);
  PutOptions in_one;
  in_one.lease = one;
  PutOptions in_two;
  in_two.lease = two;
  PutOptions ttl;
  ttl.ttl = std::chrono::seconds(30);
  lite->put("app", "a", Value(1), in_one);
  lite->put("app", "b", Value(2), in_one);
  lite->put("jobs", "w", Value("busy"), in_two);
  lite->put("app", "plain", Value(3));
  lite->put("app", "ttl", Value(4), ttl);
  clock.advance(std::chrono::seconds(5));
  EXPECT_TRUE(lite->keep_alive(one));  // the renewed deadline is the one that must travel
  return {LeasesOf(*lite), LiteLeaseRows(file)};
}

TEST_F(PgAdminTest, RestoreKeepsLeasesAndLaterIdsAreLarger) {
  TestDatabase db(*cluster_);
  TempDir dir;
  const std::string file = dir.path() + "/leased.db";
  test::ManualClock clock(test::kManualClockStart);
  const LeasedFile source = WriteLeasedFile(file, clock);
  const std::int64_t start = Micros(test::kManualClockStart);
  const std::string one_until = std::to_string(start + 15 * 1000000LL);
  const std::string two_until = std::to_string(start + 3600 * 1000000LL);
  ASSERT_EQ(source.rows, "1:10000:" + one_until + ",2:3600000:" + two_until + " | app/a=1@" +
                             one_until + ",app/b=1@" + one_until + ",jobs/w=2@" + two_until);
  ASSERT_EQ(SqlQueryInt(file, "SELECT seq FROM sqlite_sequence WHERE name = 'leases'"), 3);

  Restore(file, db.uri());
  EXPECT_EQ(PgLeaseRows(db), source.rows);
  EXPECT_EQ(db.Sql("SELECT expires_us FROM entries WHERE key = 'ttl'::bytea AND lease_id IS "
                   "NULL")[0],
            std::to_string(start + 30 * 1000000LL));
  {
    Options ro = NoSweep();
    ro.read_only = true;
    auto back = Store::open(db.uri(), ro);
    const VerifyReport v = Verify(*back);
    EXPECT_TRUE(v.ok()) << Problems(v);
    // 2031 is ahead of the real clock inspect reads: both leases live.
    const InspectReport r = Inspect(*back);
    EXPECT_EQ(r.leases_live, 2u);
    EXPECT_EQ(r.leases_expired, 0u);
  }
  // Back to a file: the SQLite engine sees the same leases, and its next grant is 4.
  const std::string again = dir.path() + "/again.db";
  {
    Options o = NoSweep();
    o.clock = clock.function();
    auto back = Store::open(db.uri(), o);
    Backup(*back, again);
  }
  EXPECT_EQ(LiteLeaseRows(again), source.rows);
  {
    Options o = NoSweep();
    o.clock = clock.function();
    auto lite = Store::open(again, o);
    EXPECT_EQ(LeasesOf(*lite), source.leases);
    ASSERT_TRUE(lite->get_entry("app", "a").has_value());
    EXPECT_EQ(lite->get_entry("app", "a")->lease, LeaseId{1});
    EXPECT_EQ(lite->grant_lease(std::chrono::seconds(1)), 4);  // 3 was revoked, never reused
  }
  // The restored store's identity went past 3 as well.
  EXPECT_EQ(NextPgLeaseId(db), "4");
}

// With no lease row to copy the identity still never goes back: it starts at 1 for a source
// that never granted one, and after the highest id a source handed out (all revoked) otherwise.
TEST_F(PgAdminTest, RestoreMovesLeaseIdsPastRevokedOnesAndStartsAtOne) {
  TempDir dir;
  struct Case {
    int granted;
    const char* next;
  };
  for (const Case& c : {Case{0, "1"}, Case{2, "3"}}) {
    SCOPED_TRACE(c.granted);
    const std::string file = dir.path() + "/revoked" + std::to_string(c.granted) + ".db";
    {
      auto lite = Store::open(file, NoSweep());
      lite->put("app", "k", Value(1));
      for (int i = 0; i < c.granted; ++i) {
        lite->revoke_lease(lite->grant_lease(std::chrono::seconds(60)));
      }
    }
    ASSERT_EQ(SqlQueryInt(file, "SELECT count(*) FROM leases"), 0);
    TestDatabase db(*cluster_);
    Restore(file, db.uri());
    EXPECT_EQ(NextPgLeaseId(db), c.next);
  }
}

// The target's identity never goes back either: ids it handed out (leases granted and revoked
// there before the restore, which leave no row) stay used even when the source's are lower.
TEST_F(PgAdminTest, RestoreNeverMovesTheTargetsLeaseIdsBack) {
  TestDatabase db(*cluster_);
  TempDir dir;
  const std::string file = dir.path() + "/low.db";
  {
    auto lite = Store::open(file, NoSweep());
    PutOptions in_lease;
    in_lease.lease = lite->grant_lease(std::chrono::hours(1));
    lite->put("app", "k", Value(1), in_lease);
  }
  Store::open(db.uri()).reset();
  for (int i = 0; i < 5; ++i) NextPgLeaseId(db);
  db.Sql("DELETE FROM leases");
  Restore(file, db.uri());
  EXPECT_EQ(db.Sql("SELECT string_agg(id::text, ',') FROM leases")[0], "1");
  EXPECT_EQ(NextPgLeaseId(db), "6");
}

// lease.h: ids are positive; a file with another (made by hand) is refused, not copied.
TEST_F(PgAdminTest, RestoreRefusesANonPositiveLeaseId) {
  TestDatabase db(*cluster_);
  TempDir dir;
  const std::string file = dir.path() + "/zero.db";
  {
    auto lite = Store::open(file, NoSweep());
    lite->put("app", "k", Value(1));
  }
  SqlExec(file, "INSERT INTO leases (id, ttl_ms, expires_us) VALUES (0, 1000, 1)");
  try {
    Restore(file, db.uri());
    ADD_FAILURE() << "restored lease 0";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kCorruption) << e.what();
    EXPECT_TRUE(Contains(e.what(), "lease 0")) << e.what();
    EXPECT_TRUE(Contains(e.what(), "nothing was changed")) << e.what();
  }
  EXPECT_EQ(db.Sql("SELECT count(*) FROM entries")[0], "0");
  EXPECT_EQ(db.Sql("SELECT count(*) FROM leases")[0], "0");
}

// A lease is granted without a commit: a store that has one is not empty.
TEST_F(PgAdminTest, RestoreRefusesATargetWithALease) {
  TestDatabase db(*cluster_);
  TempDir dir;
  const std::string file = dir.path() + "/plain.db";
  {
    auto lite = Store::open(file);
    lite->put("app", "k", Value(1));
  }
  Store::open(db.uri()).reset();
  NextPgLeaseId(db);
  try {
    Restore(file, db.uri());
    ADD_FAILURE() << "restored over a lease";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument) << e.what();
    EXPECT_TRUE(Contains(e.what(), "already has 1 leases")) << e.what();
  }
  EXPECT_EQ(db.Sql("SELECT count(*) FROM entries")[0], "0");
}

// The engine's own leases (PgTransaction): granted, renewed and revoked through the Store API,
// backed up to a file both engines read the same, and restored into another store that carries
// on with them.
TEST_F(PgAdminTest, LeasesGrantedThroughThePgStoreSurviveBackupAndRestore) {
  TestDatabase db(*cluster_);
  TempDir dir;
  const std::string file = dir.path() + "/granted.db";
  std::vector<std::string> leases;
  LeaseId one = 0;
  LeaseId revoked = 0;
  {
    auto src = Store::open(db.uri(), NoSweep(FixtureOptions()));
    Fill(*src);
    one = src->grant_lease(std::chrono::hours(1));
    const LeaseId two = src->grant_lease(std::chrono::minutes(10));
    revoked = src->grant_lease(std::chrono::minutes(1));
    ASSERT_TRUE(src->revoke_lease(revoked));
    PutOptions in_one;
    in_one.lease = one;
    PutOptions in_two;
    in_two.lease = two;
    src->put("app", "x", Value(1), in_one);
    src->put("secret", "y", Value("hidden"), in_one);
    src->put("jobs", "w", Value("busy"), in_two);
    ASSERT_TRUE(src->keep_alive(one));
    leases = LeasesOf(*src);
    ASSERT_EQ(leases.size(), 2u);
    const VerifyReport v = Verify(*src);
    EXPECT_TRUE(v.ok()) << Problems(v);
    Backup(*src, file);
  }
  EXPECT_EQ(LiteLeaseRows(file), PgLeaseRows(db));
  {
    Options ro = NoSweep(FixtureOptions());
    ro.read_only = true;
    auto lite = Store::open(file, ro);
    EXPECT_EQ(LeasesOf(*lite), leases);
    ASSERT_TRUE(lite->get_entry("app", "x").has_value());
    EXPECT_EQ(lite->get_entry("app", "x")->lease, one);
  }
  TestDatabase fresh(*cluster_);
  Restore(file, fresh.uri());
  EXPECT_EQ(PgLeaseRows(fresh), PgLeaseRows(db));
  auto back = Store::open(fresh.uri(), NoSweep(FixtureOptions()));
  EXPECT_EQ(LeasesOf(*back), leases);
  ASSERT_TRUE(back->get_entry("app", "x").has_value());
  EXPECT_EQ(back->get_entry("app", "x")->lease, one);
  EXPECT_GT(back->grant_lease(std::chrono::seconds(30)), revoked);
  // The restored lease is the engine's own: revoking it erases its keys in one revision.
  const Revision head = back->history_bounds().head;
  ASSERT_TRUE(back->revoke_lease(one));
  EXPECT_FALSE(back->get("app", "x").has_value());
  EXPECT_FALSE(back->get("secret", "y").has_value());
  EXPECT_EQ(back->history_bounds().head, head + 1);
  const VerifyReport v = Verify(*back);
  EXPECT_TRUE(v.ok()) << Problems(v);
}

// After Fill, with raw SQL: lease 1 (1 h, live) holding app/a, lease 2 (expired, not swept)
// holding secret/s, lease 3 taken from the identity and revoked (deleted).
struct PgLeases {
  std::int64_t live_until = 0;
  std::int64_t passed = 0;
};

PgLeases AddPgLeases(const TestDatabase& db) {
  const std::int64_t now = Micros(Clock::now());
  const PgLeases l{now + 3600 * 1000000LL, now - 1000000};
  const std::string live = std::to_string(l.live_until);
  const std::string passed = std::to_string(l.passed);
  EXPECT_EQ(db.Sql("INSERT INTO leases (ttl_ms, expires_us) VALUES (3600000, " + live +
                   ") RETURNING id")[0],
            "1");
  EXPECT_EQ(db.Sql("INSERT INTO leases (ttl_ms, expires_us) VALUES (2000, " + passed +
                   ") RETURNING id")[0],
            "2");
  EXPECT_EQ(NextPgLeaseId(db), "3");
  db.Sql("DELETE FROM leases WHERE id = 3");
  db.Sql("UPDATE entries SET lease_id = 1, expires_us = " + live + " WHERE key = 'a'::bytea");
  db.Sql("UPDATE entries SET lease_id = 2, expires_us = " + passed + " WHERE key = 's'::bytea");
  return l;
}

TEST_F(PgAdminTest, BackupKeepsLeasesForBothEngines) {
  TestDatabase db(*cluster_);
  TempDir dir;
  const std::string file = dir.path() + "/leases.db";
  auto src = Store::open(db.uri(), NoSweep(FixtureOptions()));
  Fill(*src);
  const PgLeases l = AddPgLeases(db);
  const std::string rows = PgLeaseRows(db);
  ASSERT_EQ(rows, "1:3600000:" + std::to_string(l.live_until) +
                      ",2:2000:" + std::to_string(l.passed) + " | app/a=1@" +
                      std::to_string(l.live_until) + ",secret/s=2@" + std::to_string(l.passed));
  Backup(*src, file);

  EXPECT_EQ(LiteLeaseRows(file), rows);
  // The revoked id 3 is remembered, not only the copied 1 and 2.
  EXPECT_EQ(SqlQueryInt(file, "SELECT seq FROM sqlite_sequence WHERE name = 'leases'"), 3);
  {
    Options ro = NoSweep(FixtureOptions());
    ro.read_only = true;
    auto lite = Store::open(file, ro);
    ASSERT_EQ(lite->leases().size(), 1u);  // lease 2 has expired
    const Lease one = lite->leases()[0];
    EXPECT_EQ(one.id, 1);
    EXPECT_EQ(one.ttl, std::chrono::hours(1));
    EXPECT_EQ(Micros(one.expires_at), l.live_until);
    EXPECT_EQ(one.keys, (std::vector<LeaseKey>{{"app", "a"}}));
    ASSERT_TRUE(lite->get_entry("app", "a").has_value());
    EXPECT_EQ(lite->get_entry("app", "a")->lease, LeaseId{1});
    EXPECT_FALSE(lite->get("secret", "s").has_value());  // its lease's deadline has passed
    const InspectReport r = Inspect(*lite);
    EXPECT_EQ(r.leases_live, 1u);
    EXPECT_EQ(r.leases_expired, 1u);
    const VerifyReport v = Verify(*lite);
    EXPECT_TRUE(v.ok()) << Problems(v);
  }

  // And into PostgreSQL again: the same rows, and the identity past the revoked 3.
  TestDatabase fresh(*cluster_);
  Restore(file, fresh.uri());
  EXPECT_EQ(PgLeaseRows(fresh), rows);
  EXPECT_EQ(NextPgLeaseId(fresh), "4");
  // A grant in the file never reuses 3 either.
  Options o = NoSweep(FixtureOptions());
  EXPECT_EQ(Store::open(file, o)->grant_lease(std::chrono::seconds(1)), 4);
}

// A user who may read the tables but not the lease identity (GRANT SELECT ON ALL TABLES does not
// cover sequences) still backs up: the file's mark is then the highest copied id.
TEST_F(PgAdminTest, BackupByAUserWhoCannotReadTheLeaseIdentity) {
  TestDatabase db(*cluster_);
  TempDir dir;
  {
    auto src = Store::open(db.uri(), NoSweep(FixtureOptions()));
    Fill(*src);
  }
  AddPgLeases(db);
  const std::string role = "pgadmin_reader_" + std::to_string(::getpid());
  db.Sql("DO $$BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '" + role +
         "') THEN CREATE ROLE " + role +
         " LOGIN; END IF; END$$; GRANT USAGE ON SCHEMA statestore TO " + role +
         "; GRANT SELECT ON ALL TABLES IN SCHEMA statestore TO " + role);
  ASSERT_EQ(db.Sql("SELECT has_sequence_privilege('" + role +
                   "', pg_get_serial_sequence('leases', 'id'), 'SELECT,USAGE')")[0],
            "f");
  std::string reader_uri = db.uri();
  reader_uri.replace(reader_uri.find("postgres@"), 9, role + "@");
  Options ro = NoSweep(FixtureOptions());
  ro.read_only = true;
  const std::string file = dir.path() + "/reader.db";
  Backup(*Store::open(reader_uri, ro), file);
  EXPECT_EQ(LiteLeaseRows(file), PgLeaseRows(db));
  EXPECT_EQ(SqlQueryInt(file, "SELECT seq FROM sqlite_sequence WHERE name = 'leases'"), 2);
}

TEST_F(PgAdminTest, InspectCountsLiveAndExpiredLeases) {
  TestDatabase db(*cluster_);
  auto store = Store::open(db.uri(), NoSweep(FixtureOptions()));
  Fill(*store);
  InspectReport r = Inspect(*store);
  EXPECT_EQ(r.leases_live, 0u);
  EXPECT_EQ(r.leases_expired, 0u);
  AddPgLeases(db);
  r = Inspect(*store);
  EXPECT_EQ(r.leases_live, 1u);
  EXPECT_EQ(r.leases_expired, 1u);
  EXPECT_EQ(r.keys_with_ttl, 1u);  // app/a, by its lease
  EXPECT_EQ(r.keys_expired, 1u);   // secret/s
  const json inspect = CtlJsonOutput(RunStatectl({"inspect", db.uri(), "--json"}));
  EXPECT_EQ(inspect["leases"]["live"], 1) << inspect.dump();
  EXPECT_EQ(inspect["leases"]["expired"], 1) << inspect.dump();
}

TEST_F(PgAdminTest, VerifyFindsKeysThatDisagreeWithTheirLease) {
  TestDatabase db(*cluster_);
  auto store = Store::open(db.uri(), NoSweep(FixtureOptions()));
  Fill(*store);
  AddPgLeases(db);
  VerifyReport r = Verify(*store);
  EXPECT_TRUE(r.ok()) << Problems(r);
  db.Sql("UPDATE entries SET expires_us = expires_us + 1 WHERE key = 'a'::bytea");
  r = Verify(*store);
  EXPECT_TRUE(AnyProblemContains(r, "its deadline differs from that of its lease 1"))
      << Problems(r);
  db.Sql("UPDATE entries SET lease_id = 99 WHERE key = 's'::bytea");
  r = Verify(*store);
  EXPECT_TRUE(AnyProblemContains(r, "attached to lease 99, which does not exist")) << Problems(r);
  ASSERT_EQ(r.problems.size(), 2u) << Problems(r);
  EXPECT_EQ(r.problems[0].key, "a");
  EXPECT_EQ(r.problems[1].keyspace, "secret");
}

// ---------------------------------------------------------------------------------------------
// Bounded keyspaces in restore, backup, inspect and verify (0004_bounded_keyspaces.sql,
// PgTransaction invariant 10). The tests marked "engine" also use the PostgreSQL engine's own
// set_max_keys / key_bound / eviction; the others make the rows by restoring a file the SQLite
// engine wrote, or with raw SQL.

std::string BoundText(const std::optional<KeyBound>& b) {
  return b ? std::to_string(b->max_keys) + "/" + std::to_string(b->keys) : "none";
}

// Every bound as "keyspace:max_keys:key_count", by keyspace name.
std::string PgBoundRows(const TestDatabase& db) {
  return db.Sql(
      "SELECT coalesce(string_agg(k.name || ':' || b.max_keys || ':' || b.key_count, ',' ORDER BY "
      "k.name), '') FROM keyspace_bounds b JOIN keyspaces k ON k.id = b.keyspace_id")[0];
}

std::string LiteBoundRows(const std::string& file) {
  return SqlQueryText(file,
                      "SELECT coalesce(group_concat(x, ','), '') FROM (SELECT k.name || ':' || "
                      "b.max_keys || ':' || b.key_count AS x FROM keyspace_bounds b JOIN "
                      "keyspaces k ON k.id = b.keyspace_id ORDER BY k.name)");
}

// Every key as "keyspace/key=write_order@version" ("-" for NULL), by keyspace and key.
std::string PgMarks(const TestDatabase& db) {
  return db.Sql(
      "SELECT string_agg(k.name || '/' || convert_from(e.key, 'UTF8') || '=' || "
      "coalesce(e.write_order::text, '-') || '@' || e.version, ',' ORDER BY k.name, e.key) FROM "
      "entries e JOIN keyspaces k ON k.id = e.keyspace_id")[0];
}

// Every key as "keyspace/key=bounded" ("-" for NULL), by keyspace and key.
std::string LiteMarks(const std::string& file) {
  return SqlQueryText(file,
                      "SELECT group_concat(x, ',') FROM (SELECT k.name || '/' || CAST(e.key AS "
                      "TEXT) || '=' || coalesce(e.bounded, '-') AS x FROM entries e JOIN "
                      "keyspaces k ON k.id = e.keyspace_id ORDER BY k.name, e.key)");
}

std::map<std::string, KeyspaceInfo> ByName(const std::vector<KeyspaceInfo>& keyspaces) {
  std::map<std::string, KeyspaceInfo> out;
  for (const KeyspaceInfo& k : keyspaces) out[k.name] = k;
  return out;
}

// A file the SQLite engine wrote by `clock`: "cache" bounded to 3 keys — r1 a, r2 b, r3 c, r4 d
// (evicts a), r5 e with a 1 s TTL (evicts b), then the clock passes e's deadline (expired, not
// swept: still stored and counted) — r6 app/x (unbounded), and "empty" bounded to 2 without keys.
// Returns the file's HistoryWithKinds.
std::vector<std::string> WriteBoundedFile(const std::string& file, test::ManualClock& clock) {
  Options o = NoSweep();
  o.clock = clock.function();
  auto lite = Store::open(file, o);
  EXPECT_EQ(lite->set_max_keys("cache", 3), 0u);
  for (const char* key : {"a", "b", "c", "d"}) lite->put("cache", key, Value(key));
  PutOptions brief;
  brief.ttl = std::chrono::seconds(1);
  lite->put("cache", "e", Value("e"), brief);
  lite->put("app", "x", Value(1));
  EXPECT_EQ(lite->set_max_keys("empty", 2), 0u);
  clock.advance(std::chrono::seconds(2));
  EXPECT_EQ(BoundText(lite->key_bound("cache")), "3/3");
  EXPECT_EQ(LiteBoundRows(file), "cache:3:3,empty:2:0");
  EXPECT_EQ(LiteMarks(file), "app/x=-,cache/c=1,cache/d=1,cache/e=1");
  return HistoryWithKinds(*lite);
}

// The rows of a store restored from WriteBoundedFile.
constexpr char kRestoredMarks[] = "app/x=-@6,cache/c=3@3,cache/d=4@4,cache/e=5@5";

// Restore copies each bound, counts the rows it restored instead of trusting the file's count,
// and marks every key of a bounded keyspace (write_order = version) by keyspace_bounds alone.
TEST_F(PgAdminTest, RestoreKeepsBoundedKeyspaces) {
  TestDatabase db(*cluster_);
  TempDir dir;
  const std::string file = dir.path() + "/bounded.db";
  test::ManualClock clock(test::kManualClockStart);
  const std::vector<std::string> history = WriteBoundedFile(file, clock);
  // A drifted count and a missing mark in the source do not travel.
  SqlExec(file,
          "UPDATE keyspace_bounds SET key_count = 7 WHERE keyspace_id = (SELECT id FROM keyspaces "
          "WHERE name = 'cache'); UPDATE entries SET bounded = NULL WHERE CAST(key AS TEXT) = 'c'");

  Restore(file, db.uri());
  EXPECT_EQ(PgBoundRows(db), "cache:3:3,empty:2:0");
  EXPECT_EQ(PgMarks(db), kRestoredMarks);
  Options ro = NoSweep();
  ro.read_only = true;
  auto back = Store::open(db.uri(), ro);
  std::map<std::string, KeyspaceInfo> ks = ByName(Inspect(*back).keyspaces);
  EXPECT_EQ(ks["cache"].max_keys, std::optional<std::uint64_t>(3));
  EXPECT_EQ(ks["cache"].keys, 3u);
  EXPECT_EQ(ks["empty"].max_keys, std::optional<std::uint64_t>(2));
  EXPECT_EQ(ks["empty"].keys, 0u);
  EXPECT_EQ(ks["app"].max_keys, std::nullopt);
  ks = ByName(ListKeyspaces(*back));
  EXPECT_EQ(ks["cache"].max_keys, std::optional<std::uint64_t>(3));
  EXPECT_EQ(ks["app"].max_keys, std::nullopt);
  EXPECT_EQ(HistoryWithKinds(*back), history);
  const VerifyReport v = Verify(*back);
  EXPECT_TRUE(v.ok()) << Problems(v);
  // statectl shows it too.
  const json inspect = CtlJsonOutput(RunStatectl({"inspect", db.uri(), "--json"}));
  std::map<std::string, json> max_keys;
  for (const json& k : inspect["keyspaces"]) max_keys[k["name"].get<std::string>()] = k["max_keys"];
  EXPECT_EQ(max_keys["cache"], 3) << inspect.dump();
  EXPECT_TRUE(max_keys["app"].is_null()) << inspect.dump();
}

// Engine: the restored bound is the PostgreSQL engine's own — key_bound reads it, and the next
// write past it evicts the least recently written restored key.
TEST_F(PgAdminTest, RestoredBoundIsTheEnginesOwn) {
  TestDatabase db(*cluster_);
  TempDir dir;
  const std::string file = dir.path() + "/bounded.db";
  test::ManualClock clock(test::kManualClockStart);
  WriteBoundedFile(file, clock);
  Restore(file, db.uri());
  auto back = Store::open(db.uri(), NoSweep());
  EXPECT_EQ(BoundText(back->key_bound("cache")), "3/3");
  EXPECT_EQ(BoundText(back->key_bound("empty")), "2/0");
  EXPECT_EQ(BoundText(back->key_bound("app")), "none");
  const Revision r = back->put("cache", "f", Value("f"));
  EXPECT_EQ(r, 7u);
  EXPECT_FALSE(back->get("cache", "c").has_value());
  const std::optional<Commit> commit = back->commit_at(r);  // kept: the loop reads its changes
  ASSERT_TRUE(commit.has_value());
  bool evicted_c = false;
  for (const Change& ch : commit->changes) {
    evicted_c = evicted_c || (ch.key == "c" && ch.kind == ChangeKind::kEviction);
  }
  EXPECT_TRUE(evicted_c);
  EXPECT_EQ(BoundText(back->key_bound("cache")), "3/3");
  EXPECT_EQ(PgBoundRows(db), "cache:3:3,empty:2:0");
  EXPECT_EQ(PgMarks(db), "app/x=-@6,cache/d=4@4,cache/e=5@5,cache/f=7@7");
  const VerifyReport v = Verify(*back);
  EXPECT_TRUE(v.ok()) << Problems(v);
}

// Backup copies each bound and marks exactly the keys of bounded keyspaces (entries.bounded), so
// the SQLite engine reads the same bound and evicts in the same order; its count is the copy's
// rows.
TEST_F(PgAdminTest, BackupKeepsBoundedKeyspaces) {
  TestDatabase db(*cluster_);
  TempDir dir;
  const std::string file = dir.path() + "/bounded.db";
  test::ManualClock clock(test::kManualClockStart);
  const std::vector<std::string> history = WriteBoundedFile(file, clock);
  Restore(file, db.uri());
  Options ro = NoSweep();
  ro.read_only = true;
  const std::string again = dir.path() + "/again.db";
  Backup(*Store::open(db.uri(), ro), again);
  EXPECT_EQ(LiteBoundRows(again), "cache:3:3,empty:2:0");
  EXPECT_EQ(LiteMarks(again), "app/x=-,cache/c=1,cache/d=1,cache/e=1");
  {
    Options o = NoSweep();
    o.clock = clock.function();
    auto lite = Store::open(again, o);
    EXPECT_EQ(BoundText(lite->key_bound("cache")), "3/3");
    EXPECT_EQ(BoundText(lite->key_bound("empty")), "2/0");
    EXPECT_EQ(BoundText(lite->key_bound("app")), "none");
    EXPECT_EQ(HistoryWithKinds(*lite), history);
    VerifyReport v = Verify(*lite);
    EXPECT_TRUE(v.ok()) << Problems(v);
    EXPECT_EQ(ByName(Inspect(*lite).keyspaces)["cache"].max_keys, std::optional<std::uint64_t>(3));
    // The SQLite engine's eviction on the copy takes the same key the source's would (c).
    lite->put("cache", "f", Value("f"));
    EXPECT_FALSE(lite->get("cache", "c").has_value());
    EXPECT_EQ(BoundText(lite->key_bound("cache")), "3/3");
    v = Verify(*lite);
    EXPECT_TRUE(v.ok()) << Problems(v);
  }
  // A drifted count in the source is counted again in the copy (the source's verify reports it).
  db.Sql("UPDATE keyspace_bounds SET key_count = 9");
  const std::string drifted = dir.path() + "/drifted.db";
  Backup(*Store::open(db.uri(), ro), drifted);
  EXPECT_EQ(LiteBoundRows(drifted), "cache:3:3,empty:2:0");
}

// Engine: a bound set, and keys evicted, by the PostgreSQL engine travel to a file and back.
TEST_F(PgAdminTest, BoundsMadeByThePgEngineSurviveBackupAndRestore) {
  TestDatabase db(*cluster_);
  TempDir dir;
  const std::string file = dir.path() + "/engine.db";
  std::vector<std::string> history;
  {
    auto src = Store::open(db.uri(), NoSweep());
    src->set_max_keys("cache", 2);
    src->put("cache", "a", Value(1));  // r1
    src->put("cache", "b", Value(2));  // r2
    src->put("cache", "c", Value(3));  // r3, evicts a
    src->put("app", "x", Value(4));    // r4
    EXPECT_EQ(BoundText(src->key_bound("cache")), "2/2");
    EXPECT_EQ(PgBoundRows(db), "cache:2:2");
    EXPECT_EQ(PgMarks(db), "app/x=-@4,cache/b=2@2,cache/c=3@3");
    EXPECT_EQ(ByName(Inspect(*src).keyspaces)["cache"].max_keys, std::optional<std::uint64_t>(2));
    const VerifyReport v = Verify(*src);
    EXPECT_TRUE(v.ok()) << Problems(v);
    history = HistoryWithKinds(*src);
    Backup(*src, file);
  }
  EXPECT_EQ(LiteBoundRows(file), "cache:2:2");
  EXPECT_EQ(LiteMarks(file), "app/x=-,cache/b=1,cache/c=1");
  {
    Options ro = NoSweep();
    ro.read_only = true;
    auto lite = Store::open(file, ro);
    EXPECT_EQ(BoundText(lite->key_bound("cache")), "2/2");
    EXPECT_EQ(HistoryWithKinds(*lite), history);  // the eviction of a included
    const VerifyReport v = Verify(*lite);
    EXPECT_TRUE(v.ok()) << Problems(v);
  }
  TestDatabase fresh(*cluster_);
  Restore(file, fresh.uri());
  EXPECT_EQ(PgBoundRows(fresh), "cache:2:2");
  EXPECT_EQ(PgMarks(fresh), PgMarks(db));
  auto back = Store::open(fresh.uri(), NoSweep());
  EXPECT_EQ(BoundText(back->key_bound("cache")), "2/2");
  EXPECT_EQ(HistoryWithKinds(*back), history);
  const VerifyReport v = Verify(*back);
  EXPECT_TRUE(v.ok()) << Problems(v);
}

TEST_F(PgAdminTest, VerifyFindsDriftedBoundsAndWriteOrders) {
  TestDatabase db(*cluster_);
  TempDir dir;
  const std::string file = dir.path() + "/bounded.db";
  test::ManualClock clock(test::kManualClockStart);
  WriteBoundedFile(file, clock);
  Restore(file, db.uri());
  Options ro = NoSweep();
  ro.read_only = true;
  auto store = Store::open(db.uri(), ro);
  VerifyReport r = Verify(*store);
  ASSERT_TRUE(r.ok()) << Problems(r);
  const std::string cache = "keyspace_id = (SELECT id FROM keyspaces WHERE name = 'cache')";

  // The count drifted from the rows, and the rows are above the bound.
  db.Sql("UPDATE keyspace_bounds SET key_count = 4, max_keys = 2 WHERE " + cache);
  r = Verify(*store);
  EXPECT_TRUE(AnyProblemContains(r, "bounded keyspace cache counts 4 keys but holds 3"))
      << Problems(r);
  EXPECT_TRUE(AnyProblemContains(r, "bounded keyspace cache holds 3 keys, above its bound 2"))
      << Problems(r);
  ASSERT_EQ(r.problems.size(), 2u) << Problems(r);
  EXPECT_EQ(r.problems[0].keyspace, "cache");
  EXPECT_EQ(r.problems[1].keyspace, "cache");
  db.Sql("UPDATE keyspace_bounds SET key_count = 3, max_keys = 3 WHERE " + cache);
  ASSERT_TRUE(Verify(*store).ok());

  // Marks: one missing, one out of turn, one on a key of an unbounded keyspace.
  db.Sql("UPDATE entries SET write_order = NULL WHERE key = 'c'::bytea");
  db.Sql("UPDATE entries SET write_order = 1 WHERE key = 'd'::bytea");
  db.Sql("UPDATE entries SET write_order = version WHERE key = 'x'::bytea");
  r = Verify(*store);
  EXPECT_TRUE(AnyProblemContains(r,
                                 "cache/c is a key of a bounded keyspace without a write "
                                 "order (entries.write_order)"))
      << Problems(r);
  EXPECT_TRUE(AnyProblemContains(r, "cache/d has write order 1 but version 4")) << Problems(r);
  EXPECT_TRUE(AnyProblemContains(r,
                                 "app/x has a write order (entries.write_order) but its "
                                 "keyspace has no bound"))
      << Problems(r);
  ASSERT_EQ(r.problems.size(), 3u) << Problems(r);
  std::map<std::string, std::string> keyspace_of;
  for (const auto& p : r.problems) keyspace_of[p.key] = p.keyspace;
  EXPECT_EQ(keyspace_of,
            (std::map<std::string, std::string>{{"c", "cache"}, {"d", "cache"}, {"x", "app"}}));
  // statectl verify fails on it with its own exit code (4).
  EXPECT_EQ(RunStatectl({"verify", db.uri()}).code, 4);

  // Marks right again, but below the keyspace's evicted_through (PgTransaction invariant 10):
  // the search for victims starts there and would never choose those keys.
  db.Sql("UPDATE entries SET write_order = version WHERE key IN ('c'::bytea, 'd'::bytea)");
  db.Sql("UPDATE entries SET write_order = NULL WHERE key = 'x'::bytea");
  ASSERT_TRUE(Verify(*store).ok()) << Problems(Verify(*store));
  db.Sql(
      "UPDATE keyspace_bounds SET evicted_through = (SELECT max(write_order) FROM entries) "
      "WHERE " +
      cache);
  r = Verify(*store);
  ASSERT_FALSE(r.ok());
  for (const auto& p : r.problems) {
    EXPECT_EQ(p.keyspace, "cache");
    EXPECT_NE(p.message.find("below its keyspace's evicted_through"), std::string::npos)
        << p.message;
  }
}

// ---------------------------------------------------------------------------------------------
// statectl on a URI.

CtlResult Ctl(const std::vector<std::string>& args) { return RunStatectl(args); }

json Json(const CtlResult& r) { return CtlJsonOutput(r); }

TEST_F(PgAdminTest, StatectlReadCommandsTakeAUri) {
  TestDatabase db(*cluster_);
  {
    auto store = Store::open(db.uri(), FixtureOptions());
    Fill(*store);
  }
  const std::string uri = db.uri();
  CtlResult r = Ctl({"get", uri, "app", "a"});
  EXPECT_EQ(r.code, 0) << Describe(r);
  EXPECT_TRUE(Contains(r.out, "3")) << Describe(r);

  json dump = Json(Ctl({"dump", uri, "--json"}));
  EXPECT_TRUE(Contains(dump.dump(), "\"app\"")) << dump.dump();
  EXPECT_FALSE(Contains(dump.dump(), "hidden")) << "a redacted value was dumped: " << dump.dump();

  r = Ctl({"history", uri});
  EXPECT_EQ(r.code, 0) << Describe(r);
  EXPECT_TRUE(Contains(r.out, "app")) << Describe(r);
  EXPECT_FALSE(Contains(r.out, "hidden")) << Describe(r);

  json inspect = Json(Ctl({"inspect", uri, "--json"}));
  EXPECT_EQ(inspect["engine"], "postgresql");
  EXPECT_EQ(inspect["history"]["head"], 5);
  EXPECT_EQ(inspect["integrity"], "n/a (postgresql)");
  r = Ctl({"inspect", uri});
  EXPECT_EQ(r.code, 0) << Describe(r);
  EXPECT_TRUE(Contains(r.out, "engine:")) << Describe(r);
  EXPECT_TRUE(Contains(r.out, "TABLE")) << Describe(r);

  r = Ctl({"verify", uri});
  EXPECT_EQ(r.code, 0) << Describe(r);
  r = Ctl({"sessions", "list", uri});
  EXPECT_EQ(r.code, 0) << Describe(r);
  r = Ctl({"config", "list", uri});
  EXPECT_EQ(r.code, 0) << Describe(r);
  r = Ctl({"migrate", uri, "--status"});
  EXPECT_EQ(r.code, 0) << Describe(r);
  TempDir dir;
  r = Ctl({"backup", uri, dir.path() + "/ctl.db"});
  EXPECT_EQ(r.code, 0) << Describe(r);
  r = Ctl({"get", dir.path() + "/ctl.db", "app", "a"});
  EXPECT_EQ(r.code, 0) << Describe(r);
  EXPECT_TRUE(Contains(r.out, "3")) << Describe(r);
  TestDatabase fresh(*cluster_);
  r = Ctl({"restore", fresh.uri(), dir.path() + "/ctl.db"});
  EXPECT_EQ(r.code, 0) << Describe(r);
  EXPECT_FALSE(Contains(r.out, "host=")) << Describe(r);
  r = Ctl({"get", fresh.uri(), "app", "a"});
  EXPECT_EQ(r.code, 0) << Describe(r);
  EXPECT_TRUE(Contains(r.out, "3")) << Describe(r);
  r = Ctl({"vacuum", uri});
  EXPECT_EQ(r.code, 0) << Describe(r);
  EXPECT_TRUE(Contains(r.out, "VACUUM (ANALYZE)")) << Describe(r);

  // Damage makes verify fail with its own exit code (4).
  db.Sql("UPDATE entries SET value = int8send(7) WHERE key = 'a'::bytea");
  r = Ctl({"verify", uri});
  EXPECT_EQ(r.code, 4) << Describe(r);
}

// A store in a schema of its own (Options::postgres.schema) is reached with --schema, in read
// and write commands, migrate --status and restore; without it statectl looks in "statestore"
// and finds nothing (read-only: it creates nothing). A file refuses --schema.
TEST_F(PgAdminTest, StatectlSchemaOptionReachesAStoreInItsOwnSchema) {
  TestDatabase db(*cluster_);
  Options options = FixtureOptions();
  options.postgres.schema = "shop";
  {
    auto store = Store::open(db.uri(), options);
    Fill(*store);
  }
  const std::string uri = db.uri();
  CtlResult r = Ctl({"get", uri, "app", "a"});
  EXPECT_EQ(r.code, 3) << Describe(r);
  EXPECT_TRUE(Contains(r.err, "statestore")) << Describe(r);
  EXPECT_EQ(db.Sql("SELECT count(*) FROM pg_namespace WHERE nspname = 'statestore'")[0], "0")
      << "a read command created the default schema";

  r = Ctl({"--schema", "shop", "get", uri, "app", "a"});
  EXPECT_EQ(r.code, 0) << Describe(r);
  EXPECT_TRUE(Contains(r.out, "3")) << Describe(r);
  // A global option: before the command, and said so when it comes after.
  r = Ctl({"get", uri, "app", "a", "--schema", "shop"});
  EXPECT_EQ(r.code, 2) << Describe(r);
  EXPECT_TRUE(Contains(r.err, "--schema")) << Describe(r);
  r = Ctl({"--schema", "shop", "set", uri, "app", "b", "4", "--int"});
  EXPECT_EQ(r.code, 0) << Describe(r);
  r = Ctl({"--schema", "shop", "migrate", uri, "--status"});
  EXPECT_EQ(r.code, 0) << Describe(r);
  json inspect = Json(Ctl({"--schema", "shop", "inspect", uri, "--json"}));
  EXPECT_EQ(inspect["history"]["head"], 6);

  TempDir dir;
  const std::string file = dir.path() + "/shop.db";
  r = Ctl({"--schema", "shop", "backup", uri, file});
  EXPECT_EQ(r.code, 0) << Describe(r);
  r = Ctl({"--schema", "annex", "restore", uri, file});
  EXPECT_EQ(r.code, 0) << Describe(r);
  {
    Options annex = FixtureOptions();
    annex.postgres.schema = "annex";
    auto restored = Store::open(uri, annex);
    EXPECT_EQ(restored->get("app", "b"), std::optional<Value>(Value(std::int64_t{4})));
    EXPECT_EQ(restored->history_bounds().head, 6u);
  }
  r = Ctl({"--schema", "no-such!", "get", uri, "app", "a"});
  EXPECT_EQ(r.code, 1) << Describe(r);
  EXPECT_TRUE(Contains(r.err, "Options::postgres.schema must be")) << Describe(r);

  // A file has no schemas: refused (the library's kInvalidArgument; statectl's exit code for
  // errors opening DB), and nothing is created or changed.
  const auto before = std::filesystem::last_write_time(file);
  r = Ctl({"--schema", "shop", "get", file, "app", "a"});
  EXPECT_EQ(r.code, 1) << Describe(r);
  EXPECT_TRUE(Contains(r.err, "names a PostgreSQL schema")) << Describe(r);
  r = Ctl({"--schema", "shop", "set", file, "app", "a", "9"});
  EXPECT_EQ(r.code, 1) << Describe(r);
  r = Ctl({"--schema", "shop", "migrate", file, "--status"});
  EXPECT_EQ(r.code, 1) << Describe(r);
  EXPECT_TRUE(Contains(r.err, "schemas exist only in a PostgreSQL store")) << Describe(r);
  r = Ctl({"--schema", "shop", "restore", dir.path() + "/other.db", file});
  EXPECT_EQ(r.code, 1) << Describe(r);
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/other.db"));
  EXPECT_EQ(std::filesystem::last_write_time(file), before);
  r = Ctl({"get", file, "app", "a"});
  EXPECT_TRUE(Contains(r.out, "3")) << Describe(r);
}

// follow on a URI tails commits made by another Store (this process; the notification reaches
// statectl through the server) until it is stopped.
TEST_F(PgAdminTest, StatectlFollowTailsCommitsOnAUri) {
  TestDatabase db(*cluster_);
  auto store = Store::open(db.uri(), FixtureOptions());
  Fill(*store);
  std::thread writer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    store->put("app", "late", Value(std::int64_t{6}));
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    store->put("app", "later", Value(std::int64_t{7}));
  });
  CtlOptions options;
  options.timeout = std::chrono::seconds(5);
  const CtlResult r = RunStatectl({"follow", db.uri(), "--from", "5", "--json"}, options);
  writer.join();
  EXPECT_TRUE(r.timed_out) << Describe(r);  // follow runs until stopped
  std::vector<json> lines;
  std::size_t at = 0;
  while (at < r.out.size()) {
    const std::size_t end = r.out.find('\n', at);
    const std::string line = r.out.substr(at, end == std::string::npos ? end : end - at);
    if (!line.empty()) lines.push_back(json::parse(line));
    if (end == std::string::npos) break;
    at = end + 1;
  }
  ASSERT_EQ(lines.size(), 3u) << Describe(r);
  EXPECT_EQ(lines[0]["revision"], 5);
  EXPECT_EQ(lines[1]["revision"], 6);
  EXPECT_EQ(lines[1]["changes"][0]["key"], "late");
  EXPECT_EQ(lines[2]["revision"], 7);
}

// Read-only by default: on a database where the server refuses every write
// (default_transaction_read_only), every read command still works and a write command fails.
TEST_F(PgAdminTest, StatectlReadCommandsNeverWrite) {
  TestDatabase db(*cluster_);
  {
    auto store = Store::open(db.uri(), FixtureOptions());
    Fill(*store);
    store->sessions().create(std::chrono::hours(1));
  }
  const std::string name = db.Sql("SELECT current_database()")[0];
  db.Sql("ALTER DATABASE " + name + " SET default_transaction_read_only = on");
  const std::string uri = db.uri();
  TempDir dir;
  const std::vector<std::vector<std::string>> reads = {
      {"get", uri, "app", "a"},
      {"dump", uri},
      {"history", uri},
      {"show", uri, "4"},
      {"diff", uri, "1", "5"},
      {"inspect", uri},
      {"verify", uri},
      {"sessions", "list", uri},
      {"config", "list", uri},
      {"migrate", uri, "--status"},
      {"backup", uri, dir.path() + "/ro.db"},
  };
  for (const auto& args : reads) {
    const CtlResult r = Ctl(args);
    EXPECT_EQ(r.code, 0) << args[0] << " " << (args.size() > 1 ? args[1] : "") << "\n"
                         << Describe(r);
  }
  const CtlResult w = Ctl({"set", uri, "app", "a", "9"});
  EXPECT_NE(w.code, 0) << Describe(w);
  EXPECT_TRUE(Contains(w.err, "read-only")) << Describe(w);
}

TEST_F(PgAdminTest, StatectlReadCommandsNeverCreateASchema) {
  TestDatabase db(*cluster_);
  const CtlResult r = Ctl({"dump", db.uri()});
  EXPECT_EQ(r.code, 3) << Describe(r);  // not found
  EXPECT_TRUE(db.Sql("SELECT count(*) FROM pg_namespace WHERE nspname = 'statestore'")[0] == "0");
}

}  // namespace
}  // namespace statestore::test

// The PostgreSQL engine's own behaviour, with real processes and a real server (no mocks):
//   - opening: URI and key=value forms, bad connection strings, an unreachable server, bad schema
//     names;
//   - schemas: isolation of two stores in one database, a schema newer than the library, a
//     read-only open of a missing schema;
//   - the migration race of several processes opening a fresh database at once;
//   - read-increment-write from several worker processes (gapless revisions);
//   - a server restart (-m immediate) under write load from threads and worker processes, a crash
//     while COMMIT is in flight (the outcome the store reports must be the true one), and
//     pg_terminate_backend of the writer's backend in the middle of a transaction body;
//   - how stale the opt-in read cache (Options::postgres.cache_reads_with_bounded_staleness) is,
//     and that the default is strict.
// Tests that restart the server start their own PgCluster; the others share one (PG_FIXTURE) and
// each work in a fresh database that they drop at the end.
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "manual_clock.h"
#include "postgres/pg_cluster.h"
#include "statestore/statestore.h"
#include "test_util.h"

namespace statestore::test {
namespace {

using std::chrono::milliseconds;
using Rows = std::vector<std::vector<std::string>>;

const milliseconds kChildTimeout(180'000 * kSlowFactor);

// ---------------------------------------------------------------------------------------------
// Raw libpq administration (never through the engine under test).

using PgConnPtr = std::unique_ptr<PGconn, decltype(&PQfinish)>;
using PgResultPtr = std::unique_ptr<PGresult, decltype(&PQclear)>;

PgConnPtr AdminConnect(const std::string& conninfo) {
  PgConnPtr conn(PQconnectdb(conninfo.c_str()), &PQfinish);
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    throw std::runtime_error("admin connect: " + std::string(PQerrorMessage(conn.get())));
  }
  return conn;
}

// Runs `sql` (one or more statements) and returns the rows of the last one, as text (NULL as "").
// Throws std::runtime_error with the server's message on failure.
Rows AdminQuery(const std::string& conninfo, const std::string& sql) {
  PgConnPtr conn = AdminConnect(conninfo);
  PgResultPtr res(PQexec(conn.get(), sql.c_str()), &PQclear);
  const ExecStatusType status = PQresultStatus(res.get());
  if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
    throw std::runtime_error(sql + ": " + PQresultErrorMessage(res.get()));
  }
  Rows rows;
  for (int r = 0; r < PQntuples(res.get()); ++r) {
    rows.emplace_back();
    for (int c = 0; c < PQnfields(res.get()); ++c)
      rows.back().push_back(PQgetvalue(res.get(), r, c));
  }
  return rows;
}

void AdminExec(const std::string& conninfo, const std::string& sql) { AdminQuery(conninfo, sql); }

// The first value of the first row ("" when there is none).
std::string AdminValue(const std::string& conninfo, const std::string& sql) {
  Rows rows = AdminQuery(conninfo, sql);
  return rows.empty() || rows[0].empty() ? std::string() : rows[0][0];
}

bool SchemaExists(const std::string& conninfo, const std::string& schema) {
  return AdminValue(conninfo,
                    "SELECT count(*) FROM pg_namespace WHERE nspname = '" + schema + "'") == "1";
}

// A fresh database on `cluster`, dropped (WITH (FORCE): a killed worker may have left a session
// behind) when this goes out of scope. Names are built from integers only.
class TestDatabase {
 public:
  explicit TestDatabase(const PgCluster& cluster) : cluster_(cluster) {
    static std::atomic<int> next{0};
    name_ = "pgengine_" + std::to_string(::getpid()) + "_" + std::to_string(next++);
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

  const std::string& name() const { return name_; }
  std::string uri() const { return cluster_.uri(name_); }
  std::string conninfo() const { return cluster_.conninfo(name_); }

 private:
  const PgCluster& cluster_;
  std::string name_;
};

// The library's schema version: the number of migrations it embeds (lib/CMakeLists.txt embeds
// every migrations/postgresql/NNNN_name.sql; pg_migrations.h: numbered 1..count without gaps).
int LibrarySchemaVersion() {
  int count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(STATESTORE_PG_MIGRATIONS_DIR)) {
    if (entry.path().extension() == ".sql") ++count;
  }
  return count;
}

// A one-shot latch: Wait() returns once Open() was called (or `timeout` passed: false).
class Latch {
 public:
  void Open() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  bool Wait(milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return open_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t i = std::min(v.size() - 1, static_cast<std::size_t>(p * (v.size() - 1) + 0.5));
  return v[i];
}

class PgEngineTest : public testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (PgCluster::BinDir(&why).empty()) GTEST_SKIP() << why;
    cluster_ = PgCluster::Shared(&why);
    ASSERT_NE(cluster_, nullptr) << why;
  }

  PgCluster* cluster_ = nullptr;
};

// ---------------------------------------------------------------------------------------------
// 1. Opening.

TEST_F(PgEngineTest, UriAndKeyValueFormsOpenTheSameData) {
  TestDatabase db(*cluster_);
  {
    auto by_uri = Store::open(db.uri());
    EXPECT_EQ(by_uri->put("app", "k", Value(1)), 1u);
  }
  {
    auto by_kv = Store::open(db.conninfo());
    EXPECT_EQ(by_kv->get("app", "k"), std::optional<Value>(Value(1)));
    by_kv->put("app", "k", Value(2));
  }
  // Both open at once: each sees the other's commits.
  auto by_uri = Store::open(db.uri());
  auto by_kv = Store::open(db.conninfo());
  EXPECT_EQ(by_uri->get("app", "k"), std::optional<Value>(Value(2)));
  by_uri->put("app", "k2", Value(3));
  EXPECT_EQ(by_kv->get("app", "k2"), std::optional<Value>(Value(3)));
  EXPECT_EQ(by_kv->history_bounds().head, 3u);
}

// Time-to-live on PostgreSQL (PgTransaction invariant 8): a write over a row whose deadline
// passed records the row's expiry first, in the same revision, on each of the engine's write
// paths — the queued statement that reads the old row itself (kChangeFromStored), a key the body
// wrote already (the buffer), a redacted keyspace (old rows read at Flush) — and an erase of it
// changes nothing; the sweep then records the last one in a commit labelled "expired". Read
// through raw SQL, so that what the engine stored is checked, not how history decodes it.
TEST_F(PgEngineTest, AWriteOverAnExpiredRowRecordsItsExpiryFirstOnEveryWritePath) {
  TestDatabase db(*cluster_);
  test::ManualClock clock(test::kManualClockStart);
  Options options;
  options.clock = clock.function();
  options.redacted_keyspaces = {"secret"};
  options.expiry_sweep_interval = milliseconds(0);  // no sweep yet
  PutOptions ttl;
  ttl.ttl = std::chrono::seconds(1);
  const std::string deadline_us =
      std::to_string(test::ManualClock::Micros(test::kManualClockStart) + 1'000'000);
  Revision revision = 0;
  {
    auto store = Store::open(db.uri(), options);
    store->transact([&](Transaction& tx) {
      for (const char* key : {"a", "b", "c"}) tx.put("app", key, Value(key), ttl);
      tx.put("secret", "s", Value("hidden"), ttl);
    });
    EXPECT_EQ(store->get_entry("app", "a")->expires_at,
              test::kManualClockStart + std::chrono::seconds(1));
    clock.advance(std::chrono::seconds(1));  // exactly the deadline
    EXPECT_EQ(store->get("app", "a"), std::nullopt);
    EXPECT_TRUE(store->list("app").empty());
    revision = store->transact([&](Transaction& tx) {
      tx.put("app", "a", Value(1));         // kChangeFromStored
      tx.put("app", "b", Value(2));         // ... then b is in the buffer:
      tx.put("app", "b", Value(3));         // no second expiry
      tx.put("secret", "s", Value("new"));  // deferred to Flush
      EXPECT_FALSE(tx.erase("app", "c"));   // absent: the sweep's to record
      EXPECT_EQ(tx.get("app", "c"), std::nullopt);
    });
    EXPECT_EQ(store->get("app", "b"), Value(3));
    EXPECT_EQ(store->get_entry("app", "b")->expires_at, std::nullopt);
  }
  const Rows rows =
      AdminQuery(db.conninfo(),
                 "SELECT k.name, convert_from(x.key, 'UTF8'), x.kind, coalesce(x.expires_us::text, "
                 "''), x.old_type IS NULL, "
                 "x.new_type IS NULL FROM statestore.changes x JOIN statestore.keyspaces k ON "
                 "k.id = x.keyspace_id WHERE x.revision = " +
                     std::to_string(revision) + " ORDER BY x.seq");
  const Rows expected = {
      {"app", "a", "1", deadline_us, "f", "t"}, {"app", "a", "0", "", "t", "f"},
      {"app", "b", "1", deadline_us, "f", "t"}, {"app", "b", "0", "", "t", "f"},
      {"app", "b", "0", "", "f", "f"},          {"secret", "s", "1", deadline_us, "f", "t"},
      {"secret", "s", "0", "", "t", "f"},
  };
  EXPECT_EQ(rows, expected);
  // c is still stored, expired: the sweep removes it and records its expiry.
  EXPECT_EQ(AdminValue(db.conninfo(), "SELECT count(*) FROM statestore.entries WHERE key = 'c'"),
            "1");
  options.expiry_sweep_interval = milliseconds(20);
  auto store = Store::open(db.uri(), options);
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20 * kSlowFactor);
  while (store->stats().keys_expired < 1 && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  ASSERT_EQ(store->stats().keys_expired, 1u);
  EXPECT_EQ(AdminValue(db.conninfo(), "SELECT count(*) FROM statestore.entries WHERE key = 'c'"),
            "0");
  EXPECT_EQ(AdminQuery(db.conninfo(),
                       "SELECT c.label, x.kind, x.expires_us, x.new_type IS NULL FROM "
                       "statestore.changes x JOIN statestore.commits c ON c.revision = x.revision "
                       "WHERE x.key = 'c' AND x.revision > " +
                           std::to_string(revision)),
            (Rows{{"expired", "1", deadline_us, "t"}}));
  EXPECT_EQ(store->get("app", "a"), Value(1));  // the sweep left live keys alone
}

// Leases and bounded keyspaces are SQLite-only for now (pg_transaction.h): refused with a
// message that says so, nothing written; none can exist.
// PgTransaction invariant 9 across writers: a lease another Store granted (its own group writer,
// as another process would be) is seen by this Store's next group, so when it is past its
// deadline this Store's queued write to one of its keys ends the whole lease first, in the same
// revision — and with no lease due, a write takes the queued path and records no expiry.
TEST_F(PgEngineTest, AWriteMeetingALeaseAnotherWriterGrantedEndsItWhole) {
  TestDatabase db(*cluster_);
  test::ManualClock clock(test::kManualClockStart);
  Options options;
  options.clock = clock.function();
  options.expiry_sweep_interval = milliseconds(0);  // no sweep: the write must do it
  auto writer = Store::open(db.uri(), options);
  auto granter = Store::open(db.uri(), options);
  writer->put("app", "warm", Value(0));  // the writer's group writer is connected already
  const LeaseId lease = granter->grant_lease(std::chrono::seconds(1));
  PutOptions attach;
  attach.lease = lease;
  granter->transact([&](Transaction& tx) {
    for (const char* key : {"a", "b", "c"}) tx.put("app", key, Value(key), attach);
  });
  const Revision live_write = writer->transact([&](Transaction& tx) {
    tx.put("app", "other", Value(1));  // no lease due: no expiry recorded
  });
  EXPECT_EQ(writer->get_entry("app", "a")->lease, lease);
  clock.advance(std::chrono::seconds(1));  // the lease's deadline
  const Revision revision = writer->transact([&](Transaction& tx) {
    tx.put("app", "other", Value(2));
    tx.put("app", "b", Value("new"));  // a key of the lease: the lease ends first
  });
  EXPECT_EQ(writer->get("app", "a"), std::nullopt);
  EXPECT_EQ(writer->get("app", "b"), Value("new"));
  EXPECT_EQ(writer->get_entry("app", "b")->lease, std::nullopt);
  EXPECT_EQ(writer->lease(lease), std::nullopt);
  const auto kinds = [&](Revision r) {
    return AdminQuery(db.conninfo(),
                      "SELECT convert_from(key, 'UTF8'), kind, new_type IS NULL FROM "
                      "statestore.changes WHERE revision = " +
                          std::to_string(r) + " ORDER BY seq");
  };
  EXPECT_EQ(kinds(live_write), (Rows{{"other", "0", "f"}}));
  EXPECT_EQ(kinds(revision), (Rows{{"other", "0", "f"},
                                   {"a", "1", "t"},
                                   {"b", "1", "t"},
                                   {"c", "1", "t"},
                                   {"b", "0", "f"}}));
  EXPECT_EQ(AdminQuery(db.conninfo(), "SELECT count(*) FROM statestore.leases"), (Rows{{"0"}}));
}

// PgTransaction invariant 10 in the tables: keys of a bounded keyspace carry their version as
// write_order and are counted; keys of other keyspaces carry none (their writes keep the plain
// statements); removing the bound clears the marks.
TEST_F(PgEngineTest, OnlyKeysOfBoundedKeyspacesCarryAWriteOrder) {
  TestDatabase db(*cluster_);
  auto store = Store::open(db.uri());
  store->put("app", "k", Value(1));
  store->put("cache", "a", Value(1));
  EXPECT_EQ(store->set_max_keys("cache", 10), 0u);
  store->transact([](Transaction& tx) {
    tx.put("cache", "b", Value(2));
    tx.put("app", "x", Value(2));
  });
  store->put("cache", "a", Value(3));
  const std::string marks =
      "SELECT k.name, convert_from(e.key, 'UTF8'), e.write_order IS NOT NULL, "
      "coalesce(e.write_order = e.version, false) FROM statestore.entries e "
      "JOIN statestore.keyspaces k ON k.id = e.keyspace_id ORDER BY 1, 2";
  EXPECT_EQ(AdminQuery(db.conninfo(), marks), (Rows{{"app", "k", "f", "f"},
                                                    {"app", "x", "f", "f"},
                                                    {"cache", "a", "t", "t"},
                                                    {"cache", "b", "t", "t"}}));
  EXPECT_EQ(AdminQuery(db.conninfo(), "SELECT max_keys, key_count FROM statestore.keyspace_bounds"),
            (Rows{{"10", "2"}}));
  EXPECT_EQ(store->set_max_keys("cache", std::nullopt), 0u);
  EXPECT_EQ(AdminQuery(db.conninfo(), marks), (Rows{{"app", "k", "f", "f"},
                                                    {"app", "x", "f", "f"},
                                                    {"cache", "a", "f", "f"},
                                                    {"cache", "b", "f", "f"}}));
  EXPECT_EQ(AdminQuery(db.conninfo(), "SELECT count(*) FROM statestore.keyspace_bounds"),
            (Rows{{"0"}}));
}

// A count that drifted from the rows (an edited schema) cannot be fixed by evicting: the write
// that would evict fails with kCorruption naming the way out, and changes nothing.
TEST_F(PgEngineTest, ACountAboveTheRowsStopsTheWriteWithCorruption) {
  TestDatabase db(*cluster_);
  auto store = Store::open(db.uri());
  store->set_max_keys("cache", 2);
  store->put("cache", "a", Value(1));
  AdminQuery(db.conninfo(), "UPDATE statestore.keyspace_bounds SET key_count = key_count + 5");
  const Revision head = store->history_bounds().head;
  try {
    store->put("cache", "b", Value(2));
    ADD_FAILURE() << "a write over a drifted count succeeded";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kCorruption);
    EXPECT_NE(std::string(e.what()).find("max-keys"), std::string::npos) << e.what();
  }
  EXPECT_EQ(store->history_bounds().head, head);
  EXPECT_EQ(store->get("cache", "b"), std::nullopt);
  // Removing the bound and setting it again recounts.
  store->set_max_keys("cache", std::nullopt);
  store->set_max_keys("cache", 2);
  EXPECT_EQ(store->key_bound("cache")->keys, 1u);
  store->put("cache", "b", Value(2));
  EXPECT_EQ(store->key_bound("cache")->keys, 2u);
}

TEST_F(PgEngineTest, BadConninfoIsInvalidArgumentWithReadableMessage) {
  const std::string host = cluster_->socket_dir();
  struct Case {
    std::string conninfo;
    std::string mentions;  // the message names what is wrong
  };
  const std::vector<Case> cases = {
      {"host=" + host + " dbname", "dbname"},                               // missing '='
      {"host=" + host + " password=hunter2 bogus_param=1", "bogus_param"},  // unknown keyword
      {"postgresql://postgres@/postgres?host=" + host + "&bogus_param=1", "bogus_param"},
      {"postgresql://postgres@[::1/postgres", ""},  // unparsable URI
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.conninfo);
    Options options;
    options.busy_timeout = milliseconds(500);
    const auto start = std::chrono::steady_clock::now();
    auto e = CatchError([&] { Store::open(c.conninfo, options); });
    ASSERT_TRUE(e.has_value());
    EXPECT_EQ(e->code(), ErrorCode::kInvalidArgument) << e->what();
    const std::string message = e->what();
    EXPECT_GT(message.size(), 10u);
    if (!c.mentions.empty()) {
      EXPECT_TRUE(Contains(message, c.mentions)) << message;
    }
    EXPECT_FALSE(Contains(message, "hunter2")) << "password in message: " << message;
    // Not retried until busy_timeout: it will not get better.
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5 * kSlowFactor));
  }
}

TEST_F(PgEngineTest, UnreachableServerIsUnavailableWithinBusyTimeout) {
  TempDir no_server;  // a socket directory with no server in it
  Options options;
  options.busy_timeout = milliseconds(500);
  for (const std::string& conninfo :
       {"host=" + no_server.path() + " port=5432 user=postgres dbname=postgres",
        "postgresql://postgres@/postgres?host=" + no_server.path()}) {
    SCOPED_TRACE(conninfo);
    const auto start = std::chrono::steady_clock::now();
    auto e = CatchError([&] { Store::open(conninfo, options); });
    const auto elapsed =
        std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - start);
    ASSERT_TRUE(e.has_value());
    EXPECT_EQ(e->code(), ErrorCode::kUnavailable) << e->what();
    EXPECT_TRUE(Contains(e->what(), "500 ms")) << e->what();
    // "Within about busy_timeout": it retried for a while, and gave up soon after.
    EXPECT_GE(elapsed.count(), 400);
    EXPECT_LT(elapsed.count(), 500 + 2000 * kSlowFactor);
    std::cout << "unreachable server reported after " << elapsed.count() << " ms\n";
  }
}

// One clock (pg_server_clock.h): a store opened without Options::clock keeps time by the
// server's clock — Store::options().clock, which the layers read too, is within a few ms of the
// server's clock_timestamp(), and commit times come from it; an injected clock is kept as given.
TEST_F(PgEngineTest, WithoutAnInjectedClockTheStoreKeepsTheServersTime) {
  TestDatabase db(*cluster_);
  auto store = Store::open(db.uri());
  ASSERT_TRUE(store->options().clock) << "no clock: every machine would use its own";
  auto server_us = [&] {
    return std::stoll(
        AdminValue(db.conninfo(), "SELECT (extract(epoch FROM clock_timestamp()) * 1e6)::int8"));
  };
  const std::int64_t before = server_us();
  const std::int64_t ours = ManualClock::Micros(store->options().clock());
  store->put("app", "k", Value(1));
  const std::int64_t after = server_us();
  EXPECT_GE(ours, before - 5'000);
  EXPECT_LE(ours, after + 5'000);
  const auto commit = store->history(HistoryQuery{}).back();
  const std::int64_t stamped = ManualClock::Micros(commit.time);
  EXPECT_GE(stamped, before - 5'000);
  EXPECT_LE(stamped, after + 5'000);

  ManualClock manual(kManualClockStart);
  Options options;
  options.clock = manual.function();
  TestDatabase other(*cluster_);
  auto injected = Store::open(other.uri(), options);
  EXPECT_EQ(injected->options().clock(), kManualClockStart);
  injected->put("app", "k", Value(1));
  EXPECT_EQ(injected->history(HistoryQuery{}).back().time, kManualClockStart);
}

TEST_F(PgEngineTest, BadSchemaNameIsInvalidArgumentAndCreatesNothing) {
  TestDatabase db(*cluster_);
  for (const std::string& schema :
       {std::string("Bad"), std::string("pg_x"), std::string("a;b"), std::string(64, 'a'),
        std::string(), std::string("9x"), std::string("a\"b")}) {
    SCOPED_TRACE(schema);
    Options options;
    options.postgres.schema = schema;
    auto e = CatchError([&] { Store::open(db.uri(), options); });
    ASSERT_TRUE(e.has_value());
    EXPECT_EQ(e->code(), ErrorCode::kInvalidArgument) << e->what();
    EXPECT_TRUE(Contains(e->what(), "schema")) << e->what();
  }
  EXPECT_EQ(AdminValue(db.conninfo(),
                       "SELECT count(*) FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' AND "
                       "nspname NOT IN ('public', 'information_schema')"),
            "0");
}

// 52 characters is the longest schema name Options::postgres.schema allows (options.h: its
// NOTIFY channel must fit 63 bytes), and a store with one must work like any other; 53 is
// refused.
TEST_F(PgEngineTest, LongestValidSchemaNameWorks) {
  TestDatabase db(*cluster_);
  Options options;
  options.postgres.schema = std::string(53, 's');
  auto refused = CatchError([&] { Store::open(db.uri(), options); });
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->code(), ErrorCode::kInvalidArgument) << refused->what();
  options.postgres.schema = std::string(52, 's');
  auto store = Store::open(db.uri(), options);
  auto e = CatchError([&] { EXPECT_EQ(store->put("app", "k", Value(1)), 1u); });
  EXPECT_FALSE(e.has_value()) << ToString(e->code()) << ": " << e->what();
  EXPECT_EQ(store->get("app", "k"), std::optional<Value>(Value(1)));
  EXPECT_EQ(
      AdminValue(db.conninfo(), "SELECT count(*) FROM \"" + options.postgres.schema + "\".entries"),
      "1");
}

// ---------------------------------------------------------------------------------------------
// 2. Schemas.

TEST_F(PgEngineTest, StoresInDifferentSchemasAreIndependent) {
  TestDatabase db(*cluster_);
  Options a_options;
  a_options.postgres.schema = "alpha";
  Options b_options;
  b_options.postgres.schema = "beta";
  auto a = Store::open(db.uri(), a_options);
  auto b = Store::open(db.uri(), b_options);
  a->put("app", "only_a", Value(1));
  a->put("app", "shared", Value(10));
  b->put("app", "shared", Value(20));
  b->put("other", "only_b", Value(2));
  b->put("other", "only_b", Value(3));

  EXPECT_EQ(a->get("app", "only_a"), std::optional<Value>(Value(1)));
  EXPECT_EQ(b->get("app", "only_a"), std::nullopt);
  EXPECT_EQ(a->get("other", "only_b"), std::nullopt);
  EXPECT_EQ(a->get("app", "shared"), std::optional<Value>(Value(10)));
  EXPECT_EQ(b->get("app", "shared"), std::optional<Value>(Value(20)));
  EXPECT_EQ(a->keyspaces(), std::vector<std::string>({"app"}));
  EXPECT_EQ(b->keyspaces(), std::vector<std::string>({"app", "other"}));
  EXPECT_EQ(a->history_bounds().head, 2u);
  EXPECT_EQ(b->history_bounds().head, 3u);
  const auto a_history = a->history();
  ASSERT_EQ(a_history.size(), 2u);
  EXPECT_EQ(a_history[0].changes.at(0).key, "only_a");
  EXPECT_EQ(a_history[1].changes.at(0).new_value, std::optional<Value>(Value(10)));
  EXPECT_EQ(b->history().size(), 3u);

  // Each schema has its own tables (via libpq).
  EXPECT_EQ(AdminValue(db.conninfo(), "SELECT value FROM alpha.meta WHERE name = 'head_revision'"),
            "2");
  EXPECT_EQ(AdminValue(db.conninfo(), "SELECT value FROM beta.meta WHERE name = 'head_revision'"),
            "3");
  EXPECT_FALSE(SchemaExists(db.conninfo(), "statestore"));  // the default was never used
}

TEST_F(PgEngineTest, SchemaNewerThanLibraryIsRefusedAndLeftUnchanged) {
  TestDatabase db(*cluster_);
  Options options;
  options.postgres.schema = "future";
  Store::open(db.uri(), options)->put("app", "k", Value(1));
  AdminExec(db.conninfo(), "UPDATE \"future\".meta SET value = 99 WHERE name = 'schema_version'");
  const std::string snapshot_sql =
      "SELECT (SELECT string_agg(name || '=' || value, ',' ORDER BY name) FROM future.meta) || '|' "
      "|| (SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE schemaname "
      "= 'future') || '|' || (SELECT count(*) FROM future.entries) || '|' || (SELECT count(*) "
      "FROM future.changes)";
  const std::string before = AdminValue(db.conninfo(), snapshot_sql);

  for (bool read_only : {false, true}) {
    SCOPED_TRACE(read_only ? "read-only" : "writable");
    Options o = options;
    o.read_only = read_only;
    auto e = CatchError([&] { Store::open(db.uri(), o); });
    ASSERT_TRUE(e.has_value());
    EXPECT_EQ(e->code(), ErrorCode::kSchemaTooNew) << e->what();
    EXPECT_TRUE(Contains(e->what(), "99")) << e->what();
  }
  EXPECT_EQ(AdminValue(db.conninfo(), snapshot_sql), before);
  EXPECT_EQ(
      AdminValue(db.conninfo(), "SELECT value FROM future.meta WHERE name = 'schema_version'"),
      "99");
}

TEST_F(PgEngineTest, ReadOnlyOpenOfMissingSchemaIsNotFoundAndCreatesNothing) {
  TestDatabase db(*cluster_);
  const std::string schemas_sql =
      "SELECT string_agg(nspname, ',' ORDER BY nspname) FROM pg_namespace";
  const std::string before = AdminValue(db.conninfo(), schemas_sql);
  for (const std::string& schema : {std::string("statestore"), std::string("ghost")}) {
    SCOPED_TRACE(schema);
    Options options;
    options.read_only = true;
    options.postgres.schema = schema;
    auto e = CatchError([&] { Store::open(db.uri(), options); });
    ASSERT_TRUE(e.has_value());
    EXPECT_EQ(e->code(), ErrorCode::kNotFound) << e->what();
    EXPECT_FALSE(SchemaExists(db.conninfo(), schema));
  }
  EXPECT_EQ(AdminValue(db.conninfo(), schemas_sql), before);
  // A schema another store uses does not make "ghost" exist either.
  Store::open(db.uri())->put("app", "k", Value(1));
  Options ghost;
  ghost.read_only = true;
  ghost.postgres.schema = "ghost";
  auto e = CatchError([&] { Store::open(db.uri(), ghost); });
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->code(), ErrorCode::kNotFound) << e->what();
  EXPECT_FALSE(SchemaExists(db.conninfo(), "ghost"));
}

// ---------------------------------------------------------------------------------------------
// 3. Migration race.

TEST_F(PgEngineTest, ProcessesOpeningAFreshDatabaseAtOnceMigrateOnce) {
  constexpr int kProcesses = 4;
  constexpr int kRounds = 3;
  const int library_version = LibrarySchemaVersion();
  ASSERT_GE(library_version, 1);
  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    TestDatabase db(*cluster_);
    std::vector<ChildProcess> workers;
    for (int p = 0; p < kProcesses; ++p) {
      workers.push_back(
          ChildProcess::SpawnWorker({"put", db.uri(), "app", "k" + std::to_string(p), "7"}));
    }
    std::set<std::string> revisions;
    for (auto& w : workers) {
      const std::string out = w.ReadAll(kChildTimeout);
      EXPECT_EQ(w.Wait(kChildTimeout), 0) << out;
      EXPECT_EQ(out.rfind("rev ", 0), 0u) << out;
      revisions.insert(out);
    }
    EXPECT_EQ(revisions, std::set<std::string>({"rev 1\n", "rev 2\n", "rev 3\n", "rev 4\n"}));
    EXPECT_EQ(AdminQuery(db.conninfo(),
                         "SELECT name, count(*) FROM statestore.meta GROUP BY name "
                         "HAVING count(*) <> 1"),
              Rows());
    EXPECT_EQ(AdminValue(db.conninfo(),
                         "SELECT value FROM statestore.meta WHERE name = 'schema_version'"),
              std::to_string(library_version));
    EXPECT_EQ(AdminValue(db.conninfo(), "SELECT count(*) FROM statestore.entries"), "4");
    EXPECT_EQ(AdminValue(db.conninfo(), "SELECT count(*) FROM statestore.redaction_key"), "1");
  }
}

// ---------------------------------------------------------------------------------------------
// 4. Several processes, one counter.

void RunCounter(const PgCluster& cluster, int processes) {
  constexpr int kThreads = 8;
  const int per_thread = kUnderSanitizer ? 100 : 1000;
  TestDatabase db(cluster);
  Store::open(db.uri());  // create the schema first: the workers race on increments
  std::vector<ChildProcess> workers;
  for (int p = 0; p < processes; ++p) {
    workers.push_back(
        ChildProcess::SpawnWorker({"increment", db.uri(), std::to_string(per_thread), "--wait-go",
                                   "--threads", std::to_string(kThreads)}));
  }
  for (auto& w : workers) {
    std::string skipped;
    ASSERT_TRUE(w.WaitForLine("ready", kChildTimeout, &skipped)) << skipped;
  }
  const auto start = std::chrono::steady_clock::now();
  for (auto& w : workers) ASSERT_TRUE(w.Write("go\n"));
  for (auto& w : workers) {
    const std::string out = w.ReadAll(kChildTimeout);
    EXPECT_EQ(w.Wait(kChildTimeout), 0) << out;
    EXPECT_EQ(out, "done\n");
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const std::int64_t total = static_cast<std::int64_t>(processes) * kThreads * per_thread;
  std::cout << processes << " processes x " << kThreads << " threads x " << per_thread
            << " increments: " << seconds << " s (" << total / seconds << "/s)\n";

  auto store = Store::open(db.uri());
  EXPECT_EQ(store->get("app", "counter"), std::optional<Value>(Value(total)));
  const HistoryBounds bounds = store->history_bounds();
  EXPECT_EQ(bounds.first, 1u);
  EXPECT_EQ(bounds.head, static_cast<Revision>(total));
  // Gapless and in commit order: revision r set the counter from r - 1 to r.
  const auto commits = store->history();
  ASSERT_EQ(commits.size(), static_cast<std::size_t>(total));
  int bad = 0;
  for (std::size_t i = 0; i < commits.size(); ++i) {
    const Commit& c = commits[i];
    const auto r = static_cast<std::int64_t>(i) + 1;
    const bool ok = c.revision == static_cast<Revision>(r) && c.changes.size() == 1 &&
                    c.changes[0].new_value == std::optional<Value>(Value(r)) &&
                    (r == 1 ? !c.changes[0].old_value
                            : c.changes[0].old_value == std::optional<Value>(Value(r - 1)));
    if (!ok && ++bad <= 5) ADD_FAILURE() << "commit #" << i << " (revision " << c.revision << ")";
  }
  EXPECT_EQ(bad, 0);
}

TEST_F(PgEngineTest, TwoProcessesIncrementOneCounterExactly) { RunCounter(*cluster_, 2); }

TEST_F(PgEngineTest, FourProcessesIncrementOneCounterExactly) { RunCounter(*cluster_, 4); }

// ---------------------------------------------------------------------------------------------
// 5. Server restart under write load.

// Each writer commits transactions n = 0, 1, 2, ... that put three keys "w<t>-<n>-{a,b,c}" to n,
// and records the outcome of each.
struct WriterLog {
  std::mutex mu;
  std::vector<std::int64_t> acked;    // transact() returned
  std::vector<std::int64_t> failed;   // transact() threw (committed or not, but never in part)
  std::map<ErrorCode, int> failures;  // by code
  std::vector<std::chrono::steady_clock::time_point> failed_at;  // when each failure was seen
  std::vector<ErrorCode> failed_code;
  std::vector<std::string> failed_what;
  std::atomic<int> acked_count{0};
};

std::string WriterKey(int writer, std::int64_t n, char part) {
  return "w" + std::to_string(writer) + "-" + std::to_string(n) + "-" + part;
}

TEST_F(PgEngineTest, ServerRestartUnderWriteLoadLosesNothingAcknowledged) {
  constexpr int kWriters = 4;
  constexpr int kRestarts = 2;
  std::unique_ptr<PgCluster> cluster = PgCluster::Start();
  Options options;
  options.busy_timeout = milliseconds(3000);
  auto store = Store::open(cluster->uri(), options);
  // Two worker processes write too (write-forever: each transaction sets ("app","a") and
  // ("app","b") to the next integer N, then prints "ack N"; on a failure it prints the error and
  // exits).
  std::vector<ChildProcess> workers;
  for (int p = 0; p < 2; ++p) {
    workers.push_back(ChildProcess::SpawnWorker({"write-forever", cluster->uri()}));
    ASSERT_TRUE(workers.back().WaitForLine("ready", kChildTimeout));
  }

  std::atomic<bool> stop{false};
  ThreadErrors unexpected;
  std::vector<WriterLog> logs(kWriters);
  std::vector<std::thread> writers;
  for (int t = 0; t < kWriters; ++t) {
    writers.emplace_back([&, t] {
      WriterLog& log = logs[t];
      for (std::int64_t n = 0; !stop.load(); ++n) {
        try {
          store->transact([&](Transaction& tx) {
            for (char part : {'a', 'b', 'c'}) tx.put("load", WriterKey(t, n, part), Value(n));
          });
          std::lock_guard<std::mutex> lock(log.mu);
          log.acked.push_back(n);
          log.acked_count.fetch_add(1);
        } catch (const Error& e) {
          std::lock_guard<std::mutex> lock(log.mu);
          log.failed.push_back(n);
          log.failed_at.push_back(std::chrono::steady_clock::now());
          log.failed_code.push_back(e.code());
          log.failed_what.push_back(e.what());
          ++log.failures[e.code()];
          if (e.code() != ErrorCode::kBusy && e.code() != ErrorCode::kUnavailable &&
              e.code() != ErrorCode::kCommitUnknown) {
            unexpected.Add(std::string(ToString(e.code())) + ": " + e.what());
          }
        } catch (const std::exception& e) {
          unexpected.Add(std::string("exception: ") + e.what());
        }
      }
    });
  }
  // Waits (polling, with a deadline) until every writer has `more` more acknowledged commits.
  auto wait_for_progress = [&](int more) {
    std::vector<int> target;
    for (auto& log : logs) target.push_back(log.acked_count.load() + more);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60 * kSlowFactor);
    for (int t = 0; t < kWriters; ++t) {
      while (logs[t].acked_count.load() < target[t] &&
             std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(milliseconds(5));
      }
      if (logs[t].acked_count.load() < target[t]) return false;
    }
    return true;
  };

  bool progressed = wait_for_progress(20);
  EXPECT_TRUE(progressed) << "writers made no progress before the restart";
  std::vector<double> recover_ms, restart_ms;
  std::vector<std::chrono::steady_clock::time_point> restart_start;
  for (int r = 0; r < kRestarts && progressed; ++r) {
    restart_start.push_back(std::chrono::steady_clock::now());
    cluster->Restart("immediate");
    restart_ms.push_back(std::chrono::duration<double, std::milli>(
                             std::chrono::steady_clock::now() - restart_start.back())
                             .count());
    // The store works again without reopening: a put succeeds within a few seconds.
    const auto back = std::chrono::steady_clock::now();
    std::optional<Error> last;
    bool ok = false;
    while (!ok &&
           std::chrono::steady_clock::now() - back < std::chrono::seconds(10 * kSlowFactor)) {
      try {
        store->put("probe", "after_restart", Value(r));
        ok = true;
      } catch (const Error& e) {
        last = e;
      }
    }
    recover_ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - back).count());
    EXPECT_TRUE(ok) << "no put succeeded after restart " << r << ": " << (last ? last->what() : "");
    progressed = wait_for_progress(20);
    EXPECT_TRUE(progressed) << "writers made no progress after restart " << r;
  }
  stop = true;
  for (auto& w : writers) w.join();
  EXPECT_EQ(unexpected.count(), 0) << unexpected.Summary();
  // The workers' acknowledgements and failures.
  std::int64_t worker_max_ack = 0;
  std::set<std::int64_t> worker_acks;
  for (auto& w : workers) {
    w.Kill(SIGKILL);
    w.Wait(kChildTimeout);
    std::istringstream out(w.ReadAll(kChildTimeout));
    std::string line;
    while (std::getline(out, line)) {
      if (line.rfind("ack ", 0) == 0) {
        worker_acks.insert(std::stoll(line.substr(4)));
        worker_max_ack = std::max<std::int64_t>(worker_max_ack, std::stoll(line.substr(4)));
      } else {
        // "error <number> <name>: <message>" (the message may go on over several lines).
        std::cout << "worker: " << line << "\n";
        if (line.rfind("error ", 0) == 0) {
          EXPECT_TRUE(Contains(line, " busy:") || Contains(line, " unavailable:") ||
                      Contains(line, " commit_unknown:"))
              << line;
        }
      }
    }
  }
  std::cout << "workers acknowledged " << worker_acks.size() << " transactions\n";
  EXPECT_GT(worker_acks.size(), 0u);
  {
    // Every acknowledged N is in history as a's new value, and the state is at least the
    // highest.
    HistoryQuery q;
    q.keyspace = "app";
    q.key_prefix = "a";
    std::set<std::int64_t> in_history;
    for (const Commit& c : store->history(q)) {
      for (const Change& ch : c.changes) {
        if (ch.key == "a" && ch.new_value) in_history.insert(ch.new_value->as_int());
      }
    }
    int missing = 0;
    for (std::int64_t n : worker_acks) {
      if (in_history.count(n) == 0 && ++missing <= 5) {
        ADD_FAILURE() << "worker's acknowledged commit " << n << " missing";
      }
    }
    const auto a = store->get("app", "a");
    ASSERT_TRUE(a.has_value());
    EXPECT_GE(a->as_int(), worker_max_ack);
    EXPECT_EQ(store->get("app", "b"), a);
  }

  std::map<ErrorCode, int> failures;
  std::size_t acked = 0;
  for (auto& log : logs) {
    for (const auto& [code, count] : log.failures) failures[code] += count;
    acked += log.acked.size();
  }
  std::cout << "restart under load: " << acked << " acknowledged transactions; failures:";
  for (const auto& [code, count] : failures) std::cout << " " << ToString(code) << "=" << count;
  if (failures.empty()) std::cout << " none";
  std::cout << "; first put after each restart took";
  for (double ms : recover_ms) std::cout << " " << ms << " ms";
  std::cout << " (pg_ctl restart took";
  for (double ms : restart_ms) std::cout << " " << ms << " ms";
  std::cout << ")\n";

  // Every acknowledged transaction is there in full; every failed one wholly or not at all.
  std::map<std::string, std::int64_t> state;
  for (const Entry& e : store->list("load")) state[e.key] = e.value.as_int();
  int bad = 0;
  for (int t = 0; t < kWriters; ++t) {
    for (std::int64_t n : logs[t].acked) {
      for (char part : {'a', 'b', 'c'}) {
        auto it = state.find(WriterKey(t, n, part));
        if ((it == state.end() || it->second != n) && ++bad <= 5) {
          ADD_FAILURE() << "acknowledged " << WriterKey(t, n, part) << " is missing";
        }
      }
    }
    for (std::size_t i = 0; i < logs[t].failed.size(); ++i) {
      const std::int64_t n = logs[t].failed[i];
      const int present =
          static_cast<int>(state.count(WriterKey(t, n, 'a')) + state.count(WriterKey(t, n, 'b')) +
                           state.count(WriterKey(t, n, 'c')));
      // When it failed, relative to the start of the latest restart before it, and whether it
      // turned out committed (allowed for kCommitUnknown only).
      double after_ms = -1;
      for (const auto& start : restart_start) {
        if (start <= logs[t].failed_at[i]) {
          after_ms =
              std::chrono::duration<double, std::milli>(logs[t].failed_at[i] - start).count();
        }
      }
      std::cout << "  failed transaction w" << t << "-" << n << " ("
                << ToString(logs[t].failed_code[i]) << "): " << after_ms
                << " ms after the restart began, " << (present == 3 ? "committed" : "not committed")
                << "\n    " << logs[t].failed_what[i] << "\n";
      if (present != 0 && present != 3 && ++bad <= 5) {
        ADD_FAILURE() << "failed transaction w" << t << "-" << n << " is partly committed";
      }
      // kBusy and kUnavailable promise that nothing took effect (error.h).
      if (present != 0 && logs[t].failed_code[i] != ErrorCode::kCommitUnknown && ++bad <= 5) {
        ADD_FAILURE() << "failed transaction w" << t << "-" << n << " ("
                      << ToString(logs[t].failed_code[i]) << ") was committed";
      }
    }
  }
  EXPECT_EQ(bad, 0);

  // History: gapless, and every commit complete (three changes of one transaction, or the
  // probe's one), matching the state.
  const HistoryBounds bounds = store->history_bounds();
  std::size_t load_keys = 0;
  for (Revision rev = bounds.first; rev <= bounds.head; ++rev) {
    std::optional<Commit> c = store->commit_at(rev);
    if (!c) {
      if (++bad <= 5) ADD_FAILURE() << "revision " << rev << " missing from history";
      continue;
    }
    if (c->changes.size() == 1 && c->changes[0].keyspace == "probe") continue;
    if (!c->changes.empty() && c->changes[0].keyspace == "app") {  // a worker's: a, filler, b
      bool ok = c->changes.size() == 3 && c->changes[0].key == "a" &&
                c->changes[1].key == "filler" && c->changes[2].key == "b" &&
                c->changes[0].new_value == c->changes[2].new_value;
      if (!ok && ++bad <= 5) ADD_FAILURE() << "worker revision " << rev << " is incomplete";
      continue;
    }
    bool ok = c->changes.size() == 3;
    for (const Change& ch : c->changes) {
      ok = ok && ch.keyspace == "load" && ch.new_value.has_value() && state.count(ch.key) == 1 &&
           Value(state[ch.key]) == *ch.new_value &&
           ch.key.substr(0, ch.key.size() - 1) == c->changes[0].key.substr(0, ch.key.size() - 1);
    }
    load_keys += c->changes.size();
    if (!ok && ++bad <= 5) ADD_FAILURE() << "revision " << rev << " is incomplete";
  }
  EXPECT_EQ(bad, 0);
  EXPECT_EQ(load_keys, state.size());
  store->put("probe", "final", Value(1));
  EXPECT_EQ(store->get("probe", "final"), std::optional<Value>(Value(1)));
}

// A crash while COMMIT is in flight, its commit record not yet flushed: the transaction is lost,
// and after recovery the server hands its transaction id out again (nextXid restarts from the
// WAL). The store must then not report the lost transaction as committed (pg_group_writer.h:
// "'committed' is reported as committed") because some other transaction now has that id.
// To hold COMMIT open, a deferred constraint trigger sleeps at COMMIT for commits labelled
// "slow"; wal_writer_delay is long and autovacuum off so nothing else flushes the WAL meanwhile.
TEST_F(PgEngineTest, CrashDuringCommitIsNeverReportedCommittedWhenLost) {
  PgCluster::Settings settings;
  settings.server_settings = {"wal_writer_delay=10000", "autovacuum=off"};
  std::unique_ptr<PgCluster> cluster = PgCluster::Start(settings);
  Options options;
  options.busy_timeout = milliseconds(10'000);
  auto store = Store::open(cluster->uri(), options);
  store->put("app", "before", Value(1));
  AdminExec(cluster->conninfo(),
            "CREATE FUNCTION public.slow_commit() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN PERFORM pg_sleep(3); RETURN NULL; END $$; "
            "CREATE CONSTRAINT TRIGGER slow_commit AFTER INSERT ON statestore.commits "
            "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.label = 'slow') "
            "EXECUTE FUNCTION public.slow_commit()");

  std::optional<Revision> committed;
  std::optional<Error> failure;
  std::thread caller([&] {
    try {
      TransactOptions slow;
      slow.label = "slow";
      committed = store->transact([&](Transaction& tx) { tx.put("app", "lost", Value(1)); }, slow);
    } catch (const Error& e) {
      failure = e;
    }
  });
  // Wait (polling, with a deadline) until the writer is inside COMMIT, and note its xid.
  std::string xid;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30 * kSlowFactor);
  while (xid.empty() && std::chrono::steady_clock::now() < deadline) {
    xid = AdminValue(cluster->conninfo(),
                     "SELECT backend_xid FROM pg_stat_activity WHERE application_name = "
                     "'statestore' AND state = 'active' AND query = 'COMMIT'");
    if (xid.empty()) std::this_thread::sleep_for(milliseconds(5));
  }
  ASSERT_FALSE(xid.empty()) << "the writer never reached COMMIT";
  cluster->Restart("immediate");
  // Other clients of the server go on: they take transaction ids, and one of them is the lost
  // transaction's again.
  std::vector<std::string> taken;
  {
    PgConnPtr other = AdminConnect(cluster->conninfo());
    taken.push_back(AdminValue(cluster->conninfo(), "SELECT pg_current_xact_id()"));
    for (int i = 0; i < 20; ++i) {
      PgResultPtr b(PQexec(other.get(), "BEGIN"), &PQclear);
      PgResultPtr r(PQexec(other.get(), "SELECT pg_current_xact_id()"), &PQclear);
      if (PQresultStatus(r.get()) == PGRES_TUPLES_OK) taken.push_back(PQgetvalue(r.get(), 0, 0));
      PgResultPtr c(PQexec(other.get(), "COMMIT"), &PQclear);
    }
  }
  caller.join();
  const bool reused = std::find(taken.begin(), taken.end(), xid) != taken.end();
  std::cout << "writer's xid " << xid << "; other clients took " << taken.size()
            << " ids after the restart, " << taken.front() << " to " << taken.back()
            << (reused ? " (the lost transaction's id was handed out again)" : "")
            << "; transact() "
            << (committed ? "reported committed" : std::string("failed: ") + failure->what())
            << "\n";
  const std::optional<Value> lost = store->get("app", "lost");
  if (committed) {
    EXPECT_EQ(lost, std::optional<Value>(Value(1)))
        << "transact() returned revision " << *committed << " but its write is not there";
    std::optional<Commit> c = store->commit_at(*committed);
    EXPECT_TRUE(c.has_value() && c->origin.label == "slow")
        << "revision " << *committed << " is not the reported commit";
  } else {
    ASSERT_TRUE(failure.has_value());
    EXPECT_TRUE(failure->code() == ErrorCode::kCommitUnknown ||
                (failure->code() == ErrorCode::kUnavailable && !lost))
        << failure->what();
  }
  // Whatever it said, the store works on.
  EXPECT_GT(store->put("app", "after", Value(1)), 0u);
}

// ---------------------------------------------------------------------------------------------
// 6. pg_terminate_backend of the writer in the middle of a body.

TEST_F(PgEngineTest, TerminatedWriterBackendRerunsBodyOrFailsCleanly) {
  TestDatabase db(*cluster_);
  auto store = Store::open(db.uri());
  store->put("app", "before", Value(0));

  // read_after_resume: whether the body reads from the server after its backend was terminated
  // (else it only writes, and the failure shows at commit).
  for (bool read_after_resume : {false, true}) {
    SCOPED_TRACE(read_after_resume ? "body reads after resume" : "body only writes");
    const Revision head_before = store->history_bounds().head;
    const std::optional<Value> a_before = store->get("app", "a");
    const std::optional<Value> b_before = store->get("app", "b");
    std::atomic<int> runs{0};
    Latch started, resume;
    std::optional<Revision> committed;
    std::optional<Error> failure;
    std::thread caller([&] {
      try {
        committed = store->transact([&](Transaction& tx) {
          const int run = ++runs;
          tx.put("app", "a", Value(run));
          if (run == 1) {
            started.Open();
            resume.Wait(kChildTimeout);
          }
          if (read_after_resume) tx.get("app", "before");
          tx.put("app", "b", Value(run));
        });
      } catch (const Error& e) {
        failure = e;
      }
    });
    ASSERT_TRUE(started.Wait(kChildTimeout));
    // The writer's backend: the one connection of this database inside a transaction (it holds
    // the head row's lock); readers and the listener are idle.
    const std::string find =
        "SELECT pid FROM pg_stat_activity WHERE datname = '" + db.name() +
        "' AND application_name = 'statestore' AND state LIKE 'idle in transaction%' AND "
        "pid <> pg_backend_pid()";
    Rows writer = AdminQuery(cluster_->conninfo(), find);
    ASSERT_EQ(writer.size(), 1u);
    const std::string pid = writer[0][0];
    EXPECT_EQ(AdminValue(cluster_->conninfo(), "SELECT pg_terminate_backend(" + pid + ")"), "t");
    // pg_terminate_backend only signals: wait (polling, with a deadline) until the backend is
    // gone, so the body resumes on a connection the server has closed.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30 * kSlowFactor);
    while (AdminValue(cluster_->conninfo(),
                      "SELECT count(*) FROM pg_stat_activity WHERE pid = " + pid) != "0" &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(milliseconds(5));
    }
    resume.Open();
    caller.join();

    std::cout << (read_after_resume ? "read" : "write")
              << " body after pg_terminate_backend: " << (committed ? "committed" : "failed")
              << " after " << runs.load() << " run(s)"
              << (failure ? std::string(": ") + failure->what() : std::string()) << "\n";
    if (committed) {
      EXPECT_EQ(runs.load(), 2);
      EXPECT_EQ(*committed, head_before + 1);
      EXPECT_EQ(store->get("app", "a"), std::optional<Value>(Value(2)));
      EXPECT_EQ(store->get("app", "b"), std::optional<Value>(Value(2)));
      std::optional<Commit> c = store->commit_at(*committed);
      ASSERT_TRUE(c.has_value());
      ASSERT_EQ(c->changes.size(), 2u);
      EXPECT_EQ(c->changes[0].new_value, std::optional<Value>(Value(2)));
      EXPECT_EQ(c->changes[1].new_value, std::optional<Value>(Value(2)));
      EXPECT_EQ(store->history_bounds().head, head_before + 1);
    } else {
      ASSERT_TRUE(failure.has_value());
      EXPECT_EQ(failure->code(), ErrorCode::kUnavailable) << failure->what();
      EXPECT_EQ(store->history_bounds().head, head_before);
      EXPECT_EQ(store->get("app", "a"), a_before);
      EXPECT_EQ(store->get("app", "b"), b_before);
    }
    // The server agrees with the store (no partial commit), and the store goes on working.
    EXPECT_EQ(AdminValue(db.conninfo(),
                         "SELECT (SELECT value FROM statestore.meta WHERE name = 'head_revision') "
                         "= (SELECT coalesce(max(revision), 0) FROM statestore.commits)"),
              "t");
    EXPECT_EQ(AdminValue(db.conninfo(),
                         "SELECT count(*) FROM statestore.changes c WHERE NOT EXISTS (SELECT 1 "
                         "FROM statestore.commits m WHERE m.revision = c.revision)"),
              "0");
    const Revision next = store->put("app", "after", Value(1));
    EXPECT_EQ(next, store->history_bounds().head);
  }
}

// ---------------------------------------------------------------------------------------------
// 6b. The session reaper: one process of the fleet sweeps (PgStore::TakeSweepTurn), and another
// takes over when it goes.

TEST_F(PgEngineTest, OneProcessSweepsExpiredSessionsAndAnotherTakesOver) {
  TestDatabase db(*cluster_);
  // The worker opens first and, once it has swept, holds the sweep turn.
  ChildProcess worker = ChildProcess::SpawnWorker({"sweep-serve", db.uri(), "50"});
  ASSERT_TRUE(worker.WaitForLine("ready", kChildTimeout));
  auto worker_sweeps = [&]() -> std::uint64_t {
    EXPECT_TRUE(worker.Write("stats\n"));
    auto line = worker.ReadLine(kChildTimeout);
    EXPECT_TRUE(line && line->rfind("sweeps ", 0) == 0) << line.value_or("(no answer)");
    return line ? std::stoull(line->substr(7)) : 0;
  };
  ASSERT_TRUE(worker.Write("expire 5\n"));
  ASSERT_TRUE(worker.WaitForLine("created", kChildTimeout));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10 * kSlowFactor);
  while (worker_sweeps() == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_GT(worker_sweeps(), 0u) << "the worker's reaper never swept";

  Options options;
  options.sessions.sweep_interval = std::chrono::milliseconds(50);
  auto store = Store::open(db.uri(), options);
  // Expired sessions made here are swept — by the worker, never by this process's reaper,
  // though it asks for its turn every 50 ms.
  const std::uint64_t before = worker_sweeps();
  for (int round = 0; round < 10; ++round) {
    for (int i = 0; i < 3; ++i) store->sessions().create(std::chrono::microseconds(1));
    std::this_thread::sleep_for(std::chrono::milliseconds(60));
  }
  const auto swept_deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(10 * kSlowFactor);
  while (store->sessions().count() > 0 && std::chrono::steady_clock::now() < swept_deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(store->sessions().count(), 0u) << "expired sessions were not swept";
  EXPECT_GT(worker_sweeps(), before);
  EXPECT_EQ(store->stats().sweep_runs, 0u) << "two processes swept the same store";

  // The worker goes (its connection, and with it the lock): this process's reaper takes over.
  ASSERT_TRUE(worker.Write("quit\n"));
  EXPECT_EQ(worker.Wait(kChildTimeout), 0);
  for (int i = 0; i < 3; ++i) store->sessions().create(std::chrono::microseconds(1));
  const auto takeover_deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(10 * kSlowFactor);
  while (store->stats().sweep_runs == 0 && std::chrono::steady_clock::now() < takeover_deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_GT(store->stats().sweep_runs, 0u) << "no reaper took over after the sweeper exited";
  EXPECT_EQ(store->sessions().count(), 0u);
}

// ---------------------------------------------------------------------------------------------
// 7. The opt-in read cache's staleness, and the default's strictness.

TEST_F(PgEngineTest, BoundedStalenessCacheConvergesAndDefaultIsStrict) {
  constexpr int kRounds = 50;
  {
    TestDatabase db(*cluster_);
    Options options;
    options.postgres.cache_reads_with_bounded_staleness = true;
    auto store = Store::open(db.uri(), options);
    store->put("app", "k", Value(0));
    ChildProcess worker = ChildProcess::SpawnWorker({"serve", db.uri()});
    ASSERT_TRUE(worker.WaitForLine("ready", kChildTimeout));
    std::vector<double> ms;
    for (int round = 1; round <= kRounds; ++round) {
      // The cache holds the previous value (this read, and the one before, filled it).
      ASSERT_EQ(store->get("app", "k"), std::optional<Value>(Value(round - 1)));
      ASSERT_TRUE(worker.Write("put app k " + std::to_string(round) + "\n"));
      auto line = worker.ReadLine(kChildTimeout);
      ASSERT_TRUE(line && line->rfind("rev ", 0) == 0) << line.value_or("(no answer)");
      // From the moment the other process's put returned (give or take the pipe).
      const auto acked = std::chrono::steady_clock::now();
      const auto deadline = acked + std::chrono::seconds(2 * kSlowFactor);
      bool seen = false;
      while (!(seen = store->get("app", "k") == std::optional<Value>(Value(round))) &&
             std::chrono::steady_clock::now() < deadline) {
        std::this_thread::yield();
      }
      const double elapsed =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - acked)
              .count();
      EXPECT_TRUE(seen) << "round " << round << ": not seen after " << elapsed << " ms";
      ms.push_back(elapsed);
    }
    const Stats stats = store->stats();
    EXPECT_GT(stats.cache_hits, 0u) << "the cache was not used";
    std::cout << "bounded-staleness cache, another process's put -> seen here, " << kRounds
              << " rounds: median " << Percentile(ms, 0.5) << " ms, p99 " << Percentile(ms, 0.99)
              << " ms, max " << *std::max_element(ms.begin(), ms.end()) << " ms (cache hits "
              << stats.cache_hits << ")\n";
    ASSERT_TRUE(worker.Write("quit\n"));
    EXPECT_EQ(worker.Wait(kChildTimeout), 0);
  }
  {
    // Default options: a read that starts after another process's put returned sees it.
    TestDatabase db(*cluster_);
    auto store = Store::open(db.uri());
    store->put("app", "k", Value(0));
    ChildProcess worker = ChildProcess::SpawnWorker({"serve", db.uri()});
    ASSERT_TRUE(worker.WaitForLine("ready", kChildTimeout));
    for (int round = 1; round <= kRounds; ++round) {
      ASSERT_EQ(store->get("app", "k"), std::optional<Value>(Value(round - 1)))
          << "round " << round;
      ASSERT_TRUE(worker.Write("put app k " + std::to_string(round) + "\n"));
      auto line = worker.ReadLine(kChildTimeout);
      ASSERT_TRUE(line && line->rfind("rev ", 0) == 0) << line.value_or("(no answer)");
      const auto v = store->get("app", "k");
      if (v != std::optional<Value>(Value(round))) {
        ADD_FAILURE() << "round " << round << ": stale read right after the put";
        while (store->get("app", "k") != std::optional<Value>(Value(round))) {
          std::this_thread::yield();
        }
      }
    }
    ASSERT_TRUE(worker.Write("quit\n"));
    EXPECT_EQ(worker.Wait(kChildTimeout), 0);
  }
}

}  // namespace
}  // namespace statestore::test

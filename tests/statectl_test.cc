// statectl (issue 5): runs the built binary (posix_spawn) on databases built by the library and
// checks stdout (tables and --json, parsed with nlohmann-json), stderr and exit codes.
//
//   1. every subcommand on a fixture database (keyspaces, binary values, several commits,
//      sessions, config);
//   2. backup taken while 4 threads write: opens, passes verify, equals the source as of its
//      head revision (state rebuilt from the source's history);
//   3. follow sees a commit made by another process within 1 s, and exits 0 on SIGINT/SIGTERM;
//   4. safety: a non-SQLite file, a truncated file and a hostile schema are left byte-for-byte
//      unchanged by inspect and dump, which fail with one clear line (or work read-only);
//   5. verify detects a history row edited with the sqlite3 shell, exits 4, names the revision;
//   6. (issue 10) every human-readable output escapes control characters, C1 controls, bidi
//      overrides and invalid UTF-8 (follow included); values of redacted keyspaces are hidden
//      unless --reveal (get, dump, history, show, diff, sessions show, verify); set takes a value
//      from --file or standard input up to the library's limit;
//   and exit codes 2 (usage) and 3 (not found). statectl_misuse_test holds the table of hostile
//   command lines.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "old_schemas.h"
#include "statectl_json.h"
#include "statectl_runner.h"
#include "statestore/admin.h"
#include "statestore/statestore.h"
#include "test_util.h"

namespace statestore {
namespace {

using nlohmann::json;
using test::Contains;
using test::Describe;
using test::kStatectl;
using test::TempDir;

using Result = test::CtlResult;

// Runs statectl with `args` (and `env` added to the environment; "NAME=" removes NAME), standard
// input from `stdin_path`.
Result Ctl(const std::vector<std::string>& args,
           const std::vector<std::string>& env = {"STATESTORE_DB="},
           const std::string& stdin_path = "/dev/null") {
  test::CtlOptions o;
  o.env = env;
  o.stdin_path = stdin_path;
  return test::RunStatectl(args, o);
}

// Exactly one line "statectl: ..." on stderr.
void ExpectOneErrorLine(const Result& r) {
  EXPECT_EQ(r.err.rfind("statectl: ", 0), 0u) << Describe(r);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << Describe(r);
}

json Json(const Result& r) { return test::CtlJsonOutput(r); }

std::vector<json> JsonLines(const Result& r) {
  EXPECT_EQ(r.code, 0) << Describe(r);
  std::vector<json> out;
  std::istringstream in(r.out);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    try {
      out.push_back(json::parse(line));
    } catch (const std::exception& e) {
      ADD_FAILURE() << "not a JSON line: " << line;
    }
  }
  return out;
}

Result Sqlite(const std::string& db, const std::string& sql) {
  Result r;
  auto child = test::ChildProcess::Spawn({test::kSqliteShellPath, db});
  child.Write(sql + "\n.quit\n");
  child.CloseStdin();
  r.out = child.ReadAll(std::chrono::seconds(30));
  r.code = child.Wait(std::chrono::seconds(30));
  return r;
}

// The session clock of the fixture: the real time plus an offset the test moves.
std::atomic<std::int64_t> g_clock_offset_s{0};

struct Fixture {
  std::string token_live;
  std::string token_expired;
  Revision greeting_rev = 0;  // the revision that set app/greeting to "hello"
  Revision head = 0;
};

// A database with keyspaces app and inventory, binary values, several commits (one erase), a
// live and an expired session, and config keys.
Fixture BuildFixture(const std::string& path) {
  Fixture f;
  Options o;
  o.origin_label = "fixture";
  o.sessions.sweep_interval = std::chrono::milliseconds(0);
  o.sessions.clock = [] { return Clock::now() + std::chrono::seconds(g_clock_offset_s.load()); };
  auto store = Store::open(path, o);
  store->put("app", "greeting", Value("hi"));
  f.greeting_rev = store->transact([](Transaction& tx) {
    tx.put("app", "greeting", Value("hello"));
    tx.put("app", "count", Value(41));
    tx.put("app", "blob", Value(Bytes{0x00, 0x01, 0x02, 0xff}));
  });
  store->transact([](Transaction& tx) {
    tx.put("inventory", "apples", Value(12));
    tx.put("inventory", "pears", Value(3.5));
    tx.put("inventory", "ripe", Value(true));
    tx.put("inventory", "note", Value(std::string(200, 'x')));
  });
  store->put("app", "count", Value(42));
  store->put("app", "temp", Value("scratch"));
  store->erase("app", "temp");
  // A session that expired (created two hours "ago" with a one-minute TTL) and a live one.
  g_clock_offset_s = -7200;
  f.token_expired =
      store->sessions().create(std::chrono::minutes(1), {{"user", Value("bob")}}, "bob");
  g_clock_offset_s = 0;
  f.token_live = store->sessions().create(std::chrono::hours(1),
                                          {{"user", Value("alice")}, {"cart", Value(3)}}, "alice");
  store->config().set("net.http.port", ConfigValue(8080));
  store->config().set("feature.name", ConfigValue("blue"));
  f.head = store->history_bounds().head;
  return f;
}

class StatectlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = dir_.file("app.db");
    fx_ = BuildFixture(db_);
  }
  // No output of any command may contain a session token.
  void ExpectNoToken(const Result& r) {
    for (const auto& t : {fx_.token_live, fx_.token_expired}) {
      EXPECT_FALSE(Contains(r.out, t)) << Describe(r);
      EXPECT_FALSE(Contains(r.err, t)) << Describe(r);
    }
  }

  TempDir dir_;
  std::string db_;
  Fixture fx_;
};

// ---- 1. every subcommand

TEST_F(StatectlTest, HelpAndVersion) {
  auto r = Ctl({"--help"});
  EXPECT_EQ(r.code, 0) << Describe(r);
  for (const char* cmd : {"inspect",
                          "dump",
                          "history",
                          "show",
                          "diff",
                          "follow",
                          "get",
                          "set",
                          "rm",
                          "ttl",
                          "sessions",
                          "config",
                          "backup",
                          "restore",
                          "verify",
                          "migrate",
                          "compact-history",
                          "revert",
                          "Examples",
                          "Exit codes"}) {
    EXPECT_TRUE(Contains(r.out, cmd)) << cmd << "\n" << r.out;
  }
  r = Ctl({"history", "--help"});
  EXPECT_EQ(r.code, 0);
  EXPECT_TRUE(Contains(r.out, "--since")) << r.out;
  EXPECT_TRUE(Contains(r.out, "Examples")) << r.out;
  r = Ctl({"sessions", "list", "--help"});
  EXPECT_EQ(r.code, 0);
  EXPECT_TRUE(Contains(r.out, "Example")) << r.out;
  r = Ctl({"--version"});
  EXPECT_EQ(r.code, 0);
  EXPECT_TRUE(Contains(r.out, LibraryVersion())) << r.out;
}

TEST_F(StatectlTest, Inspect) {
  const std::string before = test::ReadFile(db_);
  auto r = Ctl({"inspect", db_});
  ASSERT_EQ(r.code, 0) << Describe(r);
  EXPECT_TRUE(Contains(r.out, "journal mode:")) << r.out;
  EXPECT_TRUE(Contains(r.out, "wal")) << r.out;
  EXPECT_TRUE(Contains(r.out, "integrity:")) << r.out;
  EXPECT_TRUE(Contains(r.out, "KEYSPACE")) << r.out;
  EXPECT_TRUE(Contains(r.out, "inventory")) << r.out;
  EXPECT_TRUE(Contains(r.out, "1 live, 1 expired")) << r.out;
  json j = Json(Ctl({"inspect", db_, "--json"}));
  EXPECT_EQ(j["schema_version"], SchemaVersion());
  EXPECT_EQ(j["journal_mode"], "wal");
  EXPECT_EQ(j["integrity"], "ok");
  EXPECT_EQ(j["page_size"].get<int>() > 0, true);
  EXPECT_EQ(j["history"]["head"], fx_.head);
  EXPECT_EQ(j["history"]["first"], 1);
  EXPECT_EQ(j["sessions"]["live"], 1);
  EXPECT_EQ(j["sessions"]["expired"], 1);
  std::map<std::string, json> ks;
  for (const auto& k : j["keyspaces"]) ks[k["name"]] = k;
  EXPECT_EQ(ks["app"]["keys"], 3);  // greeting, count, blob
  EXPECT_EQ(ks["inventory"]["keys"], 4);
  EXPECT_EQ(ks["sessions"]["redacted"], true);
  EXPECT_EQ(ks["app"]["redacted"], false);
  // Reading never changed the file.
  EXPECT_EQ(test::ReadFile(db_), before);
}

TEST_F(StatectlTest, Dump) {
  auto r = Ctl({"dump", db_});
  ASSERT_EQ(r.code, 0) << Describe(r);
  ExpectNoToken(r);
  EXPECT_EQ(r.out.rfind("KEYSPACE", 0), 0u) << r.out;
  EXPECT_TRUE(Contains(r.out, "VALUE")) << r.out;
  EXPECT_TRUE(Contains(r.out, "\"hello\"")) << r.out;
  EXPECT_TRUE(Contains(r.out, "0x000102ff (4 bytes)")) << r.out;
  EXPECT_TRUE(Contains(r.out, "...")) << r.out;  // the 200-character note is shortened
  EXPECT_FALSE(Contains(r.out, std::string(100, 'x'))) << r.out;
  json j = Json(Ctl({"dump", db_, "--json"}));
  EXPECT_EQ(j["head_revision"], fx_.head);
  std::map<std::string, json> app;
  for (const auto& e : j["keyspaces"]["app"]) app[e["key"]] = e;
  EXPECT_EQ(app.size(), 3u);
  EXPECT_EQ(app["greeting"]["value"]["type"], "string");
  EXPECT_EQ(app["greeting"]["value"]["value"], "hello");
  EXPECT_EQ(app["count"]["value"]["value"], 42);
  EXPECT_EQ(app["blob"]["value"]["type"], "bytes");
  EXPECT_EQ(app["blob"]["value"]["value"], "000102ff");
  EXPECT_EQ(app["greeting"]["version"], fx_.greeting_rev);
  for (const auto& e : j["keyspaces"]["sessions"]) {
    EXPECT_EQ(e["value"]["redacted"], true) << e.dump();
  }
  json inv = Json(Ctl({"dump", db_, "--json", "--keyspace", "inventory"}));
  EXPECT_EQ(inv["keyspaces"].size(), 1u);
  EXPECT_EQ(inv["keyspaces"]["inventory"].size(), 4u);
  auto missing = Ctl({"dump", db_, "--keyspace", "nope"});
  EXPECT_EQ(missing.code, 3) << Describe(missing);
}

TEST_F(StatectlTest, GetSetRm) {
  auto r = Ctl({"get", db_, "app", "greeting"});
  EXPECT_EQ(r.code, 0) << Describe(r);
  EXPECT_EQ(r.out, "hello\n");
  json j = Json(Ctl({"get", db_, "app", "blob", "--json"}));
  EXPECT_EQ(j["value"]["type"], "bytes");
  EXPECT_EQ(j["value"]["value"], "000102ff");
  EXPECT_EQ(Ctl({"get", db_, "inventory", "pears"}).out, "3.5\n");

  r = Ctl({"set", db_, "app", "retries", "7", "--int"});
  ASSERT_EQ(r.code, 0) << Describe(r);
  EXPECT_EQ(r.out, "revision " + std::to_string(fx_.head + 1) + "\n");
  j = Json(Ctl({"get", db_, "app", "retries", "--json"}));
  EXPECT_EQ(j["value"]["type"], "int");
  EXPECT_EQ(j["value"]["value"], 7);
  EXPECT_EQ(j["version"], fx_.head + 1);
  j = Json(Ctl({"set", db_, "app", "raw", "cafe00", "--bytes-hex", "--json"}));
  EXPECT_EQ(j["value"]["type"], "bytes");
  EXPECT_EQ(Ctl({"get", db_, "app", "raw"}).out, "cafe00\n");
  EXPECT_EQ(Ctl({"set", db_, "app", "ratio", "0.25", "--type", "double"}).code, 0);
  EXPECT_EQ(Ctl({"set", db_, "app", "on", "true", "--bool"}).code, 0);
  EXPECT_EQ(Json(Ctl({"get", db_, "app", "on", "--json"}))["value"]["value"], true);

  // Writes land in history with origin "statectl".
  auto h = JsonLines(Ctl({"history", db_, "--origin", "statectl", "--reverse", "--json"}));
  ASSERT_EQ(h.size(), 4u);
  EXPECT_EQ(h[0]["origin"]["label"], "statectl");
  EXPECT_EQ(h[0]["changes"][0]["key"], "retries");

  r = Ctl({"rm", db_, "app", "retries"});
  EXPECT_EQ(r.code, 0) << Describe(r);
  r = Ctl({"get", db_, "app", "retries"});
  EXPECT_EQ(r.code, 3) << Describe(r);
  ExpectOneErrorLine(r);
  EXPECT_TRUE(Contains(r.err, "retries")) << r.err;
  r = Ctl({"rm", db_, "app", "retries"});
  EXPECT_EQ(r.code, 3) << Describe(r);
  // With --json the error is also a JSON document on stdout.
  r = Ctl({"get", db_, "app", "retries", "--json"});
  EXPECT_EQ(r.code, 3) << Describe(r);
  ExpectOneErrorLine(r);
  json err = json::parse(r.out);
  EXPECT_EQ(err["error"]["code"], "not_found");
  r = Ctl({"show", dir_.file("missing.db"), "1", "--json"});
  EXPECT_EQ(r.code, 3) << Describe(r);
  EXPECT_EQ(json::parse(r.out)["error"]["code"], "not_found");
  // The sessions keyspace is the sessions API's.
  r = Ctl({"set", db_, "sessions", "x", "y"});
  EXPECT_EQ(r.code, 2) << Describe(r);
  ExpectOneErrorLine(r);
}

TEST_F(StatectlTest, TimeToLive) {
  auto r = Ctl({"set", db_, "cache", "result", "42", "--int", "--ttl", "1h"});
  ASSERT_EQ(r.code, 0) << Describe(r);
  json j = Json(Ctl({"ttl", db_, "cache", "result", "--json"}));
  EXPECT_GT(j["remaining_ms"].get<std::int64_t>(), 3'500'000);
  EXPECT_LE(j["remaining_ms"].get<std::int64_t>(), 3'600'000);
  EXPECT_TRUE(j["expires_at"].is_string());
  EXPECT_TRUE(Json(Ctl({"get", db_, "cache", "result", "--json"}))["expires_at"].is_string());
  r = Ctl({"ttl", db_, "cache", "result"});
  EXPECT_EQ(r.code, 0) << Describe(r);
  EXPECT_TRUE(Contains(r.out, "expires at ")) << r.out;

  r = Ctl({"ttl", db_, "cache", "result", "--clear"});
  EXPECT_EQ(r.code, 0) << Describe(r);
  EXPECT_TRUE(Contains(r.out, "no time-to-live")) << r.out;
  EXPECT_TRUE(Json(Ctl({"ttl", db_, "cache", "result", "--json"}))["expires_at"].is_null());
  EXPECT_TRUE(Json(Ctl({"ttl", db_, "app", "greeting", "--json"}))["remaining_ms"].is_null());

  // A short TTL runs out: the key is gone for get and ttl (exit 3), and the next write records
  // the expiry before itself.
  ASSERT_EQ(Ctl({"ttl", db_, "cache", "result", "--set", "200ms"}).code, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  EXPECT_EQ(Ctl({"get", db_, "cache", "result"}).code, 3);
  EXPECT_EQ(Ctl({"ttl", db_, "cache", "result"}).code, 3);
  EXPECT_EQ(Ctl({"ttl", db_, "cache", "result", "--set", "1s"}).code, 3);
  ASSERT_EQ(Ctl({"set", db_, "cache", "result", "43", "--int"}).code, 0);
  auto h = JsonLines(Ctl({"history", db_, "--keyspace", "cache", "--json"}));
  ASSERT_FALSE(h.empty());
  ASSERT_EQ(h[0]["changes"].size(), 2u);
  EXPECT_EQ(h[0]["changes"][0]["kind"], "expiry");
  EXPECT_TRUE(h[0]["changes"][0]["new"].is_null());
  EXPECT_EQ(h[0]["changes"][1]["kind"], "write");
  EXPECT_TRUE(h[0]["changes"][1]["expires_at"].is_null());
  r = Ctl({"history", db_, "--keyspace", "cache"});
  EXPECT_TRUE(Contains(r.out, "(expired)")) << r.out;
  EXPECT_TRUE(Contains(r.out, " until ")) << r.out;

  // Bad durations change nothing.
  const auto head = Json(Ctl({"dump", db_, "--json"}))["head_revision"];
  for (const char* bad : {"0s", "abc", "-5s", "1.5s", "200y"}) {
    r = Ctl({"set", db_, "cache", "other", "1", "--ttl", bad});
    EXPECT_EQ(r.code, 2) << bad << ": " << Describe(r);
    ExpectOneErrorLine(r);
    r = Ctl({"ttl", db_, "cache", "result", "--set", bad});
    EXPECT_EQ(r.code, 2) << bad << ": " << Describe(r);
  }
  EXPECT_EQ(Ctl({"ttl", db_, "cache", "result", "--set", "1s", "--clear"}).code, 2);
  EXPECT_EQ(Ctl({"get", db_, "cache", "other"}).code, 3);
  EXPECT_EQ(Json(Ctl({"dump", db_, "--json"}))["head_revision"], head);
}

TEST_F(StatectlTest, MaxKeys) {
  json shown = Json(Ctl({"max-keys", db_, "cache", "--json"}));
  EXPECT_TRUE(shown["max_keys"].is_null());
  for (const char* k : {"a", "b", "c"}) ASSERT_EQ(Ctl({"set", db_, "cache", k, "1"}).code, 0);
  const auto head = Json(Ctl({"dump", db_, "--json"}))["head_revision"].get<std::int64_t>();
  // Lowering to 2 evicts the least recently written key in one revision.
  json set = Json(Ctl({"max-keys", db_, "cache", "2", "--json"}));
  EXPECT_EQ(set["max_keys"], 2);
  EXPECT_EQ(set["keys"], 2);
  EXPECT_EQ(set["revision"], head + 1);
  EXPECT_EQ(Ctl({"get", db_, "cache", "a"}).code, 3);
  auto r = Ctl({"history", db_, "--keyspace", "cache"});
  EXPECT_TRUE(Contains(r.out, "(evicted)")) << r.out;
  json h = Json(Ctl({"show", db_, std::to_string(head + 1), "--json"}));
  EXPECT_EQ(h["changes"][0]["kind"], "eviction");
  ASSERT_EQ(Ctl({"set", db_, "cache", "d", "1"}).code, 0);
  r = Ctl({"max-keys", db_, "cache"});
  EXPECT_TRUE(Contains(r.out, "at most 2 keys, holds 2")) << r.out;
  json inspect = Json(Ctl({"inspect", db_, "--json"}));
  for (const json& k : inspect["keyspaces"]) {
    if (k["name"] == "cache") {
      EXPECT_EQ(k["max_keys"], 2);
    }
    if (k["name"] == "app") {
      EXPECT_TRUE(k["max_keys"].is_null());
    }
  }
  EXPECT_EQ(Ctl({"verify", db_}).code, 0);

  // Bad bounds change nothing; "none" removes the bound.
  const auto now = Json(Ctl({"dump", db_, "--json"}))["head_revision"];
  for (const char* bad : {"0", "-1", "x", "1e3", "99999999999999999999"}) {
    r = Ctl({"max-keys", db_, "cache", bad});
    EXPECT_EQ(r.code, 2) << bad << ": " << Describe(r);
    ExpectOneErrorLine(r);
  }
  EXPECT_EQ(Ctl({"max-keys", db_, "", "5"}).code, 2);
  EXPECT_EQ(Json(Ctl({"dump", db_, "--json"}))["head_revision"], now);
  EXPECT_EQ(Json(Ctl({"max-keys", db_, "cache", "--json"}))["max_keys"], 2);
  EXPECT_TRUE(Json(Ctl({"max-keys", db_, "cache", "none", "--json"}))["max_keys"].is_null());
  EXPECT_TRUE(Json(Ctl({"max-keys", db_, "cache", "--json"}))["max_keys"].is_null());
}

TEST_F(StatectlTest, Leases) {
  json g = Json(Ctl({"leases", "grant", db_, "1h", "--json"}));
  const std::int64_t id = g["id"].get<std::int64_t>();
  EXPECT_GT(id, 0);
  const std::string lease = std::to_string(id);
  ASSERT_EQ(Ctl({"set", db_, "workers", "w1", "busy", "--lease", lease}).code, 0);
  ASSERT_EQ(Ctl({"set", db_, "workers", "w2", "idle", "--lease", lease}).code, 0);
  json t = Json(Ctl({"ttl", db_, "workers", "w1", "--json"}));
  EXPECT_EQ(t["lease"], id);
  EXPECT_GT(t["remaining_ms"].get<std::int64_t>(), 3'500'000);
  auto r = Ctl({"ttl", db_, "workers", "w1"});
  EXPECT_TRUE(Contains(r.out, "with lease " + lease)) << r.out;
  EXPECT_TRUE(Json(Ctl({"ttl", db_, "app", "greeting", "--json"}))["lease"].is_null());

  json list = Json(Ctl({"leases", "list", db_, "--json"}));
  ASSERT_EQ(list["leases"].size(), 1u);
  EXPECT_EQ(list["leases"][0]["id"], id);
  EXPECT_EQ(list["leases"][0]["key_count"], 2);
  EXPECT_EQ(list["leases"][0]["ttl_ms"], 3'600'000);
  json show = Json(Ctl({"leases", "show", db_, lease, "--json"}));
  ASSERT_EQ(show["keys"].size(), 2u);
  EXPECT_EQ(show["keys"][1]["key"], "w2");
  r = Ctl({"leases", "show", db_, lease});
  EXPECT_EQ(r.code, 0) << Describe(r);
  EXPECT_TRUE(Contains(r.out, "w2")) << r.out;
  EXPECT_EQ(Ctl({"leases", "keep-alive", db_, lease}).code, 0);
  json inspect = Json(Ctl({"inspect", db_, "--json"}));
  EXPECT_EQ(inspect["leases"]["live"], 1);
  EXPECT_EQ(inspect["time_to_live"]["keys"], 2);  // the attached keys carry the lease's deadline
  r = Ctl({"inspect", db_});
  EXPECT_TRUE(Contains(r.out, "1 live, 0 expired (unswept)")) << r.out;

  // Bad ids and lease options change nothing.
  const auto head = Json(Ctl({"dump", db_, "--json"}))["head_revision"];
  for (const char* bad : {"0", "-1", "abc", "1e3", "9999999999999999999"}) {
    r = Ctl({"leases", "show", db_, bad});
    EXPECT_EQ(r.code, 2) << bad << ": " << Describe(r);
    ExpectOneErrorLine(r);
    EXPECT_EQ(Ctl({"set", db_, "workers", "w3", "x", "--lease", bad}).code, 2) << bad;
  }
  EXPECT_EQ(Ctl({"set", db_, "workers", "w3", "x", "--lease", lease, "--ttl", "1s"}).code, 2);
  EXPECT_EQ(Ctl({"set", db_, "workers", "w3", "x", "--lease", "424242"}).code, 3);
  EXPECT_EQ(Ctl({"leases", "grant", db_, "0s"}).code, 2);
  EXPECT_EQ(Ctl({"leases", "show", db_, "424242"}).code, 3);
  EXPECT_EQ(Ctl({"leases", "keep-alive", db_, "424242"}).code, 3);
  EXPECT_EQ(Json(Ctl({"dump", db_, "--json"}))["head_revision"], head);

  // Revoke erases both keys in one revision; a second revoke finds nothing (exit 3).
  json rv = Json(Ctl({"leases", "revoke", db_, lease, "--json"}));
  EXPECT_EQ(rv["keys_erased"], 2);
  EXPECT_EQ(rv["revision"], head.get<std::int64_t>() + 1);
  EXPECT_EQ(Ctl({"get", db_, "workers", "w1"}).code, 3);
  EXPECT_EQ(Ctl({"leases", "revoke", db_, lease}).code, 3);
  EXPECT_TRUE(Json(Ctl({"leases", "list", db_, "--json"}))["leases"].empty());
}

TEST_F(StatectlTest, History) {
  auto r = Ctl({"history", db_});
  ASSERT_EQ(r.code, 0) << Describe(r);
  ExpectNoToken(r);
  EXPECT_TRUE(Contains(r.out, "REV  TIME")) << r.out;
  EXPECT_TRUE(Contains(r.out, "fixture pid:" + std::to_string(::getpid()))) << r.out;
  EXPECT_TRUE(Contains(r.out, "digest:")) << r.out;  // the sessions keyspace shows digests

  auto all = JsonLines(Ctl({"history", db_, "--reverse", "--json"}));
  ASSERT_EQ(all.size(), fx_.head);
  for (std::size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i]["revision"], i + 1);
  // Newest first by default, like git log: --limit N shows the last N.
  auto newest = JsonLines(Ctl({"history", db_, "--json"}));
  ASSERT_EQ(newest.size(), fx_.head);
  for (std::size_t i = 0; i < newest.size(); ++i) {
    EXPECT_EQ(newest[i]["revision"], fx_.head - i);
  }
  auto last2 = JsonLines(Ctl({"history", db_, "--limit", "2", "--json"}));
  ASSERT_EQ(last2.size(), 2u);
  EXPECT_EQ(last2[0]["revision"], fx_.head);
  EXPECT_EQ(last2[1]["revision"], fx_.head - 1);
  auto first2 = JsonLines(Ctl({"history", db_, "--limit", "2", "--reverse", "--json"}));
  ASSERT_EQ(first2.size(), 2u);
  EXPECT_EQ(first2[0]["revision"], 1);
  EXPECT_EQ(first2[1]["revision"], 2);
  EXPECT_EQ(Ctl({"history", db_, "--reverse", "--newest-first"}).code, 2);
  r = Ctl({"history", db_, "--limit", "1"});
  ASSERT_EQ(r.code, 0) << Describe(r);
  EXPECT_TRUE(Contains(r.out, "\n" + std::to_string(fx_.head) + "  ")) << r.out;
  bool saw_session = false;
  for (const auto& c : all) {
    for (const auto& ch : c["changes"]) {
      if (ch["keyspace"] == "sessions") {
        saw_session = true;
        EXPECT_EQ(ch["redacted"], true);
        if (!ch["new"].is_null()) {
          EXPECT_EQ(ch["new"]["digest"].get<std::string>().size(), 64u);
          EXPECT_FALSE(ch["new"].contains("value"));
        }
      }
    }
  }
  EXPECT_TRUE(saw_session);
  auto grev = all[fx_.greeting_rev - 1];
  EXPECT_EQ(grev["changes"].size(), 3u);
  EXPECT_EQ(grev["changes"][0]["old"]["value"], "hi");
  EXPECT_EQ(grev["changes"][0]["new"]["value"], "hello");
  EXPECT_TRUE(grev["changes"][1]["old"].is_null());

  // Filters.
  auto inv = JsonLines(Ctl({"history", db_, "--keyspace", "inventory", "--json"}));
  ASSERT_EQ(inv.size(), 1u);
  EXPECT_EQ(inv[0]["changes"].size(), 4u);
  auto greet = JsonLines(Ctl({"history", db_, "--keyspace", "app", "--key", "gree", "--json"}));
  ASSERT_EQ(greet.size(), 2u);
  auto range =
      JsonLines(Ctl({"history", db_, "--since", "2", "--until", "3", "--reverse", "--json"}));
  ASSERT_EQ(range.size(), 2u);
  EXPECT_EQ(range[0]["revision"], 2);
  auto limited = JsonLines(Ctl({"history", db_, "--limit", "2", "--newest-first", "--json"}));
  ASSERT_EQ(limited.size(), 2u);
  EXPECT_EQ(limited[0]["revision"], fx_.head);
  EXPECT_EQ(JsonLines(Ctl({"history", db_, "--since", "1h", "--json"})).size(), fx_.head);
  EXPECT_EQ(JsonLines(Ctl({"history", db_, "--since", "2200-01-01T00:00:00Z", "--json"})).size(),
            0u);
  EXPECT_EQ(JsonLines(Ctl({"history", db_, "--until", "2000-01-01", "--json"})).size(), 0u);
  EXPECT_EQ(JsonLines(Ctl({"history", db_, "--origin", "fixture", "--json"})).size(), fx_.head);
  EXPECT_EQ(
      JsonLines(Ctl({"history", db_, "--origin", "pid:" + std::to_string(::getpid()), "--json"}))
          .size(),
      fx_.head);
  EXPECT_EQ(JsonLines(Ctl({"history", db_, "--origin", "pid:1", "--json"})).size(), 0u);
  EXPECT_EQ(Ctl({"history", db_, "--since", "yesterday"}).code, 2);
}

TEST_F(StatectlTest, ShowAndDiff) {
  auto r = Ctl({"show", db_, std::to_string(fx_.greeting_rev)});
  ASSERT_EQ(r.code, 0) << Describe(r);
  EXPECT_TRUE(Contains(r.out, "revision:")) << r.out;
  EXPECT_TRUE(Contains(r.out, "\"hi\"")) << r.out;
  EXPECT_TRUE(Contains(r.out, "0x000102ff")) << r.out;
  json j = Json(Ctl({"show", db_, std::to_string(fx_.greeting_rev), "--json"}));
  EXPECT_EQ(j["revision"], fx_.greeting_rev);
  EXPECT_EQ(j["origin"]["label"], "fixture");
  EXPECT_EQ(j["changes"].size(), 3u);
  r = Ctl({"show", db_, "999"});
  EXPECT_EQ(r.code, 3) << Describe(r);
  ExpectOneErrorLine(r);
  EXPECT_EQ(Ctl({"show", db_, "abc"}).code, 2);

  // State at revision 1 vs the head: app keys only.
  j = Json(Ctl({"diff", db_, "1", std::to_string(fx_.head), "--json"}));
  std::map<std::string, json> d;
  for (const auto& c : j["changes"])
    d[c["keyspace"].get<std::string>() + "/" + c["key"].get<std::string>()] = c;
  EXPECT_EQ(d["app/greeting"]["old"]["value"], "hi");
  EXPECT_EQ(d["app/greeting"]["new"]["value"], "hello");
  EXPECT_TRUE(d["app/count"]["old"].is_null());
  EXPECT_EQ(d["app/count"]["new"]["value"], 42);
  EXPECT_EQ(d.count("app/temp"), 0u);  // created and erased in between: no difference
  EXPECT_EQ(d["inventory/apples"]["new"]["value"], 12);
  // Backwards: the sides swap.
  j = Json(Ctl({"diff", db_, std::to_string(fx_.head), "1", "--json"}));
  for (const auto& c : j["changes"]) {
    if (c["key"] == "greeting") {
      EXPECT_EQ(c["new"]["value"], "hi");
    }
  }
  r = Ctl({"diff", db_, "1", std::to_string(fx_.head)});
  EXPECT_TRUE(Contains(r.out, "AT 1")) << r.out;
  EXPECT_EQ(Ctl({"diff", db_, "1", "999"}).code, 3);
}

TEST_F(StatectlTest, Revert) {
  // Revert the commit that set greeting "hi" -> "hello" (and created count and blob); count was
  // changed later, so it needs --force.
  auto r = Ctl({"revert", db_, std::to_string(fx_.greeting_rev)});
  EXPECT_EQ(r.code, 1) << Describe(r);
  ExpectOneErrorLine(r);
  r = Ctl({"revert", db_, std::to_string(fx_.greeting_rev), "--force", "--json"});
  json j = Json(r);
  EXPECT_EQ(j["revision"], fx_.head + 1);
  EXPECT_EQ(Ctl({"get", db_, "app", "greeting"}).out, "hi\n");
  EXPECT_EQ(Ctl({"get", db_, "app", "count"}).code, 3);
  EXPECT_EQ(Json(Ctl({"show", db_, std::to_string(fx_.head + 1), "--json"}))["origin"]["label"],
            "statectl");
  EXPECT_EQ(Ctl({"revert", db_, "999"}).code, 3);
}

TEST_F(StatectlTest, Sessions) {
  auto r = Ctl({"sessions", "list", db_});
  ASSERT_EQ(r.code, 0) << Describe(r);
  ExpectNoToken(r);
  EXPECT_TRUE(Contains(r.out, "alice")) << r.out;
  EXPECT_FALSE(Contains(r.out, "bob")) << r.out;
  EXPECT_TRUE(Contains(r.out, "\n1 session\n")) << r.out;
  json j = Json(Ctl({"sessions", "list", db_, "--json"}));
  ASSERT_EQ(j["sessions"].size(), 1u);
  EXPECT_EQ(j["total"], 1);
  EXPECT_EQ(j["limit"], 50);  // the default
  std::string short_id = j["sessions"][0]["short_id"];
  EXPECT_EQ(short_id.size(), 12u);
  EXPECT_EQ(j["sessions"][0]["principal"], "alice");
  EXPECT_EQ(j["sessions"][0]["attributes"], json({"cart", "user"}));
  j = Json(Ctl({"sessions", "list", db_, "--all", "--json"}));
  ASSERT_EQ(j["sessions"].size(), 2u);
  EXPECT_EQ(j["sessions"][0]["principal"], "bob");
  EXPECT_EQ(j["sessions"][0]["expired"], true);
  // A limit below the total says how many there are.
  j = Json(Ctl({"sessions", "list", db_, "--all", "--limit", "1", "--json"}));
  ASSERT_EQ(j["sessions"].size(), 1u);
  EXPECT_EQ(j["total"], 2);
  r = Ctl({"sessions", "list", db_, "--all", "--limit", "1"});
  EXPECT_TRUE(Contains(r.out, "showing 1 of 2 sessions")) << r.out;
  EXPECT_EQ(Json(Ctl({"sessions", "list", db_, "--all", "--no-limit", "--json"}))["limit"], 0);
  EXPECT_EQ(Ctl({"sessions", "list", db_, "--no-limit", "--limit", "3"}).code, 2);

  r = Ctl({"sessions", "show", db_, short_id});
  ASSERT_EQ(r.code, 0) << Describe(r);
  ExpectNoToken(r);
  EXPECT_TRUE(Contains(r.out, "alice")) << r.out;
  EXPECT_TRUE(Contains(r.out, "cart")) << r.out;
  // Session attributes are redacted values: --values lists them hidden, --reveal in clear.
  j = Json(Ctl({"sessions", "show", db_, short_id, "--values", "--json"}));
  EXPECT_EQ(j["attributes"]["cart"]["redacted"], true);
  EXPECT_FALSE(j["attributes"]["cart"].contains("value"));
  j = Json(Ctl({"sessions", "show", db_, short_id, "--reveal", "--json"}));
  EXPECT_EQ(j["attributes"]["cart"]["value"], 3);
  EXPECT_EQ(j["expired"], false);
  r = Ctl({"sessions", "show", db_, "000000000000"});
  EXPECT_EQ(r.code, 3) << Describe(r);
  EXPECT_EQ(Ctl({"sessions", "show", db_, "not-hex"}).code, 2);  // refused argument: usage

  j = Json(Ctl({"sessions", "sweep", db_, "--json"}));
  EXPECT_EQ(j["swept"], 1);
  // The sweep commit is one line in history unless --verbose; --json lists every change.
  r = Ctl({"history", db_, "--limit", "1"});
  EXPECT_TRUE(Contains(r.out, "swept 1 session (")) << r.out;
  EXPECT_TRUE(Contains(r.out, "sessions: sweep")) << r.out;
  r = Ctl({"history", db_, "--limit", "1", "--verbose"});
  EXPECT_FALSE(Contains(r.out, "swept 1 session")) << r.out;
  EXPECT_TRUE(Contains(r.out, "s/")) << r.out;
  auto sweep = JsonLines(Ctl({"history", db_, "--limit", "1", "--json"}));
  ASSERT_EQ(sweep.size(), 1u);
  EXPECT_EQ(sweep[0]["origin"]["label"], "sessions: sweep");
  EXPECT_GE(sweep[0]["changes"].size(), 3u);
  // follow summarizes it the same way.
  auto follow = test::ChildProcess::Spawn(
      {kStatectl, "follow", db_, "--from", std::to_string(sweep[0]["revision"].get<Revision>())});
  auto header = follow.ReadLine(std::chrono::seconds(30));
  ASSERT_TRUE(header);
  auto line = follow.ReadLine(std::chrono::seconds(10));
  ASSERT_TRUE(line);
  EXPECT_TRUE(Contains(*line, "swept 1 session (")) << *line;
  follow.Kill(SIGTERM);
  EXPECT_EQ(follow.Wait(std::chrono::seconds(10)), 0);
  EXPECT_EQ(Json(Ctl({"sessions", "list", db_, "--all", "--json"}))["sessions"].size(), 1u);
  EXPECT_EQ(Json(Ctl({"inspect", db_, "--json"}))["sessions"]["expired"], 0);
}

// Declared settings (issue 11): statectl set takes the declared type, accepts negative numbers,
// refuses what the declaration rejects with the library's message and changes nothing; explain,
// list and config history show declarations and decoded values.
TEST_F(StatectlTest, ConfigDeclaredSettings) {
  const std::string decl = dir_.file("decl.json");
  test::WriteFile(decl, R"({
    "http.rate_limit": {"type": "int", "default": 100, "min": 1, "max": 10000,
                        "description": "requests per second per client"},
    "temp.offset": {"type": "int", "min": -10, "max": 10},
    "ratio": {"type": "double", "min": -2, "max": 2}
  })");
  auto r = Ctl({"config", "declare", db_, decl});
  ASSERT_EQ(r.code, 0) << Describe(r);
  // Declaring the same again changes nothing (no new revision).
  const Revision head = Json(Ctl({"inspect", db_, "--json"}))["history"]["head"];
  EXPECT_EQ(Ctl({"config", "declare", db_, decl}).code, 0);
  EXPECT_EQ(Json(Ctl({"inspect", db_, "--json"}))["history"]["head"], head);

  // The declared default answers get; the declared type is the default --type.
  json j = Json(Ctl({"config", "get", db_, "http.rate_limit", "--json"}));
  EXPECT_EQ(j["type"], "int");
  EXPECT_EQ(j["value"], 100);
  EXPECT_EQ(Ctl({"config", "set", db_, "http.rate_limit", "500"}).code, 0);
  j = Json(Ctl({"config", "get", db_, "http.rate_limit", "--json"}));
  EXPECT_EQ(j["type"], "int");
  EXPECT_EQ(j["value"], 500);
  // Negative numbers as values, with and without "--".
  r = Ctl({"config", "set", db_, "temp.offset", "-5"});
  ASSERT_EQ(r.code, 0) << Describe(r);
  j = Json(Ctl({"config", "get", db_, "temp.offset", "--json"}));
  EXPECT_EQ(j["type"], "int");
  EXPECT_EQ(j["value"], -5);
  EXPECT_EQ(Ctl({"config", "set", db_, "ratio", "--", "-1.5"}).code, 0);
  j = Json(Ctl({"config", "get", db_, "ratio", "--json"}));
  EXPECT_EQ(j["type"], "double");
  EXPECT_EQ(j["value"], -1.5);
  // Undeclared, present: the current value's type (net.http.port holds an int).
  EXPECT_EQ(Ctl({"config", "set", db_, "net.http.port", "9091"}).code, 0);
  EXPECT_EQ(Json(Ctl({"config", "get", db_, "net.http.port", "--json"}))["type"], "int");

  // Refused values: exit 2, the library's message, no new revision.
  const Revision before = Json(Ctl({"inspect", db_, "--json"}))["history"]["head"];
  r = Ctl({"config", "set", db_, "http.rate_limit", "500", "--type", "string"});
  EXPECT_EQ(r.code, 2) << Describe(r);
  EXPECT_EQ(r.err,
            "statectl: config key \"http.rate_limit\": value \"500\" (string) rejected by its "
            "declaration (int, min 1, max 10000, default 100): expected int, got string\n");
  r = Ctl({"config", "set", db_, "temp.offset", "-11"});
  EXPECT_EQ(r.code, 2) << Describe(r);
  EXPECT_TRUE(Contains(r.err, "-11 is below the minimum -10")) << r.err;
  EXPECT_EQ(Json(Ctl({"inspect", db_, "--json"}))["history"]["head"], before);
  EXPECT_EQ(Json(Ctl({"config", "get", db_, "temp.offset", "--json"}))["value"], -5);

  // explain and list show the declaration.
  r = Ctl({"config", "explain", db_, "http.rate_limit"});
  EXPECT_TRUE(Contains(r.out, "declared:     int, min 1, max 10000, default 100")) << r.out;
  EXPECT_TRUE(Contains(r.out, "requests per second per client")) << r.out;
  j = Json(Ctl({"config", "explain", db_, "http.rate_limit", "--json"}));
  EXPECT_EQ(j["declaration"]["max"], 10000);
  EXPECT_EQ(j["layers"].back()["layer"], "declared");
  EXPECT_EQ(j["layers"].back()["value"]["value"], 100);
  EXPECT_EQ(Ctl({"config", "rm", db_, "http.rate_limit"}).code, 0);
  r = Ctl({"config", "list", db_, "http."});
  EXPECT_TRUE(Contains(r.out,
                       "http.rate_limit  int   100    declared  int, min 1, max 10000, "
                       "default 100"))
      << r.out;
  j = Json(Ctl({"config", "list", db_, "--json"}));
  bool saw = false;
  for (const auto& e : j["config"]) {
    if (e["key"] == "temp.offset") {
      saw = true;
      EXPECT_EQ(e["declaration"]["min"], -10);
    }
  }
  EXPECT_TRUE(saw) << j.dump();

  // config history: setting key, layer, decoded typed values; --raw keeps the storage form.
  r = Ctl({"config", "history", db_, "temp."});
  ASSERT_EQ(r.code, 0) << Describe(r);
  EXPECT_TRUE(Contains(r.out, "temp.offset  overrides  -    -5")) << r.out;
  EXPECT_TRUE(Contains(r.out, "temp.offset  declared   -    int, min -10, max 10")) << r.out;
  EXPECT_FALSE(Contains(r.out, "override/")) << r.out;
  ASSERT_EQ(Ctl({"config", "set", db_, "feature.flags", "{\"a\":1}", "--type", "json"}).code, 0);
  auto lines = JsonLines(Ctl({"config", "history", db_, "feature.flags", "--json"}));
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["changes"][0]["key"], "feature.flags");
  EXPECT_EQ(lines[0]["changes"][0]["layer"], "overrides");
  EXPECT_EQ(lines[0]["changes"][0]["new"]["type"], "json");
  EXPECT_EQ(lines[0]["changes"][0]["new"]["value"]["a"], 1);
  r = Ctl({"config", "history", db_, "temp.", "--raw"});
  EXPECT_TRUE(Contains(r.out, "override/temp.offset")) << r.out;
  EXPECT_TRUE(Contains(r.out, "declared/temp.offset")) << r.out;

  EXPECT_EQ(Ctl({"config", "undeclare", db_, "temp.offset"}).code, 0);
  EXPECT_EQ(Ctl({"config", "set", db_, "temp.offset", "-11"}).code, 0);
}

TEST_F(StatectlTest, Config) {
  auto r = Ctl({"config", "get", db_, "net.http.port"});
  EXPECT_EQ(r.code, 0) << Describe(r);
  EXPECT_EQ(r.out, "8080\n");
  json j = Json(Ctl({"config", "get", db_, "net.http.port", "--json"}));
  EXPECT_EQ(j["type"], "int");
  EXPECT_EQ(j["value"], 8080);
  EXPECT_EQ(j["layer"], "overrides");
  EXPECT_EQ(Ctl({"config", "get", db_, "net.nope"}).code, 3);

  j = Json(Ctl({"config", "set", db_, "net.http.port", "9090", "--type", "int", "--json"}));
  const Revision set_rev = j["revision"];
  EXPECT_EQ(Json(Ctl({"config", "get", db_, "net.http.port", "--json"}))["value"], 9090);
  EXPECT_EQ(
      Ctl({"config", "set", db_, "feature.flags", "{\"b\":1,\"a\":true}", "--type", "json"}).code,
      0);
  j = Json(Ctl({"config", "get", db_, "feature.flags", "--json"}));
  EXPECT_EQ(j["value"]["a"], true);

  r = Ctl({"config", "list", db_});
  ASSERT_EQ(r.code, 0) << Describe(r);
  EXPECT_TRUE(Contains(r.out, "net.http.port")) << r.out;
  j = Json(Ctl({"config", "list", db_, "net.", "--json"}));
  ASSERT_EQ(j["config"].size(), 1u);
  EXPECT_EQ(j["config"][0]["key"], "net.http.port");

  j = Json(Ctl({"config", "explain", db_, "net.http.port", "--json"}));
  EXPECT_EQ(j["answered_by"], "overrides");
  EXPECT_EQ(Ctl({"config", "explain", db_, "net.http.port"}).code, 0);

  j = Json(Ctl({"config", "revert", db_, std::to_string(set_rev), "--json"}));
  EXPECT_EQ(Json(Ctl({"config", "get", db_, "net.http.port", "--json"}))["value"], 8080);
  EXPECT_EQ(Ctl({"config", "rm", db_, "feature.name"}).code, 0);
  EXPECT_EQ(Ctl({"config", "get", db_, "feature.name"}).code, 3);
  EXPECT_EQ(Ctl({"config", "set", db_, "BAD KEY", "1"}).code, 2);  // refused argument: usage
}

TEST_F(StatectlTest, BackupRestoreVerifyMigrateCompact) {
  const std::string copy = dir_.file("copy.db");
  auto r = Ctl({"backup", db_, copy, "--step-pages", "1"});
  ASSERT_EQ(r.code, 0) << Describe(r);
  EXPECT_TRUE(r.err.empty()) << r.err;  // no progress line: stderr is not a terminal
  EXPECT_TRUE(Contains(r.out, "revision " + std::to_string(fx_.head))) << r.out;
  struct stat st {};
  ASSERT_EQ(::stat(copy.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(Ctl({"backup", db_, copy}).code, 2);  // never overwrites (DEST must be new: usage)

  r = Ctl({"verify", copy});
  EXPECT_EQ(r.code, 0) << Describe(r);
  EXPECT_TRUE(Contains(r.out, "result:")) << r.out;
  json v = Json(Ctl({"verify", db_, "--json"}));
  EXPECT_EQ(v["ok"], true);
  EXPECT_EQ(v["integrity"], "ok");
  EXPECT_EQ(v["commits_checked"], fx_.head);

  // Restore the copy over a changed database.
  ASSERT_EQ(Ctl({"set", db_, "app", "greeting", "changed"}).code, 0);
  json j = Json(Ctl({"restore", db_, copy, "--json"}));
  EXPECT_EQ(j["revision"], fx_.head);
  EXPECT_EQ(Ctl({"get", db_, "app", "greeting"}).out, "hello\n");
  EXPECT_EQ(Ctl({"verify", db_}).code, 0);
  // A restore refuses a source that is not statestore's.
  const std::string junk = dir_.file("junk.db");
  test::WriteFile(junk, std::string(8192, 'j'));
  r = Ctl({"restore", db_, junk});
  EXPECT_EQ(r.code, 1) << Describe(r);
  ExpectOneErrorLine(r);
  EXPECT_EQ(Ctl({"get", db_, "app", "greeting"}).out, "hello\n");
  EXPECT_EQ(Ctl({"restore", db_, dir_.file("missing.db")}).code, 3);

  j = Json(Ctl({"migrate", db_, "--status", "--json"}));
  EXPECT_EQ(j["applied"], SchemaVersion());
  EXPECT_EQ(j["library"], SchemaVersion());
  EXPECT_TRUE(j["pending"].empty());
  r = Ctl({"migrate", db_});
  EXPECT_EQ(r.code, 0) << Describe(r);
  EXPECT_TRUE(Contains(r.out, "up to date")) << r.out;

  // Retention is per keyspace: --keep is the global default, the sessions keyspace keeps its
  // built-in 24 h unless a policy is stored for it. Store "keep all" for sessions.
  j = Json(Ctl({"history-policy", "set", db_, "sessions", "--keep-all", "--json"}));
  EXPECT_EQ(j["keyspace"], "sessions");
  EXPECT_EQ(j["policy"]["source"], "stored");
  EXPECT_EQ(j["policy"]["keep_none"], false);
  EXPECT_EQ(j["policy"]["keep_revisions"], 0);
  const std::size_t before_compact = JsonLines(Ctl({"history", db_, "--json"})).size();
  j = Json(Ctl({"compact-history", db_, "--keep", "3", "--json"}));
  const std::size_t after_compact = JsonLines(Ctl({"history", db_, "--json"})).size();
  // "removed" is exact: the commits that are gone.
  EXPECT_EQ(j["removed"].get<std::size_t>(), before_compact - after_compact);
  EXPECT_GT(j["removed"].get<std::size_t>(), 0u);
  EXPECT_EQ(j["first"].get<Revision>(), j["compacted_through"].get<Revision>() + 1);
  EXPECT_LE(j["compacted_through"].get<Revision>(), fx_.head - 3);
  // The last 3 revisions and the session revisions (kept by the stored policy) remain.
  std::vector<Revision> kept;
  for (const auto& c : JsonLines(Ctl({"history", db_, "--json", "--reverse"}))) {
    kept.push_back(c["revision"]);
  }
  ASSERT_GE(kept.size(), 3u);
  EXPECT_EQ(kept.back(), fx_.head);
  EXPECT_EQ(kept[kept.size() - 3], fx_.head - 2);
  // inspect shows each keyspace's policy and where it came from.
  j = Json(Ctl({"inspect", db_, "--json", "--no-integrity"}));
  std::map<std::string, json> ks;
  for (const auto& k : j["keyspaces"]) ks[k["name"]] = k;
  EXPECT_EQ(ks["sessions"]["history_policy"]["source"], "stored");
  EXPECT_EQ(ks["app"]["history_policy"]["source"], "global");
  EXPECT_GT(ks["sessions"]["history_changes"].get<std::uint64_t>(), 0u);
  EXPECT_GT(ks["sessions"]["history_bytes"].get<std::uint64_t>(), 0u);
  EXPECT_EQ(ks["sessions"]["history_first"], 1);
  auto text = Ctl({"inspect", db_, "--no-integrity"});
  EXPECT_TRUE(Contains(text.out, "POLICY")) << text.out;
  EXPECT_TRUE(Contains(text.out, "keep all")) << text.out;
  EXPECT_EQ(Ctl({"verify", db_}).code, 0);
  EXPECT_EQ(Ctl({"show", db_, "1"}).code, 3);
  EXPECT_EQ(Ctl({"compact-history", db_}).code, 2);
  j = Json(Ctl({"compact-history", db_, "--older-than", "1d", "--json"}));
  EXPECT_EQ(j["removed"], 0);
}

TEST_F(StatectlTest, ExitCodesAndEnvironment) {
  // Usage errors: 2, one line.
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{},
                                             {"frobnicate", db_},
                                             {"get", db_, "app"},
                                             {"get", db_, "app", "greeting", "extra"},
                                             {"inspect", db_, "--no-such-flag"},
                                             {"set", db_, "app", "n", "notanumber", "--int"},
                                             {"show", db_, "-5"},
                                             {"sessions", db_}}) {
    auto r = Ctl(args);
    EXPECT_EQ(r.code, 2) << Describe(r);
    ExpectOneErrorLine(r);
  }
  // Not found: 3 (missing database, read and write commands alike; nothing created).
  const std::string missing = dir_.file("missing.db");
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"inspect", missing}, {"dump", missing}, {"rm", missing, "app", "k"}}) {
    auto r = Ctl(args);
    EXPECT_EQ(r.code, 3) << Describe(r);
    ExpectOneErrorLine(r);
    EXPECT_FALSE(test::FileExists(missing));
  }
  // STATESTORE_DB supplies the database.
  auto r = Ctl({"get", "app", "greeting"}, {"STATESTORE_DB=" + db_});
  EXPECT_EQ(r.code, 0) << Describe(r);
  EXPECT_EQ(r.out, "hello\n");
  r = Ctl({"config", "list", "net."}, {"STATESTORE_DB=" + db_});
  EXPECT_EQ(r.code, 0) << Describe(r);
  EXPECT_TRUE(Contains(r.out, "net.http.port")) << r.out;
  EXPECT_EQ(Ctl({"inspect"}, {"STATESTORE_DB=" + db_}).code, 0);
}

TEST(StatectlMigrate, StatusAndApply) {
  TempDir dir;
  const std::string path = dir.file("old.db");
  {
    auto store = Store::open(path);
    store->put("app", "k", Value(1));
  }
  // Back to schema version 1 (migration 0002 only added a column, 0003 only the meta row of the
  // redaction key's fingerprint, 0004 a table and a column, 0005 swapped indexes and added a meta
  // row; nothing here is redacted).
  ASSERT_EQ(
      Sqlite(path, std::string(test::kUndoSchema10) + test::kUndoSchema9 + test::kUndoSchema8 +
                       test::kUndoSchema7 + test::kUndoSchema6 +
                       "ALTER TABLE changes DROP COLUMN redacted; DELETE FROM meta WHERE name = "
                       "'redaction_key_fingerprint'; DROP TABLE keyspace_history; ALTER TABLE "
                       "commits DROP COLUMN partial; DROP INDEX changes_by_keyspace; CREATE INDEX "
                       "changes_by_key ON changes (keyspace_id, key, revision); CREATE INDEX "
                       "commits_by_time ON commits (time_us); DELETE FROM meta WHERE name = "
                       "'time_ordered_from'; PRAGMA user_version = 1;")
          .code,
      0);
  json j = Json(Ctl({"migrate", path, "--status", "--json"}));
  EXPECT_EQ(j["applied"], 1);
  EXPECT_EQ(j["library"], SchemaVersion());
  ASSERT_EQ(j["pending"].size(), static_cast<std::size_t>(SchemaVersion() - 1));
  EXPECT_EQ(j["pending"][0]["number"], 2);
  // Read commands do not migrate: they say what to do.
  const std::string before = test::ReadFile(path);
  auto r = Ctl({"inspect", path});
  EXPECT_EQ(r.code, 1) << Describe(r);
  ExpectOneErrorLine(r);
  EXPECT_TRUE(Contains(r.err, "statectl migrate")) << r.err;
  EXPECT_EQ(test::ReadFile(path), before);
  r = Ctl({"migrate", path});
  EXPECT_EQ(r.code, 0) << Describe(r);
  EXPECT_TRUE(Contains(r.out, "1 -> " + std::to_string(SchemaVersion()))) << r.out;
  EXPECT_EQ(Ctl({"verify", path}).code, 0);
}

// ---- 2. backup while 4 threads write

TEST(StatectlBackup, ConsistentWhileFourThreadsWrite) {
  TempDir dir;
  const std::string db = dir.file("busy.db");
  const std::string copy = dir.file("copy.db");
  auto store = Store::open(db);
  // Some bulk so that the copy takes many steps.
  store->transact([](Transaction& tx) {
    for (int i = 0; i < 400; ++i)
      tx.put("bulk", "k" + std::to_string(i), Value(std::string(500, 'b')));
  });
  std::atomic<bool> stop{false};
  std::atomic<int> commits{0};
  std::vector<std::thread> writers;
  for (int t = 0; t < 4; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; !stop.load(); ++i) {
        store->transact([&](Transaction& tx) {
          tx.put("app", "w" + std::to_string(t) + "-" + std::to_string(i % 20), Value(i));
          tx.put("app", "last", Value(t * 1000000 + i));
          if (i % 5 == 0)
            tx.erase("app", "w" + std::to_string(t) + "-" + std::to_string((i + 7) % 20));
        });
        commits.fetch_add(1);
      }
    });
  }
  while (commits.load() < 20) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const int before = commits.load();
  auto r = Ctl({"backup", db, copy, "--step-pages", "4", "--json"});
  const int after = commits.load();
  // Keep writing a little longer, then stop.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  stop = true;
  for (auto& w : writers) w.join();
  json b = Json(r);
  const Revision rev = b["revision"];
  EXPECT_GT(b["pages"].get<int>(), 4 * 3);
  std::cout << "backup at revision " << rev << " (commits during backup: " << after - before
            << ", pages " << b["pages"] << ")\n";

  // The copy opens, verifies, and equals the source's state at `rev` rebuilt from history.
  auto v = Ctl({"verify", copy});
  EXPECT_EQ(v.code, 0) << Describe(v);
  json dump = Json(Ctl({"dump", copy, "--json"}));
  EXPECT_EQ(dump["head_revision"], rev);
  std::map<std::pair<std::string, std::string>, Value> expected;
  HistoryQuery q;
  q.to_revision = rev;
  for (const auto& c : store->history(q)) {
    for (const auto& ch : c.changes) {
      if (ch.new_value) {
        expected[{ch.keyspace, ch.key}] = *ch.new_value;
      } else {
        expected.erase({ch.keyspace, ch.key});
      }
    }
  }
  std::map<std::pair<std::string, std::string>, json> got;
  for (const auto& [ks, entries] : dump["keyspaces"].items()) {
    for (const auto& e : entries) got[{ks, e["key"]}] = e["value"];
  }
  ASSERT_EQ(got.size(), expected.size());
  for (const auto& [k, value] : expected) {
    ASSERT_EQ(got.count(k), 1u) << k.first << "/" << k.second;
    if (value.type() == ValueType::kInt) {
      EXPECT_EQ(got[k]["value"], value.as_int()) << k.second;
    } else {
      EXPECT_EQ(got[k]["value"], value.as_string()) << k.second;
    }
  }
  // The copy is a database of its own: written to, it diverges from the source. Backups do not
  // hold the redaction key: writing needs the source's key file beside the copy.
  store.reset();
  auto refused = Ctl({"set", copy, "app", "after", "1"});
  EXPECT_EQ(refused.code, 1) << Describe(refused);
  EXPECT_TRUE(Contains(refused.err, copy + "-key")) << refused.err;
  std::filesystem::copy_file(db + "-key", copy + "-key");
  EXPECT_EQ(Ctl({"set", copy, "app", "after", "1"}).code, 0);
}

// ---- 3. follow sees another process's commit within 1 s

TEST(StatectlFollow, SeesCommitsOfAnotherProcess) {
  TempDir dir;
  const std::string db = dir.file("follow.db");
  {
    auto store = Store::open(db);
    store->put("app", "seed", Value(1));
  }
  auto follow = test::ChildProcess::Spawn({kStatectl, "follow", db, "--from", "2", "--json"});
  auto put = [&](int value) {
    auto worker = test::ChildProcess::SpawnWorker({"put", db, "app", "k", std::to_string(value)});
    auto line = worker.ReadLine(std::chrono::seconds(30));
    EXPECT_EQ(worker.Wait(std::chrono::seconds(30)), 0);
    EXPECT_TRUE(line && line->rfind("rev ", 0) == 0) << line.value_or("(none)");
    return line ? std::stoull(line->substr(4)) : 0;
  };
  auto await = [&](Revision rev, std::chrono::milliseconds timeout) {
    auto line = follow.ReadLine(timeout);
    if (!line) return false;
    json j = json::parse(*line);
    EXPECT_EQ(j["revision"], rev);
    EXPECT_EQ(j["changes"][0]["key"], "k");
    return true;
  };
  // First commit: follow may still be starting up.
  Revision r1 = put(1);
  EXPECT_EQ(r1, 2u);
  ASSERT_TRUE(await(r1, std::chrono::seconds(30))) << "follow printed nothing";
  // Second: measured from the writer's acknowledgement.
  Revision r2 = put(2);
  auto acked = std::chrono::steady_clock::now();
  ASSERT_TRUE(await(r2, std::chrono::seconds(5)));
  auto latency = std::chrono::steady_clock::now() - acked;
  EXPECT_LT(latency, std::chrono::seconds(1));
  std::cout << "follow latency "
            << std::chrono::duration_cast<std::chrono::milliseconds>(latency).count() << " ms\n";
  follow.Kill(SIGINT);
  EXPECT_EQ(follow.Wait(std::chrono::seconds(10)), 0);

  // Table output, ended by SIGTERM.
  auto table = test::ChildProcess::Spawn({kStatectl, "follow", db, "--from", "1"});
  auto header = table.ReadLine(std::chrono::seconds(30));
  ASSERT_TRUE(header);
  EXPECT_TRUE(Contains(*header, "REV")) << *header;
  auto first = table.ReadLine(std::chrono::seconds(10));
  ASSERT_TRUE(first);
  EXPECT_TRUE(Contains(*first, "seed")) << *first;
  table.Kill(SIGTERM);
  EXPECT_EQ(table.Wait(std::chrono::seconds(10)), 0);
}

// ---- 4. safety on hostile and damaged files

void ExpectUnchangedAndClear(const std::string& path, const std::string& expect_in_error) {
  const std::string before = test::ReadFile(path);
  for (const char* cmd : {"inspect", "dump"}) {
    auto r = Ctl({cmd, path});
    EXPECT_EQ(test::ReadFile(path), before) << cmd << " changed " << path;
    if (r.code == 0) continue;  // worked read-only
    EXPECT_EQ(r.code, 1) << Describe(r);
    ExpectOneErrorLine(r);
    EXPECT_TRUE(Contains(r.err, expect_in_error)) << Describe(r);
    EXPECT_FALSE(Contains(r.err, "terminate")) << Describe(r);
  }
}

TEST(StatectlSafety, NonSqliteFile) {
  TempDir dir;
  const std::string path = dir.file("notes.db");
  test::WriteFile(path, "these are my notes, not a database\n" + std::string(5000, 'n'));
  ExpectUnchangedAndClear(path, "notes.db");
  auto r = Ctl({"set", path, "app", "k", "v"});
  EXPECT_EQ(r.code, 1) << Describe(r);
  ExpectOneErrorLine(r);
  EXPECT_EQ(test::ReadFile(path).substr(0, 10), "these are ");
}

TEST(StatectlSafety, TruncatedFile) {
  TempDir dir;
  const std::string path = dir.file("cut.db");
  {
    auto store = Store::open(path);
    store->transact([](Transaction& tx) {
      for (int i = 0; i < 300; ++i)
        tx.put("app", "k" + std::to_string(i), Value(std::string(300, 'v')));
    });
  }
  std::string data = test::ReadFile(path);
  ASSERT_GT(data.size(), 16384u);
  test::WriteFile(path, data.substr(0, data.size() / 2 + 100));
  ExpectUnchangedAndClear(path, "cut.db");
}

TEST(StatectlSafety, HostileSchema) {
  TempDir dir;
  const std::string path = dir.file("hostile.db");
  {
    auto store = Store::open(path);
    store->put("app", "k", Value(1));
  }
  auto r = Sqlite(path,
                  "CREATE TABLE stolen (key TEXT);\n"
                  "CREATE TRIGGER steal AFTER INSERT ON entries BEGIN INSERT INTO stolen "
                  "VALUES (new.key); END;\n"
                  "CREATE VIEW spy AS SELECT randomblob(16), load_extension('x');\n");
  ASSERT_EQ(r.code, 0) << r.out;
  ExpectUnchangedAndClear(path, "trigger 'steal'");
  const std::string before = test::ReadFile(path);
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"set", path, "app", "k", "2"},
                                             {"verify", path},
                                             {"history", path},
                                             {"backup", path, dir.file("b.db")},
                                             {"migrate", path}}) {
    auto w = Ctl(args);
    EXPECT_EQ(w.code, 1) << Describe(w);
    ExpectOneErrorLine(w);
    EXPECT_EQ(test::ReadFile(path), before) << args[0];
  }
  EXPECT_FALSE(test::FileExists(dir.file("b.db")));
  // A view alone is refused too.
  const std::string path2 = dir.file("view.db");
  {
    auto store = Store::open(path2);
    store->put("app", "k", Value(1));
  }
  ASSERT_EQ(Sqlite(path2, "CREATE VIEW spy AS SELECT randomblob(16);").code, 0);
  ExpectUnchangedAndClear(path2, "view 'spy'");
}

TEST(StatectlSafety, ReadCommandsLeaveAGoodFileUnchanged) {
  TempDir dir;
  const std::string path = dir.file("good.db");
  BuildFixture(path);
  const std::string before = test::ReadFile(path);
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"inspect", path},
                                             {"dump", path},
                                             {"history", path},
                                             {"verify", path},
                                             {"sessions", "list", path},
                                             {"config", "list", path},
                                             {"migrate", path, "--status"},
                                             {"show", path, "1"},
                                             {"diff", path, "1", "2"},
                                             {"get", path, "app", "greeting"}}) {
    auto r = Ctl(args);
    EXPECT_EQ(r.code, 0) << Describe(r);
    EXPECT_EQ(test::ReadFile(path), before) << args[0];
  }
}

// ---- 5. verify detects a hand-edited history row

TEST(StatectlVerify, DetectsCorruptedHistoryRow) {
  TempDir dir;
  const std::string path = dir.file("edited.db");
  Revision target = 0;
  {
    auto store = Store::open(path);
    store->put("app", "a", Value("one"));
    target = store->put("app", "a", Value("two"));
    store->put("app", "a", Value("three"));
    store->put("app", "b", Value(1));
  }
  ASSERT_EQ(Ctl({"verify", path}).code, 0);
  auto r = Sqlite(path, "UPDATE changes SET new_value = 'forged' WHERE revision = " +
                            std::to_string(target) + ";");
  ASSERT_EQ(r.code, 0) << r.out;
  r = Ctl({"verify", path});
  EXPECT_EQ(r.code, 4) << Describe(r);
  EXPECT_TRUE(Contains(r.out, "revision " + std::to_string(target))) << Describe(r);
  ExpectOneErrorLine(r);
  json j = json::parse(Ctl({"verify", path, "--json"}).out);
  EXPECT_EQ(j["ok"], false);
  ASSERT_FALSE(j["problems"].empty());
  bool named = false;
  for (const auto& p : j["problems"]) {
    if (p["revision"] == target ||
        Contains(p["message"].get<std::string>(), "revision " + std::to_string(target))) {
      named = true;
    }
    EXPECT_EQ(p["key"], "a");
  }
  EXPECT_TRUE(named) << j.dump(2);

  // The last change of a key against the current state.
  const std::string path2 = dir.file("edited2.db");
  Revision last = 0;
  {
    auto store = Store::open(path2);
    store->put("app", "x", Value(1));
    last = store->put("app", "x", Value(2));
  }
  ASSERT_EQ(Sqlite(path2, "UPDATE changes SET new_value = 5 WHERE revision = " +
                              std::to_string(last) + ";")
                .code,
            0);
  r = Ctl({"verify", path2});
  EXPECT_EQ(r.code, 4) << Describe(r);
  EXPECT_TRUE(Contains(r.out, "revision " + std::to_string(last))) << Describe(r);
}

// History reads a revision's changes through the id range its commit row names
// (0010_changes_by_commit_range.sql): a range edited to leave a change out is reported, since
// every history query would silently miss that change.
TEST(StatectlVerify, DetectsAChangeOutsideItsCommitsRange) {
  TempDir dir;
  const std::string path = dir.file("range.db");
  Revision target = 0;
  {
    auto store = Store::open(path);
    store->put("app", "a", Value(1));
    target = store->transact([](Transaction& tx) {
      tx.put("app", "a", Value(2));
      tx.put("app", "b", Value(3));
    });
    store->put("app", "c", Value(4));
    ASSERT_EQ(store->commit_at(target)->changes.size(), 2u);
  }
  ASSERT_EQ(Ctl({"verify", path}).code, 0);
  ASSERT_EQ(Sqlite(path, "UPDATE commits SET last_change = first_change WHERE revision = " +
                             std::to_string(target) + ";")
                .code,
            0);
  auto r = Ctl({"verify", path});
  EXPECT_EQ(r.code, 4) << Describe(r);
  EXPECT_TRUE(Contains(r.out, "revision " + std::to_string(target) +
                                  " has changes outside the range its commit row names"))
      << Describe(r);
}

// ---- 6. issue 10: escaping, redaction, values from files

// No byte of `text` may drive a terminal: no C0 control but newlines, no DEL, no C1 control
// (UTF-8 C2 80..C2 9F), no bidi override or isolate (E2 80 AA..AE, E2 81 A6..A9), no byte that
// cannot start UTF-8.
void ExpectInert(const std::string& what, const std::string& text) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    const auto next = [&](std::size_t k) {
      return i + k < text.size() ? static_cast<unsigned char>(text[i + k]) : 0;
    };
    ASSERT_FALSE((c < 0x20 && c != '\n') || c == 0x7f)
        << what << ": control byte " << int(c) << " at " << i << " in:\n"
        << text;
    ASSERT_FALSE(c == 0xc2 && next(1) >= 0x80 && next(1) <= 0x9f)
        << what << ": C1 control at " << i << " in:\n"
        << text;
    ASSERT_FALSE(c == 0xe2 && next(1) == 0x80 && next(2) >= 0xaa && next(2) <= 0xae)
        << what << ": bidi override at " << i << " in:\n"
        << text;
    ASSERT_FALSE(c == 0xe2 && next(1) == 0x81 && next(2) >= 0xa6 && next(2) <= 0xa9)
        << what << ": bidi isolate at " << i << " in:\n"
        << text;
    ASSERT_FALSE(c == 0xff || c == 0xfe || c == 0xc0 || c == 0xc1)
        << what << ": invalid UTF-8 at " << i << " in:\n"
        << text;
  }
}

// A key, a label, a principal and values that would drive a terminal if printed raw: ESC [31m
// (red), a newline (a fake second row), OSC 0 (window title) ended by BEL, CSI as a C1 control
// (U+009B), a right-to-left override (U+202E) and a first-strong isolate (U+2068).
const std::string kEvilKey = "evil\x1b[31m\nkey\xe2\x80\xae";
const std::string kEvilLabel = "lab\x1b]0;pwned\x07";
const std::string kEvilValue = "v\x1b]0;t\x07\xc2\x9b\xe2\x81\xa8";
// (The library refuses C0 controls in principals; C1 CSI and bidi overrides are valid UTF-8 text
// it accepts, so statectl must still escape them.)
const std::string kEvilPrincipal =
    "bob\xc2\x9b"
    "2J\xe2\x80\xae";

TEST(StatectlEscaping, FollowEscapesKeysAndLabels) {
  TempDir dir;
  const std::string db = dir.file("evil.db");
  {
    Options o;
    o.origin_label = kEvilLabel;
    auto store = Store::open(db, o);
    store->put("app", kEvilKey, Value(kEvilValue));
    store->put("app", "end", Value(1));
  }
  auto follow = test::ChildProcess::Spawn({kStatectl, "follow", db, "--from", "1"});
  std::string out;
  for (int i = 0; i < 10; ++i) {
    auto line = follow.ReadLine(std::chrono::seconds(30));
    if (!line) break;
    out += *line + "\n";
    if (Contains(*line, "end")) break;
  }
  follow.Kill(SIGTERM);
  EXPECT_EQ(follow.Wait(std::chrono::seconds(10)), 0);
  ASSERT_TRUE(Contains(out, "end")) << out;
  ExpectInert("follow", out);
  EXPECT_TRUE(Contains(out, "evil\\x1b[31m\\nkey\\u202e")) << out;
  EXPECT_TRUE(Contains(out, "lab\\x1b]0;pwned\\x07 pid:")) << out;
  EXPECT_TRUE(Contains(out, "\"v\\x1b]0;t\\x07\\u009b\\u2068\"")) << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 3) << out;  // header and two rows
}

TEST(StatectlEscaping, EveryHumanReadableOutputIsEscaped) {
  TempDir dir;
  const std::string db = dir.file("evil.db");
  std::string short_id;
  {
    Options o;
    o.origin_label = kEvilLabel;
    o.sessions.sweep_interval = std::chrono::milliseconds(0);
    auto store = Store::open(db, o);
    store->put("app", kEvilKey, Value(kEvilValue));
    store->put("app", "plain", Value("x"));
    store->sessions().create(std::chrono::hours(1), {{"note", Value(kEvilValue)}}, kEvilPrincipal);
    store->config().set("feature.name", ConfigValue(kEvilValue));
  }
  short_id = Json(Ctl({"sessions", "list", db, "--json"}))["sessions"][0]["short_id"];
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"dump", db},
                                             {"history", db},
                                             {"show", db, "1"},
                                             {"diff", db, "0", "2"},
                                             {"get", db, "app", kEvilKey},
                                             {"sessions", "list", db},
                                             {"sessions", "show", db, short_id, "--reveal"},
                                             {"config", "list", db},
                                             {"config", "get", db, "feature.name"},
                                             {"config", "explain", db, "feature.name"}}) {
    auto r = Ctl(args);
    EXPECT_EQ(r.code, 0) << args[0] << "\n" << Describe(r);
    ExpectInert(args[0] + " stdout", r.out);
    ExpectInert(args[0] + " stderr", r.err);
  }
  auto r = Ctl({"get", db, "app", kEvilKey});
  EXPECT_EQ(r.out, "v\\x1b]0;t\\x07\\u009b\\u2068\n");
  r = Ctl({"sessions", "list", db});
  EXPECT_TRUE(Contains(r.out, "bob\\u009b2J\\u202e")) << r.out;
  // Errors that echo what was typed are escaped too.
  r = Ctl({"get", db, "app", kEvilKey + "-missing"});
  EXPECT_EQ(r.code, 3) << Describe(r);
  ExpectOneErrorLine(r);
  ExpectInert("error", r.err);
  EXPECT_TRUE(Contains(r.err, "evil\\x1b[31m\\nkey\\u202e-missing")) << r.err;
  // --json keeps the exact text; --raw prints it byte for byte.
  EXPECT_EQ(Json(Ctl({"get", db, "app", kEvilKey, "--json"}))["value"]["value"], kEvilValue);
  r = Ctl({"get", db, "app", kEvilKey, "--raw"});
  EXPECT_EQ(r.code, 0) << Describe(r);
  EXPECT_EQ(r.out, kEvilValue);
  auto lines = JsonLines(Ctl({"history", db, "--reverse", "--json"}));
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines[0]["changes"][0]["key"], kEvilKey);
  EXPECT_EQ(lines[0]["origin"]["label"], kEvilLabel);
}

TEST(StatectlEscaping, InvalidUtf8FromAHandEditedFileStaysValidJson) {
  TempDir dir;
  const std::string db = dir.file("edited.db");
  {
    auto store = Store::open(db);
    store->put("app", "greeting", Value("hello"));
  }
  // A key and a string that are not UTF-8, as another program or a hand edit could leave them.
  ASSERT_EQ(Sqlite(db,
                   "UPDATE entries SET key = CAST(X'67ff' AS TEXT), value = CAST(X'68c0af' "
                   "AS TEXT) WHERE key = 'greeting';")
                .code,
            0);
  auto r = Ctl({"dump", db});
  ASSERT_EQ(r.code, 0) << Describe(r);
  ExpectInert("dump", r.out);
  EXPECT_TRUE(Contains(r.out, "g\\xff")) << r.out;
  EXPECT_TRUE(Contains(r.out, "\"h\\xc0\\xaf\"")) << r.out;
  json j = Json(Ctl({"dump", db, "--json"}));  // parses: invalid bytes became U+FFFD
  ASSERT_EQ(j["keyspaces"]["app"].size(), 1u);
  EXPECT_EQ(j["keyspaces"]["app"][0]["key"], "g\xef\xbf\xbd");
}

// A store with a keyspace redacted from the start ("secrets"), one redacted after it was
// written in clear ("later"), and a session.
struct RedactedFixture {
  std::string db;
  std::string short_id;
  std::string record_key;  // the session's record in keyspace "sessions"
};

RedactedFixture BuildRedacted(const TempDir& dir) {
  RedactedFixture f;
  f.db = dir.file("redacted.db");
  {
    auto store = Store::open(f.db);
    store->put("later", "token", Value("plain-before-redaction"));
  }
  Options o;
  o.redacted_keyspaces = {"secrets", "later"};
  o.sessions.sweep_interval = std::chrono::milliseconds(0);
  auto store = Store::open(f.db, o);
  store->put("secrets", "pw", Value("hunter2"));
  store->put("later", "token", Value("plain-after-redaction"));
  store->sessions().create(std::chrono::hours(1), {{"cart", Value("sekrit-cart")}}, "carol");
  std::vector<Entry> records;
  store->read([&](Transaction& tx) { records = tx.list("sessions", "s/"); });
  if (!records.empty()) f.record_key = records[0].key;
  return f;
}

const std::vector<std::string> kSecrets = {"hunter2", "plain-before-redaction",
                                           "plain-after-redaction", "sekrit-cart",
                                           // the same, hex-encoded inside CBOR or bytes
                                           "68756e74657232", "73656b7269742d63617274"};

void ExpectNoSecret(const std::string& what, const Result& r) {
  for (const auto& s : kSecrets) {
    EXPECT_FALSE(Contains(r.out, s)) << what << " printed " << s << "\n" << Describe(r);
    EXPECT_FALSE(Contains(r.err, s)) << what << " printed " << s << "\n" << Describe(r);
  }
}

TEST(StatectlRedaction, GetHidesRedactedValuesUnlessRevealed) {
  TempDir dir;
  auto f = BuildRedacted(dir);
  ASSERT_FALSE(f.record_key.empty());
  auto r = Ctl({"get", f.db, "secrets", "pw"});
  EXPECT_EQ(r.code, 0) << Describe(r);
  EXPECT_EQ(r.out, "<redacted: string, 7 bytes>\n");
  ExpectNoSecret("get", r);
  json j = Json(Ctl({"get", f.db, "secrets", "pw", "--json"}));
  EXPECT_EQ(j["value"]["redacted"], true);
  EXPECT_EQ(j["value"]["type"], "string");
  EXPECT_EQ(j["value"]["bytes"], 7);
  EXPECT_EQ(j["value"]["digest"].get<std::string>().size(), 64u);  // keyed, as in history
  r = Ctl({"get", f.db, "secrets", "pw", "--raw"});
  EXPECT_EQ(r.code, 2) << Describe(r);
  ExpectOneErrorLine(r);
  ExpectNoSecret("get --raw", r);
  // The sessions keyspace: a CBOR record holding the attributes.
  r = Ctl({"get", f.db, "sessions", f.record_key});
  EXPECT_EQ(r.code, 0) << Describe(r);
  EXPECT_EQ(r.out.rfind("<redacted: bytes, ", 0), 0u) << r.out;
  ExpectNoSecret("get sessions", r);
  ExpectNoSecret("get sessions --json", Ctl({"get", f.db, "sessions", f.record_key, "--json"}));
  // --reveal prints them.
  EXPECT_EQ(Ctl({"get", f.db, "secrets", "pw", "--reveal"}).out, "hunter2\n");
  EXPECT_EQ(Ctl({"get", f.db, "secrets", "pw", "--reveal", "--raw"}).out, "hunter2");
  EXPECT_TRUE(Contains(Ctl({"get", f.db, "sessions", f.record_key, "--reveal"}).out,
                       "73656b7269742d63617274"));
}

TEST(StatectlRedaction, EveryCommandHidesRedactedValuesUnlessRevealed) {
  TempDir dir;
  auto f = BuildRedacted(dir);
  const std::string head =
      std::to_string(Json(Ctl({"inspect", f.db, "--json"}))["history"]["head"].get<Revision>());
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"dump", f.db},
           {"dump", f.db, "--json"},
           {"history", f.db},
           {"history", f.db, "--json"},
           {"show", f.db, "1"},
           {"show", f.db, "1", "--json"},
           {"diff", f.db, "0", head},
           {"diff", f.db, "0", head, "--json"},
           {"sessions", "show", f.db, f.record_key.substr(2, 12), "--values"},
           {"sessions", "show", f.db, f.record_key.substr(2, 12), "--values", "--json"},
           {"verify", f.db}}) {
    auto r = Ctl(args);
    EXPECT_EQ(r.code, 0) << Describe(r);
    ExpectNoSecret(args[0], r);
  }
  // History written before the keyspace became redacted holds the value in clear: still hidden.
  auto r = Ctl({"show", f.db, "1"});
  EXPECT_TRUE(Contains(r.out, "<redacted: string, 22 bytes>")) << r.out;
  // --reveal shows what the file holds in clear (history of redacted keyspaces holds digests).
  EXPECT_TRUE(Contains(Ctl({"show", f.db, "1", "--reveal"}).out, "plain-before-redaction"));
  EXPECT_TRUE(Contains(Ctl({"dump", f.db, "--reveal"}).out, "hunter2"));
  EXPECT_TRUE(Contains(Ctl({"diff", f.db, "0", "1", "--reveal"}).out, "plain-before-redaction"));
  EXPECT_FALSE(Contains(Ctl({"diff", f.db, "0", "1"}).out, "plain-before-redaction"));
  EXPECT_TRUE(Contains(Ctl({"sessions", "show", f.db, f.record_key.substr(2, 12), "--reveal"}).out,
                       "sekrit-cart"));
}

TEST(StatectlRedaction, VerifyNeverQuotesRedactedValues) {
  TempDir dir;
  auto f = BuildRedacted(dir);
  ASSERT_EQ(Ctl({"verify", f.db}).code, 0);
  // The current values disagree with history now: verify reports both keys, by digest only.
  ASSERT_EQ(Sqlite(f.db,
                   "UPDATE entries SET value = 'hunter2-forged' WHERE key = 'pw';\n"
                   "UPDATE entries SET value = 'plain-after-redaction!' WHERE key = 'token';")
                .code,
            0);
  auto r = Ctl({"verify", f.db});
  EXPECT_EQ(r.code, 4) << Describe(r);
  ExpectNoSecret("verify", r);
  EXPECT_TRUE(Contains(r.out, "secrets/pw")) << r.out;
  EXPECT_TRUE(Contains(r.out, "<redacted string, 14 bytes, digest:")) << r.out;
  r = Ctl({"verify", f.db, "--json"});
  ExpectNoSecret("verify --json", r);
  // The library's report itself carries no plaintext either.
  Options o;
  o.read_only = true;
  auto store = Store::open(f.db, o);
  auto report = Verify(*store);
  ASSERT_FALSE(report.ok());
  for (const auto& p : report.problems) {
    for (const auto& s : kSecrets) EXPECT_FALSE(Contains(p.message, s)) << p.message;
  }
}

TEST(StatectlSet, ValueFromFileOrStandardInput) {
  TempDir dir;
  const std::string db = dir.file("values.db");
  // A string of exactly the library's limit, through --file; back byte for byte with --raw.
  const std::string big_path = dir.file("big.txt");
  std::string big(kMaxValueBytes, 'a');
  big.replace(0, 6, "start\n");
  test::WriteFile(big_path, big);
  auto r = Ctl({"set", db, "app", "big", "--file", big_path});
  ASSERT_EQ(r.code, 0) << Describe(r);
  r = Ctl({"get", db, "app", "big", "--raw"});
  EXPECT_EQ(r.code, 0);
  EXPECT_TRUE(r.out == big) << r.out.size();
  // Raw bytes (NUL, 0xff) from standard input.
  const std::string bin_path = dir.file("blob.bin");
  const std::string bin("\x00\x01\xff\n", 4);
  test::WriteFile(bin_path, bin);
  r = Ctl({"set", db, "app", "blob", "-", "--bytes"}, {"STATESTORE_DB="}, bin_path);
  ASSERT_EQ(r.code, 0) << Describe(r);
  EXPECT_EQ(Json(Ctl({"get", db, "app", "blob", "--json"}))["value"]["value"], "0001ff0a");
  EXPECT_EQ(Ctl({"get", db, "app", "blob", "--raw"}).out, bin);
  // --file - and /dev/stdin are standard input too; a number drops the newline `echo` adds.
  const std::string num_path = dir.file("num.txt");
  test::WriteFile(num_path, "42\n");
  r = Ctl({"set", db, "app", "n", "--int", "--file", "-"}, {"STATESTORE_DB="}, num_path);
  ASSERT_EQ(r.code, 0) << Describe(r);
  EXPECT_EQ(Json(Ctl({"get", db, "app", "n", "--json"}))["value"]["value"], 42);
  r = Ctl({"set", db, "app", "s", "--file", "/dev/stdin"}, {"STATESTORE_DB="}, num_path);
  ASSERT_EQ(r.code, 0) << Describe(r);
  EXPECT_EQ(Ctl({"get", db, "app", "s", "--raw"}).out, "42\n");  // strings keep every byte
  // A string with NUL is UTF-8; shown escaped.
  test::WriteFile(bin_path, std::string("a\0b", 3));
  ASSERT_EQ(Ctl({"set", db, "app", "nul", "--file", bin_path}).code, 0);
  EXPECT_EQ(Ctl({"get", db, "app", "nul"}).out, "a\\x00b\n");
  // Values that start with '-': after --, or -inf and negative numbers as they are.
  ASSERT_EQ(Ctl({"set", db, "app", "dash", "--", "-x"}).code, 0);
  EXPECT_EQ(Ctl({"get", db, "app", "dash"}).out, "-x\n");
  ASSERT_EQ(Ctl({"set", db, "app", "neg", "-inf", "--double"}).code, 0);
  EXPECT_EQ(Json(Ctl({"get", db, "app", "neg", "--json"}))["value"]["value"], "-inf");
  ASSERT_EQ(Ctl({"set", db, "app", "neg", "-2.5e3", "--double"}).code, 0);
  EXPECT_EQ(Json(Ctl({"get", db, "app", "neg", "--json"}))["value"]["value"], -2500.0);
  // config set takes values the same way.
  const std::string json_path = dir.file("flags.json");
  test::WriteFile(json_path, "{\"a\": true}\n");
  r = Ctl({"config", "set", db, "feature.flags", "--type", "json", "--file", json_path});
  ASSERT_EQ(r.code, 0) << Describe(r);
  EXPECT_EQ(Json(Ctl({"config", "get", db, "feature.flags", "--json"}))["value"]["a"], true);
  // One byte over the limit: refused before anything is written.
  test::WriteFile(big_path, big + "b");
  const std::string before = test::ReadFile(db);
  r = Ctl({"set", db, "app", "big", "--file", big_path});
  EXPECT_EQ(r.code, 2) << Describe(r);
  ExpectOneErrorLine(r);
  EXPECT_EQ(test::ReadFile(db), before);
}

}  // namespace
}  // namespace statestore

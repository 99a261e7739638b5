// Inspect and `statectl inspect` as an operator's view of replication (issue 15): which server
// answered (primary or standby in recovery), its standbys from pg_stat_replication with their
// sync state and lag, and the durability warnings. Real servers only: a synchronous
// PgFailoverPair (before and after a failover), an asynchronous one, a single PgCluster, and a
// Store opened read-only on a standby directly. Each test starts its own servers (the run's
// fixture server is a single one with settings other tests rely on).
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "postgres/pg_cluster.h"
#include "postgres/pg_failover_pair.h"
#include "statectl_json.h"
#include "statectl_runner.h"
#include "statestore/admin.h"
#include "statestore/statestore.h"
#include "test_util.h"

namespace statestore::test {
namespace {

using json = nlohmann::json;

constexpr char kStandbyName[] = "statestore_standby";  // PgFailoverPair's cluster_name

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::string Joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const std::string& l : lines) out += "  " + l + "\n";
  return out;
}

bool AnyContains(const std::vector<std::string>& lines, const std::string& part) {
  for (const std::string& l : lines) {
    if (Contains(l, part)) return true;
  }
  return false;
}

// Creates the store (one write), so that read-only opens find a schema.
void CreateStore(const std::string& uri) {
  auto store = Store::open(uri);
  store->put("app", "a", Value(std::int64_t{1}));
}

InspectReport InspectReadOnly(const std::string& uri) {
  Options ro;
  ro.read_only = true;
  auto store = Store::open(uri, ro);
  return Inspect(*store);
}

json CtlJson(const std::vector<std::string>& args) { return CtlJsonOutput(RunStatectl(args)); }

// The report of a primary whose one standby is PgFailoverPair's, synchronous and streaming.
void ExpectPrimaryWithSyncStandby(const InspectReport& r, const std::string& socket_dir) {
  EXPECT_EQ(r.engine, "postgresql");
  EXPECT_FALSE(r.in_recovery);
  EXPECT_EQ(r.server_host, socket_dir);
  EXPECT_EQ(r.server_port, "5432");
  ASSERT_EQ(r.standbys.size(), 1u);
  const PgStandbyInfo& s = r.standbys[0];
  EXPECT_EQ(s.name, kStandbyName);
  EXPECT_EQ(s.state, "streaming");
  EXPECT_EQ(s.sync_state, "sync");
  EXPECT_TRUE(s.details_visible);
  EXPECT_EQ(s.client_address, "");  // the standby streams over the primary's unix socket
  ASSERT_TRUE(s.replay_bytes_behind.has_value());
  EXPECT_LT(*s.replay_bytes_behind, 16u << 20);  // within a WAL segment of a caught-up standby
  for (const auto& lag : {s.write_lag_ms, s.flush_lag_ms, s.replay_lag_ms}) {
    if (lag) {
      EXPECT_GE(*lag, 0.0);
    }
  }
  EXPECT_TRUE(r.durability_warnings.empty()) << Joined(r.durability_warnings);
}

class PgInspectTest : public testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (PgCluster::BinDir(&why).empty()) GTEST_SKIP() << why;
  }
};

TEST_F(PgInspectTest, SynchronousPairShowsThePrimaryAndItsSyncStandbyWithoutWarning) {
  auto pair = PgFailoverPair::Start({});
  CreateStore(pair->uri());
  const InspectReport r = InspectReadOnly(pair->uri());
  ExpectPrimaryWithSyncStandby(r, pair->primary().socket_dir());
  std::map<std::string, std::string> settings(r.server_settings.begin(), r.server_settings.end());
  EXPECT_EQ(settings["synchronous_standby_names"], kStandbyName);

  json j = CtlJson({"inspect", pair->uri(), "--json"});
  EXPECT_EQ(j["server"]["role"], "primary") << j.dump();
  EXPECT_EQ(j["server"]["in_recovery"], false) << j.dump();
  EXPECT_EQ(j["server"]["host"], pair->primary().socket_dir()) << j.dump();
  ASSERT_EQ(j["standbys"].size(), 1u) << j.dump();
  EXPECT_EQ(j["standbys"][0]["name"], kStandbyName) << j.dump();
  EXPECT_EQ(j["standbys"][0]["sync_state"], "sync") << j.dump();
  EXPECT_EQ(j["standbys"][0]["state"], "streaming") << j.dump();
  EXPECT_TRUE(j["standbys"][0]["replay_bytes_behind"].is_number()) << j.dump();
  EXPECT_TRUE(j["durability_warnings"].is_array()) << j.dump();
  EXPECT_TRUE(j["durability_warnings"].empty()) << j.dump();

  const CtlResult text = RunStatectl({"inspect", pair->uri()});
  EXPECT_EQ(text.code, 0) << Describe(text);
  EXPECT_TRUE(Contains(text.out, "primary (socket " + pair->primary().socket_dir() + " port 5432)"))
      << Describe(text);
  EXPECT_TRUE(Contains(text.out, "REPLAY LAG")) << Describe(text);
  EXPECT_TRUE(Contains(text.out, kStandbyName)) << Describe(text);
  EXPECT_TRUE(Contains(text.out, "durability:")) << Describe(text);
  EXPECT_FALSE(Contains(text.out, "WARNING")) << Describe(text);

  // A user without pg_read_all_stats sees the standby but not its state: no guess either way.
  pair->primary().QueryValue(
      "DO $$BEGIN CREATE ROLE viewer LOGIN; GRANT USAGE ON SCHEMA statestore TO viewer; "
      "GRANT SELECT ON ALL TABLES IN SCHEMA statestore TO viewer; END$$");
  std::string viewer_uri = pair->uri();
  viewer_uri.replace(viewer_uri.find("postgres@"), 9, "viewer@");
  const InspectReport hidden = InspectReadOnly(viewer_uri);
  ASSERT_EQ(hidden.standbys.size(), 1u);
  EXPECT_FALSE(hidden.standbys[0].details_visible);
  EXPECT_FALSE(hidden.standbys[0].replay_bytes_behind.has_value());
  ASSERT_EQ(hidden.durability_warnings.size(), 1u) << Joined(hidden.durability_warnings);
  EXPECT_TRUE(Contains(hidden.durability_warnings[0], "pg_read_all_stats"))
      << Joined(hidden.durability_warnings);
}

// A single server: the warning that one machine holds every commit. Its defaults changed to
// synchronous_commit=off and a synchronous standby that never connects add theirs; the
// settings shown are the defaults, not the value statestore SETs for its own (kFull) sessions.
TEST_F(PgInspectTest, SingleServerWarnsAndShowsTheServerDefaults) {
  auto cluster = PgCluster::Start();
  CreateStore(cluster->uri());
  InspectReport r = InspectReadOnly(cluster->uri());
  EXPECT_FALSE(r.in_recovery);
  EXPECT_EQ(r.server_host, cluster->socket_dir());
  EXPECT_TRUE(r.standbys.empty());
  ASSERT_EQ(r.durability_warnings.size(), 1u) << Joined(r.durability_warnings);
  EXPECT_TRUE(Contains(r.durability_warnings[0],
                       "a single server: losing its machine loses every "
                       "commit since the last backup"))
      << Joined(r.durability_warnings);

  json j = CtlJson({"inspect", cluster->uri(), "--json"});
  EXPECT_EQ(j["standbys"].size(), 0u) << j.dump();
  ASSERT_EQ(j["durability_warnings"].size(), 1u) << j.dump();
  EXPECT_TRUE(Contains(j["durability_warnings"][0].get<std::string>(), "a single server"))
      << j.dump();
  const CtlResult text = RunStatectl({"inspect", cluster->uri()});
  EXPECT_TRUE(Contains(text.out, "WARNING: a single server")) << Describe(text);
  EXPECT_FALSE(Contains(text.out, "REPLAY LAG")) << Describe(text);

  cluster->QueryValue("ALTER SYSTEM SET synchronous_commit = off");
  cluster->QueryValue("ALTER SYSTEM SET synchronous_standby_names = 'nobody'");
  cluster->QueryValue("SELECT pg_reload_conf()");
  r = InspectReadOnly(cluster->uri());
  std::map<std::string, std::string> settings(r.server_settings.begin(), r.server_settings.end());
  EXPECT_EQ(settings["synchronous_commit"], "off");  // the session itself runs with on (kFull)
  EXPECT_EQ(settings["synchronous_standby_names"], "nobody");
  EXPECT_EQ(r.durability_warnings.size(), 3u) << Joined(r.durability_warnings);
  EXPECT_TRUE(AnyContains(r.durability_warnings, "a single server"))
      << Joined(r.durability_warnings);
  EXPECT_TRUE(AnyContains(r.durability_warnings, "synchronous_commit=off is the server's default"))
      << Joined(r.durability_warnings);
  EXPECT_TRUE(
      AnyContains(r.durability_warnings, "commits wait until a synchronous standby connects"))
      << Joined(r.durability_warnings);
}

// An asynchronous standby: listed (sync_state async) with the failover warning; once detached,
// the primary is a single server again.
TEST_F(PgInspectTest, AsynchronousStandbyWarnsThatAFailoverMayLoseCommits) {
  PgFailoverPair::Settings settings;
  settings.synchronous = false;
  auto pair = PgFailoverPair::Start(settings);
  CreateStore(pair->uri());
  InspectReport r = InspectReadOnly(pair->uri());
  ASSERT_EQ(r.standbys.size(), 1u);
  EXPECT_EQ(r.standbys[0].sync_state, "async");
  ASSERT_EQ(r.durability_warnings.size(), 1u) << Joined(r.durability_warnings);
  EXPECT_TRUE(Contains(r.durability_warnings[0],
                       "asynchronous standby: a failover may lose acknowledged commits"))
      << Joined(r.durability_warnings);

  pair->DetachStandby();
  r = InspectReadOnly(pair->uri());
  EXPECT_TRUE(r.standbys.empty());
  ASSERT_EQ(r.durability_warnings.size(), 1u) << Joined(r.durability_warnings);
  EXPECT_TRUE(Contains(r.durability_warnings[0], "a single server"))
      << Joined(r.durability_warnings);
}

// The same URI after a failover and a rebuild: the other socket directory is the primary, with
// the old primary's slot as its synchronous standby.
TEST_F(PgInspectTest, AfterFailoverTheSameUriReportsTheNewPrimary) {
  auto pair = PgFailoverPair::Start({});
  CreateStore(pair->uri());
  const std::string first = pair->primary().socket_dir();
  ExpectPrimaryWithSyncStandby(InspectReadOnly(pair->uri()), first);

  pair->FailOver();
  pair->RebuildStandby();
  const std::string second = pair->primary().socket_dir();
  ASSERT_NE(second, first);
  ExpectPrimaryWithSyncStandby(InspectReadOnly(pair->uri()), second);
  json j = CtlJson({"inspect", pair->uri(), "--json"});
  EXPECT_EQ(j["server"]["host"], second) << j.dump();
  EXPECT_EQ(j["server"]["role"], "primary") << j.dump();
  ASSERT_EQ(j["standbys"].size(), 1u) << j.dump();
  EXPECT_EQ(j["standbys"][0]["sync_state"], "sync") << j.dump();
}

// A read-only Store on the standby's own URI (no target_session_attrs): the report says it is in
// recovery, lists no standbys (pg_current_wal_lsn() is not called) and gives no replication
// warning, since a standby's settings do not decide what its primary acknowledges.
TEST_F(PgInspectTest, StandbyDirectlyReportsInRecoveryAndNoStandbyList) {
  auto pair = PgFailoverPair::Start({});
  CreateStore(pair->uri());
  const InspectReport r = InspectReadOnly(pair->standby().uri());
  EXPECT_TRUE(r.in_recovery);
  EXPECT_EQ(r.server_host, pair->standby().socket_dir());
  EXPECT_TRUE(r.standbys.empty());
  EXPECT_FALSE(AnyContains(r.durability_warnings, "single server"))
      << Joined(r.durability_warnings);
  EXPECT_EQ(r.keyspaces.size(), 1u);  // the store's data, replayed on the standby

  const CtlResult text = RunStatectl({"inspect", pair->standby().uri()});
  EXPECT_EQ(text.code, 0) << Describe(text);
  EXPECT_TRUE(Contains(text.out, "standby (in recovery) (socket " + pair->standby().socket_dir()))
      << Describe(text);
  json j = CtlJson({"inspect", pair->standby().uri(), "--json"});
  EXPECT_EQ(j["server"]["role"], "standby") << j.dump();
  EXPECT_EQ(j["server"]["in_recovery"], true) << j.dump();
  EXPECT_EQ(j["standbys"].size(), 0u) << j.dump();
}

}  // namespace
}  // namespace statestore::test

// The throwaway PostgreSQL cluster the PostgreSQL engine's tests run against (pg_cluster.h): it
// starts as a non-root user, accepts connections on its own socket, has the settings the tests
// ask for, and leaves nothing running or on disk when it is destroyed.
#include "postgres/pg_cluster.h"

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <fstream>
#include <memory>
#include <string>

#include "test_util.h"

namespace statestore::test {
namespace {

// Whether `pid` is a live process. A zombie is not: the postmaster's parent (pg_ctl) exits, and in
// a container whose init does not reap, the exited server stays a zombie.
bool ProcessAlive(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string pid_field, comm, state;
  if (!(in >> pid_field >> comm >> state)) return false;
  return state != "Z" && state != "X";
}

// One query's first value as text, on a fresh connection. Fails the test on any error.
std::string QueryOne(const std::string& conninfo, const char* sql) {
  std::unique_ptr<PGconn, decltype(&PQfinish)> conn(PQconnectdb(conninfo.c_str()), &PQfinish);
  EXPECT_EQ(PQstatus(conn.get()), CONNECTION_OK) << PQerrorMessage(conn.get());
  std::unique_ptr<PGresult, decltype(&PQclear)> res(PQexec(conn.get(), sql), &PQclear);
  EXPECT_EQ(PQresultStatus(res.get()), PGRES_TUPLES_OK) << PQerrorMessage(conn.get());
  if (PQresultStatus(res.get()) != PGRES_TUPLES_OK || PQntuples(res.get()) < 1) return {};
  return PQgetvalue(res.get(), 0, 0);
}

class PgClusterTest : public testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (PgCluster::BinDir(&why).empty()) GTEST_SKIP() << why;
  }
};

TEST_F(PgClusterTest, StartsAsNonRootAcceptsConnectionsAndLeavesNothingBehind) {
  std::string dir;
  pid_t pid = 0;
  {
    std::unique_ptr<PgCluster> cluster = PgCluster::Start();
    dir = cluster->socket_dir();
    pid = cluster->postmaster_pid();
    ASSERT_GT(pid, 0);
    EXPECT_TRUE(FileExists(dir + "/.s.PGSQL." + std::to_string(cluster->port())));
    // Both connection forms the engine will be given reach the same server.
    EXPECT_EQ(QueryOne(cluster->conninfo(), "SELECT current_user"), "postgres");
    EXPECT_EQ(QueryOne(cluster->uri(), "SELECT 6 * 7"), "42");
    EXPECT_GE(std::stoi(QueryOne(cluster->conninfo(), "SHOW server_version_num")), 150000);
    // The server process does not run as root (pg_cluster.h invariant 1).
    struct stat st;
    ASSERT_EQ(::stat(("/proc/" + std::to_string(pid)).c_str(), &st), 0);
    EXPECT_NE(st.st_uid, 0u);
    // Durability settings are PostgreSQL's defaults unless a test asks otherwise.
    EXPECT_EQ(QueryOne(cluster->conninfo(), "SHOW fsync"), "on");
    EXPECT_EQ(QueryOne(cluster->conninfo(), "SHOW synchronous_commit"), "on");
  }
  // Invariant 2: stopped and removed.
  EXPECT_FALSE(ProcessAlive(pid));
  EXPECT_FALSE(FileExists(dir));
}

TEST_F(PgClusterTest, AppliesServerSettingsAndRunsSideBySide) {
  PgCluster::Settings settings;
  settings.server_settings = {"max_connections=37", "application_name=statestore_test"};
  std::unique_ptr<PgCluster> a = PgCluster::Start(settings);
  std::unique_ptr<PgCluster> b = PgCluster::Start();  // invariant 3: its own directory
  EXPECT_NE(a->socket_dir(), b->socket_dir());
  EXPECT_EQ(QueryOne(a->conninfo(), "SHOW max_connections"), "37");
  EXPECT_EQ(QueryOne(b->conninfo(), "SHOW max_connections"), "100");
  // Data written to one is not in the other.
  EXPECT_EQ(QueryOne(a->conninfo(), "CREATE TABLE t AS SELECT 1 AS c; SELECT count(*) FROM t"),
            "1");
  EXPECT_EQ(
      QueryOne(b->conninfo(), "SELECT count(*) FROM pg_catalog.pg_tables WHERE tablename = 't'"),
      "0");
}

TEST_F(PgClusterTest, SharedClusterIsOnePerProcess) {
  std::string why;
  PgCluster* first = PgCluster::Shared(&why);
  ASSERT_NE(first, nullptr) << why;
  EXPECT_EQ(PgCluster::Shared(&why), first);
  EXPECT_EQ(QueryOne(first->conninfo(), "SELECT 1"), "1");
}

}  // namespace
}  // namespace statestore::test

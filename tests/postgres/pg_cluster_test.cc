// The throwaway PostgreSQL cluster the PostgreSQL engine's tests run against (pg_cluster.h): it
// starts as a non-root user, accepts connections on its own socket, has the settings the tests
// ask for, and leaves nothing running or on disk when it is destroyed — nor, once reaped, when the
// process that owned it died without destroying it (invariant 5, pg_cluster_registry.h).
#include "postgres/pg_cluster.h"

#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "postgres/pg_cluster_registry.h"
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

// The private cluster a worker (statestore_test_worker pg-private-cluster) started: what it
// printed before it died.
struct WorkerCluster {
  pid_t postmaster = 0;
  std::string dir;
};

WorkerCluster ReadWorkerCluster(ChildProcess& worker) {
  WorkerCluster cluster;
  const std::optional<std::string> line = worker.ReadLine(std::chrono::seconds(120 * kSlowFactor));
  if (!line) {
    ADD_FAILURE() << "the worker printed no cluster";
    return cluster;
  }
  std::istringstream in(*line);
  std::string word;
  in >> word >> cluster.postmaster >> cluster.dir;
  EXPECT_EQ(word, "cluster") << *line;
  return cluster;
}

std::string ConninfoOf(const std::string& cluster_dir) {
  return "host=" + cluster_dir + " port=5432 user=postgres dbname=postgres";
}

bool Contains(const std::vector<std::string>& list, const std::string& item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

// Reaps, when a test fails half way, what its dead workers left (declared before them, it runs
// after their destructors killed them).
struct ReapsAtExit {
  ~ReapsAtExit() {
    try {
      PgCluster::ReapAbandoned();
    } catch (...) {
    }
  }
};

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

// Invariant 5: a test process that aborts, or is SIGKILLed (as ctest kills one at its timeout),
// runs no destructor, and its server outlives it; ReapAbandoned stops that server and removes its
// directory and record, and leaves alone the cluster of a process that is still alive.
TEST_F(PgClusterTest, ReaperStopsTheClustersOfDeadTestProcessesOnly) {
  const ReapsAtExit reaps_at_exit;
  std::unique_ptr<PgCluster> own = PgCluster::Start();  // this process lives on
  ChildProcess aborting = ChildProcess::SpawnWorker({"pg-private-cluster", "abort"});
  ChildProcess killed = ChildProcess::SpawnWorker({"pg-private-cluster", "hold"});
  const WorkerCluster aborted_cluster = ReadWorkerCluster(aborting);
  const WorkerCluster killed_cluster = ReadWorkerCluster(killed);
  ASSERT_GT(aborted_cluster.postmaster, 0);
  ASSERT_GT(killed_cluster.postmaster, 0);
  killed.Kill(SIGKILL);
  EXPECT_EQ(aborting.Wait(std::chrono::seconds(60)), 128 + SIGABRT);
  EXPECT_EQ(killed.Wait(std::chrono::seconds(60)), 128 + SIGKILL);

  for (const WorkerCluster* leaked : {&aborted_cluster, &killed_cluster}) {
    // The leak: the server runs on after the process that owned it died.
    EXPECT_TRUE(ProcessAlive(leaked->postmaster)) << leaked->dir;
    EXPECT_EQ(QueryOne(ConninfoOf(leaked->dir), "SELECT 1"), "1");
    EXPECT_TRUE(FileExists(PgClusterRecordPath(leaked->dir)));
  }

  // (Not asserted: that report.stopped_dirs names them. Another run's fixture, reaping at the same
  // moment, may have stopped them instead; invariant 3 of the registry.)
  const PgCluster::ReapReport report = PgCluster::ReapAbandoned();
  EXPECT_TRUE(report.failures.empty()) << report.failures.front();
  for (const WorkerCluster* leaked : {&aborted_cluster, &killed_cluster}) {
    EXPECT_FALSE(ProcessAlive(leaked->postmaster)) << leaked->dir;
    EXPECT_FALSE(FileExists(leaked->dir));
    EXPECT_FALSE(FileExists(PgClusterRecordPath(leaked->dir)));
  }

  // A live owner's cluster is not touched, and its destructor removes its record.
  const std::string own_record = PgClusterRecordPath(own->socket_dir());
  EXPECT_FALSE(Contains(report.stopped_dirs, own->socket_dir()));
  EXPECT_TRUE(ProcessAlive(own->postmaster_pid()));
  EXPECT_EQ(QueryOne(own->conninfo(), "SELECT 1"), "1");
  EXPECT_TRUE(FileExists(own_record));
  own.reset();
  EXPECT_FALSE(FileExists(own_record));
}

// pg_cluster_registry.h invariant 2: an owner is alive only while its pid belongs to the process
// that registered, which started at the recorded time; a zombie or a reused pid is no owner.
TEST(PgClusterRegistryTest, OwnerIsAliveOnlyAsTheSameLiveProcess) {
  const pid_t self = ::getpid();
  const unsigned long long started = ProcessStartTime(self);
  ASSERT_GT(started, 0u);
  EXPECT_TRUE(PgClusterOwnerAlive(self, started));
  EXPECT_FALSE(PgClusterOwnerAlive(self, started + 1));  // the pid, reused by a later process

  ChildProcess child = ChildProcess::Spawn({"/bin/true"});
  const pid_t pid = child.pid();
  const unsigned long long child_started = ProcessStartTime(pid);
  // Exited but not yet waited for: a zombie.
  for (int i = 0; i < 500 && ProcessAlive(pid); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_FALSE(PgClusterOwnerAlive(pid, child_started));
  EXPECT_EQ(child.Wait(std::chrono::seconds(10)), 0);
  EXPECT_FALSE(PgClusterOwnerAlive(pid, child_started));  // gone
}

}  // namespace
}  // namespace statestore::test

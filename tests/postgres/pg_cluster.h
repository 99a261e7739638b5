// PgCluster — a throwaway PostgreSQL server for the tests, started and stopped by the tests
// themselves: its own data directory and unix-socket directory in a fresh TempDir, no TCP port.
//
// Invariants:
//   1. The server never runs as root (PostgreSQL refuses to): when the tests run as root, initdb
//      and pg_ctl run as the `postgres` user through runuser, and the TempDir is handed to it.
//   2. A PgCluster that Start() returned is accepting connections on socket_dir(); its destructor
//      stops it (fast shutdown, then SIGKILL of the postmaster if that fails) and removes the
//      directory, so nothing is left running or on disk after a test process exits normally —
//      or abnormally (abort, sanitizer report, SIGKILL, a ctest timeout), once the run's fixture
//      cleanup, the next run's fixture start or `statestore_pg_fixture reap` has run (invariant 5).
//   3. Nothing here is shared between test processes: each cluster has its own directory, so
//      `ctest -j` may run several at once.
//   4. Streaming replication (issue 15): a standby is a base backup of its primary taken over
//      the primary's socket (pg_basebackup -R, so it follows that primary), in a directory and on
//      a socket of its own. Kill() stands in for the loss of the machine: every process of the
//      server dies at once and nothing is flushed or shut down cleanly.
//   5. Every cluster a PgCluster owns (Start, StartStandby; RebuildAsStandbyOf reuses the same
//      directory) has a record in the registry (pg_cluster_registry.h) naming its directory and
//      the test process that owns it, written before initdb or pg_basebackup runs, so a process
//      that dies at any moment after leaves a record; the destructor removes it after stopping
//      the cluster. ReapAbandoned() stops and removes the clusters whose owner has died, and never
//      touches one whose owner is alive (`ctest -j` runs other test processes at the same time).
//      The fixture's own cluster (StartIn) has no record: the fixture's stop, or the next start
//      in the same directory, stops it.
#ifndef STATESTORE_TESTS_POSTGRES_PG_CLUSTER_H_
#define STATESTORE_TESTS_POSTGRES_PG_CLUSTER_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "test_util.h"

namespace statestore::test {

class PgCluster {
 public:
  struct Settings {
    // Extra server settings, each "name=value" (passed as -c name=value).
    std::vector<std::string> server_settings;
  };

  // The directory holding initdb, pg_ctl and postgres, or empty (with the reason in *why) when
  // PostgreSQL is not installed.
  static std::string BinDir(std::string* why);

  // Initializes and starts a cluster (invariant 2). Throws std::runtime_error carrying initdb's or
  // pg_ctl's output when either fails.
  static std::unique_ptr<PgCluster> Start(const Settings& settings);
  static std::unique_ptr<PgCluster> Start() { return Start(Settings{}); }

  // One cluster per test process, null (with *why) if it cannot be had. For suites that need a
  // server but not their own. Under ctest it is the run's fixture cluster (kFixtureDirEnv names
  // its directory; tests/postgres/CMakeLists.txt): attached, never stopped by this process.
  // Otherwise one started on first use and stopped at exit.
  static PgCluster* Shared(std::string* why);

  // The environment variable naming the directory of a running fixture cluster.
  static constexpr const char* kFixtureDirEnv = "STATESTORE_TEST_PG_DIR";
  // The fixture (statestore_pg_fixture): starts a cluster in `dir` (made fresh; a stale one from
  // an interrupted run is stopped and removed first) and leaves it running; StopIn stops the
  // cluster in `dir` and removes the directory. Throw std::runtime_error on failure.
  static void StartIn(const std::string& dir);
  static void StopIn(const std::string& dir);

  struct ReapReport {
    std::vector<std::string> stopped_dirs;  // clusters of dead owners, stopped and removed
    std::vector<std::string> failures;      // "<dir>: <why>"; their records stay for a next try
  };
  // Invariant 5: stops (pg_ctl stop -m immediate as the server's user, else SIGKILL of the
  // postmaster and its children) every registered cluster whose owner process has died, removes
  // its directory and its record. Clusters of live owners are left alone. Throws
  // std::runtime_error only if the registry directory cannot be trusted; a cluster that could not
  // be stopped is reported in `failures`.
  static ReapReport ReapAbandoned();

  PgCluster(const PgCluster&) = delete;
  PgCluster& operator=(const PgCluster&) = delete;
  ~PgCluster();

  const std::string& socket_dir() const { return socket_dir_; }
  int port() const { return kPort; }
  // libpq key=value form: "host=<socket_dir> port=<port> user=postgres dbname=<database>".
  std::string conninfo(const std::string& database = "postgres") const;
  // libpq URI form: "postgresql://postgres@/<database>?host=<socket_dir>&port=<port>".
  std::string uri(const std::string& database = "postgres") const;
  // The postmaster's pid, from postmaster.pid.
  pid_t postmaster_pid() const;
  const std::string& data_dir() const { return data_dir_; }

  // Restarts the server: pg_ctl restart -m `mode` ("smart", "fast" or "immediate": the latter
  // is a crash, and the server runs recovery) with the options Start() gave it, waiting until it
  // accepts connections again on the same socket. Every client connection is broken. REQUIRES:
  // this cluster was made by Start() (not attached by Shared()). Throws std::runtime_error
  // carrying pg_ctl's output and the server log when the restart fails.
  void Restart(const std::string& mode);

  // Starts a streaming standby of `primary` (invariant 4) with `settings`, in a fresh directory.
  // Returns once it accepts (read-only) connections. Throws std::runtime_error carrying
  // pg_basebackup's or pg_ctl's output on failure.
  static std::unique_ptr<PgCluster> StartStandby(const PgCluster& primary,
                                                 const Settings& settings);
  // SIGKILLs the postmaster and every one of its children at once (the postmaster is stopped
  // first so it can start no new child; each child runs in a session of its own, so a process
  // group signal would miss them), and waits until they are gone. No-op if not running.
  void Kill();
  // pg_ctl promote -w: this standby becomes a primary and accepts writes when it returns.
  void Promote();
  // Replaces the data of this killed cluster (Kill()) by a fresh base backup of `primary` and
  // starts it as primary's standby, on this cluster's socket with this cluster's settings.
  void RebuildAsStandbyOf(const PgCluster& primary);
  // Runs one SQL statement on this server and returns the first column of its first row ("" if
  // it returned no row; NULL reads as ""). Throws std::runtime_error with libpq's message.
  std::string QueryValue(const std::string& sql, const std::string& database = "postgres") const;

 private:
  // Only names the socket file (.s.PGSQL.<port>) in this cluster's own directory.
  static constexpr int kPort = 5432;

  PgCluster(std::unique_ptr<TempDir> dir, std::string bin_dir);
  // A cluster in `dir` (data/ and the socket inside), owned or attached.
  PgCluster(const std::string& dir, std::string bin_dir);
  // initdb and pg_ctl start in data_dir_.
  void InitAndStart(const Settings& settings);
  // pg_basebackup of `primary` into data_dir_ (which must not exist), then pg_ctl start.
  void BaseBackupAndStart(const PgCluster& primary);
  // pg_ctl start with server_options_; throws with the server log on failure.
  void StartServer();
  // Runs a PostgreSQL program as the server's user (invariant 1). Returns its exit code;
  // *output gets what it printed on stdout.
  int RunAsServerUser(const std::vector<std::string>& argv, std::string* output) const;
  void Stop() noexcept;
  // ReapAbandoned's work on one cluster in `dir` (started with the programs in `bin_dir`): stopped
  // and its directory removed. Throws std::runtime_error if it still runs or cannot be removed.
  static void StopAbandoned(const std::string& dir, const std::string& bin_dir);

  std::unique_ptr<TempDir> dir_;
  std::string bin_dir_;
  std::string data_dir_;
  std::string socket_dir_;
  std::string log_path_;
  std::string server_options_;  // pg_ctl -o, set by InitAndStart (Restart reuses it)
  bool running_ = false;
  std::string registry_record_;  // invariant 5: set iff dir_ is (an owned cluster)
};

}  // namespace statestore::test

#endif  // STATESTORE_TESTS_POSTGRES_PG_CLUSTER_H_

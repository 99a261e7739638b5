// The registry of private PostgreSQL clusters (pg_cluster.h invariant 5): one record for each
// cluster a test process started and owns, so that another process can stop what a dead one left
// running (PgCluster::ReapAbandoned).
//
// Where: RegistryDir(), /tmp/statestore-pg-clusters-<euid>, a directory of mode 0700 owned by the
// user the tests run as (root under scripts/run-tests.sh; the server's `postgres` user never reads
// it). Fixed, not under $TMPDIR: the fixture and the next run must find the records whatever
// TMPDIR the test process had. One per user, so nobody acts on a record another user wrote (the
// reaper deletes the directory a record names).
//
// A record is the file <RegistryDir()>/<last part of the cluster's directory>.cluster (mkdtemp
// made that name unique), with the lines
//   owner_pid=<pid of the test process>
//   owner_start=<its start time: /proc/<pid>/stat field 22, clock ticks since boot; 0: unknown>
//   dir=<the cluster's directory: data/, the socket and server.log inside>
//   bin_dir=<the directory of the pg_ctl that started it>
//
// Invariants:
//   1. A record is whole or absent: it is written to <record>.tmp and renamed into place.
//   2. A record's owner is alive while a process with owner_pid exists, is not a zombie, and
//      started at owner_start. A pid the kernel has since given to another process has another
//      start time, so a reused pid never passes for the owner.
//   3. One reaper at a time per record: a reaper holds flock(LOCK_EX) on the record while it stops
//      the cluster. Another one waits for the lock, then finds the record gone, or still there if
//      the first failed (or died) and tries itself. A record is removed only after its cluster was
//      stopped and its directory removed, so a reaper that fails leaves it for the next one.
#ifndef STATESTORE_TESTS_POSTGRES_PG_CLUSTER_REGISTRY_H_
#define STATESTORE_TESTS_POSTGRES_PG_CLUSTER_REGISTRY_H_

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

namespace statestore::test {

struct PgClusterRecord {
  std::string path;  // the record file
  pid_t owner_pid = 0;
  unsigned long long owner_start = 0;  // 0: unknown (no /proc); only the pid is compared
  std::string dir;
  std::string bin_dir;
};

// /tmp/statestore-pg-clusters-<euid>.
std::string PgClusterRegistryDir();

// The path of the record of the cluster in `cluster_dir` (whether or not it exists).
std::string PgClusterRecordPath(const std::string& cluster_dir);

// Records that this process owns the cluster in `cluster_dir` (invariant 1), creating the
// registry directory if needed. Returns the record's path. Throws std::system_error, or
// std::runtime_error if the registry directory is not a 0700 directory of this user.
std::string RegisterPgCluster(const std::string& cluster_dir, const std::string& bin_dir);

// Removes the record at `record_path` (its owner stopped the cluster). Never throws.
void UnregisterPgCluster(const std::string& record_path) noexcept;

// Invariant 2. `start` 0 skips the start-time comparison.
bool PgClusterOwnerAlive(pid_t pid, unsigned long long start);

// The start time of process `pid` (/proc/<pid>/stat field 22), 0 if /proc cannot tell.
unsigned long long ProcessStartTime(pid_t pid);

// Calls `stop` for each record whose owner is dead (invariant 2), holding the record's lock
// (invariant 3), and removes the record when `stop` returns. When `stop` throws, the record stays
// and "<dir>: <what()>" is added to *failures. Returns the records whose cluster `stop` stopped;
// those another reaper stopped meanwhile are not among them, but are stopped when this returns.
// Records of live owners are left alone. Throws std::runtime_error if the registry directory exists
// but is not a 0700 directory of this user.
std::vector<PgClusterRecord> ForEachAbandonedPgCluster(
    const std::function<void(const PgClusterRecord&)>& stop, std::vector<std::string>* failures);

}  // namespace statestore::test

#endif  // STATESTORE_TESTS_POSTGRES_PG_CLUSTER_REGISTRY_H_

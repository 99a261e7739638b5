// statestore_pg_fixture start|stop DIR | reap — the ctest fixture that gives one test run one
// PostgreSQL server (tests/postgres/CMakeLists.txt): test processes attach to it through
// PgCluster::kFixtureDirEnv instead of each running initdb.
//
// Both start and stop also reap (PgCluster::ReapAbandoned, pg_cluster.h invariant 5): the private
// clusters of test processes that died without stopping them (abort, sanitizer report, SIGKILL,
// ctest timeout) are stopped and removed. Stop reaps what this run's tests leaked, start what an
// interrupted earlier run leaked. `reap` does only that, for a developer's machine.
//
// Exit status: 0; 1 if the fixture could not be started or stopped, or (stop and reap only) a
// leaked cluster could not be stopped; 2 on bad usage. A start whose reaping fails only warns:
// the run's tests can use a fresh server whatever a dead process left behind.
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "postgres/pg_cluster.h"

namespace {

using statestore::test::PgCluster;

// Reaps and reports on stderr. Returns whether every abandoned cluster was stopped.
bool Reap(const char* mode) {
  PgCluster::ReapReport report;
  try {
    report = PgCluster::ReapAbandoned();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "statestore_pg_fixture %s: reaping: %s\n", mode, e.what());
    return false;
  }
  for (const std::string& dir : report.stopped_dirs) {
    std::fprintf(stderr, "statestore_pg_fixture %s: stopped %s, left running by a dead test\n",
                 mode, dir.c_str());
  }
  for (const std::string& failure : report.failures) {
    std::fprintf(stderr, "statestore_pg_fixture %s: could not stop %s\n", mode, failure.c_str());
  }
  return report.failures.empty();
}

[[noreturn]] void Usage(const char* self) {
  std::fprintf(stderr, "usage: %s start|stop DIR\n       %s reap\n", self, self);
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) Usage(argv[0]);
  const std::string mode = argv[1];
  if (mode == "reap") {
    if (argc != 2) Usage(argv[0]);
    return Reap("reap") ? 0 : 1;
  }
  if (argc != 3 || (mode != "start" && mode != "stop")) Usage(argv[0]);
  const char* dir = argv[2];
  if (mode == "start") {
    Reap("start");  // a failure only warns (see above)
    try {
      PgCluster::StartIn(dir);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "statestore_pg_fixture start: %s\n", e.what());
      return 1;
    }
    std::printf("PostgreSQL fixture running in %s\n", dir);
    return 0;
  }
  bool ok = true;
  try {
    PgCluster::StopIn(dir);
    std::printf("PostgreSQL fixture in %s stopped\n", dir);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "statestore_pg_fixture stop: %s\n", e.what());
    ok = false;
  }
  return Reap("stop") && ok ? 0 : 1;
}

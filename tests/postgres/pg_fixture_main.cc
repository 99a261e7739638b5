// statestore_pg_fixture start|stop DIR — the ctest fixture that gives one test run one PostgreSQL
// server (tests/postgres/CMakeLists.txt): test processes attach to it through
// PgCluster::kFixtureDirEnv instead of each running initdb.
#include <cstdio>
#include <cstring>
#include <exception>

#include "postgres/pg_cluster.h"

int main(int argc, char** argv) {
  if (argc != 3 || (std::strcmp(argv[1], "start") != 0 && std::strcmp(argv[1], "stop") != 0)) {
    std::fprintf(stderr, "usage: %s start|stop DIR\n", argv[0]);
    return 2;
  }
  try {
    if (std::strcmp(argv[1], "start") == 0) {
      statestore::test::PgCluster::StartIn(argv[2]);
      std::printf("PostgreSQL fixture running in %s\n", argv[2]);
    } else {
      statestore::test::PgCluster::StopIn(argv[2]);
      std::printf("PostgreSQL fixture in %s stopped\n", argv[2]);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "statestore_pg_fixture %s: %s\n", argv[1], e.what());
    return 1;
  }
  return 0;
}

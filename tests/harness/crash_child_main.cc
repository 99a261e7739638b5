// statestore_crash_child DB RUN full|normal THREADS KEYS_PER_TXN — the child process of the crash
// harness (crash_harness.h): commits transactions from THREADS threads and reports each
// acknowledged one on stdout until the parent kills it.
#include <string>
#include <vector>

#include "crash_harness.h"

int main(int argc, char** argv) {
  return statestore::crash::CrashChildMain(std::vector<std::string>(argv + 1, argv + argc));
}

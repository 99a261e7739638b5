// RunFailovers — the failover run of issue 15, shared by the failover test
// (tests/postgres/pg_failover_test.cc) and the benchmark's failover section
// (bench/durability_bench.cc), so that what the bench times is exactly what the test checks.
//
// Writer processes (FailoverWriterMain: the test worker's "failover-write" mode, or the bench
// started with --failover-writer) run the counter and two-key workload against a Store opened on
// a PgFailoverPair's multi-host URI; the calling process writes config values, watches them and
// keeps reading the counter through the read cache. The primary is SIGKILLed at a random point
// `kills` times; each time the standby is promoted and the dead slot is rebuilt as the new
// primary's standby. Then, on the last primary, the Outcome says:
//   - which acknowledged commits are missing (or hold another value), which are partial, which
//     failed commits turned out present (allowed only for kCommitUnknown);
//   - whether the counter equals the number of commits present (no lost update);
//   - whether revisions have a gap and replaying history gives the state;
//   - whether the config watch delivered every acknowledged config value exactly once, in
//     revision order, and whether the cached reader ever saw the counter go back;
//   - how long each failover took: the kill until the standby was promoted, the standby's
//     rebuild, and the kill until the first acknowledged commit after it.
#ifndef STATESTORE_TESTS_POSTGRES_PG_FAILOVER_RUN_H_
#define STATESTORE_TESTS_POSTGRES_PG_FAILOVER_RUN_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "postgres/pg_failover_pair.h"
#include "statestore/options.h"

namespace statestore::test {

struct FailoverRunOptions {
  PgFailoverPair::Settings pair;
  Durability durability = Durability::kFull;  // of every Store of the run
  int kills = 5;
  int writer_processes = 2;
  int threads_per_writer = 2;
  // The command line of a writer process up to its arguments; FailoverWriterMain gets
  // {uri, tag, threads, busy_timeout_ms, --full|--normal} after it.
  std::vector<std::string> writer_command;
  // Progress lines (one per failover), or nothing.
  std::function<void(const std::string&)> log;
};

struct FailoverOutcome {
  // The run itself went wrong (a writer did not start or stop, no progress after a failover):
  // the numbers below are then incomplete.
  std::vector<std::string> run_errors;

  std::size_t acked = 0;               // writer transactions acknowledged
  std::size_t lost = 0;                // ... of which absent (or with another value) at the end
  std::size_t partial = 0;             // transactions with one of their two keys only
  std::size_t failed_but_present = 0;  // kBusy / kUnavailable, yet committed
  std::size_t unknown_present = 0, unknown_absent = 0;  // kCommitUnknown, as resolved afterwards
  std::map<std::string, int> failures;                  // by error code name
  std::int64_t counter = 0;
  std::size_t pairs_present = 0;
  std::size_t revision_gaps = 0;
  bool history_replays_to_state = false;
  std::size_t config_acked = 0, watch_missed = 0, watch_repeated = 0;
  bool watch_in_order = true, watch_compacted = false;
  std::size_t reader_went_back = 0;
  std::vector<double> first_commit_ms;  // primary killed -> first acknowledged commit after it
  std::vector<double> promote_ms;       // primary killed -> standby promoted
  std::vector<double> rebuild_ms;       // standby rebuilt and streaming

  // One paragraph with every number above.
  std::string Summary() const;
};

// Runs the workload across options.kills failovers of a new pair; see the file comment.
// Throws std::runtime_error when the servers cannot be started.
FailoverOutcome RunFailovers(const FailoverRunOptions& options);

// A writer process: args = {uri, tag, threads, busy_timeout_ms, --full|--normal}. Opens the
// Store, prints "ready", then each of `threads` threads runs, for N = 0, 1, ..., transactions
// that add 1 to ("fo","counter") and set ("fo","TAG-T-N-a") and ("fo","TAG-T-N-b") to N, and
// prints "ack T N" after transact() returned or "fail T N <code-name>" after it threw
// statestore::Error (then goes on with N+1 after 10 ms). On "stop" from stdin the threads finish
// their transaction, "done" is printed and 0 returned. Bad arguments: 2.
int FailoverWriterMain(const std::vector<std::string>& args);

// The p-th fraction (0..1) of `values` by rank; 0 when empty.
double Percentile(std::vector<double> values, double p);

}  // namespace statestore::test

#endif  // STATESTORE_TESTS_POSTGRES_PG_FAILOVER_RUN_H_

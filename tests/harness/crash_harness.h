// statestore crash harness — proves that acknowledged commits survive SIGKILL and that no
// transaction survives in part. Used by tests/crash_harness_test.cc (>= 20 kills per durability
// mode) and by bench/durability_bench.cc (>= 200 kills per mode in its full run).
//
// How a run works (RunCrashHarness, the parent side):
//
//   1. The parent creates the database (one Store::open, closed again) and then, once per kill:
//   2. spawns a child (posix_spawn, never fork: the parent may have threads and ThreadSanitizer
//      does not survive fork-without-exec) running CrashChildMain with the run number, the
//      durability mode, the number of writer threads and keys per transaction;
//   3. the child's writer threads commit transactions in a loop (see "The workload" below) and
//      write one line "ack REV THREAD SEQ MAX_GROUP" to the pipe after each transact()
//      *returned* (MAX_GROUP: Stats::max_group_size of the child's Store so far);
//   4. the parent reads acks until a random moment (some kills come a few milliseconds after the
//      spawn, while the child is still opening the store or making its first commits; most after
//      min_run..max_run of writing, i.e. in the middle of group commits), then SIGKILLs the child
//      and drains the acks still in the pipe (a line cut by the kill is ignored);
//   5. reopens the database (Store::open plus the first query: the reopen time includes SQLite's
//      WAL recovery) and checks:
//        a. every acknowledged revision is in history with exactly the changes its (run, thread,
//           seq) transaction wrote, and the state holds each of its keys at that revision or at a
//           later one (lost otherwise);
//        b. every commit in history made by a child is complete: exactly the writes its label
//           names, in order, no more, no fewer; the counter it bumped went up by one; no
//           (run, thread, seq) is in history twice (partial otherwise);
//        c. revisions are 1..head without gaps; replaying history from empty reproduces the
//           current state of every keyspace (Store::list), entry by entry, version included
//           (replay mismatch otherwise; replayed incrementally after each kill and from empty
//           every full_replay_every kills and at the end);
//        d. PRAGMA integrity_check on a separate read-only SQLite connection says "ok".
//
// The workload (CrashChildMain): thread t's seq-th transaction in run r, labelled
// "crash r<r> t<t> s<seq>" (TransactOptions::label, so every history entry names its writer):
//   - reads ("crashmeta", "total") and writes it + 1       (one counter all threads contend on)
//   - writes ("crashkv", "k/<t>/<seq % 16>/<j>") for j in 0..K-1, a ~100-byte value naming r, t,
//     seq and j                                              (K keys, overwritten every 16 seqs)
//   - writes ("crashmeta", "shared/<(seq + i) % 4>") for i in 0..1, value "r<r>t<t>s<seq>"
//                                                          (keys that overlap between threads)
// The key space stays bounded (threads x 16 x K + 5 keys) however long the harness runs.
#ifndef STATESTORE_TESTS_HARNESS_CRASH_HARNESS_H_
#define STATESTORE_TESTS_HARNESS_CRASH_HARNESS_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "statestore/options.h"
#include "statestore/revision.h"

namespace statestore::crash {

struct CrashOptions {
  // The database file (created if missing; the directory must exist).
  std::string db_path;
  // argv of the child up to (not including) its own arguments: the child executable (an absolute
  // path) and anything that makes it call CrashChildMain, e.g. {"/proc/self/exe",
  // "--crash-child"}. CrashChildMain gets the arguments after these.
  std::vector<std::string> child_argv;
  Durability durability = Durability::kFull;
  int kills = 20;
  int threads = 4;       // writer threads in the child
  int keys_per_txn = 4;  // K
  // How long the child writes before the kill (uniformly random in [min_run, max_run]).
  std::chrono::milliseconds min_run{20};
  std::chrono::milliseconds max_run{150};
  // Fraction of kills that come 0..3 ms after the spawn instead (during open / first commits).
  double early_kill_fraction = 0.15;
  // Seed of the kill schedule; 0 = random (std::random_device). The seed used is in the report.
  std::uint64_t seed = 0;
  // Upper bound for the child to start and for reading its pipe.
  std::chrono::milliseconds child_timeout{60'000};
  // Replay the whole history from empty every this many kills (and after the last one); between
  // those, only the commits since the last check are replayed on top of the previous result.
  int full_replay_every = 10;
  // Progress and problem lines (nullptr = silent).
  std::function<void(const std::string&)> log;
};

struct CrashReport {
  std::uint64_t seed = 0;
  int kills = 0;
  std::uint64_t acks = 0;                // acknowledged commits reported by the children
  std::uint64_t unacked_committed = 0;   // in history but not acknowledged (in flight at the kill)
  std::uint64_t lost = 0;                // acknowledged but missing or different (must be 0)
  std::uint64_t partial = 0;             // a commit present in part or twice (must be 0)
  std::uint64_t replay_mismatches = 0;   // history replay != state, gaps in revisions (must be 0)
  std::uint64_t integrity_failures = 0;  // PRAGMA integrity_check not "ok" (must be 0)
  std::uint64_t child_failures = 0;      // a child exited by itself or reported an error
  std::uint64_t head_revision = 0;       // at the end
  // Largest group commit the children reported (Stats::max_group_size with each ack): > 1 shows
  // that concurrent transactions were committed together.
  std::uint64_t max_group_size = 0;
  std::vector<double> reopen_ms;  // one per kill
  double reopen_p50_ms = 0;
  double reopen_p99_ms = 0;
  double reopen_max_ms = 0;
  // For comparison: Store::open of the same file after a clean close (no WAL to recover), timed
  // the same way right after each check.
  double clean_open_p50_ms = 0;
  double seconds = 0;                 // wall time of the whole run
  std::vector<std::string> problems;  // the first problems found, described

  bool ok() const {
    return lost == 0 && partial == 0 && replay_mismatches == 0 && integrity_failures == 0 &&
           child_failures == 0 && kills > 0;
  }
  // One line: "kills N, acks N, lost N, partial N, ... reopen p50 X ms p99 Y ms".
  std::string Summary() const;
};

// Runs the harness. Throws std::runtime_error when the harness itself cannot work (the child
// cannot be started or never gets ready); problems found in the database are counted in the
// report, not thrown.
CrashReport RunCrashHarness(const CrashOptions& options);

// An acknowledgement as the child reports it: transaction `seq` of writer `thread` in run `run`
// (the kill number, from 1) committed as `revision`.
struct AckedTxn {
  Revision revision = 0;
  int run = 0;
  int thread = 0;
  std::uint64_t seq = 0;
};

// Checks an existing harness database from scratch, as after a kill (checks a-d above, history
// replayed from empty) with `acks` as the acknowledged commits; `reopen_ms` gets one entry. Uses
// o.db_path, o.durability and o.keys_per_txn. Lets tests show that the checks find damage.
CrashReport CheckCrashDatabase(const CrashOptions& options, const std::vector<AckedTxn>& acks);

// The child side. `args` are the arguments after CrashOptions::child_argv:
//   DB RUN full|normal THREADS KEYS_PER_TXN
// Opens DB, writes "ready", then commits until killed. Returns an exit status (2 on bad usage,
// 1 on an error, which it also reports as a line "error ..." on stdout).
int CrashChildMain(const std::vector<std::string>& args);

}  // namespace statestore::crash

#endif  // STATESTORE_TESTS_HARNESS_CRASH_HARNESS_H_

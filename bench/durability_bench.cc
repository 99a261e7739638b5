// statestore_durability_bench [--short] [--out DIR]
//     [--only writers|reads|crash|postgres|failover[,...]] [--threads N,N,...] [--rounds N]
//     [--engine SUBSTRING] [--postgres CONNINFO] [--no-postgres]
//
// The durability and speed benchmark of issues 6 and 12, every engine measured in the same run
// on the same workload (bench_common.h):
//
//   writers  durable commit throughput and p50/p99 latency with 1, 4, 16 and 64 writer threads:
//            statestore Durability::kFull and kNormal; raw SQLite on statestore's schema doing
//            statestore's work per commit ("SQLite FULL/NORMAL"); "SQLite kv", what a user
//            writes without statestore (one kv table WITHOUT ROWID, WAL, synchronous=FULL /
//            NORMAL, a connection per thread, BEGIN IMMEDIATE, busy_timeout 5 s, no history);
//            LMDB (default durable commits); RocksDB (sync=true / sync=false); "RocksDB+history"
//            (sync=true, plus a commit record, a change record with old and new value per write
//            and a per-key history index entry in the same WriteBatch). Each transaction writes
//            a 100-byte value under a per-thread key and read-modify-writes a per-thread
//            counter; afterwards every engine's counters must equal the commits it acknowledged.
//            Each thread count runs every engine --rounds times (default 3), interleaved
//            (A B C A B C ...), each round on a fresh file; the table shows the median round and
//            the range, and each target ratio is computed per round (A_i / B_i) and reported as
//            median and range. Cost per commit (WAL bytes, main-file bytes, WAL frames, fsyncs,
//            CPU us, statestore's group size) comes from a counting VFS registered as SQLite's
//            default VFS (counting_vfs.h; statestore's connections go through it too), from
//            RocksDB's Statistics, and from getrusage.
//   reads    random point reads of 10,000 keys, 1 and 2 reader threads, without and with one
//            background writer (~1 commit/ms): statestore with its read cache (warm) and without
//            (cache_capacity = 0), raw SQLite prepared point reads, LMDB.
//   postgres statestore on PostgreSQL (issue 14) against raw libpq, on a throwaway server
//            (PgCluster: initdb + pg_ctl, default settings, synchronous_commit=on) or the one
//            --postgres names: the write workload at 1/4/16/64 threads for "statestore PG",
//            "libpq upsert" (a plain kv table as a libpq user writes it) and "libpq+history"
//            (statestore's tables and history rows written statement by statement), and with
//            two processes ("x2": this program started twice as --pg-writer-child, half the
//            threads each); point reads for "statestore PG cached/uncached" and "libpq point
//            reads". Each round in a fresh schema, dropped afterwards. Skipped when PostgreSQL
//            is not installed (or --no-postgres).
//   failover synchronous replication and failover on PostgreSQL (issue 15), on servers of its
//            own: "statestore PG+sync" and "libpq upsert+sync" with a synchronous standby
//            (PgFailoverPair: every commit acknowledged once the standby has flushed it) against
//            the same engines on a lone server ("solo"), at 1 and 16 writer threads; then the run
//            of the tests (tests/postgres/pg_failover_run.h: two writer processes — this program
//            as --failover-writer — and a config writer, the primary SIGKILLed and the standby
//            promoted 10 times, 3 with --short), reporting the time from the primary's death to
//            the first acknowledged commit on the new primary (p50/p99) and checking that no
//            acknowledged commit was lost. Skipped without PostgreSQL (or with --no-postgres).
//   crash    the crash harness (tests/harness/crash_harness.h) in kFull and kNormal: a child
//            process (this program, started with --crash-child) commits from 4 threads and is
//            SIGKILLed at random moments; after each kill the parent reopens the database and
//            checks that no acknowledged commit is lost, none is partial, history replay equals
//            state and integrity_check is ok. 200 kills per mode (10 with --short).
//
// A full run takes about 10 minutes (writers: 10 engines x 4 thread counts x 3 rounds x 3.5 s);
// --short about 2 minutes. It prints aligned tables, the cost per commit, and the issues' target
// ratios (PASS/MISS: informational, the numbers depend on the machine) and writes
// DIR/results.csv, DIR/targets.csv, DIR/writers.svg, DIR/cost.svg (WAL bytes per commit) and
// DIR/reads.svg (DIR defaults to ./bench-out). Scratch files live in a temporary directory under
// DIR, removed at the end.
//
// Exit status: 0 on success; 1 if the crash run found a lost or partial commit (or any other
// failed check), an engine failed, or a sanity check failed; 2 on bad usage. A MISSed target
// does not fail the run.

#include <spawn.h>
#include <sqlite3.h>
#include <statestore/statestore.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "bench_common.h"
#include "counting_vfs.h"
#include "crash_harness.h"
#include "peers.h"
#include "pg_cluster.h"
#include "pg_failover_pair.h"
#include "pg_failover_run.h"
#include "report_svg.h"
#include "report_table.h"

namespace fs = std::filesystem;

namespace statestore::bench {
namespace {

struct Config {
  bool short_run = false;
  fs::path out_dir = "bench-out";
  std::set<std::string> only;  // empty = everything
  double write_warm_s = 0.5;
  double write_measure_s = 3.0;
  int write_rounds = 3;  // per engine and thread count, interleaved across engines
  double read_warm_s = 0.3;
  double read_measure_s = 1.0;
  int read_rounds = 5;  // per configuration, alternating thread counts; the median is reported
  int crash_kills = 200;
  std::vector<int> writer_threads{1, 4, 16, 64};
  std::vector<int> reader_threads{1, 2};
  std::string engine_filter;  // --engine: only engines whose name contains this
  std::string postgres;       // --postgres CONNINFO; empty: a throwaway server
  bool no_postgres = false;   // --no-postgres

  bool RunsEngine(const std::string& name) const {
    return engine_filter.empty() || name.find(engine_filter) != std::string::npos;
  }

  bool Runs(const std::string& section) const { return only.empty() || only.count(section) > 0; }
};

double Seconds(SteadyClock::duration d) { return std::chrono::duration<double>(d).count(); }

void SleepSeconds(double s) { std::this_thread::sleep_for(std::chrono::duration<double>(s)); }

struct Interval {
  SteadyClock::time_point start, end;
};

// The workers' shared timeline: once all `threads` are ready they start (`go`), warm up for
// warm_s (phase 0), are measured for measure_s (phase 1) and stop (phase 2; a worker that failed
// may have set it already). Returns the measured interval.
// `on_edge`, if given, is called right after the measured interval starts (true) and right
// after it ends (false), on this thread.
Interval RunPhases(const std::atomic<int>& ready, int threads, std::atomic<bool>& go,
                   std::atomic<int>& phase, double warm_s, double measure_s,
                   const std::function<void(bool)>& on_edge = nullptr) {
  while (ready.load() < threads) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  go = true;
  SleepSeconds(warm_s);
  int expected = 0;
  phase.compare_exchange_strong(expected, 1);
  const auto start = SteadyClock::now();
  if (on_edge) on_edge(true);
  SleepSeconds(measure_s);
  phase = 2;
  const auto end = SteadyClock::now();
  if (on_edge) on_edge(false);
  return {start, end};
}

// User + system CPU time of the whole process (every thread, the engines' own included), in us.
double ProcessCpuMicros() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto us = [](const timeval& t) { return static_cast<double>(t.tv_sec) * 1e6 + t.tv_usec; };
  return us(u.ru_utime) + us(u.ru_stime);
}

// What the process had spent at one moment: file writes and syncs through the counting VFS
// (SQLite-based engines), CPU time, and the engine's own counters.
struct CostSample {
  VfsCounts vfs;
  double cpu_us = 0;
  EngineCounters engine;

  static CostSample Take(WriteEngine& e) {
    return {ReadVfsCounts(), ProcessCpuMicros(), e.Counters()};
  }
};

// The difference of two samples (end - start) and the commits made in between.
struct Cost {
  VfsCounts vfs;
  double cpu_us = 0;
  std::int64_t commits = 0, groups = 0;       // statestore's own counters (-1: not kept)
  std::int64_t log_bytes = 0, log_syncs = 0;  // RocksDB's own counters (-1: not kept)
  std::uint64_t measured = 0;                 // commits the writers timed in the interval

  void Add(const CostSample& start, const CostSample& end, std::uint64_t measured_commits) {
    auto add = [](std::int64_t& sum, std::int64_t a, std::int64_t b) {
      sum = (a < 0 || b < 0 || sum < 0) ? -1 : sum + (b - a);
    };
    const VfsCounts d = end.vfs - start.vfs;
    auto add_file = [](FileCounts& sum, const FileCounts& x) {
      sum.writes += x.writes;
      sum.write_bytes += x.write_bytes;
      sum.syncs += x.syncs;
    };
    add_file(vfs.main_db, d.main_db);
    add_file(vfs.wal, d.wal);
    add_file(vfs.other, d.other);
    if (d.wal_page_size != 0) vfs.wal_page_size = d.wal_page_size;
    cpu_us += end.cpu_us - start.cpu_us;
    add(commits, start.engine.commits, end.engine.commits);
    add(groups, start.engine.groups, end.engine.groups);
    add(log_bytes, start.engine.log_bytes, end.engine.log_bytes);
    add(log_syncs, start.engine.log_syncs, end.engine.log_syncs);
    measured += measured_commits;
  }
};

std::string LoadAverage() {
  double load[3] = {0, 0, 0};
  if (getloadavg(load, 3) != 3) return "?";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f %.2f %.2f", load[0], load[1], load[2]);
  return buf;
}

// ------------------------------------------------------------------------------------------
// Writers

struct WriteResult {
  double commits_per_s = 0;
  double p50_us = 0;
  double p99_us = 0;
  std::uint64_t measured = 0;
  std::vector<std::uint64_t> per_thread;  // every commit, warm-up included
  CostSample cost_start, cost_end;        // at the start and end of the measured interval
  std::string error;
};

// Writer thread t calls engine.NewWriter(thread_base + t): the two processes of a two-process
// round (--pg-writer-child) use disjoint thread numbers, so disjoint keys and counters.
WriteResult RunWriters(WriteEngine& engine, int threads, double warm_s, double measure_s,
                       int thread_base = 0) {
  WriteResult r;
  std::atomic<int> phase{0};  // 0 warm-up, 1 measuring, 2 stop
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  const auto n = static_cast<std::size_t>(threads);
  std::vector<std::vector<double>> latencies(n);
  std::vector<std::uint64_t> total(n, 0), measured(n, 0);
  std::vector<std::string> errors(n);
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      const auto i = static_cast<std::size_t>(t);
      CommitFn commit;
      try {
        commit = engine.NewWriter(thread_base + t);
      } catch (const std::exception& e) {
        errors[i] = e.what();
        phase = 2;
      }
      ready.fetch_add(1);
      while (!go.load()) std::this_thread::yield();
      latencies[i].reserve(1 << 14);
      try {
        for (std::uint64_t seq = 0; commit && phase.load(std::memory_order_relaxed) != 2; ++seq) {
          const int p = phase.load(std::memory_order_relaxed);
          const auto t0 = SteadyClock::now();
          commit(seq);
          const auto t1 = SteadyClock::now();
          ++total[i];
          if (p == 1) {
            latencies[i].push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
            ++measured[i];
          }
        }
      } catch (const std::exception& e) {
        errors[i] = e.what();
        phase = 2;
      }
      commit = nullptr;  // close per-thread handles on this thread
    });
  }
  // Commits in flight at the edges of the interval are split between the file counters and
  // the commit count; in a steady state as many straddle the start as the end, so this evens
  // out.
  const auto [start, end] = RunPhases(
      ready, threads, go, phase, warm_s, measure_s,
      [&](bool starting) { (starting ? r.cost_start : r.cost_end) = CostSample::Take(engine); });
  for (std::thread& w : workers) w.join();

  std::vector<double> all;
  for (std::size_t i = 0; i < n; ++i) {
    if (!errors[i].empty() && r.error.empty()) r.error = errors[i];
    all.insert(all.end(), latencies[i].begin(), latencies[i].end());
    r.measured += measured[i];
  }
  r.per_thread = total;
  r.commits_per_s = static_cast<double>(r.measured) / Seconds(end - start);
  r.p50_us = Percentile(all, 0.50);
  r.p99_us = Percentile(all, 0.99);
  return r;
}

// ------------------------------------------------------------------------------------------
// Reads

struct ReadResult {
  double reads_per_s = 0;
  std::uint64_t reads = 0;
  std::uint64_t not_found = 0;
  double writer_commits_per_s = 0;
  std::string error;
};

ReadResult RunReaders(ReadEngine& engine, int threads, bool with_writer, double warm_s,
                      double measure_s, const std::vector<std::string>& keys,
                      const std::vector<std::uint32_t>& order) {
  std::atomic<int> phase{0};
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::atomic<std::uint64_t> not_found{0};
  const auto n = static_cast<std::size_t>(threads);
  std::vector<std::uint64_t> counts(n, 0);
  std::vector<std::string> errors(n + 1);
  std::uint64_t writer_commits = 0;
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      const auto i = static_cast<std::size_t>(t);
      ReadFn read;
      try {
        read = engine.NewReader();
        for (const std::string& key : keys) {  // warm-up pass: every key once
          if (!read(key)) not_found.fetch_add(1);
        }
      } catch (const std::exception& e) {
        errors[i] = e.what();
        read = nullptr;
        phase = 2;
      }
      ready.fetch_add(1);
      while (!go.load()) std::this_thread::yield();
      const std::size_t mask = order.size() - 1;  // a power of two
      std::size_t next = i * 7919;
      std::uint64_t count = 0, missing = 0;
      try {
        while (read) {
          const int p = phase.load(std::memory_order_relaxed);
          if (p == 2) break;
          for (int k = 0; k < 64; ++k) {
            if (!read(keys[order[next++ & mask]])) ++missing;
          }
          if (p == 1) count += 64;
        }
      } catch (const std::exception& e) {
        errors[i] = e.what();
        phase = 2;
      }
      counts[i] = count;
      not_found.fetch_add(missing);
      read = nullptr;
    });
  }
  std::thread writer;
  if (with_writer) {
    writer = std::thread([&] {
      try {
        BackgroundCommitFn commit = engine.NewWriter();
        std::mt19937 rng(42);
        while (!go.load()) std::this_thread::yield();
        auto next = SteadyClock::now();
        for (std::uint64_t seq = 0; phase.load() != 2; ++seq) {
          const std::size_t k = rng() % keys.size();
          const int p = phase.load();
          commit(seq, keys[k], MakeValue(1'000'000'000 + seq));
          if (p == 1) ++writer_commits;
          next += std::chrono::milliseconds(1);
          const auto now = SteadyClock::now();
          if (now > next + std::chrono::milliseconds(5)) next = now;  // no catching up
          std::this_thread::sleep_until(next);
        }
      } catch (const std::exception& e) {
        errors[n] = e.what();
        phase = 2;
      }
    });
  }
  const auto [start, end] = RunPhases(ready, threads, go, phase, warm_s, measure_s);
  for (std::thread& w : workers) w.join();
  if (writer.joinable()) writer.join();

  ReadResult r;
  for (std::size_t i = 0; i <= n; ++i) {
    if (!errors[i].empty() && r.error.empty()) r.error = errors[i];
  }
  for (std::uint64_t c : counts) r.reads += c;
  r.reads_per_s = static_cast<double>(r.reads) / Seconds(end - start);
  r.not_found = not_found.load();
  r.writer_commits_per_s = static_cast<double>(writer_commits) / Seconds(end - start);
  return r;
}

// ------------------------------------------------------------------------------------------
// The benchmark

const char* const kSsFull = "statestore Full";
const char* const kSsNormal = "statestore Normal";
const char* const kSqliteFull = "SQLite FULL";
const char* const kSqliteNormal = "SQLite NORMAL";
const char* const kSqliteKv = "SQLite kv";
const char* const kSqliteKvNormal = "SQLite kv NORMAL";
const char* const kRocksHistory = "RocksDB+history";
const char* const kLmdb = "LMDB";
const char* const kRocksSync = "RocksDB sync";
const char* const kRocksNoSync = "RocksDB nosync";
const char* const kSsCached = "statestore cached";
const char* const kSsUncached = "statestore uncached";
const char* const kSqlite = "SQLite";
const char* const kSsPg = "statestore PG";
const char* const kSsPg2 = "statestore PG x2";  // two processes, half the threads each
const char* const kPqUpsert = "libpq upsert";
const char* const kPqUpsert2 = "libpq upsert x2";
const char* const kPqHistory = "libpq+history";
const char* const kSsPgSync = "statestore PG+sync";  // with a synchronous standby
const char* const kPqUpsertSync = "libpq upsert+sync";
const char* const kSsPgAlone = "statestore PG solo";  // the same on a lone server
const char* const kPqUpsertAlone = "libpq upsert solo";
const char* const kSsPgCached = "statestore PG cached";
const char* const kSsPgUncached = "statestore PG uncached";
const char* const kPqReads = "libpq point reads";

// The PostgreSQL write engines by the name a --pg-writer-child is given.
std::unique_ptr<WriteEngine> MakePgWriteEngine(const std::string& kind, const PgTarget& target) {
  if (kind == "statestore") return MakeStatestorePgWriteEngine(target);
  if (kind == "libpq") return MakeLibpqUpsertWriteEngine(target);
  if (kind == "libpq+history") return MakeLibpqHistoryWriteEngine(target);
  Fail("unknown PostgreSQL engine " + kind);
}

// The round's schema: "bench_" and the round's scratch directory name (w12 -> bench_w12).
PgTarget RoundTarget(const std::string& conninfo, const fs::path& data_path, bool create) {
  return {conninfo, "bench_" + data_path.parent_path().filename().string(), create};
}

// Runs `argv` with its stdout on a pipe; returns the pid and sets *out_fd.
pid_t SpawnWithPipe(const std::vector<std::string>& argv, int* out_fd) {
  int fds[2];
  if (::pipe(fds) != 0) Fail(std::string("pipe: ") + std::strerror(errno));
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
  posix_spawn_file_actions_addclose(&actions, fds[0]);
  posix_spawn_file_actions_addclose(&actions, fds[1]);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(fds[1]);
  if (rc != 0) {
    ::close(fds[0]);
    Fail("posix_spawn " + argv[0] + ": " + std::strerror(rc));
  }
  *out_fd = fds[0];
  return pid;
}

// Reads everything from `fd` (closing it) and waits for `pid`; returns the output, or throws if
// the child failed.
std::string CollectChild(pid_t pid, int fd) {
  std::string out;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      out.append(buf, static_cast<std::size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      break;
    }
  }
  ::close(fd);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    Fail("writer child process failed (status " + std::to_string(status) + ")");
  }
  return out;
}

class Bench {
 public:
  Bench(Config cfg, fs::path work) : cfg_(std::move(cfg)), work_(std::move(work)) {}

  int Run() {
    // Reads first: the write section leaves the kernel flushing gigabytes of dirty pages, which
    // takes a CPU away from the readers. Each section starts after a sync() for the same reason.
    if (cfg_.Runs("reads")) {
      Settle();
      Reads();
    }
    if (cfg_.Runs("writers")) {
      Settle();
      Writers();
    }
    if (cfg_.Runs("crash")) {
      Settle();
      Crash();
    }
    if (cfg_.Runs("postgres") && !cfg_.no_postgres) {
      Settle();
      Postgres();
    }
    if (cfg_.Runs("failover") && !cfg_.no_postgres) {
      Settle();
      Failover();
    }

    std::printf("\n");
    if (cfg_.Runs("writers") || cfg_.Runs("postgres") || cfg_.Runs("failover")) {
      std::printf("== Durable commits (one value + one counter read-modify-write per commit)\n");
      PrintTable(rows_, "writers");
      std::printf(
          "\n== Cost per commit (measured intervals of all rounds; SQLite engines: counting VFS, "
          "frames = WAL pages, fsyncs = xSync calls; RocksDB: Statistics, WAL syncs; CPU: "
          "getrusage of the process)\n");
      PrintCostTable(rows_);
      std::printf("\n");
    }
    if (cfg_.Runs("reads") || cfg_.Runs("postgres")) {
      std::printf("== Point reads (%d keys, %zu-byte values)\n", kReadKeys, kValueBytes);
      PrintTable(rows_, "reads");
      std::printf("\n");
    }
    if (cfg_.Runs("crash")) {
      std::printf("== Crash run (SIGKILL at random moments; 4 writer threads in the child)\n");
      PrintTable(rows_, "crash");
      std::printf("\n");
    }
    if (cfg_.Runs("failover") && !cfg_.no_postgres) {
      std::printf(
          "== PostgreSQL failover (primary SIGKILLed, standby promoted, a new standby built; 2 "
          "writer processes x 2 threads; 'first commit' = from the kill to the first "
          "acknowledged commit on the new primary, which waits for the new standby)\n");
      PrintTable(rows_, "failover");
      std::printf("\n");
    }
    Targets();

    const fs::path csv = cfg_.out_dir / "results.csv";
    WriteCsv(rows_, csv);
    std::printf("\nwrote %s", csv.string().c_str());
    if (!targets_.empty()) {
      const fs::path targets_csv = cfg_.out_dir / "targets.csv";
      WriteTargetsCsv(targets_csv);
      std::printf(", %s", targets_csv.string().c_str());
    }
    if (cfg_.Runs("writers")) {
      const fs::path svg = cfg_.out_dir / "writers.svg";
      WriteWritersSvg(rows_,
                      {kSsFull, kSsNormal, kSqliteFull, kSqliteNormal, kSqliteKv, kSqliteKvNormal,
                       kLmdb, kRocksSync, kRocksNoSync, kRocksHistory},
                      svg, "Durable commit throughput vs writer threads (median of rounds)");
      std::printf(", %s", svg.string().c_str());
      const fs::path cost_svg = cfg_.out_dir / "cost.svg";
      WriteCostSvg(rows_,
                   {kSsFull, kSsNormal, kSqliteFull, kSqliteNormal, kSqliteKv, kSqliteKvNormal,
                    kRocksSync, kRocksNoSync, kRocksHistory},
                   &Row::wal_bytes_per_commit, "WAL bytes per commit (log scale)", cost_svg,
                   "WAL bytes per commit (all rounds)");
      std::printf(", %s", cost_svg.string().c_str());
    }
    if (cfg_.Runs("reads")) {
      const fs::path svg = cfg_.out_dir / "reads.svg";
      WriteReadsSvg(rows_, {kSsCached, kSsUncached, kSqlite, kLmdb}, svg,
                    "Random point reads (10,000 keys)");
      std::printf(", %s", svg.string().c_str());
    }
    std::printf("\n");
    if (!failures_.empty()) {
      std::printf("\nFAILED:\n");
      for (const std::string& f : failures_) std::printf("  %s\n", f.c_str());
      return 1;
    }
    return 0;
  }

 private:
  void Progress(const std::string& what) {
    std::printf("  %-44s", what.c_str());
    std::fflush(stdout);
    progress_start_ = SteadyClock::now();
  }
  void ProgressDone(const std::string& result) {
    std::printf("%s  (%.1fs)\n", result.c_str(), Seconds(SteadyClock::now() - progress_start_));
    std::fflush(stdout);
  }

  // Flushes dirty pages left by earlier sections (or other programs) before measuring.
  void Settle() {
    const auto start = SteadyClock::now();
    ::sync();
    const double s = Seconds(SteadyClock::now() - start);
    if (s > 0.5) std::printf("(sync() took %.1f s before this section)\n", s);
  }

  struct WriteEngineDef {
    const char* name;
    std::function<std::unique_ptr<WriteEngine>(const fs::path&)> make;
    const char* ext;
    bool sqlite_files;  // writes its files through SQLite, i.e. the counting VFS
    // PostgreSQL engines: the server does the work, so the process's CPU time is not the cost
    // of a commit and is not reported; `drop` removes the round's schema afterwards.
    bool postgres = false;
    std::function<void(const fs::path&)> drop;
    // Two processes (this program as --pg-writer-child <child_kind>), half the threads each,
    // on the schema `make` created; the row's threads are the total.
    const char* child_kind = nullptr;
  };

  // One round of one engine: a fresh file, the writers, the counter check.
  struct Round {
    WriteResult result;
    std::string notes;
    bool ok = false;
  };

  Round WriteRound(const WriteEngineDef& e, int threads, int round) {
    const fs::path dir = work_ / ("w" + std::to_string(dir_index_++));
    fs::create_directories(dir);
    Progress(std::string(e.name) + ", " + std::to_string(threads) + " threads, round " +
             std::to_string(round + 1));
    Round out;
    const fs::path data = dir / (std::string("data") + e.ext);
    try {
      std::unique_ptr<WriteEngine> engine = e.make(data);
      out.result = e.child_kind != nullptr
                       ? RunChildWriters(e, data, threads)
                       : RunWriters(*engine, threads, cfg_.write_warm_s, cfg_.write_measure_s);
      const WriteResult& r = out.result;
      if (!r.error.empty()) throw std::runtime_error(r.error);
      const std::string bad = engine->Verify(threads, r.per_thread);
      if (!bad.empty()) failures_.push_back(bad);
      // A two-process round's commits were made by the children: this engine's counters saw none.
      out.notes = e.child_kind != nullptr ? std::string() : engine->Notes();
      out.ok = r.measured > 0;
      if (threads > 1) {
        // How fairly the engine shares commits between threads: a lock that waiters poll for
        // with sleeps (SQLite's busy timeout) can let one thread commit again and again while
        // the others sleep, which shows as high throughput with starved threads.
        std::uint64_t total = 0, most = 0;
        for (std::uint64_t c : r.per_thread) {
          total += c;
          most = std::max(most, c);
        }
        char buf[64];
        std::snprintf(buf, sizeof buf, "%sbusiest thread %.0f%% of commits",
                      out.notes.empty() ? "" : ", ",
                      total ? 100.0 * static_cast<double>(most) / static_cast<double>(total) : 0.0);
        out.notes += buf;
      }
      char buf[160];
      std::snprintf(buf, sizeof buf, "%9.0f commits/s  p50 %8.1f us  p99 %8.1f us", r.commits_per_s,
                    r.p50_us, r.p99_us);
      ProgressDone(buf + (out.notes.empty() ? "" : "  [" + out.notes + "]"));
    } catch (const std::exception& ex) {
      ProgressDone("ERROR");
      failures_.push_back(std::string(e.name) + ", " + std::to_string(threads) +
                          " threads: " + ex.what());
      out.notes = std::string("error: ") + ex.what();
    }
    if (e.drop) {
      try {
        e.drop(data);
      } catch (const std::exception& ex) {
        failures_.push_back(std::string(e.name) + ": cannot drop the round's schema: " + ex.what());
      }
    }
    std::error_code ec;
    fs::remove_all(dir, ec);
    return out;
  }

  // A two-process round: both children run `threads / 2` writers on the schema of `data` for
  // the same warm-up and measurement; throughput adds up, p50 is the mean of the children's,
  // p99 the larger.
  WriteResult RunChildWriters(const WriteEngineDef& e, const fs::path& data, int threads) {
    const PgTarget target = RoundTarget(pg_conninfo_, data, false);
    const fs::path self = fs::read_symlink("/proc/self/exe");
    const int each = threads / 2;
    std::vector<std::pair<pid_t, int>> children;
    for (int k = 0; k < 2; ++k) {
      int fd = -1;
      char warm[32], measure[32];
      std::snprintf(warm, sizeof warm, "%.3f", cfg_.write_warm_s);
      std::snprintf(measure, sizeof measure, "%.3f", cfg_.write_measure_s);
      const pid_t pid = SpawnWithPipe(
          {self.string(), "--pg-writer-child", e.child_kind, target.conninfo, target.schema,
           std::to_string(k * each), std::to_string(each), warm, measure},
          &fd);
      children.emplace_back(pid, fd);
    }
    WriteResult r;
    std::string error;
    for (auto [pid, fd] : children) {
      try {
        const std::string out = CollectChild(pid, fd);
        double rate = 0, p50 = 0, p99 = 0;
        unsigned long long measured = 0;
        int consumed = 0;
        if (std::sscanf(out.c_str(), "RESULT %llu %lf %lf %lf%n", &measured, &rate, &p50, &p99,
                        &consumed) != 4) {
          Fail("unexpected output from a writer child: " + out);
        }
        for (const char* p = out.c_str() + consumed; *p != '\0' && *p != '\n';) {
          char* end = nullptr;
          const unsigned long long n = std::strtoull(p, &end, 10);
          if (end == p) break;
          r.per_thread.push_back(n);
          p = end;
        }
        r.measured += measured;
        r.commits_per_s += rate;
        r.p50_us += p50 / 2;
        r.p99_us = std::max(r.p99_us, p99);
      } catch (const std::exception& ex) {
        if (error.empty()) error = ex.what();
      }
    }
    if (error.empty() && r.per_thread.size() != static_cast<std::size_t>(2 * each)) {
      error = "writer children reported " + std::to_string(r.per_thread.size()) + " threads";
    }
    r.error = error;
    return r;
  }

  // The row of one engine at one thread count: the median round's throughput and latency, the
  // rounds' throughputs in order, and the cost per commit over all rounds.
  static Row WriterRow(const WriteEngineDef& e, int threads, const std::vector<Round>& rounds) {
    Row row;
    row.section = "writers";
    row.engine = e.name;
    row.threads = threads;
    std::vector<const Round*> ok;
    Cost cost;
    for (const Round& r : rounds) {
      row.round_ops_per_s.push_back(r.ok ? r.result.commits_per_s : 0);
      if (!r.ok) continue;
      ok.push_back(&r);
      cost.Add(r.result.cost_start, r.result.cost_end, r.result.measured);
    }
    if (ok.empty()) {
      row.notes = rounds.empty() ? "" : rounds.back().notes;
      return row;
    }
    std::sort(ok.begin(), ok.end(), [](const Round* a, const Round* b) {
      return a->result.commits_per_s < b->result.commits_per_s;
    });
    const Round& median = *ok[ok.size() / 2];
    row.ops_per_s = median.result.commits_per_s;
    row.p50_us = median.result.p50_us;
    row.p99_us = median.result.p99_us;
    row.ops = median.result.measured;
    row.notes = median.notes;

    const double n = static_cast<double>(cost.measured);
    if (n > 0 && e.postgres) {
      if (cost.commits > 0 && cost.groups > 0) {
        row.avg_group = static_cast<double>(cost.commits) / static_cast<double>(cost.groups);
      }
    } else if (n > 0) {
      row.cpu_us_per_commit = cost.cpu_us / n;
      if (e.sqlite_files) {
        row.wal_bytes_per_commit = static_cast<double>(cost.vfs.wal.write_bytes) / n;
        row.main_db_bytes_per_commit = static_cast<double>(cost.vfs.main_db.write_bytes) / n;
        // WAL frames = WAL bytes / (page size + 24): every frame is a 24-byte header plus one
        // page, which SQLite writes as two xWrite calls (and may split further at a sector
        // padding sync point), so counting calls would need pairing; the only other WAL write is
        // the 32-byte header when the WAL restarts, which the division rounds away.
        if (cost.vfs.wal_page_size > 0) {
          row.wal_frames_per_commit =
              static_cast<double>(cost.vfs.wal.write_bytes) / (cost.vfs.wal_page_size + 24.0) / n;
        } else if (cost.vfs.wal.write_bytes == 0) {
          row.wal_frames_per_commit = 0;
        }
        row.syncs_per_commit = static_cast<double>(cost.vfs.syncs()) / n;
      } else {
        if (cost.log_bytes >= 0) row.wal_bytes_per_commit = static_cast<double>(cost.log_bytes) / n;
        if (cost.log_syncs >= 0) row.syncs_per_commit = static_cast<double>(cost.log_syncs) / n;
      }
      if (cost.commits > 0 && cost.groups > 0) {
        row.avg_group = static_cast<double>(cost.commits) / static_cast<double>(cost.groups);
      }
    }
    return row;
  }

  void Writers() {
    const std::vector<WriteEngineDef> engines{
        {kSsFull,
         [](const fs::path& p) { return MakeStatestoreWriteEngine(p, true); },
         ".db",
         true,
         false,
         {},
         nullptr},
        {kSsNormal,
         [](const fs::path& p) { return MakeStatestoreWriteEngine(p, false); },
         ".db",
         true,
         false,
         {},
         nullptr},
        {kSqliteFull,
         [](const fs::path& p) { return MakeSqliteWriteEngine(p, true); },
         ".db",
         true,
         false,
         {},
         nullptr},
        {kSqliteNormal,
         [](const fs::path& p) { return MakeSqliteWriteEngine(p, false); },
         ".db",
         true,
         false,
         {},
         nullptr},
        {kSqliteKv,
         [](const fs::path& p) { return MakeSqliteKvWriteEngine(p, true); },
         ".db",
         true,
         false,
         {},
         nullptr},
        {kSqliteKvNormal,
         [](const fs::path& p) { return MakeSqliteKvWriteEngine(p, false); },
         ".db",
         true,
         false,
         {},
         nullptr},
        {kLmdb,
         [](const fs::path& p) { return MakeLmdbWriteEngine(p); },
         ".mdb",
         false,
         false,
         {},
         nullptr},
        {kRocksSync,
         [](const fs::path& p) { return MakeRocksdbWriteEngine(p, true); },
         ".rocks",
         false,
         false,
         {},
         nullptr},
        {kRocksNoSync,
         [](const fs::path& p) { return MakeRocksdbWriteEngine(p, false); },
         ".rocks",
         false,
         false,
         {},
         nullptr},
        {kRocksHistory,
         [](const fs::path& p) { return MakeRocksdbHistoryWriteEngine(p); },
         ".rocks",
         false,
         false,
         {},
         nullptr},
    };
    std::vector<const WriteEngineDef*> selected;
    for (const WriteEngineDef& e : engines) {
      if (cfg_.RunsEngine(e.name)) selected.push_back(&e);
    }
    const double estimate = static_cast<double>(selected.size() * cfg_.writer_threads.size()) *
                            cfg_.write_rounds * (cfg_.write_warm_s + cfg_.write_measure_s);
    std::printf(
        "\nWriters: %d rounds of %zu engines, interleaved; %.1f s measured after %.1f s warm-up "
        "per round; threads",
        cfg_.write_rounds, selected.size(), cfg_.write_measure_s, cfg_.write_warm_s);
    for (int t : cfg_.writer_threads) std::printf(" %d", t);
    std::printf("\n         estimated %.0f s plus opening and checking the files\n", estimate);
    // Thread count outside, then rounds, engines inside (A B C A B C ...): the engines compared
    // at one thread count run within seconds of each other, and every round of a ratio pairs
    // runs made close together, so drift in the machine's fsync latency (large on shared
    // virtual disks) affects both sides of a ratio alike; the range over rounds shows how much
    // drift there was.
    //
    // Every round opens a fresh file (and removes it afterwards) instead of reusing the engine
    // across rounds: no background work of an earlier round (RocksDB flushes and compactions,
    // statestore's checkpoints) runs during another engine's round, every round starts from the
    // same state, and the counter check covers exactly the commits of that round.
    for (int threads : cfg_.writer_threads) {
      RunInterleaved(selected, threads);
    }
  }

  struct ReadEngineDef {
    const char* name;
    std::function<std::unique_ptr<ReadEngine>(const fs::path&)> make;
    std::function<void(const fs::path&)> drop;  // PostgreSQL: removes the schema afterwards
  };

  void Reads() {
    std::printf(
        "Reads: random point reads of %d keys; %d rounds of %.2f s per configuration, "
        "median\n",
        kReadKeys, cfg_.read_rounds, cfg_.read_measure_s);
    const std::vector<ReadEngineDef> engines{
        {kSsCached, [](const fs::path& p) { return MakeStatestoreReadEngine(p, true); }, {}},
        {kSsUncached, [](const fs::path& p) { return MakeStatestoreReadEngine(p, false); }, {}},
        {kSqlite, [](const fs::path& p) { return MakeSqliteReadEngine(p); }, {}},
        {kLmdb, [](const fs::path& p) { return MakeLmdbReadEngine(p); }, {}},
    };
    RunReadEngines(engines);
  }

  void RunReadEngines(const std::vector<ReadEngineDef>& engines) {
    std::vector<std::string> keys;
    for (int i = 0; i < kReadKeys; ++i) keys.push_back(ReadKey(i));
    std::vector<std::uint32_t> order(1 << 20);
    std::mt19937_64 rng(2);
    for (auto& x : order) x = static_cast<std::uint32_t>(rng() % kReadKeys);
    for (const ReadEngineDef& e : engines) {
      if (!cfg_.RunsEngine(e.name)) continue;
      const fs::path dir = work_ / ("r" + std::to_string(read_index_++));
      fs::create_directories(dir);
      try {
        std::unique_ptr<ReadEngine> engine = e.make(dir / "data");
        for (bool with_writer : {false, true}) {
          // Rounds alternate between the thread counts and the median round is reported, so
          // that load from elsewhere on the machine affects 1 and 2 readers alike.
          std::vector<std::vector<ReadResult>> results(cfg_.reader_threads.size());
          std::string error;
          Progress(std::string(e.name) + (with_writer ? ", writer" : "") + ", " +
                   std::to_string(cfg_.read_rounds) + " rounds");
          try {
            for (int round = 0; round < cfg_.read_rounds; ++round) {
              for (std::size_t i = 0; i < cfg_.reader_threads.size(); ++i) {
                ReadResult r = RunReaders(*engine, cfg_.reader_threads[i], with_writer,
                                          cfg_.read_warm_s, cfg_.read_measure_s, keys, order);
                if (!r.error.empty()) throw std::runtime_error(r.error);
                if (r.not_found != 0) {
                  failures_.push_back(std::string(e.name) + ": " + std::to_string(r.not_found) +
                                      " reads of existing keys found nothing");
                }
                results[i].push_back(r);
              }
            }
          } catch (const std::exception& ex) {
            error = ex.what();
            failures_.push_back(std::string(e.name) + " reads: " + error);
          }
          const std::string notes = engine->Notes();
          std::string summary;
          for (std::size_t i = 0; i < cfg_.reader_threads.size(); ++i) {
            Row row;
            row.section = "reads";
            row.engine = e.name;
            row.threads = cfg_.reader_threads[i];
            row.concurrent_writer = with_writer;
            row.notes = error.empty() ? notes : "error: " + error;
            std::vector<ReadResult>& rs = results[i];
            for (const ReadResult& r : rs) row.round_ops_per_s.push_back(r.reads_per_s);
            if (error.empty() && !rs.empty()) {
              std::sort(rs.begin(), rs.end(), [](const ReadResult& a, const ReadResult& b) {
                return a.reads_per_s < b.reads_per_s;
              });
              const ReadResult& median = rs[rs.size() / 2];
              row.ops_per_s = median.reads_per_s;
              row.ops = median.reads;
              if (with_writer) {
                char buf[64];
                std::snprintf(buf, sizeof buf, "%swriter %.0f commits/s",
                              row.notes.empty() ? "" : ", ", median.writer_commits_per_s);
                row.notes += buf;
              }
              char buf[64];
              std::snprintf(buf, sizeof buf, "%s%d: %.0f", summary.empty() ? "" : ", ", row.threads,
                            row.ops_per_s);
              summary += buf;
            }
            rows_.push_back(row);
          }
          ProgressDone(error.empty() ? "reads/s by threads " + summary +
                                           (notes.empty() ? "" : "  [" + notes + "]")
                                     : "ERROR");
        }
      } catch (const std::exception& ex) {
        failures_.push_back(std::string(e.name) + " reads: " + ex.what());
      }
      if (e.drop) {
        try {
          e.drop(dir / "data");
        } catch (const std::exception& ex) {
          failures_.push_back(std::string(e.name) + ": cannot drop the schema: " + ex.what());
        }
      }
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
  }

  void Crash() {
    std::printf("\nCrash run: %d kills per mode, child with 4 writer threads\n", cfg_.crash_kills);
    const fs::path self = fs::read_symlink("/proc/self/exe");
    for (const bool full : {true, false}) {
      const std::string mode = full ? "statestore Full" : "statestore Normal";
      Progress(mode + ", " + std::to_string(cfg_.crash_kills) + " kills");
      crash::CrashOptions o;
      const fs::path dir = work_ / (full ? "crash-full" : "crash-normal");
      fs::create_directories(dir);
      o.db_path = (dir / "crash.db").string();
      o.child_argv = {self.string(), "--crash-child"};
      o.durability = full ? Durability::kFull : Durability::kNormal;
      o.kills = cfg_.crash_kills;
      o.threads = 4;
      o.keys_per_txn = 4;
      o.min_run = std::chrono::milliseconds(20);
      o.max_run = std::chrono::milliseconds(150);
      o.full_replay_every = cfg_.short_run ? 5 : 25;
      Row row;
      row.section = "crash";
      row.engine = mode;
      row.threads = o.threads;
      try {
        const crash::CrashReport r = crash::RunCrashHarness(o);
        row.kills = r.kills;
        row.acks = r.acks;
        row.lost = r.lost;
        row.partial = r.partial;
        row.reopen_p50_ms = r.reopen_p50_ms;
        row.reopen_p99_ms = r.reopen_p99_ms;
        char buf[256];
        std::snprintf(buf, sizeof buf,
                      "clean open p50 %.1f ms, max group %" PRIu64 ", unacked-committed %" PRIu64
                      ", replay mismatches %" PRIu64 ", integrity failures %" PRIu64
                      ", child failures %" PRIu64 ", %.1f s",
                      r.clean_open_p50_ms, r.max_group_size, r.unacked_committed,
                      r.replay_mismatches, r.integrity_failures, r.child_failures, r.seconds);
        row.notes = buf;
        ProgressDone(r.ok() ? "ok" : "FAILED");
        if (!r.ok()) {
          failures_.push_back(mode + " crash run: " + r.Summary());
          for (const std::string& p : r.problems) failures_.push_back("  " + p);
        }
      } catch (const std::exception& ex) {
        ProgressDone("ERROR");
        failures_.push_back(mode + " crash run: " + ex.what());
        row.notes = std::string("error: ") + ex.what();
      }
      rows_.push_back(row);
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
  }

  // Every engine of `selected` cfg_.write_rounds times at `threads`, interleaved (A B C A B C
  // ...), then one row each (see Writers for why interleaved and why a fresh file per round).
  void RunInterleaved(const std::vector<const WriteEngineDef*>& selected, int threads) {
    std::vector<std::vector<Round>> rounds(selected.size());
    for (int round = 0; round < cfg_.write_rounds; ++round) {
      for (std::size_t i = 0; i < selected.size(); ++i) {
        rounds[i].push_back(WriteRound(*selected[i], threads, round));
      }
    }
    for (std::size_t i = 0; i < selected.size(); ++i) {
      rows_.push_back(WriterRow(*selected[i], threads, rounds[i]));
    }
  }

  // statestore on PostgreSQL against raw libpq (issue 14), on the server of --postgres or on a
  // throwaway one (PgCluster: initdb in a temporary directory, default settings — fsync and
  // synchronous_commit on — a unix socket), stopped afterwards.
  void Postgres() {
    std::unique_ptr<test::PgCluster> cluster;
    pg_conninfo_ = cfg_.postgres;
    if (pg_conninfo_.empty()) {
      std::string why;
      if (test::PgCluster::BinDir(&why).empty()) {
        std::printf("\nPostgreSQL: skipped (%s)\n", why.c_str());
        return;
      }
      Progress("starting a throwaway PostgreSQL server");
      try {
        cluster = test::PgCluster::Start();
      } catch (const std::exception& ex) {
        ProgressDone("ERROR");
        failures_.push_back(std::string("PostgreSQL server: ") + ex.what());
        return;
      }
      pg_conninfo_ = cluster->conninfo();
      ProgressDone("ok");
    }
    try {
      std::printf("\nPostgreSQL: %s, %s\n", PostgresServerVersion(pg_conninfo_).c_str(),
                  cluster ? "throwaway server" : "--postgres server");
    } catch (const std::exception& ex) {
      failures_.push_back(std::string("PostgreSQL: ") + ex.what());
      return;
    }
    PgWriters();
    PgReads();
  }

  void PgWriters() {
    const std::string conninfo = pg_conninfo_;
    auto make = [conninfo](const char* kind) {
      return [conninfo, kind](const fs::path& p) {
        return MakePgWriteEngine(kind, RoundTarget(conninfo, p, true));
      };
    };
    auto drop = [conninfo](const fs::path& p) { DropPgSchema(RoundTarget(conninfo, p, false)); };
    std::vector<WriteEngineDef> engines{
        {kSsPg, make("statestore"), "", false, true, drop, nullptr},
        {kPqUpsert, make("libpq"), "", false, true, drop, nullptr},
        {kPqHistory, make("libpq+history"), "", false, true, drop, nullptr},
        {kSsPg2, make("statestore"), "", false, true, drop, "statestore"},
        {kPqUpsert2, make("libpq"), "", false, true, drop, "libpq"},
    };
    std::printf(
        "PostgreSQL writers: %d rounds, interleaved; %.1f s measured after %.1f s warm-up; "
        "synchronous_commit=on; 'x2' = two processes, half the threads each\n",
        cfg_.write_rounds, cfg_.write_measure_s, cfg_.write_warm_s);
    for (int threads : cfg_.writer_threads) {
      std::vector<const WriteEngineDef*> selected;
      for (const WriteEngineDef& e : engines) {
        if (!cfg_.RunsEngine(e.name)) continue;
        if (e.child_kind != nullptr && threads < 2) continue;
        selected.push_back(&e);
      }
      RunInterleaved(selected, threads);
    }
  }

  void PgReads() {
    const std::string conninfo = pg_conninfo_;
    const std::vector<ReadEngineDef> engines{
        {kSsPgCached,
         [conninfo](const fs::path& p) {
           return MakeStatestorePgReadEngine(RoundTarget(conninfo, p, true), true);
         },
         [conninfo](const fs::path& p) { DropPgSchema(RoundTarget(conninfo, p, false)); }},
        {kSsPgUncached,
         [conninfo](const fs::path& p) {
           return MakeStatestorePgReadEngine(RoundTarget(conninfo, p, true), false);
         },
         [conninfo](const fs::path& p) { DropPgSchema(RoundTarget(conninfo, p, false)); }},
        {kPqReads,
         [conninfo](const fs::path& p) {
           return MakeLibpqReadEngine(RoundTarget(conninfo, p, true));
         },
         [conninfo](const fs::path& p) { DropPgSchema(RoundTarget(conninfo, p, false)); }},
    };
    RunReadEngines(engines);
  }

  // Synchronous replication and failover (issue 15), on servers of its own: a primary with a
  // synchronous standby (PgFailoverPair) and a lone server with the same settings, side by side,
  // then the failover run of the tests on a fresh pair.
  void Failover() {
    std::string why;
    if (test::PgCluster::BinDir(&why).empty()) {
      std::printf("\nPostgreSQL failover: skipped (%s)\n", why.c_str());
      return;
    }
    std::printf("\nPostgreSQL failover: synchronous standby vs lone server\n");
    Progress("starting a primary, its standby, a lone server");
    std::unique_ptr<test::PgFailoverPair> pair;
    std::unique_ptr<test::PgCluster> alone;
    try {
      pair = test::PgFailoverPair::Start(test::PgFailoverPair::Settings{});
      alone = test::PgCluster::Start();
    } catch (const std::exception& ex) {
      ProgressDone("ERROR");
      failures_.push_back(std::string("PostgreSQL failover servers: ") + ex.what());
      return;
    }
    ProgressDone("ok");
    auto make = [](std::string conninfo, const char* kind) {
      return [conninfo, kind](const fs::path& p) {
        return MakePgWriteEngine(kind, RoundTarget(conninfo, p, true));
      };
    };
    auto drop = [](std::string conninfo) {
      return [conninfo](const fs::path& p) { DropPgSchema(RoundTarget(conninfo, p, false)); };
    };
    const std::string with = pair->uri(), without = alone->conninfo();
    const std::vector<WriteEngineDef> engines{
        {kSsPgSync, make(with, "statestore"), "", false, true, drop(with), nullptr},
        {kSsPgAlone, make(without, "statestore"), "", false, true, drop(without), nullptr},
        {kPqUpsertSync, make(with, "libpq"), "", false, true, drop(with), nullptr},
        {kPqUpsertAlone, make(without, "libpq"), "", false, true, drop(without), nullptr},
    };
    for (int threads : {1, 16}) {
      std::vector<const WriteEngineDef*> selected;
      for (const WriteEngineDef& e : engines) {
        if (cfg_.RunsEngine(e.name)) selected.push_back(&e);
      }
      RunInterleaved(selected, threads);
    }
    pair.reset();
    alone.reset();

    test::FailoverRunOptions o;
    o.kills = cfg_.short_run ? 3 : 10;
    o.writer_command = {fs::read_symlink("/proc/self/exe").string(), "--failover-writer"};
    o.log = [](const std::string& line) { std::printf("    %s\n", line.c_str()); };
    std::printf("  failover run: %d kills of the primary under load\n", o.kills);
    Row row;
    row.section = "failover";
    row.engine = kSsPg;
    row.threads = o.writer_processes * o.threads_per_writer;
    try {
      const test::FailoverOutcome out = test::RunFailovers(o);
      row.kills = static_cast<int>(out.first_commit_ms.size());
      row.acks = out.acked;
      row.lost = out.lost;
      row.partial = out.partial;
      row.reopen_p50_ms = test::Percentile(out.first_commit_ms, 0.5);
      row.reopen_p99_ms = test::Percentile(out.first_commit_ms, 0.99);
      char buf[256];
      std::snprintf(buf, sizeof buf,
                    "promoted p50 %.0f ms, new standby p50 %.0f ms; commit_unknown %zu (present "
                    "%zu); counter %s; watch missed %zu",
                    test::Percentile(out.promote_ms, 0.5), test::Percentile(out.rebuild_ms, 0.5),
                    out.unknown_present + out.unknown_absent, out.unknown_present,
                    out.counter == static_cast<std::int64_t>(out.pairs_present) ? "exact" : "WRONG",
                    out.watch_missed);
      row.notes = buf;
      const bool ok = out.run_errors.empty() && out.lost == 0 && out.partial == 0 &&
                      out.failed_but_present == 0 &&
                      out.counter == static_cast<std::int64_t>(out.pairs_present) &&
                      out.revision_gaps == 0 && out.history_replays_to_state &&
                      out.watch_missed == 0 && out.watch_repeated == 0 && out.watch_in_order &&
                      out.reader_went_back == 0;
      if (!ok) failures_.push_back("PostgreSQL failover run: " + out.Summary());
    } catch (const std::exception& ex) {
      failures_.push_back(std::string("PostgreSQL failover run: ") + ex.what());
      row.notes = std::string("error: ") + ex.what();
    }
    rows_.push_back(row);
  }

  struct TargetResult {
    std::string what;
    std::string target_text;
    double target = 0;
    std::vector<double> ratios;  // per round, in round order (rounds where both were measured)
    double median = 0, lo = 0, hi = 0;
  };

  // a / b for each round i (a's round i over b's round i), printed as the median and the range
  // over rounds; PASS if the median reaches the target. Writers' rounds are interleaved across
  // engines; reads' rounds alternate 1 and 2 readers of one engine, and different engines run
  // one after another, so their round i are minutes apart.
  void Ratio(const std::string& what, const std::optional<Row>& a, const std::optional<Row>& b,
             double target, const std::string& target_text) {
    TargetResult t;
    t.what = what;
    t.target = target;
    t.target_text = target_text;
    if (a && b) {
      for (std::size_t i = 0; i < a->round_ops_per_s.size() && i < b->round_ops_per_s.size(); ++i) {
        const double x = a->round_ops_per_s[i], y = b->round_ops_per_s[i];
        if (x > 0 && y > 0) t.ratios.push_back(x / y);
      }
    }
    if (t.ratios.empty()) {
      std::printf("  %-62s     n/a  (not measured)\n", what.c_str());
      return;
    }
    std::vector<double> sorted = t.ratios;
    std::sort(sorted.begin(), sorted.end());
    const std::size_t n = sorted.size();
    t.median = n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    t.lo = sorted.front();
    t.hi = sorted.back();
    char range[64];
    std::snprintf(range, sizeof range, "(rounds %.2f-%.2f)", t.lo, t.hi);
    std::printf("  %-62s %6.2fx  %-20s  target %-8s  %s\n", what.c_str(), t.median, range,
                target_text.c_str(), t.median >= target ? "PASS" : "MISS");
    targets_.push_back(t);
  }

  void WriteTargetsCsv(const fs::path& path) const {
    std::ofstream out(path, std::ios::trunc);
    out << "target,goal,median_ratio,min_ratio,max_ratio,rounds,pass,round_ratios\n";
    for (const TargetResult& t : targets_) {
      std::string rounds;
      for (double r : t.ratios) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%s%.4f", rounds.empty() ? "" : " ", r);
        rounds += buf;
      }
      char nums[160];
      std::snprintf(nums, sizeof nums, "%.4f,%.4f,%.4f,%zu,%d", t.median, t.lo, t.hi,
                    t.ratios.size(), t.median >= t.target ? 1 : 0);
      out << '"' << t.what << "\",\"" << t.target_text << "\"," << nums << "," << rounds << "\n";
    }
    if (!out) throw std::runtime_error("cannot write " + path.string());
  }

  void Targets() {
    if (!cfg_.Runs("writers") && !cfg_.Runs("reads") && !cfg_.Runs("postgres")) return;
    auto w = [&](const char* engine, int threads) {
      return FindRow(rows_, "writers", engine, threads);
    };
    auto r = [&](const char* engine, int threads) {
      return FindRow(rows_, "reads", engine, threads);
    };
    std::printf(
        "== Targets (issue 12; median of per-round ratios, range over rounds; informational, the "
        "ratios depend on the machine)\n");
    if (cfg_.Runs("writers")) {
      Ratio("16 writers: statestore Full / RocksDB sync", w(kSsFull, 16), w(kRocksSync, 16), 1.0,
            ">= 1x");
      Ratio("16 writers: statestore Full / RocksDB+history", w(kSsFull, 16), w(kRocksHistory, 16),
            1.5, ">= 1.5x");
      Ratio("16 writers: statestore Full / SQLite kv", w(kSsFull, 16), w(kSqliteKv, 16), 2.0,
            ">= 2x");
      Ratio("1 writer: statestore Full / SQLite kv", w(kSsFull, 1), w(kSqliteKv, 1), 0.95,
            ">= 0.95x");
      Ratio("1 writer: statestore Normal / SQLite kv NORMAL", w(kSsNormal, 1),
            w(kSqliteKvNormal, 1), 0.5, ">= 0.5x");
    }
    if (cfg_.Runs("reads")) {
      Ratio("statestore uncached: 2 readers / 1 reader", r(kSsUncached, 2), r(kSsUncached, 1), 1.6,
            ">= 1.6x");
      Ratio("1 reader: statestore cached / LMDB", r(kSsCached, 1), r(kLmdb, 1), 1.0 / 1.5,
            ">= 0.67x");
    }
    if (cfg_.Runs("writers")) {
      const std::optional<Row> full16 = w(kSsFull, 16);
      if (full16 && full16->wal_bytes_per_commit >= 0) {
        std::printf("  %-62s %7.0f  (issue 12: halve it; printed only)\n",
                    "16 writers: statestore Full WAL bytes per commit",
                    full16->wal_bytes_per_commit);
      } else {
        std::printf("  %-62s     n/a  (not measured)\n",
                    "16 writers: statestore Full WAL bytes per commit");
      }
    }
    if (cfg_.Runs("postgres") && !pg_conninfo_.empty()) {
      std::printf("== PostgreSQL (issue 14; synchronous_commit=on on both sides)\n");
      Ratio("16 writers: statestore PG / libpq upsert", w(kSsPg, 16), w(kPqUpsert, 16), 3.0,
            ">= 3x");
      Ratio("16 writers, 2 processes: statestore PG x2 / libpq upsert x2", w(kSsPg2, 16),
            w(kPqUpsert2, 16), 3.0, ">= 3x");
      Ratio("16 writers: statestore PG / libpq+history", w(kSsPg, 16), w(kPqHistory, 16), 1.0,
            "(info)");
      Ratio("1 reader: statestore PG cached / libpq point reads", r(kSsPgCached, 1), r(kPqReads, 1),
            1.0, "(info)");
    }
    if (cfg_.Runs("failover") && !cfg_.no_postgres) {
      std::printf("== PostgreSQL failover (issue 15; the cost of a synchronous standby)\n");
      Ratio("16 writers: statestore PG+sync / statestore PG solo", w(kSsPgSync, 16),
            w(kSsPgAlone, 16), 0, "(info)");
      Ratio("1 writer: statestore PG+sync / statestore PG solo", w(kSsPgSync, 1), w(kSsPgAlone, 1),
            0, "(info)");
      Ratio("16 writers: libpq upsert+sync / libpq upsert solo", w(kPqUpsertSync, 16),
            w(kPqUpsertAlone, 16), 0, "(info)");
      Ratio("16 writers: statestore PG+sync / libpq upsert+sync", w(kSsPgSync, 16),
            w(kPqUpsertSync, 16), 0, "(info)");
    }
    std::printf("== Earlier targets (issue 6)\n");
    if (cfg_.Runs("writers")) {
      Ratio("16 writers: statestore Full / SQLite FULL (statestore schema)", w(kSsFull, 16),
            w(kSqliteFull, 16), 4.0, ">= 4x");
      Ratio("1 writer: statestore Full / SQLite FULL (statestore schema)", w(kSsFull, 1),
            w(kSqliteFull, 1), 0.9, ">= 0.9x");
    }
    if (cfg_.Runs("reads")) {
      Ratio("1 reader: statestore cached / SQLite point reads", r(kSsCached, 1), r(kSqlite, 1),
            10.0, ">= 10x");
      Ratio("statestore cached: 2 readers / 1 reader", r(kSsCached, 2), r(kSsCached, 1), 1.6,
            ">= 1.6x");
    }
  }

  Config cfg_;
  fs::path work_;
  std::vector<Row> rows_;
  std::vector<std::string> failures_;
  std::vector<TargetResult> targets_;
  int dir_index_ = 0;        // scratch directories w0, w1, ...
  int read_index_ = 0;       // and r0, r1, ...
  std::string pg_conninfo_;  // the PostgreSQL section's server
  SteadyClock::time_point progress_start_;
};

// --pg-writer-child KIND CONNINFO SCHEMA THREAD_BASE THREADS WARM_S MEASURE_S: one process of a
// two-process round (Bench::RunChildWriters). Prints "RESULT measured commits/s p50 p99" and
// the commits of each thread on one line.
int PgWriterChildMain(char** args) {
  try {
    const PgTarget target{args[1], args[2], false};
    std::unique_ptr<WriteEngine> engine = MakePgWriteEngine(args[0], target);
    const WriteResult r = RunWriters(*engine, std::atoi(args[4]), std::atof(args[5]),
                                     std::atof(args[6]), std::atoi(args[3]));
    if (!r.error.empty()) Fail(r.error);
    std::printf("RESULT %llu %.3f %.3f %.3f", static_cast<unsigned long long>(r.measured),
                r.commits_per_s, r.p50_us, r.p99_us);
    for (std::uint64_t n : r.per_thread) std::printf(" %llu", static_cast<unsigned long long>(n));
    std::printf("\n");
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "statestore_durability_bench --pg-writer-child: %s\n", e.what());
    return 1;
  }
}

void Usage(std::FILE* out) {
  std::fprintf(out,
               "usage: statestore_durability_bench [--short] [--out DIR] "
               "[--only writers|reads|crash|postgres|failover[,...]]\n"
               "  --short    a quick run (about two minutes): shorter measurements, 10 kills per "
               "mode\n"
               "  --out DIR  write results.csv, targets.csv, writers.svg, cost.svg and reads.svg "
               "there (default ./bench-out)\n"
               "  --only S   run only these sections (comma-separated or repeated)\n"
               "  --threads N,N,...  writer thread counts (default 1,4,16,64)\n"
               "  --rounds N  rounds per engine and writer thread count, interleaved across "
               "engines\n"
               "             (default 3; each 3 s measured after 0.5 s warm-up, 0.4 s + 0.1 s "
               "with --short)\n"
               "  --engine S  only engines whose name contains S (e.g. 'statestore', 'SQLite')\n"
               "  --postgres CONNINFO  the PostgreSQL section's server (default: a throwaway "
               "one,\n"
               "             started with initdb/pg_ctl when PostgreSQL is installed)\n"
               "  --no-postgres  skip the PostgreSQL and failover sections\n");
}

}  // namespace
}  // namespace statestore::bench

int main(int argc, char** argv) {
  using namespace statestore::bench;
  if (argc >= 2 && std::string_view(argv[1]) == "--crash-child") {
    return statestore::crash::CrashChildMain(std::vector<std::string>(argv + 2, argv + argc));
  }
  if (argc == 9 && std::string_view(argv[1]) == "--pg-writer-child") {
    return PgWriterChildMain(argv + 2);
  }
  if (argc >= 2 && std::string_view(argv[1]) == "--failover-writer") {
    try {
      return statestore::test::FailoverWriterMain(std::vector<std::string>(argv + 2, argv + argc));
    } catch (const std::exception& e) {
      std::fprintf(stderr, "statestore_durability_bench --failover-writer: %s\n", e.what());
      return 1;
    }
  }
  Config cfg;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--short") {
      cfg.short_run = true;
    } else if (a == "--out" && i + 1 < argc) {
      cfg.out_dir = argv[++i];
    } else if (a.starts_with("--out=")) {
      cfg.out_dir = std::string(a.substr(6));
    } else if ((a == "--only" && i + 1 < argc) || a.starts_with("--only=")) {
      std::string list = a == "--only" ? std::string(argv[++i]) : std::string(a.substr(7));
      std::size_t pos = 0;
      while (pos <= list.size()) {
        const std::size_t comma = std::min(list.find(',', pos), list.size());
        const std::string s = list.substr(pos, comma - pos);
        if (s != "writers" && s != "reads" && s != "crash" && s != "postgres" && s != "failover") {
          Usage(stderr);
          return 2;
        }
        cfg.only.insert(s);
        pos = comma + 1;
      }
    } else if (a == "--threads" && i + 1 < argc) {
      cfg.writer_threads.clear();
      for (const char* p = argv[++i]; *p != '\0';) {
        char* end = nullptr;
        const long n = std::strtol(p, &end, 10);
        if (end == p || n <= 0 || n > 1024) {
          Usage(stderr);
          return 2;
        }
        cfg.writer_threads.push_back(static_cast<int>(n));
        p = *end == ',' ? end + 1 : end;
      }
    } else if (a == "--rounds" && i + 1 < argc) {
      char* end = nullptr;
      const long n = std::strtol(argv[++i], &end, 10);
      if (*end != '\0' || n <= 0 || n > 100) {
        Usage(stderr);
        return 2;
      }
      cfg.write_rounds = static_cast<int>(n);
    } else if (a == "--postgres" && i + 1 < argc) {
      cfg.postgres = argv[++i];
    } else if (a == "--no-postgres") {
      cfg.no_postgres = true;
    } else if (a == "--engine" && i + 1 < argc) {
      cfg.engine_filter = argv[++i];
    } else if (a == "-h" || a == "--help") {
      Usage(stdout);
      return 0;
    } else {
      Usage(stderr);
      return 2;
    }
  }
  if (cfg.short_run) {
    cfg.write_warm_s = 0.1;
    cfg.write_measure_s = 0.4;
    cfg.read_warm_s = 0.05;
    cfg.read_measure_s = 0.15;
    cfg.read_rounds = 3;
    cfg.crash_kills = 10;
  }

  fs::path work;
  const auto started = SteadyClock::now();
  try {
    fs::create_directories(cfg.out_dir);
    std::string tmpl = (cfg.out_dir / "durability_bench.XXXXXX").string();
    if (!mkdtemp(tmpl.data())) Fail("mkdtemp " + tmpl + ": " + std::strerror(errno));
    work = tmpl;
    // Before any connection is opened: every SQLite file of this process is counted.
    InstallCountingVfs();
    std::printf("statestore_durability_bench: statestore %s, SQLite %s, %s, %s\n",
                statestore::LibraryVersion(), sqlite3_libversion(), LmdbVersion().c_str(),
                RocksdbVersion().c_str());
    std::printf("%s run, %u CPUs, load average %s, files in %s\n\n",
                cfg.short_run ? "short" : "full", std::thread::hardware_concurrency(),
                LoadAverage().c_str(), work.string().c_str());
    const int rc = Bench(cfg, work).Run();
    std::printf("done in %.0f s (load average %s)\n", Seconds(SteadyClock::now() - started),
                LoadAverage().c_str());
    std::error_code ec;
    fs::remove_all(work, ec);
    return rc;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "statestore_durability_bench: error: %s\n", e.what());
    if (!work.empty()) {
      std::error_code ec;
      fs::remove_all(work, ec);
    }
    return 1;
  }
}

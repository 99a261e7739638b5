// statestore_durability_bench [--short] [--out DIR] [--only writers|reads|crash[,...]]
//                             [--threads N,N,...] [--engine SUBSTRING]
//
// The durability and speed benchmark of issue 6, every engine measured in the same run on the
// same workload (bench_common.h):
//
//   writers  durable commit throughput and p50/p99 latency with 1, 4, 16 and 64 writer threads:
//            statestore Durability::kFull and kNormal; raw SQLite on statestore's schema (WAL,
//            synchronous=FULL / NORMAL, a connection per thread, BEGIN IMMEDIATE); LMDB (default
//            durable commits); RocksDB (sync=true / sync=false). Each transaction writes a
//            100-byte value under a per-thread key and read-modify-writes a per-thread counter;
//            afterwards every engine's counters must equal the commits it acknowledged.
//   reads    random point reads of 10,000 keys, 1 and 2 reader threads, without and with one
//            background writer (~1 commit/ms): statestore with its read cache (warm) and without
//            (cache_capacity = 0), raw SQLite prepared point reads, LMDB.
//   crash    the crash harness (tests/harness/crash_harness.h) in kFull and kNormal: a child
//            process (this program, started with --crash-child) commits from 4 threads and is
//            SIGKILLed at random moments; after each kill the parent reopens the database and
//            checks that no acknowledged commit is lost, none is partial, history replay equals
//            state and integrity_check is ok. 200 kills per mode (10 with --short).
//
// It prints aligned tables and the target ratios (PASS/MISS: informational, the numbers
// depend on the machine) and writes DIR/results.csv, DIR/writers.svg and DIR/reads.svg (DIR
// defaults to ./bench-out). Scratch files live in a temporary directory under DIR, removed at the
// end.
//
// Exit status: 0 on success; 1 if the crash run found a lost or partial commit (or any other
// failed check), an engine failed, or a sanity check failed; 2 on bad usage. A MISSed target
// does not fail the run.

#include <sqlite3.h>
#include <statestore/statestore.h>
#include <stdlib.h>
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
#include <functional>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "bench_common.h"
#include "crash_harness.h"
#include "peers.h"
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
  double write_measure_s = 5.0;
  double read_warm_s = 0.3;
  double read_measure_s = 1.0;
  int read_rounds = 5;  // per configuration, alternating thread counts; the median is reported
  int crash_kills = 200;
  std::vector<int> writer_threads{1, 4, 16, 64};
  std::vector<int> reader_threads{1, 2};
  std::string engine_filter;  // --engine: only engines whose name contains this

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
Interval RunPhases(const std::atomic<int>& ready, int threads, std::atomic<bool>& go,
                   std::atomic<int>& phase, double warm_s, double measure_s) {
  while (ready.load() < threads) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  go = true;
  SleepSeconds(warm_s);
  int expected = 0;
  phase.compare_exchange_strong(expected, 1);
  const auto start = SteadyClock::now();
  SleepSeconds(measure_s);
  phase = 2;
  return {start, SteadyClock::now()};
}

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
  std::string error;
};

WriteResult RunWriters(WriteEngine& engine, int threads, double warm_s, double measure_s) {
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
        commit = engine.NewWriter(t);
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
  const auto [start, end] = RunPhases(ready, threads, go, phase, warm_s, measure_s);
  for (std::thread& w : workers) w.join();

  WriteResult r;
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
const char* const kLmdb = "LMDB";
const char* const kRocksSync = "RocksDB sync";
const char* const kRocksNoSync = "RocksDB nosync";
const char* const kSsCached = "statestore cached";
const char* const kSsUncached = "statestore uncached";
const char* const kSqlite = "SQLite";

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

    std::printf("\n");
    if (cfg_.Runs("writers")) {
      std::printf("== Durable commits (one value + one counter read-modify-write per commit)\n");
      PrintTable(rows_, "writers");
      std::printf("\n");
    }
    if (cfg_.Runs("reads")) {
      std::printf("== Point reads (%d keys, %zu-byte values)\n", kReadKeys, kValueBytes);
      PrintTable(rows_, "reads");
      std::printf("\n");
    }
    if (cfg_.Runs("crash")) {
      std::printf("== Crash run (SIGKILL at random moments; 4 writer threads in the child)\n");
      PrintTable(rows_, "crash");
      std::printf("\n");
    }
    Targets();

    const fs::path csv = cfg_.out_dir / "results.csv";
    WriteCsv(rows_, csv);
    std::printf("\nwrote %s", csv.string().c_str());
    if (cfg_.Runs("writers")) {
      const fs::path svg = cfg_.out_dir / "writers.svg";
      WriteWritersSvg(
          rows_, {kSsFull, kSsNormal, kSqliteFull, kSqliteNormal, kLmdb, kRocksSync, kRocksNoSync},
          svg, "Durable commit throughput vs writer threads");
      std::printf(", %s", svg.string().c_str());
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

  void Writers() {
    std::printf("\nWriters: %.1f s per configuration after %.1f s warm-up, threads",
                cfg_.write_measure_s, cfg_.write_warm_s);
    for (int t : cfg_.writer_threads) std::printf(" %d", t);
    std::printf("\n");
    struct EngineDef {
      const char* name;
      std::function<std::unique_ptr<WriteEngine>(const fs::path&)> make;
      const char* ext;
    };
    const std::vector<EngineDef> engines{
        {kSsFull, [](const fs::path& p) { return MakeStatestoreWriteEngine(p, true); }, ".db"},
        {kSsNormal, [](const fs::path& p) { return MakeStatestoreWriteEngine(p, false); }, ".db"},
        {kSqliteFull, [](const fs::path& p) { return MakeSqliteWriteEngine(p, true); }, ".db"},
        {kSqliteNormal, [](const fs::path& p) { return MakeSqliteWriteEngine(p, false); }, ".db"},
        {kLmdb, [](const fs::path& p) { return MakeLmdbWriteEngine(p); }, ".mdb"},
        {kRocksSync, [](const fs::path& p) { return MakeRocksdbWriteEngine(p, true); }, ".rocks"},
        {kRocksNoSync, [](const fs::path& p) { return MakeRocksdbWriteEngine(p, false); },
         ".rocks"},
    };
    // Thread count outside, engines inside: the engines compared at one thread count run
    // within seconds of each other, so drift in the machine's fsync latency (large on shared
    // virtual disks) affects them alike.
    int index = 0;
    for (int threads : cfg_.writer_threads) {
      for (const EngineDef& e : engines) {
        if (!cfg_.RunsEngine(e.name)) continue;
        const fs::path dir = work_ / ("w" + std::to_string(index++));
        fs::create_directories(dir);
        Progress(std::string(e.name) + ", " + std::to_string(threads) + " threads");
        Row row;
        row.section = "writers";
        row.engine = e.name;
        row.threads = threads;
        try {
          std::unique_ptr<WriteEngine> engine = e.make(dir / (std::string("data") + e.ext));
          const WriteResult r =
              RunWriters(*engine, threads, cfg_.write_warm_s, cfg_.write_measure_s);
          if (!r.error.empty()) throw std::runtime_error(r.error);
          const std::string bad = engine->Verify(threads, r.per_thread);
          if (!bad.empty()) failures_.push_back(bad);
          row.ops_per_s = r.commits_per_s;
          row.p50_us = r.p50_us;
          row.p99_us = r.p99_us;
          row.ops = r.measured;
          row.notes = engine->Notes();
          char buf[160];
          std::snprintf(buf, sizeof buf, "%9.0f commits/s  p50 %8.1f us  p99 %8.1f us",
                        r.commits_per_s, r.p50_us, r.p99_us);
          ProgressDone(buf + (row.notes.empty() ? "" : "  [" + row.notes + "]"));
        } catch (const std::exception& ex) {
          ProgressDone("ERROR");
          failures_.push_back(std::string(e.name) + ", " + std::to_string(threads) +
                              " threads: " + ex.what());
          row.notes = std::string("error: ") + ex.what();
        }
        rows_.push_back(row);
        std::error_code ec;
        fs::remove_all(dir, ec);
      }
    }
  }

  void Reads() {
    std::printf(
        "Reads: random point reads of %d keys; %d rounds of %.2f s per configuration, "
        "median\n",
        kReadKeys, cfg_.read_rounds, cfg_.read_measure_s);
    std::vector<std::string> keys;
    for (int i = 0; i < kReadKeys; ++i) keys.push_back(ReadKey(i));
    std::vector<std::uint32_t> order(1 << 20);
    std::mt19937_64 rng(2);
    for (auto& x : order) x = static_cast<std::uint32_t>(rng() % kReadKeys);

    struct EngineDef {
      const char* name;
      std::function<std::unique_ptr<ReadEngine>(const fs::path&)> make;
    };
    const std::vector<EngineDef> engines{
        {kSsCached, [](const fs::path& p) { return MakeStatestoreReadEngine(p, true); }},
        {kSsUncached, [](const fs::path& p) { return MakeStatestoreReadEngine(p, false); }},
        {kSqlite, [](const fs::path& p) { return MakeSqliteReadEngine(p); }},
        {kLmdb, [](const fs::path& p) { return MakeLmdbReadEngine(p); }},
    };
    int index = 0;
    for (const EngineDef& e : engines) {
      if (!cfg_.RunsEngine(e.name)) continue;
      const fs::path dir = work_ / ("r" + std::to_string(index++));
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

  void Ratio(const std::string& what, std::optional<Row> a, std::optional<Row> b, double target,
             const std::string& target_text) {
    if (!a || !b || a->ops_per_s <= 0 || b->ops_per_s <= 0) {
      std::printf("  %-62s     n/a  (not measured)\n", what.c_str());
      return;
    }
    const double ratio = a->ops_per_s / b->ops_per_s;
    std::printf("  %-62s %7.2fx  (target %s)  %s\n", what.c_str(), ratio, target_text.c_str(),
                ratio >= target ? "PASS" : "MISS");
  }

  void Targets() {
    if (!cfg_.Runs("writers") && !cfg_.Runs("reads")) return;
    std::printf("== Targets (issue 6; informational, the ratios depend on the machine)\n");
    if (cfg_.Runs("writers")) {
      Ratio("16 writers: statestore Full / SQLite FULL", FindRow(rows_, "writers", kSsFull, 16),
            FindRow(rows_, "writers", kSqliteFull, 16), 4.0, ">= 4x");
      Ratio("16 writers: statestore Full / RocksDB sync", FindRow(rows_, "writers", kSsFull, 16),
            FindRow(rows_, "writers", kRocksSync, 16), 1.0, ">= 1x");
      Ratio("1 writer: statestore Full / SQLite FULL", FindRow(rows_, "writers", kSsFull, 1),
            FindRow(rows_, "writers", kSqliteFull, 1), 0.9, ">= 0.9x");
    }
    if (cfg_.Runs("reads")) {
      Ratio("1 reader: statestore cached / SQLite point reads",
            FindRow(rows_, "reads", kSsCached, 1), FindRow(rows_, "reads", kSqlite, 1), 10.0,
            ">= 10x");
      Ratio("1 reader: statestore cached / LMDB", FindRow(rows_, "reads", kSsCached, 1),
            FindRow(rows_, "reads", kLmdb, 1), 1.0 / 1.5, ">= 0.67x");
      Ratio("statestore cached: 2 readers / 1 reader", FindRow(rows_, "reads", kSsCached, 2),
            FindRow(rows_, "reads", kSsCached, 1), 1.6, ">= 1.6x");
    }
  }

  Config cfg_;
  fs::path work_;
  std::vector<Row> rows_;
  std::vector<std::string> failures_;
  SteadyClock::time_point progress_start_;
};

void Usage(std::FILE* out) {
  std::fprintf(out,
               "usage: statestore_durability_bench [--short] [--out DIR] "
               "[--only writers|reads|crash[,...]]\n"
               "  --short    a quick run (about a minute): shorter measurements, 10 kills per "
               "mode\n"
               "  --out DIR  write results.csv, writers.svg and reads.svg there (default "
               "./bench-out)\n"
               "  --only S   run only these sections (comma-separated or repeated)\n"
               "  --threads N,N,...  writer thread counts (default 1,4,16,64)\n"
               "  --engine S  only engines whose name contains S (e.g. 'statestore', 'SQLite')\n");
}

}  // namespace
}  // namespace statestore::bench

int main(int argc, char** argv) {
  using namespace statestore::bench;
  if (argc >= 2 && std::string_view(argv[1]) == "--crash-child") {
    return statestore::crash::CrashChildMain(std::vector<std::string>(argv + 2, argv + argc));
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
        if (s != "writers" && s != "reads" && s != "crash") {
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
    cfg.write_measure_s = 0.5;
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

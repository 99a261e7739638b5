// statestore_session_sweep_bench — how long other writers wait while expired sessions are swept.
//
// Creates N expired and M live sessions (in transactions of 10,000, with an injected clock), then
// sweeps them batch by batch (Sessions::sweep(1) in a loop) while
//   * a writer thread commits a small transaction (one put in keyspace "app") every millisecond
//     and records how long each transact() took — the wait a concurrent writer sees, and
//   * a reader thread reads the live sessions (Sessions::get_attribute, in bursts of 10 with
//     100 µs pauses) and counts any that is not there (must be 0).
// The same writer first runs alone for a while (baseline). Prints the longest and p50/p99 batch
// time, the writer's latency during the sweep against its baseline, and the reader's result.
//
// Usage: statestore_session_sweep_bench [--expired N] [--live N] [--batch N]
//                                       [--durability full|normal] [--dir DIR]
// Defaults: 100000 expired, 1000 live, SessionOptions' default batch, durability full, a fresh
// directory under $TMPDIR (removed at the end).
#include <statestore/statestore.h>

#include "paced_writer.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace ss = statestore;
using ss::bench::Micros;
using ss::bench::Ms;
using ss::bench::RunPacedWriter;
using ss::bench::Since;
using ss::bench::SteadyClock;
using ss::bench::Summarize;
using ss::bench::Summary;

namespace {

struct Config {
  int expired = 100'000;
  int live = 1'000;
  std::size_t batch = ss::SessionOptions{}.sweep_batch;
  ss::Durability durability = ss::Durability::kFull;
  std::string dir;
};

[[noreturn]] void Usage() {
  std::cerr << "usage: statestore_session_sweep_bench [--expired N] [--live N] [--batch N] "
               "[--durability full|normal] [--dir DIR]\n";
  std::exit(2);
}

Config Parse(int argc, char** argv) {
  Config c;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) Usage();
      return argv[++i];
    };
    if (a == "--expired") {
      c.expired = std::stoi(next());
    } else if (a == "--live") {
      c.live = std::stoi(next());
    } else if (a == "--batch") {
      c.batch = static_cast<std::size_t>(std::stoul(next()));
    } else if (a == "--durability") {
      std::string d = next();
      if (d == "full") {
        c.durability = ss::Durability::kFull;
      } else if (d == "normal") {
        c.durability = ss::Durability::kNormal;
      } else {
        Usage();
      }
    } else if (a == "--dir") {
      c.dir = next();
    } else {
      Usage();
    }
  }
  if (c.expired < 0 || c.live <= 0 || c.batch == 0) Usage();
  return c;
}

int Run(const Config& config) {
  std::string dir = config.dir;
  const bool remove_dir = dir.empty();
  if (remove_dir) dir = ss::bench::MakeBenchDir("statestore-sweep");
  const std::string db = dir + "/sweep.db";

  std::atomic<std::int64_t> now_us{
      std::chrono::duration_cast<Micros>(std::chrono::system_clock::now().time_since_epoch())
          .count()};
  ss::Options options;
  options.durability = config.durability;
  options.sessions.sweep_batch = config.batch;
  options.sessions.sweep_interval = std::chrono::milliseconds(0);  // we sweep ourselves
  options.sessions.clock = [&] { return ss::Clock::time_point(Micros(now_us.load())); };

  int exit_code = 0;
  {
    auto store = ss::Store::open(db, options);
    ss::Sessions& sessions = store->sessions();

    std::cout << "statestore session sweep bench: " << config.expired << " expired + "
              << config.live << " live sessions, batch " << config.batch << ", durability "
              << (config.durability == ss::Durability::kFull ? "full" : "normal") << ", "
              << std::thread::hardware_concurrency() << " CPUs\n";

    // --- Setup.
    auto setup_start = SteadyClock::now();
    auto create = [&](int n, std::chrono::minutes ttl) {
      std::vector<std::string> all;
      for (int done = 0; done < n; done += 10'000) {
        const int chunk = std::min(10'000, n - done);
        std::vector<std::string> tokens;
        store->transact([&](ss::Transaction& tx) {
          tokens.clear();
          for (int i = 0; i < chunk; ++i) {
            ss::NewSession s;
            s.idle_ttl = ttl;
            s.principal = i % 4 == 0 ? "user" + std::to_string(i % 1000) : "";
            s.attributes = {{"cart", ss::Value("3 items")}, {"n", ss::Value(i)}};
            tokens.push_back(sessions.create(tx, s));
          }
        });
        all.insert(all.end(), tokens.begin(), tokens.end());
      }
      return all;
    };
    create(config.expired, std::chrono::minutes(10));
    const std::vector<std::string> live = create(config.live, std::chrono::minutes(600));
    now_us += std::chrono::duration_cast<Micros>(std::chrono::minutes(30)).count();
    std::cout << "setup: " << Ms(Since(setup_start)) << "\n";

    // --- Baseline: the writer alone.
    std::atomic<bool> stop{false};
    std::vector<double> baseline;
    {
      std::thread writer([&] { baseline = RunPacedWriter(*store, stop); });
      std::this_thread::sleep_for(std::chrono::seconds(2));
      stop = true;
      writer.join();
    }

    // --- The sweep, with the writer and a reader beside it.
    stop = false;
    std::vector<double> during;
    std::atomic<std::uint64_t> reads{0}, missing{0};
    std::thread writer([&] { during = RunPacedWriter(*store, stop); });
    std::thread reader([&] {
      std::size_t i = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        for (int k = 0; k < 10; ++k) {
          if (!sessions.get_attribute(live[i++ % live.size()], "n")) ++missing;
          ++reads;
        }
        std::this_thread::sleep_for(Micros(100));  // ~100,000 reads/s at most
      }
    });
    const ss::Stats stats_before = store->stats();
    std::vector<double> batches;
    std::uint64_t removed = 0;
    const auto sweep_start = SteadyClock::now();
    for (;;) {
      const auto start = SteadyClock::now();
      const std::uint64_t n = sessions.sweep(1);
      if (n == 0) break;
      batches.push_back(Since(start));
      removed += n;
    }
    const double sweep_total = Since(sweep_start);
    stop = true;
    writer.join();
    reader.join();

    const ss::Stats stats_after = store->stats();
    const Summary b = Summarize(batches);
    const Summary w0 = Summarize(baseline);
    const Summary w1 = Summarize(during);
    std::cout << "sweep: removed " << removed << " sessions in " << b.n << " batches, "
              << Ms(sweep_total) << " (" << static_cast<int>(removed / (sweep_total / 1e6))
              << " sessions/s)\n";
    std::cout << "batch (one sweep(1) call: peek + one write transaction): p50 " << Ms(b.p50)
              << ", p99 " << Ms(b.p99) << ", longest " << Ms(b.max) << "\n";
    std::cout << "concurrent writer, alone:        " << w0.n << " commits, p50 " << Ms(w0.p50)
              << ", p99 " << Ms(w0.p99) << ", longest " << Ms(w0.max) << "\n";
    std::cout << "concurrent writer, during sweep: " << w1.n << " commits, p50 " << Ms(w1.p50)
              << ", p99 " << Ms(w1.p99) << ", longest wait " << Ms(w1.max) << "\n";
    std::cout << "during the sweep: " << stats_after.checkpoints - stats_before.checkpoints
              << " WAL checkpoints by the store, " << stats_after.groups - stats_before.groups
              << " group commits (largest group " << stats_after.max_group_size << "), "
              << stats_after.busy_retries - stats_before.busy_retries << " busy retries\n";
    std::cout << "reader during sweep: " << reads.load() << " reads of live sessions, "
              << missing.load() << " missing\n";
    const std::uint64_t left = sessions.count();
    std::cout << "live sessions after the sweep: " << left << "\n";
    if (missing.load() != 0 || removed != static_cast<std::uint64_t>(config.expired) ||
        left != static_cast<std::uint64_t>(config.live)) {
      std::cerr << "session_sweep_bench: unexpected result\n";
      exit_code = 1;
    }
  }
  if (remove_dir) {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  return exit_code;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Run(Parse(argc, argv));
  } catch (const std::exception& e) {
    std::cerr << "statestore_session_sweep_bench: error: " << e.what() << "\n";
    return 1;
  }
}

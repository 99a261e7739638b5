// statestore_expiry_sweep_bench — many keys expiring at once while a writer commits every
// millisecond (issue 16, "what it must show" 3).
//
// Writes N keys with a time-to-live and M live keys (in transactions of 10,000, with an injected
// clock), runs a paced writer alone (baseline), then moves the clock past every deadline at once
// and lets the store's own background sweep (Options::expiry_sweep_interval) remove them while
//   * the writer goes on committing one put every millisecond, recording each transact(), and
//   * a reader checks that live keys are present and expired ones absent from the moment the
//     clock moved (before any sweep).
// Prints the sweep's progress against its interval (the target: every expired key gone within two
// sweep intervals of the deadline), and the writer's longest wait during the sweep over its
// longest wait alone (the target: at most 5 ms more). Exits 1 if a key is missing or left over.
//
// With --keys-per-lease K the expiring keys are attached to leases of K keys each (lease.h)
// instead of having TTLs of their own: each lease's keys leave in one sweep batch, however large.
// With --postgres the store is on PostgreSQL: a throwaway server (PgCluster: initdb in a
// temporary directory, default settings, a unix socket), stopped afterwards.
//
// Usage: statestore_expiry_sweep_bench [--expired N] [--live N] [--interval-ms N]
//                                      [--keys-per-lease K] [--durability full|normal] [--dir DIR]
//                                      [--postgres]
// Defaults: 100000 expired, 1000 live, the default interval (1000 ms), durability full, a fresh
// directory under $TMPDIR (removed at the end).
#include <statestore/statestore.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <iostream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "paced_writer.h"
#include "postgres/pg_cluster.h"

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
  std::chrono::milliseconds interval = ss::Options{}.expiry_sweep_interval;
  int keys_per_lease = 0;  // 0: each expiring key has its own TTL
  ss::Durability durability = ss::Durability::kFull;
  std::string dir;
  bool postgres = false;
};

[[noreturn]] void Usage() {
  std::cerr << "usage: statestore_expiry_sweep_bench [--expired N] [--live N] [--interval-ms N] "
               "[--keys-per-lease K] [--durability full|normal] [--dir DIR] [--postgres]\n";
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
    } else if (a == "--interval-ms") {
      c.interval = std::chrono::milliseconds(std::stoll(next()));
    } else if (a == "--keys-per-lease") {
      c.keys_per_lease = std::stoi(next());
    } else if (a == "--durability") {
      const std::string d = next();
      if (d != "full" && d != "normal") Usage();
      c.durability = d == "full" ? ss::Durability::kFull : ss::Durability::kNormal;
    } else if (a == "--dir") {
      c.dir = next();
    } else if (a == "--postgres") {
      c.postgres = true;
    } else {
      Usage();
    }
  }
  if (c.expired <= 0 || c.live <= 0 || c.interval.count() <= 0 || c.keys_per_lease < 0) {
    Usage();
  }
  return c;
}

std::string ExpiredKey(int i) { return "x/" + std::to_string(i); }
std::string LiveKey(int i) { return "l/" + std::to_string(i); }

int Run(const Config& config) {
  std::string dir = config.dir;
  const bool remove_dir = dir.empty();
  if (remove_dir) dir = ss::bench::MakeBenchDir("statestore-expiry");
  std::string db = dir + "/expiry.db";
  std::unique_ptr<ss::test::PgCluster> cluster;
  if (config.postgres) {
    cluster = ss::test::PgCluster::Start();
    db = cluster->uri();
  }

  std::atomic<std::int64_t> now_us{
      std::chrono::duration_cast<Micros>(std::chrono::system_clock::now().time_since_epoch())
          .count()};
  ss::Options options;
  options.durability = config.durability;
  options.expiry_sweep_interval = config.interval;
  options.clock = [&] { return ss::Clock::time_point(Micros(now_us.load())); };

  int exit_code = 0;
  {
    auto store = ss::Store::open(db, options);
    std::cout << "statestore expiry sweep bench" << (config.postgres ? " (PostgreSQL)" : "") << ": "
              << config.expired << " keys expiring at once + " << config.live
              << " live, sweep interval " << config.interval.count() << " ms, durability "
              << (config.durability == ss::Durability::kFull ? "full" : "normal")
              << (config.keys_per_lease > 0
                      ? ", in leases of " + std::to_string(config.keys_per_lease) + " keys"
                      : std::string(", each with its own TTL"))
              << ", " << std::thread::hardware_concurrency() << " CPUs\n";

    const auto setup_start = SteadyClock::now();
    auto write = [&](int n, std::chrono::milliseconds ttl, std::string (*key)(int),
                     int keys_per_lease) {
      ss::PutOptions o;
      if (keys_per_lease == 0) o.ttl = ttl;
      for (int done = 0; done < n; done += 10'000) {
        const int chunk = std::min(10'000, n - done);
        store->transact([&](ss::Transaction& tx) {
          for (int i = done; i < done + chunk; ++i) {
            if (keys_per_lease > 0 && i % keys_per_lease == 0) o.lease = tx.grant_lease(ttl);
            tx.put("cache", key(i), ss::Value(i), o);
          }
        });
      }
    };
    write(config.expired, std::chrono::minutes(1), ExpiredKey, config.keys_per_lease);
    write(config.live, std::chrono::hours(10), LiveKey, 0);
    std::cout << "setup: " << Ms(Since(setup_start)) << "\n";

    // Baseline: the writer alone (nothing due, the sweep finds nothing to do).
    std::atomic<bool> stop{false};
    std::vector<double> baseline;
    {
      std::thread writer([&] { baseline = RunPacedWriter(*store, stop); });
      std::this_thread::sleep_for(std::chrono::seconds(2));
      stop = true;
      writer.join();
    }

    // Every deadline passes at once.
    stop = false;
    std::vector<double> during;
    std::thread writer([&] { during = RunPacedWriter(*store, stop); });
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the writer is in its stride
    const ss::Stats before = store->stats();
    now_us += std::chrono::duration_cast<Micros>(std::chrono::minutes(2)).count();
    const auto deadline_passed = SteadyClock::now();
    std::atomic<std::uint64_t> reads{0}, wrong{0};
    std::thread reader([&] {
      int i = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        if (!store->get("cache", LiveKey(i % config.live))) ++wrong;
        if (store->get("cache", ExpiredKey(i % config.expired))) ++wrong;
        reads += 2;
        ++i;
        std::this_thread::sleep_for(Micros(200));
      }
    });
    const auto give_up = deadline_passed + 30 * config.interval;
    double first_expiry_us = -1, all_gone_us = -1;
    // The -wal file's largest size while the sweep runs: a checkpoint that gives way to readers
    // must not let it grow without bound.
    std::uintmax_t largest_wal = 0;
    auto sample_wal = [&] {
      std::error_code ec;
      const std::uintmax_t size = std::filesystem::file_size(db + "-wal", ec);
      if (!ec) largest_wal = std::max(largest_wal, size);
    };
    while (SteadyClock::now() < give_up) {
      sample_wal();
      const std::uint64_t n = store->stats().keys_expired - before.keys_expired;
      if (n > 0 && first_expiry_us < 0) first_expiry_us = Since(deadline_passed);
      if (n >= static_cast<std::uint64_t>(config.expired)) {
        all_gone_us = Since(deadline_passed);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    for (int i = 0; i < 200; ++i) {  // the writer after the sweep
      sample_wal();
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    stop = true;
    writer.join();
    reader.join();

    const ss::Stats after = store->stats();
    const Summary w0 = Summarize(baseline);
    const Summary w1 = Summarize(during);
    const std::uint64_t expired = after.keys_expired - before.keys_expired;
    const std::uint64_t batches = after.expiry_sweep_batches - before.expiry_sweep_batches;
    const double interval_us = static_cast<double>(Micros(config.interval).count());
    const double sweep_us = all_gone_us - first_expiry_us;
    std::cout << "sweep: " << expired << " keys (" << after.leases_expired - before.leases_expired
              << " leases) in " << batches << " batches; first expiry " << Ms(first_expiry_us)
              << " after the deadline, all gone after "
              << (all_gone_us < 0 ? std::string("(not within 30 intervals)") : Ms(all_gone_us))
              << " = " << (all_gone_us < 0 ? 0 : all_gone_us / interval_us)
              << " sweep intervals (target <= 2); sweeping itself took " << Ms(sweep_us) << " ("
              << static_cast<int>(static_cast<double>(expired) / (sweep_us / 1e6)) << " keys/s)\n";
    std::cout << "concurrent writer, alone:        " << w0.n << " commits, p50 " << Ms(w0.p50)
              << ", p99 " << Ms(w0.p99) << ", longest " << Ms(w0.max) << "\n";
    std::cout << "concurrent writer, during sweep: " << w1.n << " commits, p50 " << Ms(w1.p50)
              << ", p99 " << Ms(w1.p99) << ", longest " << Ms(w1.max) << " = "
              << Ms(w1.max - w0.max) << " over its longest alone (target <= 5 ms)\n";
    std::cout << "during the sweep: " << after.checkpoints - before.checkpoints
              << " WAL checkpoints, " << after.free_space_steps - before.free_space_steps
              << " free-space steps (" << after.free_pages_returned - before.free_pages_returned
              << " pages), " << after.groups - before.groups << " group commits, "
              << after.busy_retries - before.busy_retries << " busy retries; largest -wal "
              << largest_wal / (1 << 20) << " MiB\n";
    std::cout << "reader: " << reads.load() << " reads, " << wrong.load()
              << " wrong (a live key absent or an expired key present)\n";
    const std::size_t left = store->list("cache").size();
    const std::size_t expiries_in_history = [&] {
      // Every expired key must have exactly one expiry in history, in the sweep's commits.
      ss::HistoryQuery q;
      q.keyspace = "cache";
      q.label = "expired";
      std::size_t n = 0;
      for (const ss::Commit& c : store->history(q)) n += c.changes.size();
      return n;
    }();
    std::cout << "after: " << left << " keys listed (want " << config.live << "), "
              << expiries_in_history << " expiries in history (want " << config.expired << ")\n";
    if (wrong.load() != 0 || left != static_cast<std::size_t>(config.live) ||
        expiries_in_history != static_cast<std::size_t>(config.expired) ||
        expired != static_cast<std::uint64_t>(config.expired)) {
      std::cerr << "expiry_sweep_bench: unexpected result\n";
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
    std::cerr << "statestore_expiry_sweep_bench: error: " << e.what() << "\n";
    return 1;
  }
}

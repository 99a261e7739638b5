// statestore_bounded_cache_bench — what a bound costs a keyspace's writers (issue 16, "what it
// must show" 4).
//
// Writes the same sequence of N puts — random keys out of K, in transactions of B — into a plain
// keyspace and into one bounded to M keys (Transaction::set_max_keys), each in a fresh file, in
// alternating rounds (plain, bounded, plain, bounded) so that neither profits from a warm machine.
// A put of a key the bounded keyspace does not hold evicts the least recently written one as its
// body ends. Prints the best round's writes per second of each and their ratio, and checks the
// bounded keyspace: it holds exactly M keys (K > M), which are the M most recently written ones.
// Exits 1 if it does not.
//
// With --postgres the stores are on PostgreSQL: a throwaway server (PgCluster: initdb in a
// temporary directory, a unix socket, stopped at exit), each round in a fresh schema.
//
// Usage: statestore_bounded_cache_bench [--writes N] [--keys K] [--max-keys M] [--batch B]
//                                       [--durability full|normal] [--dir DIR] [--postgres]
// Defaults: 100000 writes of 30000 keys, bound 10000, 100 puts per transaction, durability normal
// (the cost of the bound is CPU and pages, not fsync), a fresh directory under $TMPDIR (removed).
#include <statestore/statestore.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "paced_writer.h"
#include "postgres/pg_cluster.h"

namespace ss = statestore;

namespace {

struct Config {
  int writes = 100'000;
  int keys = 30'000;
  std::uint64_t max_keys = 10'000;
  int batch = 100;
  ss::Durability durability = ss::Durability::kNormal;
  std::string dir;
  bool postgres = false;
};

[[noreturn]] void Usage() {
  std::cerr << "usage: statestore_bounded_cache_bench [--writes N] [--keys K] [--max-keys M] "
               "[--batch B] [--durability full|normal] [--dir DIR] [--postgres]\n";
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
    if (a == "--writes") {
      c.writes = std::stoi(next());
    } else if (a == "--keys") {
      c.keys = std::stoi(next());
    } else if (a == "--max-keys") {
      c.max_keys = std::stoull(next());
    } else if (a == "--batch") {
      c.batch = std::stoi(next());
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
  if (c.writes <= 0 || c.keys <= 0 || c.max_keys == 0 || c.batch <= 0) Usage();
  return c;
}

std::string Key(int i) { return "r/" + std::to_string(i); }

// Where a round's store lives: a file (removed first), or a schema of the PostgreSQL server.
struct Target {
  std::string locator;
  std::string schema;  // PostgreSQL only: a fresh one per round
};

// One round: a fresh store, the puts in transactions of `batch`. Returns writes per second.
double Round(const Config& config, const std::vector<int>& sequence, const Target& target,
             bool bounded, std::map<std::string, std::int64_t>* held) {
  ss::Options options;
  options.durability = config.durability;
  if (target.schema.empty()) {
    std::filesystem::remove(target.locator);
  } else {
    options.postgres.schema = target.schema;
  }
  auto store = ss::Store::open(target.locator, options);
  if (bounded) store->set_max_keys("cache", config.max_keys);
  const auto start = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < sequence.size(); i += static_cast<std::size_t>(config.batch)) {
    const std::size_t end = std::min(sequence.size(), i + static_cast<std::size_t>(config.batch));
    store->transact([&](ss::Transaction& tx) {
      for (std::size_t j = i; j < end; ++j) {
        tx.put("cache", Key(sequence[j]), ss::Value(static_cast<std::int64_t>(j)));
      }
    });
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (held) {
    held->clear();
    for (const ss::Entry& e : store->list("cache")) (*held)[e.key] = e.value.as_int();
  }
  return static_cast<double>(sequence.size()) / seconds;
}

// The keys a bound of `max_keys` keeps: by last write (transaction, then key), the newest.
std::map<std::string, std::int64_t> Expected(const Config& config, const std::vector<int>& seq) {
  std::map<std::string, std::pair<std::size_t, std::int64_t>> last;  // key -> (transaction, value)
  std::set<std::pair<std::size_t, std::string>> order;
  for (std::size_t j = 0; j < seq.size(); ++j) {
    const std::size_t tx = j / static_cast<std::size_t>(config.batch);
    const std::string key = Key(seq[j]);
    auto [it, added] = last.try_emplace(key, tx, static_cast<std::int64_t>(j));
    if (!added) {
      order.erase({it->second.first, key});
      it->second = {tx, static_cast<std::int64_t>(j)};
    }
    order.emplace(tx, key);
    // The store evicts as each transaction ends: replay at the last put of one.
    const bool ends_tx =
        (j + 1) % static_cast<std::size_t>(config.batch) == 0 || j + 1 == seq.size();
    while (ends_tx && last.size() > config.max_keys) {
      last.erase(order.begin()->second);
      order.erase(order.begin());
    }
  }
  std::map<std::string, std::int64_t> out;
  for (const auto& [key, at] : last) out[key] = at.second;
  return out;
}

int Run(const Config& config) {
  std::string dir = config.dir;
  const bool remove_dir = dir.empty();
  if (remove_dir) dir = ss::bench::MakeBenchDir("statestore-bounded");
  std::mt19937 rng(16);
  std::uniform_int_distribution<int> pick(0, config.keys - 1);
  std::vector<int> sequence(static_cast<std::size_t>(config.writes));
  for (int& k : sequence) k = pick(rng);

  std::unique_ptr<ss::test::PgCluster> cluster;
  if (config.postgres) cluster = ss::test::PgCluster::Start();
  // Round `round`'s store for the plain or the bounded keyspace.
  auto target = [&](const char* name, int round) {
    if (!cluster) return Target{dir + "/" + name + ".db", ""};
    return Target{cluster->uri(), std::string(name) + "_" + std::to_string(round)};
  };

  std::cout << "statestore bounded cache bench" << (config.postgres ? " (PostgreSQL)" : "") << ": "
            << config.writes << " puts of " << config.keys << " keys, " << config.batch
            << " per transaction, bound " << config.max_keys << ", durability "
            << (config.durability == ss::Durability::kFull ? "full" : "normal") << ", "
            << std::thread::hardware_concurrency() << " CPUs\n";
  double plain = 0, bounded = 0;
  std::map<std::string, std::int64_t> held;
  for (int round = 0; round < 2; ++round) {
    plain = std::max(plain, Round(config, sequence, target("plain", round), false, nullptr));
    bounded = std::max(bounded, Round(config, sequence, target("bounded", round), true, &held));
  }
  const std::map<std::string, std::int64_t> expected = Expected(config, sequence);
  std::cout << "  plain keyspace:   " << static_cast<long long>(plain) << " puts/s\n"
            << "  bounded keyspace: " << static_cast<long long>(bounded) << " puts/s ("
            << static_cast<int>(100.0 * bounded / plain + 0.5) << "% of plain)\n"
            << "  bounded keyspace holds " << held.size() << " keys (bound " << config.max_keys
            << "), " << (held == expected ? "exactly" : "NOT")
            << " the most recently written ones\n";
  if (remove_dir) std::filesystem::remove_all(dir);
  return held == expected && held.size() <= config.max_keys ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Run(Parse(argc, argv));
  } catch (const std::exception& e) {
    std::cerr << "statestore_bounded_cache_bench: error: " << e.what() << "\n";
    return 1;
  }
}

// Results of statestore_durability_bench: one Row per measured configuration, printed as an
// aligned table and written as CSV.
#ifndef STATESTORE_BENCH_REPORT_TABLE_H_
#define STATESTORE_BENCH_REPORT_TABLE_H_

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace statestore::bench {

struct Row {
  std::string section;             // "writers", "reads", "crash" or "failover"
  std::string engine;              // e.g. "statestore Full", "SQLite FULL", "LMDB", "RocksDB sync"
  int threads = 0;                 // writer or reader threads (crash: writer threads of the child)
  bool concurrent_writer = false;  // reads: with one background writer
  double ops_per_s = 0;            // commits/s or reads/s (aggregate)
  double p50_us = 0;               // writers: commit latency
  double p99_us = 0;
  std::uint64_t ops = 0;  // commits or reads measured (in the median round)
  // writers and reads: ops_per_s of every round in round order, 0 for a failed round. The
  // columns above are the median round's (the middle one when sorted by ops_per_s).
  std::vector<double> round_ops_per_s;
  // writers: cost per commit, summed over the measured intervals of all rounds and divided by
  // their commits; negative where the engine cannot be measured that way (see
  // durability_bench.cc).
  double wal_bytes_per_commit = -1;      // SQLite engines: WAL xWrite bytes; RocksDB: its WAL
  double main_db_bytes_per_commit = -1;  // SQLite engines: main-file xWrite bytes (checkpoints)
  double wal_frames_per_commit = -1;     // SQLite engines: pages written to the WAL
  double syncs_per_commit = -1;          // SQLite engines: xSync calls; RocksDB: WAL syncs
  double cpu_us_per_commit = -1;         // user + system CPU of the whole process
  double avg_group = -1;                 // statestore: caller transactions per SQLite commit
  // crash, and failover (reopen_*: from the kill to the first commit on the new primary)
  int kills = 0;
  std::uint64_t acks = 0, lost = 0, partial = 0;
  double reopen_p50_ms = 0, reopen_p99_ms = 0;
  std::string notes;
};

// Prints the rows of `section` as an aligned table on stdout.
void PrintTable(const std::vector<Row>& rows, const std::string& section);

// Prints the cost-per-commit columns of the "writers" rows that have any, as an aligned table.
void PrintCostTable(const std::vector<Row>& rows);

// Writes every row to `path` (CSV with a header line). Throws std::runtime_error on failure.
void WriteCsv(const std::vector<Row>& rows, const std::filesystem::path& path);

// The row of (section, engine, threads, concurrent_writer), if measured.
std::optional<Row> FindRow(const std::vector<Row>& rows, const std::string& section,
                           const std::string& engine, int threads, bool concurrent_writer = false);

}  // namespace statestore::bench

#endif  // STATESTORE_BENCH_REPORT_TABLE_H_

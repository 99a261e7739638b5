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
  std::string section;             // "writers", "reads" or "crash"
  std::string engine;              // e.g. "statestore Full", "SQLite FULL", "LMDB", "RocksDB sync"
  int threads = 0;                 // writer or reader threads (crash: writer threads of the child)
  bool concurrent_writer = false;  // reads: with one background writer
  double ops_per_s = 0;            // commits/s or reads/s (aggregate)
  double p50_us = 0;               // writers: commit latency
  double p99_us = 0;
  std::uint64_t ops = 0;  // commits or reads measured
  // crash
  int kills = 0;
  std::uint64_t acks = 0, lost = 0, partial = 0;
  double reopen_p50_ms = 0, reopen_p99_ms = 0;
  std::string notes;
};

// Prints the rows of `section` as an aligned table on stdout.
void PrintTable(const std::vector<Row>& rows, const std::string& section);

// Writes every row to `path` (CSV with a header line). Throws std::runtime_error on failure.
void WriteCsv(const std::vector<Row>& rows, const std::filesystem::path& path);

// The row of (section, engine, threads, concurrent_writer), if measured.
std::optional<Row> FindRow(const std::vector<Row>& rows, const std::string& section,
                           const std::string& engine, int threads, bool concurrent_writer = false);

}  // namespace statestore::bench

#endif  // STATESTORE_BENCH_REPORT_TABLE_H_

// SVG charts of statestore_durability_bench results, written by the program itself (no
// plotting tool needed): commit throughput against writer threads per engine, and point-read
// throughput per engine, reader threads and background writer, and a cost per commit per
// engine and writer threads. All use a log-scale y axis.
#ifndef STATESTORE_BENCH_REPORT_SVG_H_
#define STATESTORE_BENCH_REPORT_SVG_H_

#include <filesystem>
#include <string>
#include <vector>

#include "report_table.h"

namespace statestore::bench {

// Lines (one per engine, in `engines` order) of commits/s at each writer thread count.
void WriteWritersSvg(const std::vector<Row>& rows, const std::vector<std::string>& engines,
                     const std::filesystem::path& path, const std::string& title);

// Grouped bars: one group per (reader threads, background writer) pair, one bar per engine.
void WriteReadsSvg(const std::vector<Row>& rows, const std::vector<std::string>& engines,
                   const std::filesystem::path& path, const std::string& title);

// Grouped bars: one group per engine (in `engines` order, engines without the metric left
// out), one bar per writer thread count, of `metric` (a cost per commit; negative = not
// measured).
void WriteCostSvg(const std::vector<Row>& rows, const std::vector<std::string>& engines,
                  double Row::*metric, const std::string& axis_label,
                  const std::filesystem::path& path, const std::string& title);

}  // namespace statestore::bench

#endif  // STATESTORE_BENCH_REPORT_SVG_H_

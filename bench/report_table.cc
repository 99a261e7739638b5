#include "report_table.h"

#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <stdexcept>

namespace statestore::bench {
namespace {

std::string CsvField(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

}  // namespace

void PrintTable(const std::vector<Row>& rows, const std::string& section) {
  if (section == "writers") {
    std::printf("%-18s %7s %12s %10s %10s  %s\n", "engine", "threads", "commits/s", "p50 us",
                "p99 us", "notes");
  } else if (section == "reads") {
    std::printf("%-20s %7s %7s %13s  %s\n", "engine", "threads", "writer", "reads/s", "notes");
  } else {
    std::printf("%-18s %7s %6s %9s %5s %8s %12s %12s  %s\n", "mode", "threads", "kills", "acks",
                "lost", "partial", "reopen p50", "reopen p99", "notes");
  }
  for (const Row& r : rows) {
    if (r.section != section) continue;
    if (section == "writers") {
      std::printf("%-18s %7d %12.0f %10.1f %10.1f  %s\n", r.engine.c_str(), r.threads, r.ops_per_s,
                  r.p50_us, r.p99_us, r.notes.c_str());
    } else if (section == "reads") {
      std::printf("%-20s %7d %7s %13.0f  %s\n", r.engine.c_str(), r.threads,
                  r.concurrent_writer ? "yes" : "no", r.ops_per_s, r.notes.c_str());
    } else {
      std::printf("%-18s %7d %6d %9" PRIu64 " %5" PRIu64 " %8" PRIu64 " %9.2f ms %9.2f ms  %s\n",
                  r.engine.c_str(), r.threads, r.kills, r.acks, r.lost, r.partial, r.reopen_p50_ms,
                  r.reopen_p99_ms, r.notes.c_str());
    }
  }
}

void WriteCsv(const std::vector<Row>& rows, const std::filesystem::path& path) {
  std::ofstream out(path, std::ios::trunc);
  if (!out) throw std::runtime_error("cannot write " + path.string());
  out << "section,engine,threads,concurrent_writer,ops_per_s,p50_us,p99_us,ops,kills,acks,lost,"
         "partial,reopen_p50_ms,reopen_p99_ms,notes\n";
  for (const Row& r : rows) {
    char nums[256];
    std::snprintf(nums, sizeof nums,
                  "%d,%d,%.1f,%.1f,%.1f,%" PRIu64 ",%d,%" PRIu64 ",%" PRIu64 ",%" PRIu64
                  ",%.3f,%.3f",
                  r.threads, r.concurrent_writer ? 1 : 0, r.ops_per_s, r.p50_us, r.p99_us, r.ops,
                  r.kills, r.acks, r.lost, r.partial, r.reopen_p50_ms, r.reopen_p99_ms);
    out << CsvField(r.section) << "," << CsvField(r.engine) << "," << nums << ","
        << CsvField(r.notes) << "\n";
  }
  if (!out) throw std::runtime_error("write failed: " + path.string());
}

std::optional<Row> FindRow(const std::vector<Row>& rows, const std::string& section,
                           const std::string& engine, int threads, bool concurrent_writer) {
  for (const Row& r : rows) {
    if (r.section == section && r.engine == engine && r.threads == threads &&
        r.concurrent_writer == concurrent_writer) {
      return r;
    }
  }
  return std::nullopt;
}

}  // namespace statestore::bench

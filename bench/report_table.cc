#include "report_table.h"

#include <algorithm>
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

// "123-456": the lowest and highest ops_per_s of the successful rounds ("-" if none).
std::string RoundRange(const Row& r) {
  double lo = 0, hi = 0;
  for (double v : r.round_ops_per_s) {
    if (v <= 0) continue;
    lo = lo == 0 ? v : std::min(lo, v);
    hi = std::max(hi, v);
  }
  if (hi == 0) return "-";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.0f-%.0f", lo, hi);
  return buf;
}

// `v` with `decimals` decimals, or "n/a" (negative = not measured).
std::string Num(double v, int decimals) {
  if (v < 0) return "n/a";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

bool HasCost(const Row& r) {
  return r.section == "writers" &&
         (r.wal_bytes_per_commit >= 0 || r.syncs_per_commit >= 0 || r.cpu_us_per_commit >= 0);
}

}  // namespace

void PrintTable(const std::vector<Row>& rows, const std::string& section) {
  if (section == "writers") {
    std::printf("%-18s %7s %12s %17s %10s %10s  %s\n", "engine", "threads", "commits/s",
                "rounds min-max", "p50 us", "p99 us", "notes");
  } else if (section == "reads") {
    std::printf("%-20s %7s %7s %13s  %s\n", "engine", "threads", "writer", "reads/s", "notes");
  } else if (section == "failover") {
    // The crash columns; "reopen" is the time from the kill to the first commit after it.
    std::printf("%-18s %7s %6s %9s %5s %8s %12s %12s  %s\n", "engine", "threads", "kills", "acks",
                "lost", "partial", "1st commit", "p99", "notes");
  } else {
    std::printf("%-18s %7s %6s %9s %5s %8s %12s %12s  %s\n", "mode", "threads", "kills", "acks",
                "lost", "partial", "reopen p50", "reopen p99", "notes");
  }
  for (const Row& r : rows) {
    if (r.section != section) continue;
    if (section == "writers") {
      std::printf("%-18s %7d %12.0f %17s %10.1f %10.1f  %s\n", r.engine.c_str(), r.threads,
                  r.ops_per_s, RoundRange(r).c_str(), r.p50_us, r.p99_us, r.notes.c_str());
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

void PrintCostTable(const std::vector<Row>& rows) {
  std::printf("%-18s %7s %13s %12s %13s %13s %14s %10s\n", "engine", "threads", "WAL B/commit",
              "DB B/commit", "frames/commit", "fsyncs/commit", "CPU us/commit", "avg group");
  for (const Row& r : rows) {
    if (!HasCost(r)) continue;
    std::printf("%-18s %7d %13s %12s %13s %13s %14s %10s\n", r.engine.c_str(), r.threads,
                Num(r.wal_bytes_per_commit, 0).c_str(), Num(r.main_db_bytes_per_commit, 0).c_str(),
                Num(r.wal_frames_per_commit, 2).c_str(), Num(r.syncs_per_commit, 3).c_str(),
                Num(r.cpu_us_per_commit, 1).c_str(), Num(r.avg_group, 2).c_str());
  }
}

void WriteCsv(const std::vector<Row>& rows, const std::filesystem::path& path) {
  std::ofstream out(path, std::ios::trunc);
  if (!out) throw std::runtime_error("cannot write " + path.string());
  out << "section,engine,threads,concurrent_writer,ops_per_s,p50_us,p99_us,ops,kills,acks,lost,"
         "partial,reopen_p50_ms,reopen_p99_ms,rounds,round_min_ops_per_s,round_max_ops_per_s,"
         "wal_bytes_per_commit,main_db_bytes_per_commit,wal_frames_per_commit,syncs_per_commit,"
         "cpu_us_per_commit,avg_group_size,notes\n";
  for (const Row& r : rows) {
    char nums[256];
    std::snprintf(nums, sizeof nums,
                  "%d,%d,%.1f,%.1f,%.1f,%" PRIu64 ",%d,%" PRIu64 ",%" PRIu64 ",%" PRIu64
                  ",%.3f,%.3f",
                  r.threads, r.concurrent_writer ? 1 : 0, r.ops_per_s, r.p50_us, r.p99_us, r.ops,
                  r.kills, r.acks, r.lost, r.partial, r.reopen_p50_ms, r.reopen_p99_ms);
    double lo = 0, hi = 0;
    for (double v : r.round_ops_per_s) {
      if (v <= 0) continue;
      lo = lo == 0 ? v : std::min(lo, v);
      hi = std::max(hi, v);
    }
    // Not measured: an empty field.
    auto opt = [](double v, int decimals) { return v < 0 ? std::string() : Num(v, decimals); };
    out << CsvField(r.section) << "," << CsvField(r.engine) << "," << nums << ","
        << r.round_ops_per_s.size() << "," << Num(lo, 1) << "," << Num(hi, 1) << ","
        << opt(r.wal_bytes_per_commit, 1) << "," << opt(r.main_db_bytes_per_commit, 1) << ","
        << opt(r.wal_frames_per_commit, 3) << "," << opt(r.syncs_per_commit, 4) << ","
        << opt(r.cpu_us_per_commit, 2) << "," << opt(r.avg_group, 3) << "," << CsvField(r.notes)
        << "\n";
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

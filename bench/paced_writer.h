// A paced writer and latency summaries for the benches that measure how long an ordinary writer
// waits while background work (a session sweep, an expiry sweep) runs beside it.
#ifndef STATESTORE_BENCH_PACED_WRITER_H_
#define STATESTORE_BENCH_PACED_WRITER_H_

#include <statestore/statestore.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace statestore::bench {

using Micros = std::chrono::microseconds;
using SteadyClock = std::chrono::steady_clock;

// Latencies in microseconds.
struct Summary {
  std::size_t n = 0;
  double p50 = 0, p99 = 0, max = 0, total = 0;
};

inline Summary Summarize(std::vector<double> v) {
  Summary s;
  s.n = v.size();
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  auto pct = [&](double p) {
    return v[std::min(v.size() - 1, static_cast<std::size_t>(p * (v.size() - 1) + 0.5))];
  };
  s.p50 = pct(0.50);
  s.p99 = pct(0.99);
  s.max = v.back();
  for (double x : v) s.total += x;
  return s;
}

inline std::string Ms(double us) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f ms", us / 1000.0);
  return buf;
}

inline double Since(SteadyClock::time_point start) {
  return static_cast<double>(
      std::chrono::duration_cast<Micros>(SteadyClock::now() - start).count());
}

// Commits a small transaction (one put in keyspace "app") every kWriterPeriod, or back to back
// when a commit takes longer, until `stop`; returns each transact() latency. Paced, like a
// service's request stream, so that on a small machine the writer measures waiting for the write
// lock, not competing for CPU.
inline constexpr Micros kWriterPeriod{1000};

inline std::vector<double> RunPacedWriter(Store& store, const std::atomic<bool>& stop) {
  std::vector<double> latencies;
  std::int64_t n = 0;
  auto next = SteadyClock::now();
  while (!stop.load(std::memory_order_relaxed)) {
    const auto start = SteadyClock::now();
    store.transact([&](Transaction& tx) { tx.put("app", "writer", ++n); });
    latencies.push_back(Since(start));
    next += kWriterPeriod;
    if (next > SteadyClock::now()) {
      std::this_thread::sleep_until(next);
    } else {
      next = SteadyClock::now();
    }
  }
  return latencies;
}

// A fresh directory under $TMPDIR (or /tmp) named PREFIX-XXXXXX. Throws std::runtime_error.
inline std::string MakeBenchDir(const std::string& prefix) {
  const char* tmp = std::getenv("TMPDIR");
  std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/" + prefix + "-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr) throw std::runtime_error("mkdtemp " + tmpl + " failed");
  return buf.data();
}

}  // namespace statestore::bench

#endif  // STATESTORE_BENCH_PACED_WRITER_H_

// Shared pieces of statestore_durability_bench: the workload every engine runs, the engine
// interfaces the peers implement, and small helpers.
//
// The write workload (the same logical work for every engine): transaction `seq` of writer
// thread `t` writes a 100-byte value under "w/<t>/<seq % 1000>" (a per-thread key space) and
// reads, increments and writes back the thread's counter "c/<t>"; it returns once the commit is
// as durable as the engine's mode promises.
//
// The read workload: random point reads of 10,000 keys holding 100-byte values; optionally one
// background writer commits about once per millisecond (one of the read keys with a new value
// plus a counter, i.e. the write workload's transaction) while the readers run.
#ifndef STATESTORE_BENCH_BENCH_COMMON_H_
#define STATESTORE_BENCH_BENCH_COMMON_H_

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace statestore::bench {

using SteadyClock = std::chrono::steady_clock;

inline constexpr std::size_t kValueBytes = 100;
inline constexpr std::uint64_t kKeysPerWriter = 1000;
inline constexpr int kReadKeys = 10'000;

[[noreturn]] inline void Fail(const std::string& message) { throw std::runtime_error(message); }

inline std::string WriteKey(int thread, std::uint64_t seq) {
  return "w/" + std::to_string(thread) + "/" + std::to_string(seq % kKeysPerWriter);
}
inline std::string CounterKey(int thread) { return "c/" + std::to_string(thread); }

inline std::string ReadKey(int i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "r/%06d", i);
  return buf;
}

// A printable kValueBytes-byte value that differs per `seq`.
inline std::string MakeValue(std::uint64_t seq) {
  char head[32];
  std::snprintf(head, sizeof head, "v%012" PRIu64 ":", seq);
  std::string v(head);
  while (v.size() < kValueBytes) v.push_back(static_cast<char>('a' + (v.size() * 7 + seq) % 26));
  return v;
}

// Counters are stored as 8-byte little-endian integers by the key-value peers.
inline std::string EncodeCounter(std::uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[static_cast<std::size_t>(i)] = static_cast<char>(v >> (8 * i));
  return s;
}
inline std::uint64_t DecodeCounter(const char* p, std::size_t n) {
  if (n != 8) Fail("counter value has " + std::to_string(n) + " bytes");
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

// Commits one transaction of the write workload (see top). Made on, and used only by, one
// thread.
using CommitFn = std::function<void(std::uint64_t seq)>;

// Counters an engine keeps itself, read before and after the measured interval to compute its
// cost per commit; -1 where the engine does not keep one. (File writes and syncs of SQLite-based
// engines are counted by the counting VFS instead, counting_vfs.h.)
struct EngineCounters {
  std::int64_t commits = -1;    // statestore: caller transactions committed (Stats::commits)
  std::int64_t groups = -1;     // statestore: SQLite transactions that committed them
  std::int64_t log_bytes = -1;  // RocksDB: bytes written to its WAL (Statistics)
  std::int64_t log_syncs = -1;  // RocksDB: WAL syncs (Statistics)
};

// An engine under the write workload, opened on a fresh file by the factory.
class WriteEngine {
 public:
  virtual ~WriteEngine() = default;
  // Called on writer thread `thread` before measuring.
  virtual CommitFn NewWriter(int thread) = 0;
  // A short note for the table after a run (e.g. statestore's group sizes); may be empty.
  virtual std::string Notes() { return {}; }
  // Called from the measuring thread while the writers run; must be cheap and thread-safe.
  virtual EngineCounters Counters() { return {}; }
  // Sanity check after a run in which `commits` transactions were made by `threads` threads:
  // returns an error description or "".
  virtual std::string Verify(int threads, const std::vector<std::uint64_t>& commits_per_thread) {
    (void)threads;
    (void)commits_per_thread;
    return {};
  }
};

// Returns whether `key` was found (and copies its value out).
using ReadFn = std::function<bool(const std::string& key)>;
// One background commit: writes `value` under read key `key` and bumps a counter.
using BackgroundCommitFn =
    std::function<void(std::uint64_t seq, const std::string& key, const std::string& value)>;

// An engine under the read workload, holding the kReadKeys keys (ReadKey(i) -> MakeValue(i)).
class ReadEngine {
 public:
  virtual ~ReadEngine() = default;
  virtual ReadFn NewReader() = 0;              // called on the reader thread
  virtual BackgroundCommitFn NewWriter() = 0;  // called on the background writer thread
  virtual std::string Notes() { return {}; }
};

inline double Percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  const std::size_t i =
      std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(i), v.end());
  return v[i];
}

}  // namespace statestore::bench

#endif  // STATESTORE_BENCH_BENCH_COMMON_H_

// StoreCounters — the live counters behind Store::stats().
//
// Read-path counters (reads, hits, misses) are striped over cache-line-aligned slots chosen per
// thread: a single shared atomic would be one cache line written by every reader, which is
// exactly the contention the sharded read cache exists to avoid.
#ifndef STATESTORE_SRC_STORE_COUNTERS_H_
#define STATESTORE_SRC_STORE_COUNTERS_H_

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "statestore/stats.h"

namespace statestore::internal {

class StripedCounter {
 public:
  void Add(std::uint64_t n = 1) {
    slots_[ThreadSlot()].value.fetch_add(n, std::memory_order_relaxed);
  }
  std::uint64_t Sum() const {
    std::uint64_t sum = 0;
    for (const auto& s : slots_) sum += s.value.load(std::memory_order_relaxed);
    return sum;
  }

 private:
  static constexpr std::size_t kSlots = 16;
  static std::size_t ThreadSlot();
  struct alignas(64) Slot {
    std::atomic<std::uint64_t> value{0};
  };
  Slot slots_[kSlots];
};

struct StoreCounters {
  StripedCounter reads;
  StripedCounter cache_hits;
  StripedCounter cache_misses;
  std::atomic<std::uint64_t> cache_invalidations{0};
  std::atomic<std::uint64_t> cache_keys_invalidated{0};
  std::atomic<std::uint64_t> commits{0};
  std::atomic<std::uint64_t> rollbacks{0};
  std::atomic<std::uint64_t> busy_retries{0};
  std::atomic<std::uint64_t> groups{0};
  std::atomic<std::uint64_t> max_group_size{0};
  std::atomic<std::uint64_t> syncs{0};
  std::atomic<std::uint64_t> checkpoints{0};
  std::atomic<std::uint64_t> compaction_runs{0};
  std::atomic<std::uint64_t> keys_expired{0};          // sqlite/expiry_sweep.h
  std::atomic<std::uint64_t> expiry_sweep_batches{0};  // sqlite/expiry_sweep.h
  std::atomic<std::uint64_t> leases_expired{0};        // sqlite/expiry_sweep.h
  std::atomic<std::uint64_t> free_space_steps{0};      // free_space.h
  std::atomic<std::uint64_t> free_pages_returned{0};   // free_space.h
  std::atomic<std::uint64_t> damaged_rows_skipped{0};  // DamagedRowReporter (value_codec.h)

  Stats Snapshot() const;
};

inline void Bump(std::atomic<std::uint64_t>& counter, std::uint64_t n = 1) {
  counter.fetch_add(n, std::memory_order_relaxed);
}

}  // namespace statestore::internal

#endif  // STATESTORE_SRC_STORE_COUNTERS_H_

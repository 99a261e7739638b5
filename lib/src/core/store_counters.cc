#include "core/store_counters.h"

namespace statestore::internal {

std::size_t StripedCounter::ThreadSlot() {
  static std::atomic<std::size_t> next{0};
  thread_local std::size_t slot = next.fetch_add(1, std::memory_order_relaxed) % kSlots;
  return slot;
}

Stats StoreCounters::Snapshot() const {
  Stats s;
  s.reads = reads.Sum();
  s.cache_hits = cache_hits.Sum();
  s.cache_misses = cache_misses.Sum();
  s.cache_invalidations = cache_invalidations.load(std::memory_order_relaxed);
  s.cache_keys_invalidated = cache_keys_invalidated.load(std::memory_order_relaxed);
  s.commits = commits.load(std::memory_order_relaxed);
  s.rollbacks = rollbacks.load(std::memory_order_relaxed);
  s.busy_retries = busy_retries.load(std::memory_order_relaxed);
  s.groups = groups.load(std::memory_order_relaxed);
  s.max_group_size = max_group_size.load(std::memory_order_relaxed);
  s.syncs = syncs.load(std::memory_order_relaxed);
  s.checkpoints = checkpoints.load(std::memory_order_relaxed);
  s.compaction_runs = compaction_runs.load(std::memory_order_relaxed);
  s.free_space_steps = free_space_steps.load(std::memory_order_relaxed);
  s.free_pages_returned = free_pages_returned.load(std::memory_order_relaxed);
  s.keys_expired = keys_expired.load(std::memory_order_relaxed);
  s.expiry_sweep_batches = expiry_sweep_batches.load(std::memory_order_relaxed);
  s.leases_expired = leases_expired.load(std::memory_order_relaxed);
  s.damaged_rows_skipped = damaged_rows_skipped.load(std::memory_order_relaxed);
  return s;
}

}  // namespace statestore::internal

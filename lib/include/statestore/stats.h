// statestore::Stats — counters since the Store was opened in this process.
#ifndef STATESTORE_STATS_H_
#define STATESTORE_STATS_H_

#include <cstdint>

namespace statestore {

struct Stats {
  std::uint64_t reads = 0;         // Store::get/get_entry calls (cache hits + misses)
  std::uint64_t cache_hits = 0;    // reads answered from the read cache
  std::uint64_t cache_misses = 0;  // reads that went to SQLite
  // Whole-cache flushes: when another process committed and history could not say which keys
  // changed (it was compacted meanwhile, or one catch-up found more than a few thousand keys).
  std::uint64_t cache_invalidations = 0;
  // Keys dropped from the cache because another process's commit changed them (the usual way
  // the cache follows other processes: only what changed is dropped).
  std::uint64_t cache_keys_invalidated = 0;
  std::uint64_t commits = 0;       // caller transactions committed (one per revision or no-op)
  std::uint64_t rollbacks = 0;     // caller transactions rolled back (body threw or commit failed)
  std::uint64_t busy_retries = 0;  // times a lock was found held and the operation waited/retried
  std::uint64_t groups = 0;        // SQLite transactions that committed one or more callers
  std::uint64_t max_group_size = 0;   // most callers committed by one SQLite transaction
  std::uint64_t syncs = 0;            // durable commits: SQLite COMMITs made with synchronous=FULL
  std::uint64_t checkpoints = 0;      // WAL checkpoints run by the store
  std::uint64_t compaction_runs = 0;  // history retention batches
  std::uint64_t sweep_runs = 0;       // expired-session sweep batches
  // Keys whose time-to-live ran out and that this process's background sweep removed (each is a
  // ChangeKind::kExpiry in history), and the sweep's write transactions (batches).
  std::uint64_t keys_expired = 0;
  std::uint64_t expiry_sweep_batches = 0;
  // Leases (lease.h) whose time-to-live ran out and that this process's sweep ended (their keys
  // are counted in keys_expired).
  std::uint64_t leases_expired = 0;
  // Free pages handed back to the file system (the file shrank by that many pages), in steps of
  // at most 128 pages each, by the maintenance thread and compact_history(). Only files in
  // auto_vacuum=INCREMENTAL mode: every file created by this version, or converted by
  // `statectl vacuum`.
  std::uint64_t free_space_steps = 0;
  std::uint64_t free_pages_returned = 0;
  // Rows a scan (list, history, session/config scans, dump) skipped because their stored value
  // cannot be decoded: the file was edited outside statestore. Each key is also logged once.
  // A point read of such a key throws kCorruption; overwriting or erasing it repairs it.
  std::uint64_t damaged_rows_skipped = 0;
};

}  // namespace statestore

#endif  // STATESTORE_STATS_H_

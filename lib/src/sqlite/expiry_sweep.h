// ExpirySweep — removes keys whose time-to-live ran out (TransactionImpl invariant 7), off the
// commit path, in batches queued with the other writers.
//
// Reads never need it: an expired key is absent to every read from its deadline on. The sweep
// only gives the space back and writes the expiry into history (ChangeKind::kExpiry, commit label
// kExpiredLabel) so that watchers and `statectl history` see it soon after the deadline.
//
// Invariants:
//   1. A batch is one ordinary request of the group commit queue (like RetentionRuns): it waits
//      its turn, shares a group's fsync, and holds the write lock for at most kKeysPerBatch
//      deletions, so a writer queued behind it waits for one short batch, never the whole sweep.
//      The one exception is a lease (lease.h) with more keys: its keys go in one batch, because
//      they leave in one revision (TransactionImpl invariant 8).
//   2. Each key is expired inside the batch's write transaction only if its row is still there
//      with a deadline at or before the transaction's time (ExpireIfDue): a key rewritten since
//      the batch looked is left alone, and when several processes sweep the same file, their
//      batches are serialized by the write lock and a key's expiry is recorded once.
//   3. Whether anything is due is read first without the write lock (the deadline index), so an
//      idle store's sweep takes no write lock and makes no commit.
//   4. One sweeper per file: a Store sweeps only while it holds the file's sweeper byte
//      (presence_lock.h, kExpirySweeperByte), which it tries for, without waiting, before each
//      pass and keeps until it closes. When the sweeping process exits or dies the lock goes with
//      its descriptor and another process's next pass takes over. Invariant 2 keeps several
//      sweepers correct anyway (an older statestore does not take part).
#ifndef STATESTORE_SRC_SQLITE_EXPIRY_SWEEP_H_
#define STATESTORE_SRC_SQLITE_EXPIRY_SWEEP_H_

#include <cstddef>
#include <cstdint>
#include <functional>

#include "core/group_commit.h"
#include "core/store_counters.h"
#include "sqlite/connection_pool.h"
#include "statestore/options.h"

namespace statestore::internal {

class ExpirySweep {
 public:
  static constexpr std::size_t kKeysPerBatch = 256;
  // The origin label of the sweep's commits (Commit::origin.label).
  static constexpr char kExpiredLabel[] = "expired";

  // All four outlive this object.
  ExpirySweep(GroupCommitter* committer, ConnectionPool* pool, StoreCounters* counters,
              const Options* options)
      : committer_(committer), pool_(pool), counters_(counters), options_(options) {}

  // Batches until no key is due or `interrupted` returns true (asked between batches). Returns
  // the keys this call expired. Throws: Error (kBusy, kIoError, kFull, ...).
  std::uint64_t Run(const std::function<bool()>& interrupted);

 private:
  // Invariant 3: a read transaction on this thread's connection.
  bool DueNow();

  GroupCommitter* const committer_;
  ConnectionPool* const pool_;
  StoreCounters* const counters_;
  const Options* const options_;
};

}  // namespace statestore::internal

#endif  // STATESTORE_SRC_SQLITE_EXPIRY_SWEEP_H_

// RetentionRuns — history retention (history_log.h) run as ordinary requests of the group
// commit queue: each batch is one short write transaction that waits its turn like any caller's,
// so retention never holds the write lock while callers wait (history_log.h invariant 2) and
// never runs on a leader (group_commit.h invariant 7).
#ifndef STATESTORE_SRC_SQLITE_RETENTION_RUNS_H_
#define STATESTORE_SRC_SQLITE_RETENTION_RUNS_H_

#include <cstdint>

#include "core/group_commit.h"
#include "core/store_counters.h"
#include "sqlite/connection_pool.h"
#include "sqlite/history_log.h"
#include "statestore/options.h"

namespace statestore::internal {

class RetentionRuns {
 public:
  // At most this many revisions of each keyspace per batch.
  static constexpr std::uint64_t kRevisionsPerBatch = 256;

  // All four outlive this object.
  RetentionRuns(GroupCommitter* committer, ConnectionPool* pool, StoreCounters* counters,
                const Options* options)
      : committer_(committer), pool_(pool), counters_(counters), options_(options) {}

  // One batch through the queue, if one is due (read first without the write lock).
  // Throws: Error (kBusy, kIoError, kFull, ...).
  RetentionResult Batch();
  // Batches until nothing is left to do. Returns the revisions removed entirely by these batches
  // (another process's retention meanwhile is not counted).
  std::uint64_t CompactAll();

 private:
  // Whether a batch has anything to do: a read transaction on this thread's connection, so most
  // passes take no write lock and make no commit (Stats::commits counts callers' transactions).
  bool DueNow();

  GroupCommitter* const committer_;
  ConnectionPool* const pool_;
  StoreCounters* const counters_;
  const Options* const options_;
};

}  // namespace statestore::internal

#endif  // STATESTORE_SRC_SQLITE_RETENTION_RUNS_H_

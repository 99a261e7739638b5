// Reading, compacting and reverting the history tables (schema in migrations/0001_initial.sql).
//
// Invariants:
//   1. Revisions first..head are all present (compaction removes a prefix, never a hole):
//      first = compacted_through + 1.
//   2. Compaction removes whole revisions (commit row and all its changes) and never the head
//      revision; it never touches `entries`, so the current state is unaffected. Each batch is its
//      own short write transaction, so compaction never stalls other writers for long.
//   3. Revert writes old values through an ordinary TransactionImpl, so the revert is itself a
//      new revision with its own history and cache publication — and its values pass the same
//      validation as any write: an old NaN (value.h) cannot be written back (kInvalidArgument).
//   4. A change row that does not decode (value_codec.h) is left out of history and commit_at
//      results and reported, so one damaged row never hides the rest of history. Revert reads
//      strictly instead: it refuses (kCorruption) rather than undo a commit only in part.
#ifndef STATESTORE_SRC_HISTORY_LOG_H_
#define STATESTORE_SRC_HISTORY_LOG_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "connection.h"
#include "statestore/history.h"
#include "transaction_impl.h"

namespace statestore::internal {

// REQUIRES: inside a transaction on `c` (for a consistent answer).
HistoryBounds ReadHistoryBounds(Connection& c);
// `damaged_rows` hears of skipped changes; null makes a damaged change throw kCorruption.
std::vector<Commit> QueryHistory(Connection& c, const HistoryQuery& query,
                                 DamagedRowReporter* damaged_rows);
std::optional<Commit> ReadCommit(Connection& c, Revision revision,
                                 DamagedRowReporter* damaged_rows);

// The highest revision the retention rules allow removing now (0 = nothing to remove).
// REQUIRES: inside a transaction.
Revision RetentionCutoff(Connection& c, const HistoryRetention& retention);
// Removes revisions (compacted_through, min(cutoff, compacted_through + max_revisions)].
// Returns how many were removed. REQUIRES: inside a write transaction.
std::uint64_t CompactHistoryBatch(Connection& c, Revision cutoff, std::uint64_t max_revisions);

// Runs the writes of a revert of `revision` in `tx`. Throws: kNotFound, kConflict;
// kInvalidArgument for an old value no write may store (NaN); kCorruption for a damaged change.
void RevertInto(TransactionImpl& tx, Revision revision, bool force);

}  // namespace statestore::internal

#endif  // STATESTORE_SRC_HISTORY_LOG_H_

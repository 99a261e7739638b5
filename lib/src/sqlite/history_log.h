// Reading, compacting and reverting the history tables (schema in
// migrations/sqlite/0001_initial.sql, per-keyspace retention in 0004_history_policy.sql).
//
// Retention is per keyspace (HistoryPolicy): it removes one keyspace's changes and leaves the
// others' changes of the same commits in place. Per keyspace K, keyspace_history holds
// compacted_through(K) (the highest revision at which a change of K was removed) and
// scanned_through(K) (retention's cursor), and meta 'compacted_through' is their maximum.
//
// Invariants:
//   1. Per keyspace, compaction removes a prefix: every change of K at or below
//      scanned_through(K) is gone, every change of K above compacted_through(K) is retained, and
//      compacted_through(K) <= scanned_through(K). So K's history is complete from
//      first(K) = compacted_through(K) + 1, and the store-wide first = meta compacted_through + 1
//      (the max over keyspaces, updated in the same transaction as each batch) is the first
//      revision from which every revision is wholly retained: a process that last saw revision H
//      can list every change after H iff H >= meta compacted_through.
//   2. A commit row goes with its last change; a commit that lost some keyspaces' changes and
//      keeps others is marked partial (and revert refuses it). The head revision's changes are
//      never removed; compaction never touches `entries`, so the current state is unaffected.
//      Each batch is its own short write transaction through the GroupCommitter (at most
//      RetentionRuns::kRevisionsPerBatch revisions of each keyspace it visits, a bounded number of
//      changes), so compaction never stalls other writers for long.
//   3. Revert writes old values through an ordinary TransactionImpl, so the revert is itself a
//      new revision with its own history and cache publication — and its values pass the same
//      validation as any write: an old NaN (value.h) cannot be written back (kInvalidArgument).
//   4. A change row that does not decode (value_codec.h) is left out of history and commit_at
//      results and reported, so one damaged row never hides the rest of history. Revert reads
//      strictly instead: it refuses (kCorruption) rather than undo a commit only in part.
//   5. Policies are read from the database by every retention batch, so every process (and
//      statectl) applies the same stored policy; only the kGlobal fallback is per process.
#ifndef STATESTORE_SRC_HISTORY_LOG_H_
#define STATESTORE_SRC_HISTORY_LOG_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/history_policy.h"
#include "sqlite/connection.h"
#include "sqlite/transaction_impl.h"
#include "statestore/history.h"
#include "statestore/options.h"

namespace statestore::internal {

// REQUIRES: inside a transaction on `c` (for a consistent answer).
HistoryBounds ReadHistoryBounds(Connection& c);
// `damaged_rows` hears of skipped changes; null makes a damaged change throw kCorruption.
std::vector<Commit> QueryHistory(Connection& c, const HistoryQuery& query,
                                 DamagedRowReporter* damaged_rows);
std::optional<Commit> ReadCommit(Connection& c, Revision revision,
                                 DamagedRowReporter* damaged_rows);

// What the file holds about one keyspace's history retention.
struct KeyspaceHistoryRow {
  std::int64_t id = 0;
  std::string name;
  std::optional<HistoryPolicy> stored;
  Revision compacted_through = 0;
  Revision scanned_through = 0;
};
// nullopt for a keyspace that does not exist. REQUIRES: inside a transaction.
std::optional<KeyspaceHistoryRow> ReadKeyspaceHistory(Connection& c, std::string_view keyspace);
std::vector<KeyspaceHistoryRow> ReadAllKeyspaceHistory(Connection& c);

// Bounds of one keyspace's history (history.h). REQUIRES: inside a transaction.
HistoryBounds ReadKeyspaceBounds(Connection& c, std::string_view keyspace);

// Stores (or with nullopt clears) the policy of `keyspace`, creating the keyspace if needed.
// Returns whether the stored policy changed. REQUIRES: inside a write transaction; validated.
bool StoreHistoryPolicy(Connection& c, std::string_view keyspace,
                        const std::optional<HistoryPolicy>& policy);

struct RetentionResult {
  std::uint64_t revisions_removed = 0;  // commit rows deleted
  std::uint64_t changes_removed = 0;
  bool more = false;  // a keyspace has more to remove or scan: run another batch
};
// One retention batch: for each keyspace with something outside its policy, removes its changes
// in at most `max_revisions` revisions (invariants 1-2), until about kRetentionRowBudget changes
// were removed. REQUIRES: inside a write transaction.
inline constexpr std::uint64_t kRetentionRowBudget = 4096;
// Whether some keyspace has changes outside its policy (or a retention cursor to advance): the
// reads a batch starts with, without its writes. `now_us` is the Store's clock (Options::clock):
// keep_for counts back from it. REQUIRES: inside a transaction.
bool RetentionDue(Connection& c, const HistoryRetention& global, std::int64_t now_us);
RetentionResult RunRetentionBatch(Connection& c, const HistoryRetention& global,
                                  std::uint64_t max_revisions, std::int64_t now_us);

// Runs the writes of a revert of `revision` in `tx`. Throws: kNotFound, kConflict;
// kInvalidArgument for an old value no write may store (NaN); kCorruption for a damaged change.
void RevertInto(TransactionImpl& tx, Revision revision, bool force);

}  // namespace statestore::internal

#endif  // STATESTORE_SRC_HISTORY_LOG_H_

// Reading, compacting and reverting the history tables on the PostgreSQL engine (schema in
// migrations/postgresql/0001_initial.sql; changes.kind and changes.expires_us, which give
// Change::kind and Change::expires_at, in 0002_time_to_live.sql). The port of
// sqlite/history_log.h: the same functions, invariants, error codes and messages; only the SQL
// and the way it reaches the server differ — and the kind, stored as is (2 an eviction), where
// SQLite stores an eviction as kind 1 without a deadline.
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
//      (the max over keyspaces, updated in the same server transaction as each batch) is the
//      first revision from which every revision is wholly retained: a process that last saw
//      revision H can list every change after H iff H >= meta compacted_through.
//   2. A commit row goes with its last change; a commit that lost some keyspaces' changes and
//      keeps others is marked partial (and revert refuses it). The head revision's changes are
//      never removed; compaction never touches `entries`, so the current state is unaffected.
//      Each batch is one short write transaction of the caller's (at most max_revisions revisions
//      of each keyspace it visits, about kPgRetentionRowBudget changes), so compaction never holds
//      the head row lock — the store's write lock — for long.
//   3. Revert writes old values through an ordinary PgTransaction, so the revert is itself a new
//      revision with its own history and cache publication — and its values pass the same
//      validation as any write: an old NaN (value.h) cannot be written back (kInvalidArgument).
//   4. A change row that does not decode (pg_value_codec.h) is left out of history and
//      commit_at results and reported, so one damaged row never hides the rest of history.
//      Revert reads strictly instead: it refuses (kCorruption) rather than undo a commit only in
//      part.
//   5. Policies are read from the database by every retention batch, so every process (and
//      statectl) applies the same stored policy; only the kGlobal fallback is per process.
//   6. Commit times never decrease with revision, from revision 1 on (pg_transaction.h invariant
//      6; unlike SQLite files there is no older, unordered stretch): time bounds are found by
//      bisection over revisions, each probe one primary-key seek, with no index on time.
//
// Every function REQUIRES a server transaction open on `c` (the caller's: a REPEATABLE READ one
// for reads, so that the several statements of one call see one snapshot; the writer's for
// StoreHistoryPolicy, PgRunRetentionBatch and PgRevertInto). Errors are PgConnection's
// (pg_connection.h invariant 2) plus the kNotFound/kConflict/kCorruption/kInvalidArgument stated
// below. Every user-supplied value is bound as a parameter; no SQL is built from user text.
#ifndef STATESTORE_SRC_POSTGRESQL_PG_HISTORY_LOG_H_
#define STATESTORE_SRC_POSTGRESQL_PG_HISTORY_LOG_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/damaged_rows.h"
#include "core/history_policy.h"
#include "postgresql/pg_connection.h"
#include "postgresql/pg_transaction.h"
#include "statestore/history.h"
#include "statestore/options.h"

namespace statestore::internal {

HistoryBounds PgReadHistoryBounds(PgConnection& c);
// `damaged_rows` hears of skipped changes; null makes a damaged change throw kCorruption.
std::vector<Commit> PgQueryHistory(PgConnection& c, const HistoryQuery& query,
                                   DamagedRowReporter* damaged_rows);
std::optional<Commit> PgReadCommit(PgConnection& c, Revision revision,
                                   DamagedRowReporter* damaged_rows);

// What the database holds about one keyspace's history retention.
struct PgKeyspaceHistoryRow {
  std::int64_t id = 0;
  std::string name;
  std::optional<HistoryPolicy> stored;
  Revision compacted_through = 0;
  Revision scanned_through = 0;
};
// nullopt for a keyspace that does not exist.
std::optional<PgKeyspaceHistoryRow> PgReadKeyspaceHistory(PgConnection& c,
                                                          std::string_view keyspace);
// Every keyspace, in id (creation) order.
std::vector<PgKeyspaceHistoryRow> PgReadAllKeyspaceHistory(PgConnection& c);

// Bounds of one keyspace's history (history.h).
HistoryBounds PgReadKeyspaceBounds(PgConnection& c, std::string_view keyspace);

// Stores (or with nullopt clears) the policy of `keyspace`, creating the keyspace if needed.
// Returns whether the stored policy changed. REQUIRES: `tx` is a write transaction; `policy`
// validated (ValidateHistoryPolicy).
bool PgStoreHistoryPolicy(PgTransaction& tx, std::string_view keyspace,
                          const std::optional<HistoryPolicy>& policy);

// As sqlite/history_log.h's RetentionResult (not shared: postgresql/ does not include sqlite/).
struct PgRetentionResult {
  std::uint64_t revisions_removed = 0;  // commit rows deleted
  std::uint64_t changes_removed = 0;
  bool more = false;  // a keyspace has more to remove or scan: run another batch
};
// One retention batch: for each keyspace with something outside its policy, removes its changes
// in at most `max_revisions` revisions (invariants 1-2), until about kPgRetentionRowBudget
// changes were removed. REQUIRES: inside the writer's transaction (it deletes).
inline constexpr std::uint64_t kPgRetentionRowBudget = 4096;
// Whether some keyspace has changes outside its policy (or a retention cursor to advance): the
// reads a batch starts with, without its writes. `now_us` is the Store's clock (Options::clock):
// keep_for counts back from it.
bool PgRetentionDue(PgConnection& c, const HistoryRetention& global, std::int64_t now_us);
PgRetentionResult PgRunRetentionBatch(PgConnection& c, const HistoryRetention& global,
                                      std::uint64_t max_revisions, std::int64_t now_us);

// Runs the writes of a revert of `revision` in `tx`. Throws: kNotFound, kConflict;
// kInvalidArgument for an old value no write may store (NaN) or a redacted keyspace; kCorruption
// for a damaged change.
void PgRevertInto(PgTransaction& tx, Revision revision, bool force);

}  // namespace statestore::internal

#endif  // STATESTORE_SRC_POSTGRESQL_PG_HISTORY_LOG_H_

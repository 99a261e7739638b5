#include "sqlite/retention_runs.h"

#include "sqlite/sql_transaction.h"
#include "sqlite/sqlite_group_writer.h"
#include "util/clock.h"

namespace statestore::internal {

bool RetentionRuns::DueNow() {
  Connection& c = pool_->ForThisThread();
  ReadTransaction tx(c);
  const bool due = RetentionDue(c, options_->history_retention, NowMicros(options_->clock));
  tx.Commit();
  return due;
}

RetentionResult RetentionRuns::Batch() {
  RetentionResult result;
  if (!DueNow()) return result;
  GroupCommitter::Body body = [&](EngineTransaction& tx) {
    result = RunRetentionBatch(AsSqlite(tx).connection(), options_->history_retention,
                               kRevisionsPerBatch, NowMicros(options_->clock));
  };
  committer_->Submit(body, Origin{});
  if (result.changes_removed > 0) Bump(counters_->compaction_runs);
  return result;
}

std::uint64_t RetentionRuns::CompactAll() {
  // Counts the batches of this call only: each batch's result comes from its own transaction.
  std::uint64_t total = 0;
  for (;;) {
    const RetentionResult r = Batch();
    total += r.revisions_removed;
    if (!r.more && r.changes_removed == 0) break;
  }
  return total;
}

}  // namespace statestore::internal

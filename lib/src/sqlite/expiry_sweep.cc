#include "sqlite/expiry_sweep.h"

#include <sys/syscall.h>
#include <unistd.h>

#include "sqlite/schema_sql.h"
#include "sqlite/sql_transaction.h"
#include "sqlite/sqlite_error.h"
#include "sqlite/sqlite_group_writer.h"
#include "util/clock.h"

namespace statestore::internal {

bool ExpirySweep::DueNow() {
  Connection& c = pool_->ForThisThread();
  ReadTransaction tx(c);
  const bool due = CallSqlite("cannot read the earliest deadline", [&] {
    StatementUse q(c, sql::kEarliestDeadline);
    return q->executeStep() && !q->isColumnNull(0) &&
           q->getColumn(0).getInt64() <= NowMicros(options_->clock);
  });
  tx.Commit();
  return due;
}

std::uint64_t ExpirySweep::Run(const std::function<bool()>& interrupted) {
  static const std::int64_t pid = ::getpid();
  std::uint64_t total = 0;
  while (!interrupted() && DueNow()) {
    TransactionImpl::ExpiredCount expired;
    committer_->Submit(
        [&](EngineTransaction& tx) { expired = AsSqlite(tx).ExpireDue(kKeysPerBatch); },
        Origin{pid, static_cast<std::int64_t>(::syscall(SYS_gettid)), kExpiredLabel});
    Bump(counters_->expiry_sweep_batches);
    // Nothing: what was due was rewritten meanwhile, or another process swept.
    if (expired.keys == 0 && expired.leases == 0) break;
    Bump(counters_->keys_expired, expired.keys);
    Bump(counters_->leases_expired, expired.leases);
    total += expired.keys;
  }
  return total;
}

}  // namespace statestore::internal

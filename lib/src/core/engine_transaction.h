// EngineTransaction — what the group committer (core/group_commit.h) needs of an engine's
// Transaction for one write body: where its revisions start, its commit row, and what it wrote.
//
// Invariants (each engine's implementation keeps them; the SQLite engine's is TransactionImpl):
//   1. A revision is allocated on the first write (the head the body starts on + 1) and Finish()
//      records the commit; a body that writes nothing uses no revision.
//   2. writes() lists, in order, the entries the committer publishes to the read cache after the
//      group committed; a savepoint() that rolls back truncates it to where it began.
//   3. Commit times never decrease with revision (StartAfter passes the newest commit's time).
#ifndef STATESTORE_SRC_CORE_ENGINE_TRANSACTION_H_
#define STATESTORE_SRC_CORE_ENGINE_TRANSACTION_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/keyspace_directory.h"
#include "statestore/revision.h"
#include "statestore/transaction.h"
#include "util/clock.h"

namespace statestore::internal {

// One committed-to-be write as the read cache will hold it.
struct PendingWrite {
  std::string keyspace;
  std::string key;
  std::optional<Entry> entry;  // nullopt: erased
  std::string cache_id;        // keyspace + '\0' + key: identifies the key within a group
  // Drop the key from the cache instead of caching "absent" (an expiry: nobody is likely to read
  // the key again, and a sweep of many keys must not push the cache's live entries out).
  bool drop_only = false;
};

class EngineTransaction : public Transaction {
 public:
  // The head revision this body starts on and the time of the newest commit (0: none), as the
  // group writer knows them (invariants 1 and 3). `clock` (Options::clock, may be empty; must
  // outlive the transaction) stamps the commit.
  virtual void StartAfter(Revision head, std::int64_t last_commit_time_us,
                          const ClockFunction* clock) = 0;
  // Records the commit if the body changed anything. Returns its revision, or 0.
  virtual Revision Finish() = 0;
  // The time Finish stamped on the commit (invariant 3); 0 if it recorded none.
  virtual std::int64_t commit_time_us() const = 0;
  virtual const std::vector<PendingWrite>& writes() const = 0;
  // Keyspaces this transaction resolved or created; committed once the transaction commits.
  virtual const std::vector<std::pair<std::string, KeyspaceRef>>& keyspaces_seen() const = 0;
};

}  // namespace statestore::internal

#endif  // STATESTORE_SRC_CORE_ENGINE_TRANSACTION_H_

#include "sqlite/history_change_feed.h"

#include <SQLiteCpp/SQLiteCpp.h>

#include <exception>

#include "sqlite/connection_pool.h"
#include "sqlite/schema_sql.h"

namespace statestore::internal {

bool HistoryChangeFeed::ChangedKeys(Revision after, Revision through, std::size_t max_keys,
                                    Revision* head, std::vector<std::string>* keys) noexcept {
  *head = 0;
  try {
    Connection& conn = writer_ != nullptr ? *writer_ : pool_->ForThisThread();
    StatementUse q(conn, sql::kChangedKeysSince);
    q->bind(1, static_cast<std::int64_t>(after));
    q->bind(2, static_cast<std::int64_t>(through));
    // One more than allowed, to tell "exactly max_keys" from "too many".
    q->bind(3, static_cast<std::int64_t>(max_keys + 1));
    std::size_t rows = 0;
    Revision compacted = 0;
    while (q->executeStep()) {
      if (rows == 0) {
        *head = static_cast<Revision>(q->getColumn(0).getInt64());
        compacted = static_cast<Revision>(q->getColumn(1).getInt64());
      }
      if (++rows > max_keys) return false;
      if (q->isColumnNull(2)) continue;  // the range changed nothing
      std::string composite = q->getColumn(2).getString();
      composite.push_back('\0');  // keyspace names contain no NUL (ReadCache::ComposeKey)
      const SQLite::Column key = q->getColumn(3);
      composite.append(static_cast<const char*>(key.getBlob()),
                       static_cast<std::size_t>(key.getBytes()));
      keys->push_back(std::move(composite));
    }
    // The statement read at most max_keys + 1 revisions (sql::kChangedKeysSince): a longer range
    // holds more keys than allowed, and in a damaged file that has revisions without changes
    // the rows read would not be all of them.
    const Revision upto = through > 0 ? through : *head;
    if (upto > after && upto - after > max_keys) return false;
    return rows > 0 && compacted <= after;  // invariant 1
  } catch (const std::exception&) {
    return false;  // invariant 2
  } catch (...) {
    return false;
  }
}

}  // namespace statestore::internal

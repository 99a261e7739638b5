// HistoryChangeFeed — tells the read cache which keys a range of revisions changed, from the
// `changes` table (ReadCache's ChangeFeed; read_cache.h has why).
//
// Invariants:
//   1. One statement, so one snapshot: the head revision, the compaction watermark and the
//      changed keys are read together, and a range is answered only if no row of it can have
//      been removed (meta.compacted_through, the highest revision of which any part was
//      compacted, is not after `after`).
//   2. Never throws: any failure answers "cannot tell", and the cache drops everything instead.
#ifndef STATESTORE_SRC_HISTORY_CHANGE_FEED_H_
#define STATESTORE_SRC_HISTORY_CHANGE_FEED_H_

#include <cstddef>
#include <string>
#include <vector>

#include "core/read_cache.h"

namespace statestore::internal {

class Connection;
class ConnectionPool;

class HistoryChangeFeed final : public ChangeFeed {
 public:
  // Reads on the calling thread's pooled connection (idle, or inside its read transaction).
  explicit HistoryChangeFeed(ConnectionPool* pool) : pool_(pool) {}
  // Reads on `writer`, inside its write transaction (SqliteGroupWriter::WriterFeed).
  explicit HistoryChangeFeed(Connection* writer) : writer_(writer) {}

  bool ChangedKeys(Revision after, Revision through, std::size_t max_keys, Revision* head,
                   std::vector<std::string>* keys) noexcept override;

 private:
  ConnectionPool* const pool_ = nullptr;
  Connection* const writer_ = nullptr;
};

}  // namespace statestore::internal

#endif  // STATESTORE_SRC_HISTORY_CHANGE_FEED_H_

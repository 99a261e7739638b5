// LocalCommitLog — the revisions this Store committed lately, and the keyspaces they changed:
// lets a watcher that follows one keyspace skip, without reading history, revisions that cannot
// hold a change of it. (A config watch in a web service under session churn read history about
// 500 times a second for nothing: 15-20% of the service's CPU.)
//
// Invariants:
//   1. Record(first, last, keyspaces) is called by the group committer after a COMMIT that made
//      revisions [first, last], naming every keyspace in which a key changed in them: the
//      committer's pending writes, which the read cache needs for every changed key (an expiry, a
//      lease's end and an eviction included). A superset is harmless; a keyspace left out would
//      let a watcher skip a change, so an engine that cannot promise this does not keep a log.
//   2. Only this Store's commits are recorded, each group as one range, and ranges are joined
//      only when adjacent: a revision another process (or another Store on the file) committed
//      lies in no range, so no question about it is answered "unchanged".
//   3. Adjacent ranges with the same keyspaces are merged (steady session churn is one range);
//      at most kMaxRanges are kept, the oldest forgotten: a question about forgotten revisions
//      gets "cannot tell" (false), never a guess.
//
// Thread safety: Record and Unchanged may be called from any thread.
#ifndef STATESTORE_SRC_CORE_LOCAL_COMMIT_LOG_H_
#define STATESTORE_SRC_CORE_LOCAL_COMMIT_LOG_H_

#include <cstddef>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "statestore/history.h"
#include "util/mutex.h"

namespace statestore::internal {

class LocalCommitLog {
 public:
  static constexpr std::size_t kMaxRanges = 4096;

  // Invariant 1. `keyspaces` may hold duplicates. Ignored when first > last or first == 0.
  void Record(Revision first, Revision last, std::vector<std::string> keyspaces);

  // True only when every revision in [from, to] was recorded and none of them changed a key of
  // `keyspace`. False when from > to or from == 0.
  bool Unchanged(std::string_view keyspace, Revision from, Revision to) const;

 private:
  struct Range {
    Revision first;
    Revision last;
    std::vector<std::string> keyspaces;  // sorted, unique
  };

  mutable Mutex mu_;
  std::deque<Range> ranges_ GUARDED_BY(mu_);  // ascending, disjoint
};

}  // namespace statestore::internal

#endif  // STATESTORE_SRC_CORE_LOCAL_COMMIT_LOG_H_

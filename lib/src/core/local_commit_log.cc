#include "core/local_commit_log.h"

#include <algorithm>
#include <utility>

namespace statestore::internal {

void LocalCommitLog::Record(Revision first, Revision last, std::vector<std::string> keyspaces) {
  if (first == 0 || first > last) return;
  std::sort(keyspaces.begin(), keyspaces.end());
  keyspaces.erase(std::unique(keyspaces.begin(), keyspaces.end()), keyspaces.end());
  MutexLock lock(&mu_);
  // Revisions only grow, so a range lands at the back; one that does not (it cannot happen while
  // invariant 1 holds) would break the order the lookup relies on: forget everything instead.
  if (!ranges_.empty() && first <= ranges_.back().last) ranges_.clear();
  if (!ranges_.empty() && ranges_.back().last + 1 == first &&
      ranges_.back().keyspaces == keyspaces) {
    ranges_.back().last = last;  // invariant 3
    return;
  }
  ranges_.push_back(Range{first, last, std::move(keyspaces)});
  if (ranges_.size() > kMaxRanges) ranges_.pop_front();
}

bool LocalCommitLog::Unchanged(std::string_view keyspace, Revision from, Revision to) const {
  if (from == 0 || from > to) return false;
  MutexLock lock(&mu_);
  // The range holding `from`: the last one that begins at or before it.
  auto it = std::upper_bound(ranges_.begin(), ranges_.end(), from,
                             [](Revision r, const Range& range) { return r < range.first; });
  if (it == ranges_.begin()) return false;
  --it;
  Revision covered_to = from - 1;
  for (; it != ranges_.end(); ++it) {
    if (it->first > covered_to + 1 || it->last <= covered_to) return false;  // a gap (invariant 2)
    if (std::binary_search(it->keyspaces.begin(), it->keyspaces.end(), keyspace)) return false;
    covered_to = it->last;
    if (covered_to >= to) return true;
  }
  return false;
}

}  // namespace statestore::internal

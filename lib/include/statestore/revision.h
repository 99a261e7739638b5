// statestore::Revision — the number of a committed transaction.
#ifndef STATESTORE_REVISION_H_
#define STATESTORE_REVISION_H_

#include <cstdint>

namespace statestore {

// Revisions start at 1 and increase by exactly 1 per committed transaction that changed
// something, in commit order, across all threads and processes sharing the file. 0 means "before
// the first commit". They are never reused, even after history compaction.
using Revision = std::uint64_t;

}  // namespace statestore

#endif  // STATESTORE_REVISION_H_

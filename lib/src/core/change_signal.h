// ChangeSignal — the engine's "a commit may have happened" counter, shared by every process that
// has the store open; the read cache keys its coherence on it (read_cache.h, counter `shared`).
//
// Invariants (each engine's implementation must keep them; the SQLite engine's is
// SharedGeneration, a counter in a file every process maps):
//   1. Every commit, in any process, bumps it at least once while it holds the engine's write lock
//      before COMMIT and once after COMMIT before its caller is told — so a reader that loads the
//      same value before and after a read saw no commit complete in between.
//   2. Load() does no I/O and never blocks: it is on the path of every cached read.
//   3. While !usable() the value cannot be trusted (e.g. the shared mapping is being repaired):
//      the cache misses and reads the engine instead.
#ifndef STATESTORE_SRC_CORE_CHANGE_SIGNAL_H_
#define STATESTORE_SRC_CORE_CHANGE_SIGNAL_H_

#include <cstdint>

namespace statestore::internal {

class ChangeSignal {
 public:
  virtual ~ChangeSignal() = default;
  virtual std::uint64_t Load() const = 0;
  // Returns the value before the increment. Never throws.
  virtual std::uint64_t Bump() = 0;
  virtual bool usable() const = 0;
};

}  // namespace statestore::internal

#endif  // STATESTORE_SRC_CORE_CHANGE_SIGNAL_H_

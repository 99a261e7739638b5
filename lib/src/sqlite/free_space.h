// Returning free pages to the file system: incremental auto-vacuum in bounded steps.
//
// Why: history retention and session sweeps delete rows; SQLite keeps the freed pages on its
// freelist and the file never shrinks (seen in production: 8,654 of 9,288 pages free after
// compact-history). A file in auto_vacuum=INCREMENTAL mode (every new file, database_file.h
// invariant 9) can give them back with PRAGMA incremental_vacuum(N), which moves up to N pages
// from the end of the file into free slots and truncates — under the write lock, for a time
// roughly proportional to N.
//
// Invariants:
//   1. A step returns at most kPagesPerStep pages and runs through the GroupCommitter as an
//      ordinary request (like a retention batch, background_maintenance.h invariant 3): it joins
//      a group, shares its fsync, and adds only its own bounded time to the group's hold of the
//      write lock. No step holds the lock for the whole freelist.
//   2. A step runs only on a file in incremental mode (PRAGMA auto_vacuum = 2), checked inside
//      the step's transaction: a file in NONE mode (older files) is left alone; statectl vacuum
//      converts it. A FULL-mode file vacuums at every commit by itself.
//   3. A step changes no key, no value, no history: it gets no revision and no history commit
//      (group_commit.h invariant 4 counts bodies that wrote through the Transaction API only).
//      If the group rolls back, so does the step: its pages stay on the freelist for the next.
//   4. kFreePagesKept pages stay free: churn reuses them instead of growing the file again at
//      once, and a step is not run for a handful of pages.
#ifndef STATESTORE_SRC_FREE_SPACE_H_
#define STATESTORE_SRC_FREE_SPACE_H_

#include <chrono>
#include <cstdint>
#include <functional>

namespace statestore::internal {

class Connection;
class GroupCommitter;
struct StoreCounters;

struct FreeSpace {
  // Steps start once this many pages are free (1 MiB at the 1 KiB pages of new files, 4 MiB in
  // older 4 KiB files)...
  static constexpr std::int64_t kStartFreePages = 1024;
  // ... and stop when no more than this many are (invariant 4).
  static constexpr std::int64_t kFreePagesKept = 256;
  // Pages per step (invariant 1); measured in tests/free_space_test.cc (README "Space").
  static constexpr std::int64_t kPagesPerStep = 128;
  // Pause between two steps, so that a stream of steps never keeps this process's queue busy.
  static constexpr std::chrono::milliseconds kPauseBetweenSteps{2};

  // Whether `c`'s file is in incremental mode and has more than kStartFreePages free pages.
  // A cheap read (the header); REQUIRES: `c` is not inside a transaction. Throws: Error.
  static bool Due(Connection& c);

  // Runs one step of at most `max_pages` pages through `committer` (invariant 1). Returns the
  // pages returned (0: not incremental, or no more than kFreePagesKept free). Counts them in
  // `counters`. Throws: Error, as a commit does.
  static std::uint64_t Step(GroupCommitter& committer, StoreCounters& counters,
                            std::int64_t max_pages = kPagesPerStep);

  // Steps until a step returns nothing or `should_stop()` says so, pausing between steps.
  // Returns the pages returned. Throws: Error, as Step.
  static std::uint64_t ReturnAll(GroupCommitter& committer, StoreCounters& counters,
                                 const std::function<bool()>& should_stop);
};

}  // namespace statestore::internal

#endif  // STATESTORE_SRC_FREE_SPACE_H_

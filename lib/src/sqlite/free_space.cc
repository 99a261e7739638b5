#include "sqlite/free_space.h"

#include <algorithm>
#include <string>
#include <thread>

#include "core/group_commit.h"
#include "core/store_counters.h"
#include "sqlite/connection.h"
#include "sqlite/sqlite_group_writer.h"

namespace statestore::internal {

namespace {

constexpr std::int64_t kIncremental = 2;  // PRAGMA auto_vacuum: 0 NONE, 1 FULL, 2 INCREMENTAL

}  // namespace

bool FreeSpace::Due(Connection& c) {
  if (c.QueryInt("PRAGMA auto_vacuum") != kIncremental) return false;  // invariant 2
  return c.QueryInt("PRAGMA freelist_count") > kStartFreePages;
}

std::uint64_t FreeSpace::Step(GroupCommitter& committer, StoreCounters& counters,
                              std::int64_t max_pages) {
  std::uint64_t returned = 0;
  GroupCommitter::Body body = [&](EngineTransaction& tx) {
    returned = 0;  // the body may be re-run (group_commit.h invariant 3)
    Connection& c = AsSqlite(tx).connection();
    if (c.QueryInt("PRAGMA auto_vacuum") != kIncremental) return;  // invariant 2
    const std::int64_t free_before = c.QueryInt("PRAGMA freelist_count");
    const std::int64_t n = std::min(max_pages, free_before - kFreePagesKept);
    if (n <= 0) return;  // invariant 4
    // Built from an integer, not from user text; PRAGMA takes no bound parameters.
    c.Exec(("PRAGMA incremental_vacuum(" + std::to_string(n) + ")").c_str());
    const std::int64_t free_after = c.QueryInt("PRAGMA freelist_count");
    returned = static_cast<std::uint64_t>(std::max<std::int64_t>(0, free_before - free_after));
  };
  committer.Submit(body, Origin{});
  // Counted only once the group committed (invariant 3).
  if (returned > 0) {
    Bump(counters.free_space_steps);
    Bump(counters.free_pages_returned, returned);
  }
  return returned;
}

std::uint64_t FreeSpace::ReturnAll(GroupCommitter& committer, StoreCounters& counters,
                                   const std::function<bool()>& should_stop) {
  std::uint64_t total = 0;
  while (!should_stop()) {
    const std::uint64_t returned = Step(committer, counters);
    if (returned == 0) break;
    total += returned;
    std::this_thread::sleep_for(kPauseBetweenSteps);
  }
  return total;
}

}  // namespace statestore::internal

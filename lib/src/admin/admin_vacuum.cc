// statestore/admin.h: Vacuum — a full rewrite of the file, and the switch to incremental
// auto-vacuum (database_file.h invariant 9) for files created before it.
//
// Why it is an admin operation and not something the Store does by itself: VACUUM holds the
// write lock for as long as it takes to rewrite every live page (seconds per GiB), so every
// writer waits (DESIGN invariant 5 allows that only up to busy_timeout). Files in incremental
// mode never need it: the maintenance thread returns free pages in bounded steps instead
// (free_space.h). An operator runs it once per old file, at a quiet moment.
#include <sqlite3.h>
#include <sys/statvfs.h>

#include <string>

#include "admin/admin_pg.h"
#include "admin/admin_util.h"
#include "sqlite/connection.h"
#include "sqlite/database_file.h"
#include "statestore/admin.h"
#include "statestore/error.h"
#include "statestore/store.h"

namespace statestore {

namespace internal {
namespace {

std::string AutoVacuumName(std::int64_t mode) {
  switch (mode) {
    case 0:
      return "none";
    case 1:
      return "full";
    case 2:
      return "incremental";
    default:
      return "unknown (" + std::to_string(mode) + ")";
  }
}

struct PageCounts {
  std::uint64_t page_size = 0;
  std::uint64_t pages = 0;
  std::uint64_t free_pages = 0;
  std::int64_t auto_vacuum = 0;
};

PageCounts ReadPageCounts(Connection& c) {
  ReadTransaction tx(c);  // one snapshot
  PageCounts p;
  p.page_size = static_cast<std::uint64_t>(c.QueryInt("PRAGMA page_size"));
  p.pages = static_cast<std::uint64_t>(c.QueryInt("PRAGMA page_count"));
  p.free_pages = static_cast<std::uint64_t>(c.QueryInt("PRAGMA freelist_count"));
  p.auto_vacuum = c.QueryInt("PRAGMA auto_vacuum");
  tx.Commit();
  return p;
}

// VACUUM writes every live page into the -wal beside the file: refuse up front rather than
// fill the disk other writers need (a full disk mid-VACUUM rolls back, but meanwhile every
// writer of the file system sees ENOSPC).
void CheckFreeSpace(const std::string& path, std::uint64_t live_bytes) {
  struct statvfs vfs {};
  const std::string dir = path.substr(0, path.find_last_of('/') + 1);
  if (::statvfs(dir.empty() ? "." : dir.c_str(), &vfs) != 0) return;  // let SQLite report it
  const std::uint64_t available = static_cast<std::uint64_t>(vfs.f_bavail) * vfs.f_frsize;
  if (available < live_bytes) {
    throw Error(ErrorCode::kFull, "vacuum of " + path + " needs about " +
                                      std::to_string(live_bytes) + " bytes free beside it (the " +
                                      "live data, rewritten into the -wal); only " +
                                      std::to_string(available) +
                                      " are available. Free some space first; nothing was changed");
  }
}

}  // namespace
}  // namespace internal

VacuumResult Vacuum(Store& store) {
  using namespace internal;
  if (PgStore* pg = AsPgStore(store)) return PgVacuum(*pg);
  const std::string& path = store.path();
  RequireDatabaseFile(path);
  if (store.options().read_only) {
    throw Error(ErrorCode::kReadOnly, path +
                                          " was opened read-only; vacuum rewrites the file — open "
                                          "it read-write (statectl vacuum does)");
  }
  ConnectionConfig config;
  config.path = path;
  config.durability = store.options().durability;
  config.busy_timeout = store.options().busy_timeout;
  Connection c(config);
  CheckFileIdentity(c);  // database_file.h invariants 1, 3, 4: ours, not hostile

  VacuumResult r;
  const PageCounts before = ReadPageCounts(c);
  r.page_size = before.page_size;
  r.pages_before = before.pages;
  r.free_pages_before = before.free_pages;
  r.auto_vacuum_before = AutoVacuumName(before.auto_vacuum);
  r.bytes_before = FileBytes(path);
  CheckFreeSpace(path, (before.pages - before.free_pages) * before.page_size);

  try {
    // Takes effect with the VACUUM that follows (SQLite can change the mode of a file with
    // tables only by rewriting it). Both are constant SQL.
    c.Exec("PRAGMA auto_vacuum = INCREMENTAL");
    c.Exec("VACUUM");
  } catch (const Error& e) {
    if (e.code() != ErrorCode::kBusy) throw;
    throw Error(ErrorCode::kBusy,
                "vacuum of " + path + " needs the write lock; another connection held it for " +
                    "more than busy_timeout (" + std::to_string(config.busy_timeout.count()) +
                    " ms). Nothing was changed; run it again when writers are quieter",
                e.sqlite_code());
  }
  // The main file shrinks when the rewritten pages are checkpointed into it. A reader of an
  // older snapshot can keep that from finishing: the Store's next checkpoint then completes it.
  sqlite3_wal_checkpoint_v2(c.handle(), nullptr, SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr);

  const PageCounts after = ReadPageCounts(c);
  r.pages_after = after.pages;
  r.free_pages_after = after.free_pages;
  r.auto_vacuum_after = AutoVacuumName(after.auto_vacuum);
  r.bytes_after = FileBytes(path);
  return r;
}

}  // namespace statestore

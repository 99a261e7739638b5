// statestore/admin.h: Backup with VACUUM INTO (a compact copy), Restore with SQLite's online
// backup API.
//
// Backup consistency: VACUUM INTO reads the source in one read transaction, so the copy is one
// WAL snapshot; writers are never blocked by it. Only live pages are written: a source with a
// large freelist gives a small copy.
//
// Restore consistency: the source connection opens one read transaction and keeps it across every
// sqlite3_backup_step. In WAL mode that pins one snapshot: pages committed afterwards by other
// connections (threads or processes) are not seen, the pager is not reset between steps, so the
// backup neither restarts nor mixes two revisions. Writers are never blocked by it; only the
// checkpoint cannot move past the pinned snapshot until the copy ends.
//
// The destination side holds its write lock from the first step to sqlite3_backup_finish, and
// the copy commits as one transaction: a reader of the destination sees all of it or none.
//
// Backup writes under a temporary name in the destination's directory (".NAME.backup-XXXXXX",
// created O_EXCL with mode 0600), finishes the copy there, fsyncs it, renames it onto the
// destination with RENAME_NOREPLACE (a destination that appeared meanwhile is never replaced)
// and fsyncs the directory. A backup killed at any moment therefore leaves either no
// destination or a complete one; at worst a hidden temporary file (and its -journal), which no
// later backup or open looks at.
//
// Restore takes the exclusive presence lock on the target (presence_lock.h) for the whole
// restore: it refuses (kBusy) while any Store — of another process or of this one — has the
// target open, and no Store can open it until the restore is over.
#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>

#include "admin/admin_pg.h"
#include "admin/admin_util.h"
#include "postgresql/pg_connection.h"
#include "sqlite/database_file.h"
#include "sqlite/history_log.h"
#include "sqlite/presence_lock.h"
#include "sqlite/shared_generation.h"
#include "sqlite/sqlite_error.h"
#include "sqlite/store_impl.h"
#include "statestore/admin.h"
#include "statestore/error.h"
#include "statestore/store.h"

namespace statestore {

namespace internal {
namespace {

constexpr std::chrono::seconds kLockWait{5};

void CheckStep(int pages_per_step) {
  if (pages_per_step == 0 || pages_per_step < -1) {
    throw Error(ErrorCode::kInvalidArgument,
                "pages_per_step must be positive (or -1 for one step), not " +
                    std::to_string(pages_per_step));
  }
}

std::string RealPath(const std::string& path) {
  char resolved[PATH_MAX];
  if (::realpath(path.c_str(), resolved) == nullptr) return path;
  return resolved;
}

}  // namespace

// admin_util.h: shared with admin_pg_backup.cc.
void RemoveCopy(const std::string& path) {
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) ::unlink((path + suffix).c_str());
}

// "DIR/.NAME.backup-XXXXXX", created O_EXCL|O_CLOEXEC with mode 0600 (mkostemp).
std::string CreateTempBeside(const std::string& dest_path) {
  const std::size_t slash = dest_path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "" : dest_path.substr(0, slash + 1);
  const std::string name = slash == std::string::npos ? dest_path : dest_path.substr(slash + 1);
  std::string pattern = dir + "." + name + ".backup-XXXXXX";
  int fd = ::mkostemp(pattern.data(), O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    throw Error(err == ENOSPC || err == EDQUOT ? ErrorCode::kFull : ErrorCode::kIoError,
                "cannot create a temporary file beside " + dest_path + ": " + std::strerror(err));
  }
  ::close(fd);
  return pattern;
}

void SyncPath(const std::string& path, int flags, const std::string& what) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0 || ::fsync(fd) != 0) {
    const int err = errno;
    if (fd >= 0) ::close(fd);
    throw Error(ErrorCode::kIoError, "cannot fsync " + what + ": " + std::strerror(err));
  }
  ::close(fd);
}

// Renames `from` onto `to` unless `to` exists. Returns false if it exists.
bool RenameNoReplace(const std::string& from, const std::string& to) {
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) {
    return true;
  }
  const int err = errno;
  if (err == EEXIST) return false;
  if (err != EINVAL && err != ENOSYS) {
    throw Error(ErrorCode::kIoError,
                "cannot rename " + from + " to " + to + ": " + std::strerror(err));
  }
  // A file system without RENAME_NOREPLACE: link (fails if `to` exists), then unlink.
  if (::link(from.c_str(), to.c_str()) != 0) {
    const int link_err = errno;
    if (link_err == EEXIST) return false;
    throw Error(ErrorCode::kIoError,
                "cannot link " + from + " to " + to + ": " + std::strerror(link_err));
  }
  ::unlink(from.c_str());
  return true;
}

namespace {

// Copies src (already inside its pinned read transaction) into dest. Returns pages copied.
std::uint64_t RunBackup(sqlite3* dest, sqlite3* src, const std::string& what,
                        const ProgressCallback& progress, int pages_per_step) {
  sqlite3_backup* b = sqlite3_backup_init(dest, "main", src, "main");
  if (b == nullptr) {
    throw ErrorFromSqlite(sqlite3_extended_errcode(dest), what, sqlite3_errmsg(dest));
  }
  auto deadline = std::chrono::steady_clock::now() + kLockWait;
  int rc = SQLITE_OK;
  std::uint64_t pages = 0;
  for (;;) {
    rc = sqlite3_backup_step(b, pages_per_step);
    pages = static_cast<std::uint64_t>(sqlite3_backup_pagecount(b));
    if (rc == SQLITE_OK || rc == SQLITE_DONE) {
      if (progress) {
        progress(pages - static_cast<std::uint64_t>(sqlite3_backup_remaining(b)), pages);
      }
      if (rc == SQLITE_DONE) break;
      deadline = std::chrono::steady_clock::now() + kLockWait;
      continue;
    }
    if ((rc == SQLITE_BUSY || rc == SQLITE_LOCKED) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      continue;
    }
    break;
  }
  sqlite3_backup_finish(b);
  if (rc != SQLITE_DONE) {
    const char* hint = rc == SQLITE_READONLY
                           ? "the target is read-only or its page size differs from the source's"
                           : sqlite3_errstr(rc);
    throw ErrorFromSqlite(rc, what, hint);
  }
  return pages;
}

// Runs `sql` (constant text) on the raw handle `db`; throws Error naming `what`.
void ExecRaw(sqlite3* db, const char* sql, const std::string& what) {
  char* err = nullptr;
  int rc = sqlite3_exec(db, sql, nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    throw ErrorFromSqlite(rc, what, msg);
  }
}

// The first column of the first row of `sql` (constant text) on the raw handle `db`, as text
// ("" for no row or NULL); throws Error naming `what`.
std::string QueryTextRaw(sqlite3* db, const char* sql, const std::string& what) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr);
  std::string text;
  if (rc == SQLITE_OK) {
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
      const unsigned char* t = sqlite3_column_text(stmt, 0);
      text = t ? reinterpret_cast<const char*>(t) : "";
      rc = SQLITE_OK;
    }
  }
  sqlite3_finalize(stmt);
  if (rc != SQLITE_OK && rc != SQLITE_DONE) {
    throw ErrorFromSqlite(sqlite3_extended_errcode(db), what, sqlite3_errmsg(db));
  }
  return text;
}

// After a copy: WAL mode (the header says so already) and everything checkpointed into the
// main file. A failed checkpoint (readers holding old snapshots) only leaves a -wal behind.
void Finalize(sqlite3* db, const std::string& what) {
  ExecRaw(db, "PRAGMA journal_mode = WAL", what);
  sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", nullptr, nullptr, nullptr);
}

// A WAL-mode target cannot take another page size: sqlite3_backup_step would fail with
// SQLITE_READONLY. That happens when a backup of a file made before new files got
// kNewFilePageSize pages (database_file.h invariant 10) is restored onto a newer file, or the
// reverse. REQUIRES: the target's exclusive presence lock, so no other connection has it open
// and it may leave WAL mode for the copy; the copied header (the source is in WAL mode) puts it
// back, and Finalize checkpoints. In rollback-journal mode the copy is still one transaction:
// a restore killed midway leaves a hot journal that the next open rolls back to the old target.
void AllowPageSizeChange(sqlite3* dest, std::int64_t source_page_size, const std::string& what) {
  if (std::stoll("0" + QueryTextRaw(dest, "PRAGMA page_size", what)) == source_page_size) return;
  ExecRaw(dest, "PRAGMA journal_mode = DELETE", what);
}

struct SqliteCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using SqliteHandle = std::unique_ptr<sqlite3, SqliteCloser>;

SqliteHandle OpenRaw(const std::string& path, const std::string& what) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
  SqliteHandle handle(db);
  if (rc != SQLITE_OK) {
    throw ErrorFromSqlite(rc, what, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  }
  sqlite3_extended_result_codes(db, 1);
  sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, nullptr);
  sqlite3_db_config(db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, nullptr);
  sqlite3_busy_timeout(db, static_cast<int>(kLockWait.count() * 1000));
  sqlite3_exec(db, "PRAGMA synchronous = FULL", nullptr, nullptr, nullptr);
  return handle;
}

// The compact copy: VACUUM INTO reads `src` in one read transaction (one snapshot, whatever
// other connections commit meanwhile) and writes only the live pages into `temp`, which must
// be empty (CreateTempBeside made it). The path is a bound parameter, never SQL text.
// The copy is in incremental auto-vacuum mode (database_file.h invariant 9) even when the
// source predates it: VACUUM INTO gives its output the mode this connection asked for. The
// pragma is issued only for a NONE source, where SQLite records it on the connection and
// writes nothing (for a FULL or INCREMENTAL source it would try to write the header, which this
// read-only connection may not).
// The copy has kNewFilePageSize pages (database_file.h invariant 10) whatever the source's:
// VACUUM INTO takes the page size asked on this connection, and on a file whose page size is
// fixed the pragma only records it (no write). So backup + restore converts an older 4 KiB file.
void CopyCompact(Connection& src, const std::string& temp, const std::string& what) {
  if (src.QueryInt("PRAGMA auto_vacuum") == 0) src.Exec("PRAGMA auto_vacuum = INCREMENTAL");
  // PRAGMA takes no bound parameters; the number is a constant.
  src.Exec(("PRAGMA page_size = " + std::to_string(kNewFilePageSize)).c_str());
  CallSqlite(what.c_str(), [&] {
    SQLite::Statement q(src.database(), "VACUUM INTO ?1");
    q.bind(1, temp);
    q.exec();
  });
}

// The copy must open as a statestore database and pass quick_check before it gets its name.
// Fills result's revision (the snapshot VACUUM INTO read) and pages.
void CheckCopy(sqlite3* db, const std::string& temp, const std::string& what,
               BackupResult* result) {
  auto query = [&](const char* sql) { return QueryTextRaw(db, sql, what); };
  const std::string check = query("PRAGMA quick_check");
  if (check != "ok") {
    throw Error(ErrorCode::kCorruption,
                what + ": the copy " + temp + " failed quick_check (" + check + ")");
  }
  if (std::stoll("0" + query("PRAGMA application_id")) != kApplicationId) {
    throw Error(ErrorCode::kCorruption, what + ": the copy is not a statestore database");
  }
  result->pages = std::stoull("0" + query("PRAGMA page_count"));
  result->revision =
      std::stoull("0" + query("SELECT value FROM meta WHERE name = 'head_revision'"));
}

}  // namespace
}  // namespace internal

BackupResult Backup(Store& store, const std::string& dest_path, const ProgressCallback& progress,
                    int pages_per_step) {
  using namespace internal;
  CheckStep(pages_per_step);
  if (PgStore* pg = AsPgStore(store)) return PgBackupToSqlite(*pg, dest_path, progress);
  if (dest_path.empty()) throw Error(ErrorCode::kInvalidArgument, "backup destination is empty");
  struct stat st {};
  if (::lstat(dest_path.c_str(), &st) == 0) {
    throw Error(ErrorCode::kInvalidArgument,
                dest_path + " already exists; back up into a new file (remove it first)");
  }
  const std::string what = "backup of " + store.path() + " to " + dest_path + " failed";
  auto src = OpenAdminConnection(store.path());
  if (progress) {
    const auto live = src->QueryInt("PRAGMA page_count") - src->QueryInt("PRAGMA freelist_count");
    progress(0, static_cast<std::uint64_t>(live));
  }
  const std::string temp = CreateTempBeside(dest_path);
  BackupResult result;
  try {
    CopyCompact(*src, temp, what);
    src.reset();
    {
      SqliteHandle dest = OpenRaw(temp, what);
      Finalize(dest.get(), what);
      CheckCopy(dest.get(), temp, what, &result);
    }  // closed: the last connection checkpoints and removes the copy's -wal and -shm
    if (FileBytes(temp + "-wal") != 0) {
      throw Error(ErrorCode::kIoError, what + ": the copy's WAL could not be checkpointed");
    }
    SyncPath(temp, O_RDONLY, temp);
    if (!RenameNoReplace(temp, dest_path)) {
      throw Error(ErrorCode::kInvalidArgument,
                  dest_path + " appeared while the backup ran; it was left alone");
    }
  } catch (...) {
    RemoveCopy(temp);
    throw;
  }
  const std::size_t slash = dest_path.find_last_of('/');
  SyncPath(slash == std::string::npos ? "." : dest_path.substr(0, slash + 1),
           O_RDONLY | O_DIRECTORY, "the directory of " + dest_path);
  result.bytes = FileBytes(dest_path);
  if (progress) progress(result.pages, result.pages);
  return result;
}

BackupResult Restore(const std::string& source_path, const std::string& target_path,
                     const ProgressCallback& progress, int pages_per_step,
                     const PostgresOptions& postgres) {
  using namespace internal;
  CheckStep(pages_per_step);
  if (source_path.empty() || target_path.empty()) {
    throw Error(ErrorCode::kInvalidArgument, "restore needs a source and a target path");
  }
  if (IsPostgresConninfo(target_path)) {
    return PgRestoreFromSqlite(source_path, target_path, progress, postgres);
  }
  RefuseSchemaForFile(postgres);
  if (IsPostgresConninfo(source_path)) {
    throw Error(ErrorCode::kInvalidArgument,
                "restore copies a database file; " + source_path +
                    " is a PostgreSQL store. Back it up to a file first (statectl backup URI "
                    "FILE writes an SQLite statestore file), then restore or open that file");
  }
  Options ro;
  ro.read_only = true;
  const std::string source = PrepareDatabasePath(source_path, ro);
  Options rw;
  rw.create_if_missing = true;
  const std::string target = PrepareDatabasePath(target_path, rw);
  if (RealPath(source) == RealPath(target)) {
    throw Error(ErrorCode::kInvalidArgument, "cannot restore " + source + " onto itself");
  }
  const std::string what = "restore of " + target + " from " + source + " failed";
  // A Store of this process: refuse before opening a descriptor of the target, whose closing
  // would drop that Store's SQLite locks (presence_lock.h invariant 2).
  if (IsOpenInThisProcess(target)) {
    throw Error(ErrorCode::kBusy, "this process has " + target +
                                      " open as a Store; release it before restoring (nothing "
                                      "was changed)");
  }
  // Held until the end: no Store of any process can open the target meanwhile. Declared before
  // every connection to the target, so it is closed after them.
  auto presence = PresenceLock::Open(target, /*writable=*/true);
  if (presence->file_stat().st_nlink > 1) {
    throw Error(ErrorCode::kInvalidArgument,
                target + " has " + std::to_string(presence->file_stat().st_nlink) +
                    " hard links; restore into a file with one name (nothing was changed)");
  }
  presence->LockExclusive("restoring");

  auto src = OpenAdminConnection(source);
  ReadTransaction pin(*src);
  if (src->QueryInt("PRAGMA user_version") < 1) {
    throw Error(ErrorCode::kCorruption,
                source + ": empty database, not a statestore backup; nothing was changed");
  }
  std::string check = CallSqlite("PRAGMA quick_check failed", [&] {
    return src->database().execAndGet("PRAGMA quick_check").getString();
  });
  if (check != "ok") {
    throw Error(ErrorCode::kCorruption,
                source + " is damaged (quick_check: " + check + "); nothing was changed");
  }
  BackupResult result;
  result.revision = ReadHistoryBounds(*src).head;

  // The target must be ours (or empty) before we overwrite it.
  {
    ConnectionConfig config;
    config.path = target;
    config.read_only = true;
    Connection probe(config);
    CheckFileIdentity(probe);
  }
  SqliteHandle dest = OpenRaw(target, what);
  AllowPageSizeChange(dest.get(), src->QueryInt("PRAGMA page_size"), what);
  try {
    result.pages = RunBackup(dest.get(), src->handle(), what, progress, pages_per_step);
  } catch (const Error&) {
    // The copy rolled back; a target AllowPageSizeChange took out of WAL mode goes back to it,
    // so that read-only opens (which never switch modes) keep working. Best effort: the next
    // read-write open switches it anyway.
    sqlite3_exec(dest.get(), "PRAGMA journal_mode = WAL", nullptr, nullptr, nullptr);
    throw;
  }
  pin.Commit();
  Finalize(dest.get(), what);
  dest.reset();
  // No process maps the counter (the presence lock says so); a fresh value still tells any
  // process of an older statestore version that the file changed.
  SharedGeneration::Reseed(target);
  result.bytes = FileBytes(target);
  return result;
}

}  // namespace statestore

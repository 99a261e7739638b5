#include "sqlite/database_file.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <thread>

#include "sqlite/migration_steps.h"
#include "sqlite/migrations.h"
#include "sqlite/sql_transaction.h"
#include "statestore/error.h"
#include "statestore/version.h"

namespace statestore::internal {

namespace {

[[noreturn]] void ThrowErrno(ErrorCode code, const std::string& what) {
  throw Error(code, what + ": " + std::strerror(errno));
}

bool IsNetworkFileSystem(long type) {
  // Magic numbers from statfs(2); the SMB/CIFS ones are not in every <linux/magic.h>.
  switch (static_cast<unsigned long>(type)) {
    case NFS_SUPER_MAGIC:
    case 0xFF534D42UL:  // CIFS
    case 0xFE534D42UL:  // SMB2
    case 0x517BUL:      // SMB
    case 0x6B414653UL:  // AFS
    case 0x65735546UL:  // FUSE (sshfs and friends cannot share WAL memory either)
    case 0x564C:        // NCP
    case 0x01021997UL:  // 9P (v9fs)
      return true;
    default:
      return false;
  }
}

}  // namespace

std::string PrepareDatabasePath(const std::string& path, const Options& options) {
  if (path.empty()) throw Error(ErrorCode::kInvalidArgument, "database path is empty");
  if (path == ":memory:" || path.rfind("file:", 0) == 0 || path.find('\0') != std::string::npos) {
    throw Error(ErrorCode::kInvalidArgument,
                "database path '" + path +
                    "' is not a file path (in-memory databases and URIs cannot be shared between "
                    "connections; use a file)");
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno != ENOENT) ThrowErrno(ErrorCode::kIoError, "cannot stat " + path);
    if (options.read_only || !options.create_if_missing) {
      throw Error(ErrorCode::kNotFound, path + ": no such database file" +
                                            (options.read_only ? " (opened read-only)" : ""));
    }
    // Create it ourselves so the mode is 0600; SQLite gives -wal and -shm the same mode.
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0 && errno != EEXIST) ThrowErrno(ErrorCode::kIoError, "cannot create " + path);
    if (fd >= 0) ::close(fd);
    if (::stat(path.c_str(), &st) != 0) ThrowErrno(ErrorCode::kIoError, "cannot stat " + path);
  }
  if (!S_ISREG(st.st_mode)) {
    throw Error(ErrorCode::kInvalidArgument, path + ": not a regular file");
  }
  struct statfs fs {};
  if (::statfs(path.c_str(), &fs) == 0 && IsNetworkFileSystem(fs.f_type)) {
    throw Error(ErrorCode::kInvalidArgument,
                path +
                    ": on a network or FUSE file system; SQLite's WAL mode needs every process "
                    "on one host with shared memory beside the file — use a local disk");
  }
  char resolved[PATH_MAX];
  if (::realpath(path.c_str(), resolved) == nullptr) {
    ThrowErrno(ErrorCode::kIoError, "cannot resolve " + path);
  }
  return resolved;
}

namespace {

std::uint64_t SizeOf(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
}

std::string HardLinkAdvice(const std::string& path, nlink_t links) {
  return path + " has " + std::to_string(links) +
         " hard links. SQLite names its -wal and -shm files after the path, not the file, so "
         "each name gets its own WAL and commits made through one name are lost to processes "
         "using another (SQLite's documentation advises against hard links). Keep one name: "
         "remove the other links (`find / -samefile " +
         path + "` lists them) or make a copy with `statectl backup`, then open it again";
}

// Invariant 6 for -wal and -shm: lstat only (see the header).
void CheckSideFile(const std::string& db_path, const char* suffix) {
  const std::string path = db_path + suffix;
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return;  // absent: SQLite creates it
  if (!S_ISREG(st.st_mode)) {
    throw Error(ErrorCode::kInvalidArgument,
                path + " is not a regular file (" +
                    (S_ISLNK(st.st_mode)    ? "a symbolic link"
                     : S_ISFIFO(st.st_mode) ? "a FIFO"
                     : S_ISDIR(st.st_mode)  ? "a directory"
                                            : "a special file") +
                    "); SQLite keeps its " +
                    (suffix[1] == 'w' ? "write-ahead log" : "shared memory") +
                    " there. Remove it (while no process has " + db_path +
                    " open) and open the database again");
  }
  if (st.st_nlink > 1) throw Error(ErrorCode::kInvalidArgument, HardLinkAdvice(path, st.st_nlink));
}

}  // namespace

void CheckDatabaseFiles(const std::string& path, const struct stat& st, const Options& options) {
  if (st.st_nlink > 1) throw Error(ErrorCode::kInvalidArgument, HardLinkAdvice(path, st.st_nlink));
  CheckSideFile(path, "-wal");
  CheckSideFile(path, "-shm");
  if (options.read_only && st.st_size == 0 && SizeOf(path + "-wal") == 0) {
    throw Error(ErrorCode::kCorruption,
                path +
                    ": empty file, not a statestore database (a read-write open would "
                    "initialize it as a new, empty store)");
  }
}

bool NeedsImmutableOpen(const std::string& path) {
  const std::string shm = path + "-shm";
  const std::string wal = path + "-wal";
  const std::string dir = path.substr(0, path.find_last_of('/') + 1);
  struct stat shm_st {};
  struct stat wal_st {};
  const bool shm_exists = ::lstat(shm.c_str(), &shm_st) == 0;
  const bool wal_exists = ::lstat(wal.c_str(), &wal_st) == 0;
  // Could SQLite create (or write) the -shm? faccessat(AT_EACCESS) asks with the effective ids
  // and reports EROFS on a read-only mount even to root. No descriptor is opened (header).
  const bool shm_usable =
      shm_exists
          ? ::faccessat(AT_FDCWD, shm.c_str(), R_OK | W_OK, AT_EACCESS) == 0
          : ::faccessat(AT_FDCWD, dir.empty() ? "." : dir.c_str(), W_OK | X_OK, AT_EACCESS) == 0;
  if (shm_usable) return false;
  // SQLite reads a WAL (empty or not) through an existing, read-only -shm by itself; and a live
  // writer always has both files, so in the cases below nobody can be writing the file.
  if (shm_exists && wal_exists) return false;
  const std::uint64_t wal_bytes = wal_exists ? static_cast<std::uint64_t>(wal_st.st_size) : 0;
  if (wal_bytes == 0) return true;  // the main file holds every commit
  throw Error(ErrorCode::kReadOnly,
              path + " is on read-only storage and its -wal holds " + std::to_string(wal_bytes) +
                  " bytes of commits that are not in the main file yet; SQLite cannot read them "
                  "without creating " +
                  shm + ". Copy " + path + " and " + wal +
                  " together to writable storage and open the copy there");
}

namespace {

struct FileIdentity {
  std::int64_t application_id = 0;
  std::int64_t user_version = 0;
  std::int64_t schema_objects = 0;
};

FileIdentity ReadIdentity(Connection& c) {
  FileIdentity id;
  // The first read parses the header and page 1: a non-SQLite or truncated file fails here with
  // SQLITE_NOTADB / SQLITE_CORRUPT, before anything was written (invariant 1).
  id.schema_objects =
      c.QueryInt("SELECT count(*) FROM sqlite_schema", "cannot read the database header");
  id.application_id = c.QueryInt("PRAGMA application_id", "cannot read the database header");
  id.user_version = c.QueryInt("PRAGMA user_version", "cannot read the database header");
  return id;
}

void RefuseUnlessOurs(const FileIdentity& id, const std::string& path) {
  bool empty = id.schema_objects == 0 && id.application_id == 0 && id.user_version == 0;
  if (!empty && id.application_id != kApplicationId) {
    throw Error(ErrorCode::kCorruption,
                path + ": not a statestore database (SQLite application_id " +
                    std::to_string(id.application_id) + ", " + std::to_string(id.schema_objects) +
                    " schema objects); refusing to touch it");
  }
  if (id.user_version > SchemaVersion()) {
    throw Error(ErrorCode::kSchemaTooNew,
                path + ": schema version " + std::to_string(id.user_version) +
                    " was written by a newer statestore; this library (" + LibraryVersion() +
                    ") understands up to " + std::to_string(SchemaVersion()) +
                    ". Upgrade the library; the file was not changed");
  }
}

// Invariant 4. Reads sqlite_schema only (safe with trusted_schema=OFF: parsing a schema runs none
// of its SQL).
void RefuseHostileSchema(Connection& c, const FileIdentity& id) {
  static constexpr const char* kTables[] = {"keyspaces", "entries", "meta", "commits", "changes"};
  CallSqlite("cannot read the database schema", [&] {
    StatementUse q(c, "SELECT type, name, coalesce(sql, '') FROM sqlite_schema");
    std::size_t found = 0;
    while (q->executeStep()) {
      const std::string type = q->getColumn(0).getString();
      const std::string name = q->getColumn(1).getString();
      const std::string sql = q->getColumn(2).getString();
      if (type == "trigger" || type == "view") {
        throw Error(ErrorCode::kCorruption,
                    c.path() + ": unexpected " + type + " '" + name +
                        "' in schema; statestore databases have none, so this file was altered "
                        "(possibly to run code when it is read or written); refusing to use it");
      }
      if (type == "table" && sql.size() >= 14 &&
          sqlite3_strnicmp(sql.c_str(), "CREATE VIRTUAL", 14) == 0) {
        throw Error(ErrorCode::kCorruption, c.path() + ": unexpected virtual table '" + name +
                                                "' in schema; refusing to use this file");
      }
      for (const char* t : kTables) {
        if (name == t) {
          if (type != "table") {
            throw Error(ErrorCode::kCorruption,
                        c.path() + ": schema object '" + name + "' is a " + type + ", not a table");
          }
          ++found;
        }
      }
    }
    if (id.user_version >= 1 && found != std::size(kTables)) {
      throw Error(ErrorCode::kCorruption,
                  c.path() + ": schema version " + std::to_string(id.user_version) +
                      " but some statestore tables are missing; the file is damaged");
    }
  });
}

// Invariants 9 and 10. Only for a file with no table yet: SQLite fixes the page size and the
// auto-vacuum mode when it writes page 1, which the switch to WAL does. The pragmas themselves
// write nothing (invariant 1). PRAGMA takes no bound parameters; the number is a constant.
void SetNewFileLayout(Connection& c) {
  c.Exec(("PRAGMA page_size = " + std::to_string(kNewFilePageSize)).c_str());
  c.Exec("PRAGMA auto_vacuum = INCREMENTAL");
}

void SwitchToWal(Connection& c, const Options& options) {
  // Changing the journal mode needs a moment of exclusive access; another process opening the
  // same new file at the same time can make it fail with SQLITE_BUSY, so retry within the
  // busy timeout.
  auto deadline = std::chrono::steady_clock::now() + options.busy_timeout;
  for (;;) {
    try {
      std::string mode = CallSqlite("cannot switch to WAL mode", [&] {
        StatementUse q(c, "PRAGMA journal_mode = WAL");
        q->executeStep();
        std::string result = q->getColumn(0).getString();
        // The row comes before the implicit COMMIT that makes the switch durable; only stepping
        // to the end runs that commit and reports its I/O error (a reset would swallow it, and
        // the file would stay in rollback-journal mode behind an open that "succeeded").
        while (q->executeStep()) {
        }
        return result;
      });
      if (mode == "wal") return;
      throw Error(ErrorCode::kInvalidArgument,
                  c.path() + ": SQLite refused WAL mode (journal_mode is '" + mode +
                      "'); statestore needs a local file system that supports shared memory");
    } catch (const Error& e) {
      if (e.code() != ErrorCode::kBusy || std::chrono::steady_clock::now() >= deadline) throw;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
}

void Migrate(Connection& c, const std::string& path, MigrationContext& context) {
  WriteTransaction tx(c);
  FileIdentity id = ReadIdentity(c);  // again, under the write lock (invariant 2)
  RefuseUnlessOurs(id, path);
  for (int i = static_cast<int>(id.user_version); i < kMigrationCount; ++i) {
    const Migration& m = kMigrations[i];
    CallSqlite(("migration " + std::to_string(m.number) + " (" + m.name + ") failed").c_str(),
               [&] { c.Exec(m.sql); });
    RunMigrationStep(m.number, c, context);
    // PRAGMA takes no bound parameters; the number comes from the embedded table.
    c.Exec(("PRAGMA user_version = " + std::to_string(m.number)).c_str());
  }
  if (id.application_id != kApplicationId) {
    c.Exec(("PRAGMA application_id = " + std::to_string(kApplicationId)).c_str());
  }
  tx.Commit();
}

}  // namespace

int CheckFileIdentity(Connection& c) {
  FileIdentity id = ReadIdentity(c);
  RefuseUnlessOurs(id, c.path());
  RefuseHostileSchema(c, id);
  return static_cast<int>(id.user_version);
}

namespace {

// The redaction key for an open of `c`, checked against the fingerprint the file records.
RedactionKey ResolveKeyForOpen(Connection& c, const Options& options) {
  const std::optional<std::int64_t> recorded =
      CallSqlite("cannot read the redaction key fingerprint", [&]() -> std::optional<std::int64_t> {
        StatementUse q(c, "SELECT value FROM meta WHERE name = 'redaction_key_fingerprint'");
        if (!q->executeStep()) return std::nullopt;
        return q->getColumn(0).getInt64();
      });
  return ResolveForOpen(c.path(), recorded, options);
}

}  // namespace

RedactionKey CheckAndMigrate(Connection& c, const Options& options) {
  FileIdentity id = ReadIdentity(c);
  RefuseUnlessOurs(id, c.path());
  RefuseHostileSchema(c, id);
  if (options.read_only) {
    c.VerifyWal();
    if (id.user_version < SchemaVersion()) {
      throw Error(ErrorCode::kReadOnly,
                  c.path() + ": schema version " + std::to_string(id.user_version) +
                      " needs migrating to " + std::to_string(SchemaVersion()) +
                      "; open it once read-write (or run `statectl migrate`)");
    }
    return ResolveKeyForOpen(c, options);
  }
  // A file whose digests are keyed is refused without its key before anything is written
  // (redaction_key.h invariant 2).
  RedactionKey key;
  if (id.user_version >= kKeyedDigestsSchemaVersion) key = ResolveKeyForOpen(c, options);
  if (id.schema_objects == 0 && id.user_version == 0) SetNewFileLayout(c);
  SwitchToWal(c, options);
  if (id.user_version < SchemaVersion() || id.application_id != kApplicationId) {
    MigrationContext context{options, &key};
    Migrate(c, c.path(), context);
  }
  // Another process may have migrated the file while we waited for the lock.
  if (!key.available()) key = ResolveKeyForOpen(c, options);
  return key;
}

}  // namespace statestore::internal

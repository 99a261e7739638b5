// Opening a database file: the checks that decide whether statestore may touch it, and the
// migrations that bring its schema up to date.
//
// Crash/refusal invariants:
//   1. Every check that can refuse a file (not SQLite, damaged, foreign application, newer
//      schema) runs before anything is written to it — before the switch to WAL mode — so a
//      refused file is left byte-for-byte unchanged.
//   2. All pending migrations run in one IMMEDIATE transaction together with the user_version
//      update: a crash leaves the old schema or the new one, never a mix. Concurrent openers
//      serialize on that lock and re-read user_version inside it, so each migration runs once.
//   3. A statestore database carries application_id kApplicationId; a non-empty SQLite file
//      without it is refused as foreign, never "initialized" over.
//   4. Hostile schemas: before anything reads or writes a user table, the schema is checked to hold
//      no trigger, no view and no virtual table, and the statestore tables (when the schema
//      version says they exist) to be ordinary tables. A trigger would run SQL on our writes and a
//      view could call functions on our reads; such a file is refused with kCorruption, unchanged.
//   5. A read-only open never writes the main database file: no WAL switch, no migration (SQLite
//      itself may create the -wal/-shm sidecar files).
//   6. One name per file. SQLite names -wal and -shm after the path it was given, not after the
//      file, so a database reached through two hard links gets two WALs, and commits made through
//      one name are lost to the other (SQLite's "How To Corrupt" page advises against hard links).
//      A database file with more than one link is refused, and so are a -wal or -shm that is
//      not a regular file with one link (checked with lstat: opening and closing them here
//      would drop this process's SQLite locks on them, presence_lock.h invariant 2).
//   7. An empty (0-byte) file: a read-write open initializes it, as SQLite would, because a
//      crash or power loss while statestore creates a database can leave one (the file is
//      created before SQLite writes its first page); a read-only open refuses it as "empty file,
//      not a statestore database" (kCorruption, like other files that are not ours).
//   8. Read-only media: when SQLite could not create or write the -shm (a read-only directory or
//      mount) and there is not both an -shm and a -wal it can read read-only, a read-only open
//      uses SQLite's immutable=1 — only if the -wal is absent or empty, so that the main file
//      holds every commit (and no process can be writing: a live writer has both files). A
//      non-empty -wal without an -shm holds commits immutable would ignore: such an open is
//      refused with what to do instead.
//   9. A new file (no table yet) is created with auto_vacuum=INCREMENTAL, before the switch to
//      WAL writes its first page, so that the pages history retention and session sweeps free
//      can be handed back to the file system in small steps (free_space.h). An existing file
//      keeps its mode: SQLite can change it only by rewriting the file (VACUUM, statectl
//      vacuum; statestore/admin.h Vacuum).
//  10. A new file is created with kNewFilePageSize-byte pages, not SQLite's default 4 KiB. A
//      commit dirties a handful of pages in different trees (the entry, its change row, the
//      change index, the commit row, the head) and the WAL takes each whole, so the page size
//      sets the bytes a commit writes and fsyncs. Measured (durability bench, same machine and
//      hour, README "Page size"): WAL bytes per commit 29.6 KB -> 11.3 KB with one writer and
//      8.4 KB -> 3.0 KB at 16 writers; bytes written per web-service request roughly halved. The
//      price: ~10-15% more CPU per lone commit (10.8 frames instead of 7.2: smaller pages split
//      more often) and ~20% slower uncached reads while a writer commits (a commit drops the
//      readers' page caches, and the tree is deeper); cached reads do not touch pages. Rows over
//      ~230 bytes go to overflow pages, which still write fewer bytes than a 4 KiB leaf. An
//      existing file keeps its page size (WAL mode cannot change it); a backup is written with
//      kNewFilePageSize pages and a restore gives the target its source's page size
//      (admin_backup.cc), so backup + restore converts an older file.
#ifndef STATESTORE_SRC_DATABASE_FILE_H_
#define STATESTORE_SRC_DATABASE_FILE_H_

#include <sys/stat.h>

#include <string>

#include "core/redaction_key.h"
#include "sqlite/connection.h"
#include "statestore/options.h"

namespace statestore::internal {

// 'STST'
inline constexpr int kApplicationId = 0x53545354;

// Page size of a new database file (invariant 10).
inline constexpr int kNewFilePageSize = 1024;

// Validates `path`, creates the file (mode 0600) if missing and allowed, and returns its
// canonical absolute path. Refuses network file systems (WAL needs shared memory on one host).
// Throws: Error(kNotFound, kInvalidArgument, kIoError).
std::string PrepareDatabasePath(const std::string& path, const Options& options);

// Invariants 6 and 7 for a database file whose descriptor's fstat is `st`.
// Throws: Error(kInvalidArgument) for extra links or a bad side file; kCorruption for an empty
// file opened read-only.
void CheckDatabaseFiles(const std::string& canonical_path, const struct stat& st,
                        const Options& options);

// Invariant 8, for a read-only open: true when SQLite must open the file with immutable=1.
// Throws: Error(kReadOnly) when the -shm cannot be used and the -wal holds commits.
bool NeedsImmutableOpen(const std::string& canonical_path);

// Runs the checks of invariant 1 on a fresh connection, switches to WAL and migrates
// (invariant 2); in read-only mode only checks. Returns the redaction key for the file
// (redaction_key.h; unavailable only when read-only). Throws: Error (kCorruption,
// kSchemaTooNew, kInvalidArgument for a missing or different redaction key, ...).
RedactionKey CheckAndMigrate(Connection& connection, const Options& options);

// Only the checks of invariants 1, 3 and 4 (no WAL check, no schema-version floor); writes
// nothing. Returns the schema version (PRAGMA user_version; 0 for an empty file). For tools that
// must look at a file which may need migrating (statectl migrate --status, restore).
// Throws: Error(kCorruption, kSchemaTooNew, kIoError).
int CheckFileIdentity(Connection& connection);

}  // namespace statestore::internal

#endif  // STATESTORE_SRC_DATABASE_FILE_H_

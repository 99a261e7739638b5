// WalWriteBuffer — an SQLite VFS shim that hands a transaction's WAL frames to the operating
// system in one write instead of two per page.
//
// Why (issue 12's cost per commit). SQLite writes each WAL frame as two pwrite() calls, its
// 24-byte header and then the page. A lone commit of the durability bench writes ~9 frames of
// 1 KiB: 18 system calls, about 40% of the commit's CPU on the 2-core VM (perf), more than all
// SQL execution. The bytes are the same either way; only the number of calls changes.
//
// What it does. Every connection statestore opens goes through a shim over the VFS it would have
// used (Options::vfs, or SQLite's default at that moment): ShimVfsName() registers one per
// underlying VFS and returns its name. A -wal file collects *appended* writes in memory and
// writes them out with one call at the points below; the main database file is the underlying
// file with one method watched (xShmLock, for invariant 6); every other file is the underlying
// VFS's own object.
//
// Invariants (each is what keeps SQLite's own guarantees unchanged):
//   1. Collected bytes are written out, and any error returned from that very call, when the
//      page of a commit frame (a frame header whose "database size" field is non-zero) has been
//      collected. SQLite publishes a commit to other connections (the wal-index header) only
//      after sqlite3WalFrames() has written every frame, so no reader, in this process or
//      another, can be pointed at a frame that is not in the file, and a commit SQLite
//      acknowledges is in the operating system's hands, as without the shim (synchronous=NORMAL
//      survives a process crash). A failed write fails the commit, as SQLite's own would.
//   2. Only appends are collected: a write inside the offsets the open transaction already
//      wrote (SQLite rewriting a spilled frame in place), and after such a transaction's commit
//      the rewrite of its frames' checksums, write the collected bytes out and then go straight
//      to the file. So a rewrite is never held back after the commit that needs it.
//   3. xSync, xRead, xTruncate, xFileSize, xFileControl and xFetch write the collected bytes out
//      first: during a transaction the file never looks shorter or older than what SQLite wrote.
//   4. At most kCapacity (64 KiB) bytes are held; a larger transaction is written out in pieces
//      (frames of a transaction that is not committed are never read by another connection).
//   5. A process killed while bytes are held loses only frames of a commit that was not yet
//      acknowledged (invariant 1): what SQLite's recovery discards anyway.
//   6. Bytes are held only while the connection holds the WAL write lock. When SQLite takes or
//      releases it (xShmLock of slot 0 on the database file), and when the -wal is closed,
//      whatever is still held belongs to a transaction that ended without a commit frame (a
//      rollback after SQLite spilled frames): it is dropped, never written. Written later, it
//      could land on frames that another connection committed since. A -wal whose database file
//      the shim did not see open collects nothing.
#ifndef STATESTORE_SRC_SQLITE_WAL_WRITE_BUFFER_H_
#define STATESTORE_SRC_SQLITE_WAL_WRITE_BUFFER_H_

#include <string>

namespace statestore::internal {

// The name of the shim over the VFS named `underlying` (empty: SQLite's default now), registered
// on first use and kept for the life of the process. Throws Error(kInvalidArgument) when no such
// VFS is registered.
std::string ShimVfsName(const std::string& underlying);

}  // namespace statestore::internal

#endif  // STATESTORE_SRC_SQLITE_WAL_WRITE_BUFFER_H_

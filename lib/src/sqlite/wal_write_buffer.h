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
// underlying VFS and returns its name. Files other than a -wal are the underlying VFS's own
// objects (no shim method in their path). A -wal file collects *appended* writes in memory and
// writes them out with one call at the points below; every other method writes the collected
// bytes out first and then passes through.
//
// Invariants (each is what keeps SQLite's own guarantees unchanged):
//   1. Collected bytes are written out, and any error returned from that very call, when the
//      page of a commit frame (a frame header whose "database size" field is non-zero) has been
//      collected. SQLite publishes a commit to other connections (the wal-index header) only
//      after sqlite3WalFrames() has written every frame, so no reader, in this process or
//      another, can be pointed at a frame that is not in the file, and a commit SQLite
//      acknowledges is in the operating system's hands, as without the shim (synchronous=NORMAL
//      survives a process crash). A failed write fails the commit, as SQLite's own would.
//   2. Only appends are collected: a write at an offset below the end of what this connection
//      wrote since the WAL's header (SQLite rewriting a frame of the open transaction, or its
//      checksums after the commit frame) writes the collected bytes out, then goes straight to
//      the file. So a rewrite is never held back after the commit that needs it.
//   3. xSync, xRead, xTruncate, xFileSize, xFileControl, xFetch and xClose write the collected
//      bytes out first: the file never looks shorter or older than what SQLite wrote to it.
//   4. At most kCapacity (64 KiB) bytes are held; a larger transaction is written out in pieces
//   (frames
//      of a transaction that is not committed are never read by anyone, as without the shim).
//   5. A process killed while bytes are held loses only frames of a commit that was not yet
//      acknowledged (invariant 1): what SQLite's recovery discards anyway.
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

// A counting SQLite VFS for statestore_durability_bench: what each commit costs in file writes
// and syncs, measured the same way for statestore and for the raw-SQLite peers.
//
// Install() registers a shim around the default VFS ("unix") as the new default VFS, so every
// connection opened afterwards in this process goes through it -- statestore's too, which opens
// its files with the default VFS. The shim forwards every call unchanged and counts, per file
// kind (from the xOpen flags), xWrite calls and bytes and xSync calls, with relaxed atomics:
// the counters are read before and after a measured interval, never used to order anything.
// Connections opened before Install() are not counted.
#ifndef STATESTORE_BENCH_COUNTING_VFS_H_
#define STATESTORE_BENCH_COUNTING_VFS_H_

#include <cstdint>

namespace statestore::bench {

struct FileCounts {
  std::uint64_t writes = 0;       // xWrite calls
  std::uint64_t write_bytes = 0;  // bytes passed to xWrite
  std::uint64_t syncs = 0;        // xSync calls (one may be an fsync of the file and its directory)
};

struct VfsCounts {
  FileCounts main_db;  // SQLITE_OPEN_MAIN_DB: checkpoints write here in WAL mode
  FileCounts wal;      // SQLITE_OPEN_WAL: every commit writes here
  FileCounts other;    // rollback journals, temp files, ...
  // Page size in the header of the last WAL file written (0 if none yet): each WAL frame is a
  // 24-byte frame header plus one page.
  std::uint32_t wal_page_size = 0;

  std::uint64_t syncs() const { return main_db.syncs + wal.syncs + other.syncs; }
};

// Registers the counting VFS as the default VFS (once; later calls do nothing). Throws
// std::runtime_error if SQLite has no default VFS or refuses the registration.
void InstallCountingVfs();

// The counters since InstallCountingVfs() (all zero before it).
VfsCounts ReadVfsCounts();

// a - b, field by field (wal_page_size is a's).
VfsCounts operator-(const VfsCounts& a, const VfsCounts& b);

}  // namespace statestore::bench

#endif  // STATESTORE_BENCH_COUNTING_VFS_H_

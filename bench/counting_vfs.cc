// The counting VFS shim (counting_vfs.h).
//
// Design note:
//   1. Every sqlite3_vfs and sqlite3_io_methods entry point is forwarded to the wrapped ("real")
//      VFS or file, with the real object as the first argument. Nothing is changed on the way,
//      so SQLite's durability behaviour (sync flags, WAL shared memory, locking) is the real
//      VFS's; only xOpen, xWrite and xSync do anything besides forwarding, and that is counting.
//   2. A CountingFile is our sqlite3_file header followed by the real VFS's file object (szOsFile
//      of the shim = header + real szOsFile), so no allocation happens per open.
//   3. The io_methods table handed to SQLite has the same iVersion as the real file's table:
//      SQLite decides from iVersion whether WAL shared memory (v2: xShm*) and memory-mapped
//      reads (v3: xFetch/xUnfetch) are available, so claiming more than the real file has would
//      make SQLite call methods that do not exist.
//   4. If the real xOpen leaves pMethods NULL, ours is NULL too, so SQLite does not call xClose
//      on a file that was never opened (SQLite's rule for failed opens).
#include "counting_vfs.h"

#include <sqlite3.h>

#include <atomic>
#include <cstddef>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <string>

namespace statestore::bench {
namespace {

struct AtomicCounts {
  std::atomic<std::uint64_t> writes{0}, write_bytes{0}, syncs{0};

  FileCounts Read() const {
    return {writes.load(std::memory_order_relaxed), write_bytes.load(std::memory_order_relaxed),
            syncs.load(std::memory_order_relaxed)};
  }
};

enum Kind { kMainDb, kWal, kOther, kKinds };

AtomicCounts g_counts[kKinds];
std::atomic<std::uint32_t> g_wal_page_size{0};
sqlite3_vfs* g_real = nullptr;
sqlite3_vfs g_shim;

struct CountingFile {
  sqlite3_file base;  // must be first: SQLite sees this
  Kind kind;
};

// Where the real file object lives behind our header (aligned for any type SQLite puts there).
constexpr std::size_t kRealOffset = (sizeof(CountingFile) + alignof(std::max_align_t) - 1) /
                                    alignof(std::max_align_t) * alignof(std::max_align_t);

CountingFile* Shim(sqlite3_file* f) { return reinterpret_cast<CountingFile*>(f); }
sqlite3_file* Real(sqlite3_file* f) {
  return reinterpret_cast<sqlite3_file*>(reinterpret_cast<char*>(f) + kRealOffset);
}
const sqlite3_io_methods* M(sqlite3_file* f) { return Real(f)->pMethods; }

// --- io methods

int Close(sqlite3_file* f) { return M(f)->xClose(Real(f)); }
int Read(sqlite3_file* f, void* p, int n, sqlite3_int64 off) {
  return M(f)->xRead(Real(f), p, n, off);
}
int Write(sqlite3_file* f, const void* p, int n, sqlite3_int64 off) {
  const CountingFile* c = Shim(f);
  AtomicCounts& counts = g_counts[c->kind];
  counts.writes.fetch_add(1, std::memory_order_relaxed);
  counts.write_bytes.fetch_add(static_cast<std::uint64_t>(n), std::memory_order_relaxed);
  if (c->kind == kWal && off == 0 && n >= 12) {
    // WAL header: magic, format version, then the page size (big-endian) at bytes 8..11.
    const auto* h = static_cast<const unsigned char*>(p);
    g_wal_page_size.store(static_cast<std::uint32_t>(h[8]) << 24 |
                              static_cast<std::uint32_t>(h[9]) << 16 |
                              static_cast<std::uint32_t>(h[10]) << 8 | h[11],
                          std::memory_order_relaxed);
  }
  return M(f)->xWrite(Real(f), p, n, off);
}
int Truncate(sqlite3_file* f, sqlite3_int64 size) { return M(f)->xTruncate(Real(f), size); }
int Sync(sqlite3_file* f, int flags) {
  g_counts[Shim(f)->kind].syncs.fetch_add(1, std::memory_order_relaxed);
  return M(f)->xSync(Real(f), flags);
}
int FileSize(sqlite3_file* f, sqlite3_int64* size) { return M(f)->xFileSize(Real(f), size); }
int Lock(sqlite3_file* f, int level) { return M(f)->xLock(Real(f), level); }
int Unlock(sqlite3_file* f, int level) { return M(f)->xUnlock(Real(f), level); }
int CheckReservedLock(sqlite3_file* f, int* out) { return M(f)->xCheckReservedLock(Real(f), out); }
int FileControl(sqlite3_file* f, int op, void* arg) { return M(f)->xFileControl(Real(f), op, arg); }
int SectorSize(sqlite3_file* f) { return M(f)->xSectorSize(Real(f)); }
int DeviceCharacteristics(sqlite3_file* f) { return M(f)->xDeviceCharacteristics(Real(f)); }
int ShmMap(sqlite3_file* f, int region, int size, int extend, void volatile** out) {
  return M(f)->xShmMap(Real(f), region, size, extend, out);
}
int ShmLock(sqlite3_file* f, int offset, int n, int flags) {
  return M(f)->xShmLock(Real(f), offset, n, flags);
}
void ShmBarrier(sqlite3_file* f) { M(f)->xShmBarrier(Real(f)); }
int ShmUnmap(sqlite3_file* f, int delete_flag) { return M(f)->xShmUnmap(Real(f), delete_flag); }
int Fetch(sqlite3_file* f, sqlite3_int64 off, int n, void** out) {
  return M(f)->xFetch(Real(f), off, n, out);
}
int Unfetch(sqlite3_file* f, sqlite3_int64 off, void* p) { return M(f)->xUnfetch(Real(f), off, p); }

constexpr sqlite3_io_methods MethodsOfVersion(int version) {
  return {version,
          Close,
          Read,
          Write,
          Truncate,
          Sync,
          FileSize,
          Lock,
          Unlock,
          CheckReservedLock,
          FileControl,
          SectorSize,
          DeviceCharacteristics,
          ShmMap,
          ShmLock,
          ShmBarrier,
          ShmUnmap,
          Fetch,
          Unfetch};
}
const sqlite3_io_methods kMethods[] = {MethodsOfVersion(1), MethodsOfVersion(2),
                                       MethodsOfVersion(3)};

// --- vfs methods

int Open(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* f, int flags, int* out_flags) {
  CountingFile* c = Shim(f);
  c->base.pMethods = nullptr;
  c->kind = (flags & SQLITE_OPEN_MAIN_DB) ? kMainDb : (flags & SQLITE_OPEN_WAL) ? kWal : kOther;
  const int rc = g_real->xOpen(g_real, name, Real(f), flags, out_flags);
  if (const sqlite3_io_methods* real = Real(f)->pMethods) {
    const int version = real->iVersion < 1 ? 1 : real->iVersion > 3 ? 3 : real->iVersion;
    c->base.pMethods = &kMethods[version - 1];
  }
  return rc;
}
int Delete(sqlite3_vfs*, const char* name, int sync_dir) {
  return g_real->xDelete(g_real, name, sync_dir);
}
int Access(sqlite3_vfs*, const char* name, int flags, int* out) {
  return g_real->xAccess(g_real, name, flags, out);
}
int FullPathname(sqlite3_vfs*, const char* name, int n, char* out) {
  return g_real->xFullPathname(g_real, name, n, out);
}
void* DlOpen(sqlite3_vfs*, const char* name) { return g_real->xDlOpen(g_real, name); }
void DlError(sqlite3_vfs*, int n, char* out) { g_real->xDlError(g_real, n, out); }
void (*DlSym(sqlite3_vfs*, void* h, const char* sym))(void) {
  return g_real->xDlSym(g_real, h, sym);
}
void DlClose(sqlite3_vfs*, void* h) { g_real->xDlClose(g_real, h); }
int Randomness(sqlite3_vfs*, int n, char* out) { return g_real->xRandomness(g_real, n, out); }
int SleepMicros(sqlite3_vfs*, int us) { return g_real->xSleep(g_real, us); }
int CurrentTime(sqlite3_vfs*, double* out) { return g_real->xCurrentTime(g_real, out); }
int GetLastError(sqlite3_vfs*, int n, char* out) {
  return g_real->xGetLastError ? g_real->xGetLastError(g_real, n, out) : 0;
}
int CurrentTimeInt64(sqlite3_vfs*, sqlite3_int64* out) {
  return g_real->xCurrentTimeInt64(g_real, out);
}
int SetSystemCall(sqlite3_vfs*, const char* name, sqlite3_syscall_ptr p) {
  return g_real->xSetSystemCall(g_real, name, p);
}
sqlite3_syscall_ptr GetSystemCall(sqlite3_vfs*, const char* name) {
  return g_real->xGetSystemCall(g_real, name);
}
const char* NextSystemCall(sqlite3_vfs*, const char* name) {
  return g_real->xNextSystemCall(g_real, name);
}

void Register() {
  g_real = sqlite3_vfs_find(nullptr);
  if (g_real == nullptr) throw std::runtime_error("counting VFS: SQLite has no default VFS");
  std::memset(&g_shim, 0, sizeof g_shim);
  // Same version as the real VFS, so SQLite calls only what the real VFS has (v2:
  // xCurrentTimeInt64, v3: the system-call hooks).
  g_shim.iVersion = g_real->iVersion > 3 ? 3 : g_real->iVersion;
  g_shim.szOsFile = static_cast<int>(kRealOffset) + g_real->szOsFile;
  g_shim.mxPathname = g_real->mxPathname;
  g_shim.zName = "statestore_bench_counting";
  g_shim.xOpen = Open;
  g_shim.xDelete = Delete;
  g_shim.xAccess = Access;
  g_shim.xFullPathname = FullPathname;
  g_shim.xDlOpen = DlOpen;
  g_shim.xDlError = DlError;
  g_shim.xDlSym = DlSym;
  g_shim.xDlClose = DlClose;
  g_shim.xRandomness = Randomness;
  g_shim.xSleep = SleepMicros;
  g_shim.xCurrentTime = CurrentTime;
  g_shim.xGetLastError = GetLastError;
  g_shim.xCurrentTimeInt64 = CurrentTimeInt64;
  g_shim.xSetSystemCall = SetSystemCall;
  g_shim.xGetSystemCall = GetSystemCall;
  g_shim.xNextSystemCall = NextSystemCall;
  const int rc = sqlite3_vfs_register(&g_shim, /*makeDflt=*/1);
  if (rc != SQLITE_OK) {
    throw std::runtime_error(std::string("counting VFS: sqlite3_vfs_register: ") +
                             sqlite3_errstr(rc));
  }
}

}  // namespace

void InstallCountingVfs() {
  static std::once_flag once;
  std::call_once(once, Register);
}

VfsCounts ReadVfsCounts() {
  VfsCounts c;
  c.main_db = g_counts[kMainDb].Read();
  c.wal = g_counts[kWal].Read();
  c.other = g_counts[kOther].Read();
  c.wal_page_size = g_wal_page_size.load(std::memory_order_relaxed);
  return c;
}

VfsCounts operator-(const VfsCounts& a, const VfsCounts& b) {
  auto sub = [](const FileCounts& x, const FileCounts& y) {
    return FileCounts{x.writes - y.writes, x.write_bytes - y.write_bytes, x.syncs - y.syncs};
  };
  VfsCounts d;
  d.main_db = sub(a.main_db, b.main_db);
  d.wal = sub(a.wal, b.wal);
  d.other = sub(a.other, b.other);
  d.wal_page_size = a.wal_page_size;
  return d;
}

}  // namespace statestore::bench

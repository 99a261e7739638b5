#include "sqlite/wal_write_buffer.h"

#include <sqlite3.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>

#include "statestore/error.h"

namespace statestore::internal {
namespace {

// Invariant 4. Below 128 KiB: SQLite's unix VFS writes at most 0x1ffff bytes per call (its
// seekAndWrite masks the count) and reports a larger write as a full disk.
constexpr int kCapacity = 64 * 1024;
constexpr int kFrameHeaderBytes = 24;  // SQLite's WAL frame header

// What both shim files start with; the underlying VFS's file follows the shim's in the same
// allocation (kShimBytes after its start).
struct ShimFile {
  sqlite3_file base;  // pMethods: kWalMethods or kDbMethods
  sqlite3_file* real;
};

struct WatchedDb;

// The shim's part of an open -wal.
struct BufferedWal : ShimFile {
  WatchedDb* db;  // the same connection's database file (invariant 6); null once it is closed
  char* bytes;    // kCapacity bytes, allocated on the first collected write
  int held;       // collected bytes, for offsets [start, start + held)
  sqlite3_int64 start;
  bool commit_header_held;  // the last collected write was a commit frame's header
  // Offsets written by the transaction in progress, [txn_first, txn_end); txn_first < 0: none
  // since the last commit. A write inside them is SQLite rewriting a frame (invariant 2).
  sqlite3_int64 txn_first;
  sqlite3_int64 txn_end;
  bool txn_rewrote;
  // After a commit whose transaction rewrote a frame, SQLite rewrites the checksums of its frame
  // headers, [rewrite_first, rewrite_end); those go straight to the file (invariant 2).
  bool checksums_follow;
  sqlite3_int64 rewrite_first;
  sqlite3_int64 rewrite_end;
};

// The shim's part of an open main database file: it sees SQLite take and release the WAL write
// lock (xShmLock on the database file), which the -wal itself never sees.
struct WatchedDb : ShimFile {
  const char* name;  // the key of Registry(): SQLite's own pointer to the database's name
  BufferedWal* wal;  // null until the connection opens its -wal, and after it closes it
};

constexpr std::size_t kShimBytes =
    (std::max(sizeof(BufferedWal), sizeof(WatchedDb)) + 15) & ~std::size_t{15};

// Open database files by the name pointer SQLite passed to xOpen. SQLite passes a -wal the name
// of its database in the same allocation, so sqlite3_filename_database() of a -wal's name is
// that pointer: how a -wal finds its own connection's database file, and no other's.
std::mutex& RegistryMutex() {
  static std::mutex* mu = new std::mutex();
  return *mu;
}
std::map<const char*, WatchedDb*>& Registry() {
  static auto* registry = new std::map<const char*, WatchedDb*>();
  return *registry;
}

BufferedWal* Wal(sqlite3_file* f) { return reinterpret_cast<BufferedWal*>(f); }
ShimFile* Shim(sqlite3_file* f) { return reinterpret_cast<ShimFile*>(f); }
const sqlite3_io_methods* Real(ShimFile* s) { return s->real->pMethods; }

int WriteOut(BufferedWal* w) {
  if (w->held == 0) return SQLITE_OK;
  const int n = w->held;
  w->held = 0;  // on failure too: SQLite fails the commit, and these frames are never published
  return Real(w)->xWrite(w->real, w->bytes, n, w->start);
}

// Invariant 6: bytes still held when a write transaction ends (or the next begins) belong to one
// that rolled back without a commit frame; written later, they could land on frames another
// connection has committed since.
void DiscardUncommitted(BufferedWal* w) {
  w->held = 0;
  w->commit_header_held = false;
  w->txn_first = -1;
  w->txn_end = 0;
  w->txn_rewrote = false;
  w->checksums_follow = false;
}

int WriteThrough(BufferedWal* w, const void* p, int n, sqlite3_int64 off) {
  const int rc = WriteOut(w);  // in order: what was collected is older
  w->commit_header_held = false;
  return rc != SQLITE_OK ? rc : Real(w)->xWrite(w->real, p, n, off);
}

bool IsCommitFrameHeader(const void* p, int n) {
  if (n != kFrameHeaderBytes) return false;
  const auto* h = static_cast<const unsigned char*>(p);
  return (h[4] | h[5] | h[6] | h[7]) != 0;  // "database size after commit", big-endian
}

int Write(sqlite3_file* f, const void* p, int n, sqlite3_int64 off) {
  BufferedWal* w = Wal(f);
  // Without its database file the write lock is not watched (invariant 6): collect nothing.
  if (w->db == nullptr) return WriteThrough(w, p, n, off);
  if (off == 0) {  // the WAL header: SQLite starts the log again, and a new transaction with it
    const int rc = WriteOut(w);
    if (rc != SQLITE_OK) return rc;
    w->txn_first = -1;
    w->txn_end = 0;
    w->txn_rewrote = false;
    w->checksums_follow = false;
  }
  if (w->checksums_follow) {
    if (n == kFrameHeaderBytes && off >= w->rewrite_first && off < w->rewrite_end) {
      return WriteThrough(w, p, n, off);
    }
    w->checksums_follow = false;  // the next transaction
  }
  if (w->txn_first >= 0 && off >= w->txn_first && off < w->txn_end) {
    w->txn_rewrote = true;
    return WriteThrough(w, p, n, off);
  }
  if (w->held > 0 && off != w->start + w->held) {
    const int rc = WriteOut(w);
    if (rc != SQLITE_OK) return rc;
  }
  if (w->txn_first < 0) w->txn_first = off;
  if (off + n > w->txn_end) w->txn_end = off + n;
  if (w->held + n > kCapacity) {
    const int rc = WriteOut(w);
    if (rc != SQLITE_OK) return rc;
  }
  if (w->bytes == nullptr && n <= kCapacity) {
    w->bytes = static_cast<char*>(sqlite3_malloc(kCapacity));
  }
  const bool completes_commit = w->commit_header_held;
  int rc = SQLITE_OK;
  if (w->bytes == nullptr || n > kCapacity) {  // no memory, or too large to collect
    rc = WriteThrough(w, p, n, off);
  } else {
    if (w->held == 0) w->start = off;
    std::memcpy(w->bytes + w->held, p, static_cast<std::size_t>(n));
    w->held += n;
    w->commit_header_held = IsCommitFrameHeader(p, n);
  }
  if (!completes_commit) return rc;
  // Invariant 1: the commit frame is complete; the transaction's bytes go out now.
  if (rc == SQLITE_OK) rc = WriteOut(w);
  w->commit_header_held = false;
  w->checksums_follow = w->txn_rewrote;
  w->rewrite_first = w->txn_first;
  w->rewrite_end = w->txn_end;
  w->txn_first = -1;
  w->txn_end = 0;
  w->txn_rewrote = false;
  return rc;
}

int Close(sqlite3_file* f) {
  BufferedWal* w = Wal(f);
  DiscardUncommitted(w);  // a commit's bytes are written when it completes; these never were
  {
    std::lock_guard<std::mutex> lock(RegistryMutex());
    if (w->db != nullptr) w->db->wal = nullptr;
    w->db = nullptr;
  }
  const int closed = Real(w)->xClose(w->real);
  sqlite3_free(w->bytes);
  w->bytes = nullptr;
  return closed;
}

// --- methods that only forward to the underlying file (both shim files use them).

int PassRead(sqlite3_file* f, void* p, int n, sqlite3_int64 off) {
  return Real(Shim(f))->xRead(Shim(f)->real, p, n, off);
}
int PassWrite(sqlite3_file* f, const void* p, int n, sqlite3_int64 off) {
  return Real(Shim(f))->xWrite(Shim(f)->real, p, n, off);
}
int PassTruncate(sqlite3_file* f, sqlite3_int64 size) {
  return Real(Shim(f))->xTruncate(Shim(f)->real, size);
}
int PassSync(sqlite3_file* f, int flags) { return Real(Shim(f))->xSync(Shim(f)->real, flags); }
int PassFileSize(sqlite3_file* f, sqlite3_int64* size) {
  return Real(Shim(f))->xFileSize(Shim(f)->real, size);
}
int PassLock(sqlite3_file* f, int level) { return Real(Shim(f))->xLock(Shim(f)->real, level); }
int PassUnlock(sqlite3_file* f, int level) { return Real(Shim(f))->xUnlock(Shim(f)->real, level); }
int PassCheckReservedLock(sqlite3_file* f, int* out) {
  return Real(Shim(f))->xCheckReservedLock(Shim(f)->real, out);
}
int PassFileControl(sqlite3_file* f, int op, void* arg) {
  return Real(Shim(f))->xFileControl(Shim(f)->real, op, arg);
}
int PassSectorSize(sqlite3_file* f) { return Real(Shim(f))->xSectorSize(Shim(f)->real); }
int PassDeviceCharacteristics(sqlite3_file* f) {
  return Real(Shim(f))->xDeviceCharacteristics(Shim(f)->real);
}
int PassShmMap(sqlite3_file* f, int page, int size, int extend, void volatile** pp) {
  if (Real(Shim(f))->iVersion < 2) return SQLITE_IOERR_SHMMAP;
  return Real(Shim(f))->xShmMap(Shim(f)->real, page, size, extend, pp);
}
int PassShmLock(sqlite3_file* f, int offset, int n, int flags) {
  if (Real(Shim(f))->iVersion < 2) return SQLITE_IOERR_SHMLOCK;
  return Real(Shim(f))->xShmLock(Shim(f)->real, offset, n, flags);
}
void PassShmBarrier(sqlite3_file* f) {
  if (Real(Shim(f))->iVersion >= 2) Real(Shim(f))->xShmBarrier(Shim(f)->real);
}
int PassShmUnmap(sqlite3_file* f, int remove) {
  return Real(Shim(f))->iVersion >= 2 ? Real(Shim(f))->xShmUnmap(Shim(f)->real, remove) : SQLITE_OK;
}
int PassFetch(sqlite3_file* f, sqlite3_int64 off, int n, void** pp) {
  *pp = nullptr;
  return Real(Shim(f))->iVersion >= 3 ? Real(Shim(f))->xFetch(Shim(f)->real, off, n, pp)
                                      : SQLITE_OK;
}
int PassUnfetch(sqlite3_file* f, sqlite3_int64 off, void* p) {
  return Real(Shim(f))->iVersion >= 3 ? Real(Shim(f))->xUnfetch(Shim(f)->real, off, p) : SQLITE_OK;
}

// --- the -wal. Invariant 3: what reads or changes the file sees the collected bytes first.

int Read(sqlite3_file* f, void* p, int n, sqlite3_int64 off) {
  const int rc = WriteOut(Wal(f));
  return rc != SQLITE_OK ? rc : PassRead(f, p, n, off);
}
int Truncate(sqlite3_file* f, sqlite3_int64 size) {
  const int rc = WriteOut(Wal(f));
  return rc != SQLITE_OK ? rc : PassTruncate(f, size);
}
int Sync(sqlite3_file* f, int flags) {
  const int rc = WriteOut(Wal(f));
  return rc != SQLITE_OK ? rc : PassSync(f, flags);
}
int FileSize(sqlite3_file* f, sqlite3_int64* size) {
  const int rc = WriteOut(Wal(f));
  return rc != SQLITE_OK ? rc : PassFileSize(f, size);
}
int FileControl(sqlite3_file* f, int op, void* arg) {
  const int rc = WriteOut(Wal(f));
  return rc != SQLITE_OK ? rc : PassFileControl(f, op, arg);
}
int Fetch(sqlite3_file* f, sqlite3_int64 off, int n, void** pp) {
  *pp = nullptr;
  const int rc = WriteOut(Wal(f));
  return rc != SQLITE_OK ? rc : PassFetch(f, off, n, pp);
}

const sqlite3_io_methods kWalMethods = {
    3,
    Close,
    Read,
    Write,
    Truncate,
    Sync,
    FileSize,
    PassLock,
    PassUnlock,
    PassCheckReservedLock,
    FileControl,
    PassSectorSize,
    PassDeviceCharacteristics,
    PassShmMap,
    PassShmLock,
    PassShmBarrier,
    PassShmUnmap,
    Fetch,
    PassUnfetch,
};

// --- the main database file: the underlying file's methods, and the WAL write lock watched.

WatchedDb* Db(sqlite3_file* f) { return reinterpret_cast<WatchedDb*>(f); }

int DbClose(sqlite3_file* f) {
  WatchedDb* d = Db(f);
  {
    std::lock_guard<std::mutex> lock(RegistryMutex());
    auto it = Registry().find(d->name);
    if (it != Registry().end() && it->second == d) Registry().erase(it);
    if (d->wal != nullptr) d->wal->db = nullptr;
    d->wal = nullptr;
  }
  return Real(Shim(f))->xClose(d->real);
}
int DbShmLock(sqlite3_file* f, int offset, int n, int flags) {
  WatchedDb* d = Db(f);
  const int rc = PassShmLock(f, offset, n, flags);
  // Slot 0 is SQLite's WAL_WRITE_LOCK. Taken or released, the connection's -wal holds nothing
  // that a commit still needs (invariant 6). Only this connection's thread uses both files.
  if (offset == 0 && (flags & SQLITE_SHM_EXCLUSIVE) != 0 && d->wal != nullptr &&
      (rc == SQLITE_OK || (flags & SQLITE_SHM_UNLOCK) != 0)) {
    DiscardUncommitted(d->wal);
  }
  return rc;
}

const sqlite3_io_methods kDbMethods = {
    3,
    DbClose,
    PassRead,
    PassWrite,
    PassTruncate,
    PassSync,
    PassFileSize,
    PassLock,
    PassUnlock,
    PassCheckReservedLock,
    PassFileControl,
    PassSectorSize,
    PassDeviceCharacteristics,
    PassShmMap,
    DbShmLock,
    PassShmBarrier,
    PassShmUnmap,
    PassFetch,
    PassUnfetch,
};

// --- the VFS: xOpen wraps main database files and -wal files; every other method is the
// underlying VFS's.

sqlite3_vfs* Under(sqlite3_vfs* v) { return static_cast<sqlite3_vfs*>(v->pAppData); }

sqlite3_file* Tail(sqlite3_file* f) {
  return reinterpret_cast<sqlite3_file*>(reinterpret_cast<char*>(f) + kShimBytes);
}

int Open(sqlite3_vfs* v, sqlite3_filename name, sqlite3_file* f, int flags, int* out_flags) {
  sqlite3_vfs* under = Under(v);
  // SQLite calls xClose when xOpen set pMethods, even if it failed; then the real file is closed.
  if ((flags & SQLITE_OPEN_MAIN_DB) != 0 && name != nullptr) {
    WatchedDb* d = Db(f);
    std::memset(d, 0, sizeof(WatchedDb));
    d->real = Tail(f);
    d->name = name;
    const int rc = under->xOpen(under, name, d->real, flags, out_flags);
    if (d->real->pMethods == nullptr) return rc;
    d->base.pMethods = &kDbMethods;
    std::lock_guard<std::mutex> lock(RegistryMutex());
    Registry()[name] = d;
    return rc;
  }
  if ((flags & SQLITE_OPEN_WAL) == 0 || name == nullptr) {
    return under->xOpen(under, name, f, flags, out_flags);
  }
  BufferedWal* w = Wal(f);
  std::memset(w, 0, sizeof(BufferedWal));
  w->txn_first = -1;
  w->real = Tail(f);
  const int rc = under->xOpen(under, name, w->real, flags, out_flags);
  if (w->real->pMethods == nullptr) return rc;
  w->base.pMethods = &kWalMethods;
  std::lock_guard<std::mutex> lock(RegistryMutex());
  auto it = Registry().find(sqlite3_filename_database(name));
  if (it != Registry().end()) {
    w->db = it->second;
    it->second->wal = w;
  }
  return rc;
}
int Delete(sqlite3_vfs* v, const char* name, int sync_dir) {
  return Under(v)->xDelete(Under(v), name, sync_dir);
}
int Access(sqlite3_vfs* v, const char* name, int flags, int* out) {
  return Under(v)->xAccess(Under(v), name, flags, out);
}
int FullPathname(sqlite3_vfs* v, const char* name, int n, char* out) {
  return Under(v)->xFullPathname(Under(v), name, n, out);
}
void* DlOpen(sqlite3_vfs* v, const char* name) { return Under(v)->xDlOpen(Under(v), name); }
void DlError(sqlite3_vfs* v, int n, char* out) { Under(v)->xDlError(Under(v), n, out); }
void (*DlSym(sqlite3_vfs* v, void* h, const char* sym))(void) {
  return Under(v)->xDlSym(Under(v), h, sym);
}
void DlClose(sqlite3_vfs* v, void* h) { Under(v)->xDlClose(Under(v), h); }
int Randomness(sqlite3_vfs* v, int n, char* out) { return Under(v)->xRandomness(Under(v), n, out); }
int Sleep(sqlite3_vfs* v, int us) { return Under(v)->xSleep(Under(v), us); }
int CurrentTime(sqlite3_vfs* v, double* out) { return Under(v)->xCurrentTime(Under(v), out); }
int GetLastError(sqlite3_vfs* v, int n, char* out) {
  return Under(v)->xGetLastError ? Under(v)->xGetLastError(Under(v), n, out) : 0;
}
int CurrentTimeInt64(sqlite3_vfs* v, sqlite3_int64* out) {
  return Under(v)->xCurrentTimeInt64(Under(v), out);
}
int SetSystemCall(sqlite3_vfs* v, const char* name, sqlite3_syscall_ptr p) {
  return Under(v)->xSetSystemCall(Under(v), name, p);
}
sqlite3_syscall_ptr GetSystemCall(sqlite3_vfs* v, const char* name) {
  return Under(v)->xGetSystemCall(Under(v), name);
}
const char* NextSystemCall(sqlite3_vfs* v, const char* name) {
  return Under(v)->xNextSystemCall(Under(v), name);
}

struct RegisteredShim {
  sqlite3_vfs vfs{};
  std::string name;
};

}  // namespace

std::string ShimVfsName(const std::string& underlying) {
  sqlite3_vfs* under = sqlite3_vfs_find(underlying.empty() ? nullptr : underlying.c_str());
  if (under == nullptr) {
    throw Error(ErrorCode::kInvalidArgument,
                "Options::vfs: no SQLite VFS named '" + underlying + "' is registered");
  }
  if (under->xOpen == Open) return under->zName;  // already a shim
  // One shim per underlying VFS object, kept for the life of the process (SQLite holds pointers
  // to registered VFSes); keyed by address, so a VFS re-registered under an old name gets its own.
  static std::mutex mu;
  static std::map<sqlite3_vfs*, std::unique_ptr<RegisteredShim>>* shims =
      new std::map<sqlite3_vfs*, std::unique_ptr<RegisteredShim>>();
  std::lock_guard<std::mutex> lock(mu);
  std::unique_ptr<RegisteredShim>& shim = (*shims)[under];
  if (!shim) {
    auto s = std::make_unique<RegisteredShim>();
    char address[32];
    std::snprintf(address, sizeof address, "%p", static_cast<void*>(under));
    s->name = std::string("statestore-wal-buffer:") + under->zName + "@" + address;
    sqlite3_vfs& v = s->vfs;
    v.iVersion = under->iVersion < 3 ? under->iVersion : 3;
    v.szOsFile = static_cast<int>(kShimBytes) + under->szOsFile;
    v.mxPathname = under->mxPathname;
    v.zName = s->name.c_str();
    v.pAppData = under;
    v.xOpen = Open;
    v.xDelete = Delete;
    v.xAccess = Access;
    v.xFullPathname = FullPathname;
    v.xDlOpen = DlOpen;
    v.xDlError = DlError;
    v.xDlSym = DlSym;
    v.xDlClose = DlClose;
    v.xRandomness = Randomness;
    v.xSleep = Sleep;
    v.xCurrentTime = CurrentTime;
    v.xGetLastError = GetLastError;
    if (v.iVersion >= 2) v.xCurrentTimeInt64 = CurrentTimeInt64;
    if (v.iVersion >= 3) {
      v.xSetSystemCall = SetSystemCall;
      v.xGetSystemCall = GetSystemCall;
      v.xNextSystemCall = NextSystemCall;
    }
    const int rc = sqlite3_vfs_register(&v, 0);
    if (rc != SQLITE_OK) {
      throw Error(ErrorCode::kInternal, std::string("cannot register SQLite VFS '") + s->name +
                                            "': " + sqlite3_errstr(rc));
    }
    shim = std::move(s);
  }
  return shim->name;
}

}  // namespace statestore::internal

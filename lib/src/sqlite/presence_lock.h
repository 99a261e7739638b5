// PresenceLock — who has a database file open, told by open-file-description (OFD) locks on
// bytes of that file far beyond anything SQLite reads, writes or locks.
//
// Design note. SQLite cannot say whether another process has a database open, and some
// operations must know: a restore must not replace the pages under a live process (it caches
// keyspace ids and revisions), and the change counter beside the file (shared_generation.h) may
// be created or repaired only when no live process maps it. Every Store therefore holds a shared
// lock on one byte of the database file for its whole life (read-only Stores too, so `statectl
// follow` counts), and an operation that needs the file to itself takes an exclusive lock on
// that byte without waiting.
//
// Byte map, as offsets into the database file (fcntl locks may lie beyond the end of the file;
// they lock no data, only the range):
//
//   0x40000000 .. 0x400001FF  SQLite's own (unix VFS, POSIX locks): PENDING_BYTE 0x40000000,
//                             RESERVED_BYTE 0x40000001, SHARED range 0x40000002 + 510 bytes.
//   kPresenceByte 0x53545354  ('STST', our application_id) presence: F_RDLCK by every Store for
//                             its lifetime; F_WRLCK by Restore for the whole restore.
//   kCounterIdBase 0x53545454 .. +128  identity of the mapped change counter (shared_generation.h):
//                             F_RDLCK on 64 of these bytes by every Store that maps <db>-gen, and
//                             F_WRLCK on all 128 by an opener creating or repairing <db>-gen.
//   kExpirySweeperByte kPresenceByte + 0x200  the file's expiry sweeper (expiry_sweep.h): F_WRLCK,
//                             taken without waiting by one writable Store's maintenance thread
//                             and held until that Store closes (or its process dies).
//
// The presence byte lies 0x13545154 bytes (~309 MiB) above SQLite's lock region, so no lock of
// ours ever overlaps one of SQLite's: OFD and POSIX locks on overlapping ranges conflict even
// within one process, which would turn our locks into SQLITE_BUSY for SQLite and vice versa.
//
// Invariants:
//   1. OFD locks (F_OFD_SETLK), never POSIX locks: an OFD lock belongs to the open file
//      description, so SQLite closing one of its own descriptors on the same file never drops
//      it, and threads of one process see each other's locks like other processes' ones.
//   2. The descriptor is opened before the first SQLite connection of the Store and closed only
//      after the last one closed. Closing *any* descriptor of a file drops every POSIX lock the
//      process holds on it — SQLite's included — so a descriptor closed while this process's
//      SQLite connections are open on the same file would silently unlock them. For the same
//      reason nothing here opens and closes descriptors of <db>-wal or <db>-shm (lstat only).
//   3. A shared lock is only ever waited for by polling (F_OFD_SETLK, never F_OFD_SETLKW), up to
//      the opener's busy timeout: an open never hangs behind a restore.
//   4. After fork() a child shares the parent's open file description: closing the child's copy
//      would not release the parent's locks, but would drop the child's POSIX locks on the file
//      (invariant 2). Abandon() leaves it open.
//
// Thread safety: an object is used by one thread at a time (Store::open, Restore).
#ifndef STATESTORE_SRC_PRESENCE_LOCK_H_
#define STATESTORE_SRC_PRESENCE_LOCK_H_

#include <sys/stat.h>
#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>

namespace statestore::internal {

inline constexpr off_t kPresenceByte = 0x53545354;
inline constexpr off_t kCounterIdBase = kPresenceByte + 0x100;
inline constexpr off_t kCounterIdBytes = 128;
inline constexpr off_t kExpirySweeperByte = kPresenceByte + 0x200;

class PresenceLock {
 public:
  // Opens `canonical_path` (O_RDWR when `writable`, else O_RDONLY; never follows a symlink, never
  // blocks) without taking any lock yet. Throws: Error(kNotFound, kReadOnly for a file or file
  // system that refuses writing, kIoError).
  static std::unique_ptr<PresenceLock> Open(const std::string& canonical_path, bool writable);

  PresenceLock(const PresenceLock&) = delete;
  PresenceLock& operator=(const PresenceLock&) = delete;
  // Closes the descriptor, which releases every lock taken through it (invariant 2).
  ~PresenceLock();

  // Takes the shared presence lock, polling until `wait` has passed.
  // Throws: Error(kBusy) "a restore (or another exclusive operation) holds <path>".
  void LockShared(std::chrono::milliseconds wait);
  // Takes the exclusive presence lock without waiting. REQUIRES: opened writable.
  // Throws: Error(kBusy) "other processes have <path> open; stop them before <what>".
  void LockExclusive(const std::string& what);

  // Byte-range primitives on the same descriptor (shared_generation.cc uses them for the counter
  // identity). `type` is F_RDLCK, F_WRLCK or F_UNLCK. TryLock returns false if another open file
  // description holds a conflicting lock. Throws: Error(kIoError) on other failures.
  bool TryLock(off_t start, off_t length, short type);
  // The type of a lock another open file description holds on the range that conflicts with
  // `type` (F_RDLCK or F_WRLCK), or F_UNLCK if none. Throws: Error(kIoError).
  short Conflicting(off_t start, off_t length, short type) const;

  // Leaves the descriptor (and the locks) open for good: for a Store released in a fork()ed
  // child (invariant 4).
  void Abandon() { fd_ = -1; }

  int fd() const { return fd_; }
  bool writable() const { return writable_; }
  const std::string& path() const { return path_; }
  // fstat of the descriptor at Open.
  const struct stat& file_stat() const { return stat_; }

 private:
  PresenceLock(std::string path, int fd, bool writable, const struct stat& st)
      : path_(std::move(path)), fd_(fd), writable_(writable), stat_(st) {}

  std::string path_;
  int fd_;
  bool writable_;
  struct stat stat_ {};
};

}  // namespace statestore::internal

#endif  // STATESTORE_SRC_PRESENCE_LOCK_H_

// SharedGeneration — a 64-bit change counter shared by every process that has the file open.
//
// Design note. The counter lives in a 4 KiB file beside the database ("<db>-gen", mode 0600,
// like SQLite's "-shm"), mapped MAP_SHARED. Writers bump it around each commit (read_cache.h
// has the protocol); a cached read loads it (one atomic load instead of an SQLite round trip).
// Only changes of the value carry meaning, never the value itself. A cached read stays
// coherent only if every live process maps the *same inode* and no commit's change is lost, so
// the file is guarded against what can happen to a plain file beside the database:
//
//   deleted      live processes keep mapping the unlinked inode; a new process would create a
//                new file, and the two groups would never see each other's commits.
//   truncated    a load or store on a mapped page past the end of the file raises SIGBUS.
//   replaced     (a FIFO, a symlink, a directory, another user's file, a hard link) an open
//                could hang, follow the link, or share the counter with a stranger.
//
// Which processes map which inode is published through OFD locks on the database file
// (presence_lock.h has the byte map): every Store that maps <db>-gen holds F_RDLCK on 64 of the
// 128 counter-identity bytes — for bit i of the inode number, byte 2i + bit — so a process that
// maps another inode holds at least one byte of the complement. An opener that creates or repairs
// the file first takes F_WRLCK on all 128 bytes, which succeeds only when no live process maps
// any counter.
//
// Invariants:
//   1. The file is opened with O_NOFOLLOW|O_NONBLOCK|O_CLOEXEC and used only if fstat shows a
//      regular file with one link, on the database's file system, owned by the database's owner
//      (or by this process's effective uid), at least 4096 bytes long. Anything else is refused
//      with an Error naming the file, what is wrong and what to do; nothing hangs.
//   2. Created or repaired only under F_WRLCK on the identity bytes, i.e. when no live process
//      maps a counter: then it is (re)created with mode 0600 (chowned to the database's owner
//      when created by root), reserved with posix_fallocate (a store to a page the file system
//      cannot back would be a SIGBUS) and seeded with a random 64-bit value, so that no process
//      that remembered a value of an older counter can ever see it again.
//   3. Otherwise the opener joins: the file at the path must be valid (1) and its identity bytes
//      held by live processes, with nothing held on the complement; then it holds them too.
//      If <db>-gen is missing, or is not the inode the live processes map, a read-write opener
//      is refused ("deleted or replaced while other processes have <db> open ... restart
//      them"): a counter the live processes do not map would never reach their caches. If it is
//      their inode but short (truncated), a read-write opener repairs it (7). A read-only opener
//      runs without a read cache in all these cases (it never bumps, and uncached reads are
//      coherent). Hence all live processes share one counter inode.
//   4. The descriptor stays open for the object's life, so a truncated inode can be repaired
//      through it even after its name was removed or replaced.
//   5. SIGBUS. A process-wide handler (installed once, SA_SIGINFO|SA_ONSTACK) looks the faulting
//      address up in a fixed array of atomics (no lock, no allocation: async-signal-safe). For
//      a fault inside a counter mapping it counts the fault in that slot, then maps an anonymous
//      page over the mapping (MAP_FIXED) and returns: the faulting load or fetch_add re-executes
//      on the anonymous page. Any other fault goes to the previous handler (SIG_DFL: restored
//      and re-raised). The count is incremented before the anonymous page exists, so a thread
//      that read the anonymous page sees the count when it checks it next.
//   6. Degraded: while a slot has unrecovered faults, Load() and Bump() return values of a
//      process-local sequence that starts at a random 64-bit value and never repeats. Every
//      lookup then sees "the counter changed", drops the cache and reads SQLite, every fill is
//      refused, and no commit is published (ReadCache invariants 2-4): reads stay coherent,
//      uncached. The hot path pays one relaxed load of a process-local atomic for this.
//   7. Recovery runs in normal context under mu_: fstat the descriptor; a writable Store that
//      finds the file short seeds it (pwrite of a random value when the counter's bytes are
//      gone) and extends it with posix_fallocate (never shrinks); then the file is mapped again
//      MAP_FIXED at the same address and the faults counted so far are marked recovered (a
//      fault during recovery keeps the slot degraded). Load() tries at most once per millisecond;
//      Bump() tries every time, before returning, so a commit whose bump hit the anonymous page
//      bumps the real counter too. A bump lost while the file was short is harmless: every process
//      that reads the short file faults (6), and whoever extends it seeds a new value, which every
//      process that did not fault sees as a change.
//   8. A writable Store's maintenance thread calls CheckFile() about once a second: it repairs a
//      short file (7) and reports, once, when the path no longer names the mapped inode
//      (deleted or replaced): the processes that are running stay coherent, but no new process
//      can join them (3) until they restart.
//
// Thread safety: Load() and Bump() may be called from any thread; CheckFile() from one.
#ifndef STATESTORE_SRC_SHARED_GENERATION_H_
#define STATESTORE_SRC_SHARED_GENERATION_H_

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "core/change_signal.h"
#include "util/mutex.h"

namespace statestore::internal {

class PresenceLock;

class SharedGeneration final : public ChangeSignal {
 public:
  static constexpr std::size_t kFileSize = 4096;

  // Sets up <db>-gen for a Store that holds the shared presence lock through `db` and keeps
  // `db` open for as long as the returned object lives (the identity locks are `db`'s).
  // `writable`: may create, repair and bump. Returns null and sets *why when a read-only Store
  // must run without a cache (invariant 3). Waits at most `wait` for another opener that is
  // creating the file.
  // Throws: Error(kInvalidArgument) for a file that fails invariant 1; Error(kBusy) when <db>-gen
  // was deleted or damaged while other processes have the database open (invariant 3) or an
  // opener creating it outlasted `wait`; kIoError, kFull.
  static std::unique_ptr<SharedGeneration> Attach(PresenceLock& db, bool writable,
                                                  std::chrono::milliseconds wait, std::string* why);

  // For Restore, which holds the exclusive presence lock (so no process maps the counter):
  // writes a fresh random value into <db>-gen if it is a valid file. Best effort; never throws.
  static void Reseed(const std::string& db_path) noexcept;

  SharedGeneration(const SharedGeneration&) = delete;
  SharedGeneration& operator=(const SharedGeneration&) = delete;
  ~SharedGeneration();

  // One atomic load and one relaxed load of process-local memory (invariant 6).
  std::uint64_t Load() const override;
  // Returns the value before the increment. Never throws.
  std::uint64_t Bump() override;
  // False while the mapping is degraded (invariant 6).
  bool usable() const override;

  // Bytes of the shared page past the counter that other cross-process protocols may use
  // (writer_turns.h): kSpareBytes at kSpareOffset, 4-byte aligned, zero in a new file, valid
  // memory for this object's life (a fault there is handled like one on the counter).
  static constexpr std::size_t kSpareOffset = 64;
  static constexpr std::size_t kSpareBytes = kFileSize - kSpareOffset;
  void* spare() const { return static_cast<char*>(mapping_) + kSpareOffset; }

  // Invariant 8. Returns a message (empty if all is well) the first time the path stops naming
  // the mapped file, and after a repair; empty on later calls about the same problem.
  std::string CheckFile();

  const std::string& path() const { return path_; }

 private:
  SharedGeneration(std::string path, int fd, bool writable, void* mapping, std::size_t length,
                   dev_t dev, ino_t ino);

  std::uint64_t* counter() const { return static_cast<std::uint64_t*>(mapping_); }
  std::uint64_t DegradedValue() const;
  // Invariant 7. `force`: ignore the once-per-millisecond limit (Bump). Returns true if usable.
  bool Recover(bool force) const;
  bool RepairSize() const REQUIRES(mu_);

  const std::string path_;
  int fd_;
  const bool writable_;
  void* const mapping_;
  const std::size_t length_;
  const dev_t dev_;
  const ino_t ino_;
  int slot_ = -1;  // index in the fault registry (invariant 5)

  mutable Mutex mu_;  // recovery
  const std::uint64_t degraded_base_;
  mutable std::atomic<std::uint64_t> degraded_seq_{0};
  mutable std::atomic<std::int64_t> next_recovery_ns_{0};
  std::string reported_;  // CheckFile's last message (CheckFile runs on one thread)
};

}  // namespace statestore::internal

#endif  // STATESTORE_SRC_SHARED_GENERATION_H_

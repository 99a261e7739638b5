#include "sqlite/shared_generation.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>
#include <thread>
#include <utility>

#include "sqlite/presence_lock.h"
#include "statestore/error.h"

namespace statestore::internal {

namespace {

static_assert(std::atomic_ref<std::uint64_t>::is_always_lock_free,
              "the shared counter must be lock-free to work across processes");
static_assert(std::atomic<std::uint64_t>::is_always_lock_free &&
                  std::atomic<std::uintptr_t>::is_always_lock_free,
              "the fault registry is read by a signal handler: its atomics must be lock-free");

std::uint64_t Random64() {
  std::uint64_t v = 0;
  if (::getrandom(&v, sizeof v, GRND_NONBLOCK) == static_cast<ssize_t>(sizeof v)) return v;
  // No entropy yet (early boot): the clock and pid still make a repeat of an old value unlikely.
  v = static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
      (static_cast<std::uint64_t>(::getpid()) << 40);
  v ^= v >> 33;
  v *= 0xff51afd7ed558ccdULL;
  v ^= v >> 33;
  return v;
}

std::int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// ---------------------------------------------------------------------------------------------
// Fault registry and SIGBUS handler (invariant 5).

struct FaultSlot {
  std::atomic<std::uintptr_t> begin{0};  // 0: free; kClaimed: being set up or torn down
  std::atomic<std::uintptr_t> end{0};
  // High 32 bits: faults counted by the handler. Low 32 bits: faults recovered (invariant 7).
  std::atomic<std::uint64_t> state{0};
};

constexpr std::uintptr_t kClaimed = 1;
constexpr int kMaxSlots = 1024;
FaultSlot g_slots[kMaxSlots];
struct sigaction g_previous_sigbus {};
std::once_flag g_install_once;

bool Faulted(int slot) {
  const std::uint64_t s = g_slots[slot].state.load(std::memory_order_relaxed);
  return (s >> 32) != (s & 0xFFFFFFFFu);
}

void ChainSigbus(int sig, siginfo_t* info, void* context) {
  const struct sigaction& prev = g_previous_sigbus;
  if ((prev.sa_flags & SA_SIGINFO) != 0 && prev.sa_sigaction != nullptr) {
    prev.sa_sigaction(sig, info, context);
    return;
  }
  if ((prev.sa_flags & SA_SIGINFO) == 0 && prev.sa_handler != SIG_DFL &&
      prev.sa_handler != SIG_IGN) {
    prev.sa_handler(sig);
    return;
  }
  // An ignored SIGBUS sent by a process stays ignored; a fault cannot be (it would re-fault).
  if (prev.sa_handler == SIG_IGN && (info == nullptr || info->si_code <= 0)) return;
  // Default action: restore it and re-raise (delivered as soon as this handler returns).
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  ::sigaction(sig, &dfl, nullptr);
  ::raise(sig);
}

// Async-signal-safe: atomics, the raw mmap system call, sigaction and raise only.
void OnSigbus(int sig, siginfo_t* info, void* context) {
  const int saved_errno = errno;
  // si_code > 0: raised by the kernel for a fault (kill/sigqueue/raise give <= 0).
  if (info != nullptr && info->si_code > 0) {
    const auto addr = reinterpret_cast<std::uintptr_t>(info->si_addr);
    for (FaultSlot& slot : g_slots) {
      const std::uintptr_t begin = slot.begin.load(std::memory_order_acquire);
      if (begin <= kClaimed || addr < begin) continue;
      const std::uintptr_t end = slot.end.load(std::memory_order_acquire);
      if (addr >= end) continue;
      // Count first, then replace the page: whoever reads the anonymous page sees the count.
      slot.state.fetch_add(std::uint64_t{1} << 32, std::memory_order_seq_cst);
      long r = ::syscall(SYS_mmap, begin, end - begin, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
      errno = saved_errno;
      if (r != -1) return;  // the faulting instruction re-executes on the anonymous page
      break;
    }
  }
  errno = saved_errno;
  ChainSigbus(sig, info, context);
}

void InstallSigbusHandler() {
  std::call_once(g_install_once, [] {
    ::sigaction(SIGBUS, nullptr, &g_previous_sigbus);
    struct sigaction sa {};
    sa.sa_sigaction = &OnSigbus;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGBUS, &sa, nullptr);
  });
}

// Returns the slot index, or -1 if all are taken.
int RegisterMapping(void* mapping, std::size_t length) {
  InstallSigbusHandler();
  const auto begin = reinterpret_cast<std::uintptr_t>(mapping);
  const std::uintptr_t page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  const std::uintptr_t end = begin + ((length + page - 1) / page) * page;
  for (int i = 0; i < kMaxSlots; ++i) {
    std::uintptr_t expected = 0;
    if (g_slots[i].begin.compare_exchange_strong(expected, kClaimed, std::memory_order_acq_rel)) {
      g_slots[i].state.store(0, std::memory_order_relaxed);
      g_slots[i].end.store(end, std::memory_order_relaxed);
      g_slots[i].begin.store(begin, std::memory_order_release);
      return i;
    }
  }
  return -1;
}

// ---------------------------------------------------------------------------------------------
// The file (invariant 1).

std::string GenPath(const std::string& db_path) { return db_path + "-gen"; }

std::string Remedy(const std::string& db_path) {
  return "; remove it (while no statestore process has " + db_path +
         " open) and open the database again";
}

const char* FileKind(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISLNK(mode)) return "a symbolic link";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode) || S_ISBLK(mode)) return "a device";
  return "not a regular file";
}

struct GenFile {
  int fd = -1;
  struct stat st {};
  bool missing = false;
  bool created = false;

  GenFile() = default;
  GenFile(const GenFile&) = delete;
  GenFile& operator=(const GenFile&) = delete;
  GenFile(GenFile&& o) noexcept : fd(o.fd), st(o.st), missing(o.missing), created(o.created) {
    o.fd = -1;
  }
  GenFile& operator=(GenFile&& o) noexcept {
    if (this != &o) {
      if (fd >= 0) ::close(fd);
      fd = std::exchange(o.fd, -1);
      st = o.st;
      missing = o.missing;
      created = o.created;
    }
    return *this;
  }
  ~GenFile() {
    if (fd >= 0) ::close(fd);
  }
  int release() { return std::exchange(fd, -1); }
  bool is_short() const {
    return !missing && st.st_size < static_cast<off_t>(SharedGeneration::kFileSize);
  }
};

// Opens <db>-gen without following links or blocking (`create`: O_CREAT|O_EXCL first) and checks
// invariant 1 except the size. Throws: Error(kInvalidArgument) naming what is wrong; kIoError.
GenFile OpenGen(const std::string& db_path, const struct stat& db, bool writable, bool create) {
  const std::string path = GenPath(db_path);
  const int base = O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | (writable ? O_RDWR : O_RDONLY);
  GenFile f;
  if (create) {
    f.fd = ::open(path.c_str(), base | O_CREAT | O_EXCL, 0600);
    f.created = f.fd >= 0;
  }
  if (f.fd < 0 && (!create || errno == EEXIST)) f.fd = ::open(path.c_str(), base);
  if (f.fd < 0) {
    const int err = errno;
    if (err == ENOENT) {
      f.missing = true;
      return f;
    }
    if (err == ELOOP) {
      throw Error(ErrorCode::kInvalidArgument,
                  path +
                      " is a symbolic link; statestore keeps its change counter in a plain "
                      "file there and never follows links" +
                      Remedy(db_path));
    }
    if (err == EISDIR || err == ENXIO) {
      throw Error(ErrorCode::kInvalidArgument,
                  path + " is " + (err == EISDIR ? "a directory" : "a socket or device") +
                      ", not the 4 KiB change counter statestore keeps there" + Remedy(db_path));
    }
    if (err == EACCES || err == EROFS || err == EPERM) {
      throw Error(ErrorCode::kReadOnly,
                  "cannot " + std::string(create ? "create " : "open ") + path + ": " +
                      std::strerror(err) +
                      " (the directory must be writable, as for SQLite's -wal and -shm files; "
                      "open the database with Options::read_only to only read it)");
    }
    if (err == ENOSPC || err == EDQUOT) {
      throw Error(ErrorCode::kFull, "cannot create " + path + ": " + std::strerror(err));
    }
    throw Error(ErrorCode::kIoError, "cannot open " + path + ": " + std::strerror(err));
  }
  if (::fstat(f.fd, &f.st) != 0) {
    const int err = errno;
    throw Error(ErrorCode::kIoError, "cannot stat " + path + ": " + std::strerror(err));
  }
  if (!S_ISREG(f.st.st_mode)) {
    throw Error(ErrorCode::kInvalidArgument,
                path + " is " + FileKind(f.st.st_mode) +
                    ", not the 4 KiB change counter statestore keeps there" + Remedy(db_path));
  }
  if (f.st.st_nlink > 1) {
    throw Error(ErrorCode::kInvalidArgument,
                path + " has " + std::to_string(f.st.st_nlink) +
                    " hard links; the change counter must have exactly one name, or processes "
                    "using another name would share it with strangers. Remove the other names" +
                    Remedy(db_path));
  }
  if (f.st.st_dev != db.st_dev) {
    throw Error(ErrorCode::kInvalidArgument, path + " is on another file system than " + db_path +
                                                 " (something is mounted over it)" +
                                                 Remedy(db_path));
  }
  if (f.st.st_uid != db.st_uid && f.st.st_uid != ::geteuid()) {
    throw Error(ErrorCode::kInvalidArgument,
                path + " belongs to uid " + std::to_string(f.st.st_uid) + ", but " + db_path +
                    " belongs to uid " + std::to_string(db.st_uid) +
                    "; a change counter another user can write could hide commits from this "
                    "process's read cache" +
                    Remedy(db_path));
  }
  return f;
}

void WriteSeed(int fd) {
  const std::uint64_t seed = Random64();
  while (::pwrite(fd, &seed, sizeof seed, 0) < 0 && errno == EINTR) {
  }
}

// Invariant 2 (REQUIRES: F_WRLCK on the identity bytes): creates or repairs the file and seeds
// it. Throws: as OpenGen; kFull/kIoError when the page cannot be reserved.
GenFile CreateOrRepair(const std::string& db_path, const struct stat& db) {
  GenFile f = OpenGen(db_path, db, /*writable=*/true, /*create=*/true);
  if (f.created && ::geteuid() == 0 && db.st_uid != 0) {
    // Like SQLite does for -wal/-shm: a file root creates belongs to the database's owner.
    if (::fchown(f.fd, db.st_uid, db.st_gid) == 0) f.st.st_uid = db.st_uid;
  }
  WriteSeed(f.fd);  // nobody maps it (invariant 2): a plain write cannot tear a live counter
  const int rc = ::posix_fallocate(f.fd, 0, SharedGeneration::kFileSize);
  if (rc != 0) {
    const std::string path = GenPath(db_path);
    if (f.created) ::unlink(path.c_str());
    throw Error(rc == ENOSPC || rc == EDQUOT ? ErrorCode::kFull : ErrorCode::kIoError,
                "cannot reserve the change counter " + path + ": " + std::strerror(rc));
  }
  if (::fstat(f.fd, &f.st) != 0) {
    const int err = errno;
    throw Error(ErrorCode::kIoError, "cannot stat " + GenPath(db_path) + ": " + std::strerror(err));
  }
  return f;
}

// ---------------------------------------------------------------------------------------------
// Counter identity on the database file.

off_t IdentityByte(ino_t ino, int bit, bool complement) {
  const unsigned value = static_cast<unsigned>((static_cast<std::uint64_t>(ino) >> bit) & 1u);
  return kCounterIdBase + 2 * bit + static_cast<off_t>(complement ? 1u - value : value);
}

// The strongest lock other processes hold on the complement of `ino`'s identity bytes:
// F_WRLCK (an opener is creating the file), F_RDLCK (someone maps another inode), or F_UNLCK.
short ComplementHeld(const PresenceLock& db, ino_t ino) {
  short strongest = F_UNLCK;
  for (int bit = 0; bit < 64; ++bit) {
    short held = db.Conflicting(IdentityByte(ino, bit, true), 1, F_WRLCK);
    if (held == F_WRLCK) return F_WRLCK;
    if (held == F_RDLCK) strongest = F_RDLCK;
  }
  return strongest;
}

bool PatternHeldByOthers(const PresenceLock& db, ino_t ino) {
  return db.Conflicting(IdentityByte(ino, 0, false), 1, F_WRLCK) != F_UNLCK;
}

// Takes F_RDLCK on `ino`'s identity bytes; false (holding none) if a creator holds them.
bool LockIdentity(PresenceLock& db, ino_t ino) {
  for (int bit = 0; bit < 64; ++bit) {
    if (!db.TryLock(IdentityByte(ino, bit, false), 1, F_RDLCK)) {
      db.TryLock(kCounterIdBase, kCounterIdBytes, F_UNLCK);
      return false;
    }
  }
  return true;
}

std::string DeletedWhileOpen(const std::string& db_path, const std::string& what) {
  return GenPath(db_path) + " was " + what + " while other processes have " + db_path +
         " open; their read caches cannot see new commits through a new counter, so no process "
         "may join them. Restart them (every process using " +
         db_path + "), then open it again";
}

bool SamePathInode(const std::string& path, const struct stat& st) {
  struct stat now {};
  return ::lstat(path.c_str(), &now) == 0 && now.st_ino == st.st_ino && now.st_dev == st.st_dev;
}

}  // namespace

// ---------------------------------------------------------------------------------------------

std::unique_ptr<SharedGeneration> SharedGeneration::Attach(PresenceLock& db, bool writable,
                                                           std::chrono::milliseconds wait,
                                                           std::string* why) {
  const std::string& db_path = db.path();
  const std::string path = GenPath(db_path);
  const auto deadline = std::chrono::steady_clock::now() + wait;
  auto pause = std::chrono::microseconds(200);
  GenFile file;
  for (;;) {
    if (writable && db.TryLock(kCounterIdBase, kCounterIdBytes, F_WRLCK)) {
      // Invariant 2: no live process maps a counter and nobody else is creating one.
      try {
        file = CreateOrRepair(db_path, db.file_stat());
      } catch (...) {
        db.TryLock(kCounterIdBase, kCounterIdBytes, F_UNLCK);
        throw;
      }
      // Convert our own lock: identity bytes to F_RDLCK, the rest unlocked. Never fails.
      for (int bit = 0; bit < 64; ++bit) {
        db.TryLock(IdentityByte(file.st.st_ino, bit, false), 1, F_RDLCK);
        db.TryLock(IdentityByte(file.st.st_ino, bit, true), 1, F_UNLCK);
      }
      break;
    }
    // Invariant 3: join the live processes' counter.
    file = OpenGen(db_path, db.file_stat(), writable, /*create=*/false);
    bool retry = false;
    if (file.missing || file.is_short()) {
      const short held = db.Conflicting(kCounterIdBase, kCounterIdBytes, F_WRLCK);
      if (held == F_WRLCK) {
        retry = true;  // an opener is creating it
      } else if (held == F_RDLCK) {
        const bool ours = !file.missing && PatternHeldByOthers(db, file.st.st_ino) &&
                          ComplementHeld(db, file.st.st_ino) == F_UNLCK;
        if (ours && writable) {
          // Truncated under the live processes: repair in place (invariant 7).
          if (!LockIdentity(db, file.st.st_ino)) {
            retry = true;
          } else {
            if (file.st.st_size < static_cast<off_t>(sizeof(std::uint64_t))) WriteSeed(file.fd);
            const int rc = ::posix_fallocate(file.fd, 0, kFileSize);
            const int err = rc != 0 ? rc : (::fstat(file.fd, &file.st) != 0 ? errno : 0);
            if (err != 0) {
              db.TryLock(kCounterIdBase, kCounterIdBytes, F_UNLCK);
              throw Error(
                  err == ENOSPC || err == EDQUOT ? ErrorCode::kFull : ErrorCode::kIoError,
                  "cannot repair the truncated change counter " + path + ": " + std::strerror(err));
            }
            break;
          }
        } else if (writable) {
          throw Error(
              ErrorCode::kBusy,
              DeletedWhileOpen(db_path, file.missing ? "deleted" : "truncated or replaced"));
        } else {
          *why = DeletedWhileOpen(db_path, file.missing ? "deleted" : "truncated or replaced") +
                 " (this read-only Store reads without a cache meanwhile)";
          return nullptr;
        }
      } else if (writable) {
        retry = true;  // the live processes just left: take the exclusive path
      } else {
        *why = path + (file.missing ? " does not exist yet (the first read-write open creates it)"
                                    : " is shorter than 4 KiB");
        return nullptr;
      }
    } else {
      const short complement = ComplementHeld(db, file.st.st_ino);
      if (complement == F_RDLCK) {
        if (writable) throw Error(ErrorCode::kBusy, DeletedWhileOpen(db_path, "replaced"));
        *why = DeletedWhileOpen(db_path, "replaced") +
               " (this read-only Store reads without a cache meanwhile)";
        return nullptr;
      }
      if (complement == F_UNLCK && LockIdentity(db, file.st.st_ino)) {
        // A creator may have finished between the check and the lock: check again.
        if (ComplementHeld(db, file.st.st_ino) == F_UNLCK && SamePathInode(path, file.st)) break;
        db.TryLock(kCounterIdBase, kCounterIdBytes, F_UNLCK);
      }
      retry = true;
    }
    if (!retry) break;
    if (std::chrono::steady_clock::now() >= deadline) {
      if (!writable) {
        *why = "another process kept creating " + path;
        return nullptr;
      }
      throw Error(ErrorCode::kBusy,
                  "another process kept " + path + " locked while creating it; waited " +
                      std::to_string(wait.count()) + " ms (Options::busy_timeout)");
    }
    std::this_thread::sleep_for(pause);
    pause = std::min<std::chrono::microseconds>(pause * 2, std::chrono::milliseconds(5));
  }

  // Map it and register the mapping with the SIGBUS handler (invariant 5).
  const int prot = writable ? PROT_READ | PROT_WRITE : PROT_READ;
  void* mapping = ::mmap(nullptr, kFileSize, prot, MAP_SHARED, file.fd, 0);
  if (mapping == MAP_FAILED) {
    const int err = errno;
    db.TryLock(kCounterIdBase, kCounterIdBytes, F_UNLCK);
    throw Error(ErrorCode::kIoError, "cannot map " + path + ": " + std::strerror(err));
  }
  auto generation = std::unique_ptr<SharedGeneration>(new SharedGeneration(
      path, file.release(), writable, mapping, kFileSize, file.st.st_dev, file.st.st_ino));
  generation->slot_ = RegisterMapping(mapping, kFileSize);
  if (generation->slot_ < 0) {
    db.TryLock(kCounterIdBase, kCounterIdBytes, F_UNLCK);
    throw Error(ErrorCode::kInvalidArgument,
                "too many Stores open in this process (" + std::to_string(kMaxSlots) + ")");
  }
  return generation;
}

SharedGeneration::SharedGeneration(std::string path, int fd, bool writable, void* mapping,
                                   std::size_t length, dev_t dev, ino_t ino)
    : path_(std::move(path)),
      fd_(fd),
      writable_(writable),
      mapping_(mapping),
      length_(length),
      dev_(dev),
      ino_(ino),
      degraded_base_(Random64()) {}

SharedGeneration::~SharedGeneration() {
  if (slot_ >= 0) g_slots[slot_].begin.store(kClaimed, std::memory_order_release);
  ::munmap(mapping_, length_);
  if (slot_ >= 0) g_slots[slot_].begin.store(0, std::memory_order_release);
  ::close(fd_);
}

void SharedGeneration::Reseed(const std::string& db_path) noexcept {
  const std::string path = GenPath(db_path);
  int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) return;
  struct stat st {};
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_nlink == 1 &&
      st.st_size >= static_cast<off_t>(kFileSize)) {
    WriteSeed(fd);
  }
  ::close(fd);
}

std::uint64_t SharedGeneration::Load() const {
  // The acquire load keeps the check below after it (invariant 5).
  const std::uint64_t value =
      std::atomic_ref<std::uint64_t>(*counter()).load(std::memory_order_acquire);
  if (Faulted(slot_)) [[unlikely]] {
    Recover(/*force=*/false);
    return DegradedValue();
  }
  return value;
}

std::uint64_t SharedGeneration::Bump() {
  const std::uint64_t before =
      std::atomic_ref<std::uint64_t>(*counter()).fetch_add(1, std::memory_order_acq_rel);
  if (!Faulted(slot_)) [[likely]] {
    return before;
  }
  // Invariant 7: the increment may have gone to the anonymous page. Recover and bump the real
  // counter before the commit is reported, then answer a value that matches nothing cached.
  for (int attempt = 0; attempt < 3 && Recover(/*force=*/true); ++attempt) {
    std::atomic_ref<std::uint64_t>(*counter()).fetch_add(1, std::memory_order_acq_rel);
    if (!Faulted(slot_)) break;
  }
  return DegradedValue();
}

bool SharedGeneration::usable() const { return !Faulted(slot_); }

std::uint64_t SharedGeneration::DegradedValue() const {
  return degraded_base_ + degraded_seq_.fetch_add(1, std::memory_order_relaxed);
}

bool SharedGeneration::RepairSize() const {
  struct stat st {};
  if (::fstat(fd_, &st) != 0) return false;
  if (st.st_size >= static_cast<off_t>(kFileSize)) return true;
  if (!writable_) return false;
  // The counter's bytes are gone: never let it reappear as 0 (or any old value).
  if (st.st_size < static_cast<off_t>(sizeof(std::uint64_t))) WriteSeed(fd_);
  return ::posix_fallocate(fd_, 0, kFileSize) == 0;
}

bool SharedGeneration::Recover(bool force) const {
  if (!force) {
    const std::int64_t now = NowNs();
    std::int64_t next = next_recovery_ns_.load(std::memory_order_relaxed);
    if (now < next || !next_recovery_ns_.compare_exchange_strong(next, now + 1'000'000,
                                                                 std::memory_order_relaxed)) {
      return false;
    }
  }
  MutexLock lock(&mu_);
  std::uint64_t state = g_slots[slot_].state.load(std::memory_order_acquire);
  if ((state >> 32) == (state & 0xFFFFFFFFu)) return true;
  if (!RepairSize()) return false;
  const int prot = writable_ ? PROT_READ | PROT_WRITE : PROT_READ;
  if (::mmap(mapping_, length_, prot, MAP_SHARED | MAP_FIXED, fd_, 0) == MAP_FAILED) return false;
  const std::uint64_t recovered = (state & 0xFFFFFFFF00000000u) | (state >> 32);
  return g_slots[slot_].state.compare_exchange_strong(state, recovered, std::memory_order_acq_rel);
}

std::string SharedGeneration::CheckFile() {
  std::string problem;
  struct stat st {};
  if (::fstat(fd_, &st) == 0 && st.st_size < static_cast<off_t>(kFileSize)) {
    bool repaired = false;
    {
      MutexLock lock(&mu_);
      repaired = RepairSize();
    }
    problem = path_ + " was truncated to " + std::to_string(st.st_size) + " bytes; " +
              (repaired ? "restored its size and seeded a new counter value"
                        : "could not restore its size: read caches stay off until it is");
  }
  if (Faulted(slot_)) Recover(/*force=*/true);
  struct stat now {};
  if (::lstat(path_.c_str(), &now) != 0 || st.st_nlink == 0) {
    problem = path_ + " was deleted while this process has the database open";
  } else if (now.st_ino != ino_ || now.st_dev != dev_) {
    problem = path_ + " was replaced by another file while this process has the database open";
  }
  if (problem.empty()) {
    reported_.clear();
    return {};
  }
  if (problem == reported_) return {};
  reported_ = problem;
  if (problem.find("truncated") != std::string::npos) return problem;
  return problem +
         ": the processes running now still share the old counter and stay coherent, but no "
         "new process can open the database read-write until all of them have restarted";
}

}  // namespace statestore::internal

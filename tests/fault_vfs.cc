#include "fault_vfs.h"

#include <fcntl.h>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>

namespace statestore::test {

namespace {

// Guards every counted operation from its decision to the end of the real call, so that the
// content read after a successful xSync is exactly what that fsync made durable (no other
// handle's write can slip in between). Always taken before FaultVfs::mu_.
std::mutex g_io_mu;

sqlite3_vfs* g_real = nullptr;  // the VFS we forward to; set once by Install()
sqlite3_vfs g_vfs;              // the shim
FaultVfs* g_instance = nullptr;

// Our file object; the real VFS's file object follows it at kRealOffset.
struct FaultFile {
  sqlite3_file base;  // must be first: SQLite sees a sqlite3_file*
  sqlite3_file* real;
  std::string* path;  // null for anonymous temp files
  bool counted;       // main db, -wal or rollback journal
};

constexpr std::size_t kRealOffset = (sizeof(FaultFile) + alignof(std::max_align_t) - 1) /
                                    alignof(std::max_align_t) * alignof(std::max_align_t);

FaultFile* Cast(sqlite3_file* f) { return reinterpret_cast<FaultFile*>(f); }
sqlite3_file* Real(sqlite3_file* f) { return Cast(f)->real; }

std::size_t Index(FaultOp op) { return static_cast<std::size_t>(op); }

int ErrorFor(FaultOp op, FaultErrno error) {
  switch (op) {
    case FaultOp::kWrite:
      return error == FaultErrno::kEnospc ? SQLITE_FULL : SQLITE_IOERR_WRITE;
    case FaultOp::kSync:
      return SQLITE_IOERR_FSYNC;
    case FaultOp::kTruncate:
      return SQLITE_IOERR_TRUNCATE;
    case FaultOp::kAny:
      break;
  }
  return SQLITE_IOERR;
}

std::optional<std::string> ReadPath(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::nullopt;
    throw std::system_error(errno, std::generic_category(), "open " + path);
  }
  std::string content;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      throw std::system_error(err, std::generic_category(), "read " + path);
    }
    if (n == 0) break;
    content.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return content;
}

void WritePath(const std::string& path, const std::string& content) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "open " + path);
  std::size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      throw std::system_error(err, std::generic_category(), "write " + path);
    }
    done += static_cast<std::size_t>(n);
  }
  ::close(fd);
}

void RemovePath(const std::string& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    throw std::system_error(errno, std::generic_category(), "unlink " + path);
  }
}

// ---- sqlite3_io_methods ----

int FClose(sqlite3_file* f) {
  FaultFile* ff = Cast(f);
  int rc = ff->real->pMethods != nullptr ? ff->real->pMethods->xClose(ff->real) : SQLITE_OK;
  delete ff->path;
  ff->path = nullptr;
  g_instance->OnClose();
  return rc;
}

int FRead(sqlite3_file* f, void* buf, int amount, sqlite3_int64 offset) {
  return Real(f)->pMethods->xRead(Real(f), buf, amount, offset);
}

int FWrite(sqlite3_file* f, const void* buf, int amount, sqlite3_int64 offset) {
  FaultFile* ff = Cast(f);
  if (!ff->counted) return ff->real->pMethods->xWrite(ff->real, buf, amount, offset);
  std::lock_guard io(g_io_mu);
  int rc = SQLITE_OK;
  if (g_instance->Decide(FaultOp::kWrite, *ff->path, &rc) != FaultVfs::Decision::kProceed)
    return rc;
  return ff->real->pMethods->xWrite(ff->real, buf, amount, offset);
}

int FTruncate(sqlite3_file* f, sqlite3_int64 size) {
  FaultFile* ff = Cast(f);
  if (!ff->counted) return ff->real->pMethods->xTruncate(ff->real, size);
  std::lock_guard io(g_io_mu);
  int rc = SQLITE_OK;
  if (g_instance->Decide(FaultOp::kTruncate, *ff->path, &rc) != FaultVfs::Decision::kProceed)
    return rc;
  return ff->real->pMethods->xTruncate(ff->real, size);
}

int FSync(sqlite3_file* f, int flags) {
  FaultFile* ff = Cast(f);
  if (!ff->counted) return ff->real->pMethods->xSync(ff->real, flags);
  std::lock_guard io(g_io_mu);
  int rc = SQLITE_OK;
  if (g_instance->Decide(FaultOp::kSync, *ff->path, &rc) != FaultVfs::Decision::kProceed) return rc;
  if (g_instance->real_sync()) {
    rc = ff->real->pMethods->xSync(ff->real, flags);
    if (rc != SQLITE_OK) return rc;
  }
  // fsync() made the whole file durable: remember its content now.
  sqlite3_int64 size = 0;
  int src = ff->real->pMethods->xFileSize(ff->real, &size);
  if (src != SQLITE_OK) return src;
  std::string content(static_cast<std::size_t>(size), '\0');
  if (size > 0) {
    src = ff->real->pMethods->xRead(ff->real, content.data(), static_cast<int>(size), 0);
    if (src != SQLITE_OK) return src;
  }
  g_instance->OnSynced(*ff->path, std::move(content));
  return SQLITE_OK;
}

int FFileSize(sqlite3_file* f, sqlite3_int64* size) {
  return Real(f)->pMethods->xFileSize(Real(f), size);
}
int FLock(sqlite3_file* f, int lock) { return Real(f)->pMethods->xLock(Real(f), lock); }
int FUnlock(sqlite3_file* f, int lock) { return Real(f)->pMethods->xUnlock(Real(f), lock); }
int FCheckReservedLock(sqlite3_file* f, int* out) {
  return Real(f)->pMethods->xCheckReservedLock(Real(f), out);
}
int FFileControl(sqlite3_file* f, int op, void* arg) {
  return Real(f)->pMethods->xFileControl(Real(f), op, arg);
}
int FSectorSize(sqlite3_file* f) { return Real(f)->pMethods->xSectorSize(Real(f)); }
int FDeviceCharacteristics(sqlite3_file* f) {
  return Real(f)->pMethods->xDeviceCharacteristics(Real(f));
}
int FShmMap(sqlite3_file* f, int region, int size, int extend, void volatile** pp) {
  return Real(f)->pMethods->xShmMap(Real(f), region, size, extend, pp);
}
int FShmLock(sqlite3_file* f, int offset, int n, int flags) {
  return Real(f)->pMethods->xShmLock(Real(f), offset, n, flags);
}
void FShmBarrier(sqlite3_file* f) { Real(f)->pMethods->xShmBarrier(Real(f)); }
int FShmUnmap(sqlite3_file* f, int delete_flag) {
  return Real(f)->pMethods->xShmUnmap(Real(f), delete_flag);
}
int FFetch(sqlite3_file* f, sqlite3_int64 offset, int amount, void** pp) {
  return Real(f)->pMethods->xFetch(Real(f), offset, amount, pp);
}
int FUnfetch(sqlite3_file* f, sqlite3_int64 offset, void* p) {
  return Real(f)->pMethods->xUnfetch(Real(f), offset, p);
}

const sqlite3_io_methods kMethods = {
    3,
    FClose,
    FRead,
    FWrite,
    FTruncate,
    FSync,
    FFileSize,
    FLock,
    FUnlock,
    FCheckReservedLock,
    FFileControl,
    FSectorSize,
    FDeviceCharacteristics,
    FShmMap,
    FShmLock,
    FShmBarrier,
    FShmUnmap,
    FFetch,
    FUnfetch,
};

// ---- sqlite3_vfs ----

int VOpen(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* file, int flags, int* out_flags) {
  FaultFile* ff = Cast(file);
  ff->base.pMethods = nullptr;
  ff->real = reinterpret_cast<sqlite3_file*>(reinterpret_cast<char*>(file) + kRealOffset);
  ff->real->pMethods = nullptr;
  ff->path = nullptr;
  ff->counted = name != nullptr &&
                (flags & (SQLITE_OPEN_MAIN_DB | SQLITE_OPEN_WAL | SQLITE_OPEN_MAIN_JOURNAL)) != 0;
  if (ff->counted) {
    try {
      g_instance->Track(name, (flags & SQLITE_OPEN_MAIN_DB) != 0);
    } catch (const std::exception&) {
      return SQLITE_CANTOPEN;
    }
  }
  int rc = g_real->xOpen(g_real, name, ff->real, flags, out_flags);
  if (rc != SQLITE_OK) {
    // SQLite calls xClose only when pMethods is set; the real VFS leaves it null on failure.
    if (ff->real->pMethods != nullptr) ff->real->pMethods->xClose(ff->real);
    return rc;
  }
  if (name != nullptr) ff->path = new std::string(name);
  ff->base.pMethods = &kMethods;
  g_instance->OnOpened();
  return SQLITE_OK;
}

int VDelete(sqlite3_vfs*, const char* name, int sync_dir) {
  if (g_instance->crashed()) return SQLITE_IOERR_DELETE;  // the machine is off
  int rc = g_real->xDelete(g_real, name, sync_dir);
  if (rc == SQLITE_OK) g_instance->OnDelete(name);
  return rc;
}
int VAccess(sqlite3_vfs*, const char* name, int flags, int* out) {
  return g_real->xAccess(g_real, name, flags, out);
}
int VFullPathname(sqlite3_vfs*, const char* name, int n, char* out) {
  return g_real->xFullPathname(g_real, name, n, out);
}
void* VDlOpen(sqlite3_vfs*, const char* name) { return g_real->xDlOpen(g_real, name); }
void VDlError(sqlite3_vfs*, int n, char* out) { g_real->xDlError(g_real, n, out); }
void (*VDlSym(sqlite3_vfs*, void* handle, const char* symbol))(void) {
  return g_real->xDlSym(g_real, handle, symbol);
}
void VDlClose(sqlite3_vfs*, void* handle) { g_real->xDlClose(g_real, handle); }
int VRandomness(sqlite3_vfs*, int n, char* out) { return g_real->xRandomness(g_real, n, out); }
int VSleep(sqlite3_vfs*, int micros) { return g_real->xSleep(g_real, micros); }
int VCurrentTime(sqlite3_vfs*, double* out) { return g_real->xCurrentTime(g_real, out); }
int VGetLastError(sqlite3_vfs*, int n, char* out) { return g_real->xGetLastError(g_real, n, out); }
int VCurrentTimeInt64(sqlite3_vfs*, sqlite3_int64* out) {
  return g_real->xCurrentTimeInt64(g_real, out);
}
int VSetSystemCall(sqlite3_vfs*, const char* name, sqlite3_syscall_ptr ptr) {
  return g_real->xSetSystemCall(g_real, name, ptr);
}
sqlite3_syscall_ptr VGetSystemCall(sqlite3_vfs*, const char* name) {
  return g_real->xGetSystemCall(g_real, name);
}
const char* VNextSystemCall(sqlite3_vfs*, const char* name) {
  return g_real->xNextSystemCall(g_real, name);
}

}  // namespace

const char* ToString(FaultOp op) {
  switch (op) {
    case FaultOp::kWrite:
      return "write";
    case FaultOp::kSync:
      return "fsync";
    case FaultOp::kTruncate:
      return "truncate";
    case FaultOp::kAny:
      return "any";
  }
  return "?";
}

const char* ToString(FaultErrno error) { return error == FaultErrno::kEio ? "EIO" : "ENOSPC"; }

FaultVfs& FaultVfs::Install() {
  static std::once_flag once;
  std::call_once(once, [] {
    g_instance = new FaultVfs();  // process lifetime: SQLite may call into the shim until exit
    g_real = sqlite3_vfs_find(nullptr);
    if (g_real == nullptr || g_real->iVersion < 3) {
      throw std::logic_error("FaultVfs needs a default VFS of version 3");
    }
    std::memset(&g_vfs, 0, sizeof g_vfs);
    g_vfs.iVersion = 3;
    g_vfs.szOsFile = static_cast<int>(kRealOffset) + g_real->szOsFile;
    g_vfs.mxPathname = g_real->mxPathname;
    g_vfs.zName = kName;
    g_vfs.xOpen = VOpen;
    g_vfs.xDelete = VDelete;
    g_vfs.xAccess = VAccess;
    g_vfs.xFullPathname = VFullPathname;
    g_vfs.xDlOpen = VDlOpen;
    g_vfs.xDlError = VDlError;
    g_vfs.xDlSym = VDlSym;
    g_vfs.xDlClose = VDlClose;
    g_vfs.xRandomness = VRandomness;
    g_vfs.xSleep = VSleep;
    g_vfs.xCurrentTime = VCurrentTime;
    g_vfs.xGetLastError = VGetLastError;
    g_vfs.xCurrentTimeInt64 = VCurrentTimeInt64;
    g_vfs.xSetSystemCall = VSetSystemCall;
    g_vfs.xGetSystemCall = VGetSystemCall;
    g_vfs.xNextSystemCall = VNextSystemCall;
  });
  int rc = sqlite3_vfs_register(&g_vfs, 1);
  if (rc != SQLITE_OK) throw std::runtime_error("sqlite3_vfs_register failed");
  return *g_instance;
}

void FaultVfs::Uninstall() {
  if (g_real != nullptr) sqlite3_vfs_register(g_real, 1);
}

const char* FaultVfs::real_vfs_name() const { return g_real->zName; }

void FaultVfs::Reset() {
  std::lock_guard lock(mu_);
  if (open_files_ != 0) throw std::logic_error("FaultVfs::Reset with files open");
  for (auto& c : counts_) c = 0;
  plan_ = FaultPlan{};
  fired_ = false;
  faults_ = 0;
  dropped_ = 0;
  first_fault_op_.reset();
  first_fault_at_ = 0;
  crash_at_ = 0;
  crashed_ = false;
  tracked_.clear();
}

void FaultVfs::Arm(const FaultPlan& plan) {
  std::lock_guard lock(mu_);
  plan_ = plan;
  fired_ = false;
}

void FaultVfs::Disarm() {
  std::lock_guard lock(mu_);
  plan_ = FaultPlan{};
  fired_ = false;
  crash_at_ = 0;
}

void FaultVfs::CrashAt(std::uint64_t nth) {
  std::lock_guard lock(mu_);
  crash_at_ = nth;
}

bool FaultVfs::crashed() const {
  std::lock_guard lock(mu_);
  return crashed_;
}

std::uint64_t FaultVfs::ops(FaultOp op) const {
  std::lock_guard lock(mu_);
  return counts_[Index(op)];
}

std::uint64_t FaultVfs::faults() const {
  std::lock_guard lock(mu_);
  return faults_;
}

std::uint64_t FaultVfs::dropped() const {
  std::lock_guard lock(mu_);
  return dropped_;
}

std::optional<FaultOp> FaultVfs::first_fault_op() const {
  std::lock_guard lock(mu_);
  return first_fault_op_;
}

std::uint64_t FaultVfs::first_fault_at() const {
  std::lock_guard lock(mu_);
  return first_fault_at_;
}

void FaultVfs::set_real_sync(bool on) {
  std::lock_guard lock(mu_);
  real_sync_ = on;
}

bool FaultVfs::real_sync() const {
  std::lock_guard lock(mu_);
  return real_sync_;
}

int FaultVfs::open_files() const {
  std::lock_guard lock(mu_);
  return open_files_;
}

FaultVfs::Decision FaultVfs::Decide(FaultOp op, const std::string& path, int* rc) {
  static const bool trace = std::getenv("STATESTORE_FAULT_TRACE") != nullptr;
  std::lock_guard lock(mu_);
  ++counts_[Index(op)];
  const std::uint64_t global = ++counts_[Index(FaultOp::kAny)];
  if (trace) {
    std::fprintf(stderr, "fault-vfs: op %llu %s %s\n", static_cast<unsigned long long>(global),
                 ToString(op), path.substr(path.rfind('/') + 1).c_str());
  }
  if (crashed_ || (crash_at_ != 0 && global >= crash_at_)) {
    crashed_ = true;
    ++dropped_;
    *rc = ErrorFor(op, FaultErrno::kEio);
    return Decision::kDrop;
  }
  bool fail = fired_ && plan_.sticky;
  if (!fired_ && plan_.nth != 0 && (plan_.op == FaultOp::kAny || plan_.op == op) &&
      counts_[Index(plan_.op)] == plan_.nth) {
    fail = true;
    fired_ = true;
    first_fault_op_ = op;
    first_fault_at_ = global;
  }
  if (!fail) return Decision::kProceed;
  ++faults_;
  *rc = ErrorFor(op, plan_.error);
  return Decision::kFail;
}

void FaultVfs::Track(const std::string& path, bool is_main_db) {
  std::lock_guard lock(mu_);
  auto it = tracked_.find(path);
  if (it == tracked_.end()) {
    // First sight: whatever the file holds now is the baseline (taken as durable).
    it = tracked_.emplace(path, Tracked{ReadPath(path), false}).first;
  }
  it->second.main_db |= is_main_db;
}

void FaultVfs::OnOpened() {
  std::lock_guard lock(mu_);
  ++open_files_;
}

void FaultVfs::OnSynced(const std::string& path, std::string content) {
  std::lock_guard lock(mu_);
  tracked_[path].durable = std::move(content);
}

void FaultVfs::OnDelete(const std::string& path) {
  std::lock_guard lock(mu_);
  auto it = tracked_.find(path);
  if (it == tracked_.end()) return;
  // The file is gone for good; a later file of the same name starts out never synced. Keep a
  // main database's entry so that its -shm is still removed on power loss.
  it->second.durable.reset();
}

void FaultVfs::OnClose() {
  std::lock_guard lock(mu_);
  --open_files_;
}

void FaultVfs::SimulatePowerLoss() {
  std::lock_guard lock(mu_);
  if (open_files_ != 0) {
    throw std::logic_error("FaultVfs::SimulatePowerLoss with " + std::to_string(open_files_) +
                           " file(s) still open");
  }
  for (const auto& [path, t] : tracked_) {
    if (t.durable) {
      WritePath(path, *t.durable);
    } else if (t.main_db) {
      WritePath(path, std::string());  // the name survives (see the header), the data does not
    } else {
      RemovePath(path);
    }
    if (t.main_db) RemovePath(path + "-shm");
  }
  tracked_.clear();
  plan_ = FaultPlan{};
  fired_ = false;
  crash_at_ = 0;
  crashed_ = false;
}

// ---------------------------------------------------------------------------------------------
// Workload and check.

namespace {

std::string Key(int tx, const char* field) { return "k" + std::to_string(tx) + "." + field; }

// Larger than a page, so a commit writes several WAL frames (overflow pages): a cut can fall
// between the frames of one commit.
std::string BigValue(int tx) {
  std::string v = "v" + std::to_string(tx) + ":";
  v.resize(6000, static_cast<char>('a' + tx % 26));
  return v;
}

void WorkloadBody(Transaction& tx, int i) {
  tx.put(kFaultKeyspace, Key(i, "a"), Value(BigValue(i)));
  tx.put(kFaultKeyspace, Key(i, "b"), Value(i));
  tx.put(kFaultKeyspace, "last", Value(i));
  if (i > 1) tx.erase(kFaultKeyspace, Key(i - 1, "b"));
}

// The keyspace after transactions 1..m.
std::map<std::string, Value> ExpectedState(int m) {
  std::map<std::string, Value> state;
  for (int j = 1; j <= m; ++j) state.emplace(Key(j, "a"), Value(BigValue(j)));
  if (m > 0) {
    state.emplace(Key(m, "b"), Value(m));
    state.emplace("last", Value(m));
  }
  return state;
}

std::string Describe(const Error& e) {
  return std::string(ToString(e.code())) + " (sqlite " + std::to_string(e.sqlite_code()) +
         "): " + e.what();
}

bool IsWriteFailure(ErrorCode code) {
  return code == ErrorCode::kIoError || code == ErrorCode::kFull;
}

}  // namespace

Options FaultTestOptions(Durability durability, std::uint64_t wal_checkpoint_bytes) {
  static const std::shared_ptr<spdlog::logger> logger = std::make_shared<spdlog::logger>(
      "statestore-fault-test", std::make_shared<spdlog::sinks::null_sink_mt>());
  Options options;
  options.durability = durability;
  options.wal_checkpoint_bytes = wal_checkpoint_bytes;
  options.sessions.sweep_interval = std::chrono::milliseconds(0);
  options.logger = logger;
  return options;
}

WorkloadResult RunFaultWorkload(const std::string& db, const Options& options, int transactions,
                                bool stop_when_crashed, bool crash_before_close) {
  WorkloadResult r;
  std::shared_ptr<Store> store;
  try {
    store = Store::open(db, options);
    r.opened = true;
  } catch (const Error& e) {
    r.open_error = e;
    if (!IsWriteFailure(e.code())) {
      r.problems.push_back("open failed with an unexpected code: " + Describe(e));
    }
  } catch (const std::exception& e) {
    r.problems.push_back(std::string("open threw a non-statestore exception: ") + e.what());
  }
  for (int i = 1; store != nullptr && i <= transactions; ++i) {
    if (stop_when_crashed && g_instance != nullptr && g_instance->crashed()) break;
    try {
      Revision rev = store->transact([i](Transaction& tx) { WorkloadBody(tx, i); });
      if (r.failed_tx != 0) {
        r.problems.push_back("transaction " + std::to_string(i) + " was acknowledged (r" +
                             std::to_string(rev) + ") after transaction " +
                             std::to_string(r.failed_tx) + " failed: the store is not poisoned");
      } else {
        r.acked.push_back(rev);
      }
    } catch (const Error& e) {
      if (r.failed_tx == 0) {
        r.failed_tx = i;
        r.first_failure = e;
        if (!IsWriteFailure(e.code())) {
          r.problems.push_back("transaction " + std::to_string(i) +
                               " failed with an unexpected code: " + Describe(e));
        }
        // Reads keep working and show exactly the acknowledged state (nothing of the failed
        // transaction, not even from the cache).
        try {
          const int m = static_cast<int>(r.acked.size());
          std::optional<Value> last = store->get(kFaultKeyspace, "last");
          std::optional<Value> failed_a = store->get(kFaultKeyspace, Key(i, "a"));
          bool ok = m == 0 ? !last.has_value() : (last && *last == Value(m));
          if (!ok || failed_a.has_value()) {
            r.problems.push_back("after transaction " + std::to_string(i) +
                                 " failed, reads do not show the acknowledged state (last=" +
                                 (last ? last->to_display() : std::string("absent")) +
                                 ", acknowledged " + std::to_string(m) + ")");
          }
        } catch (const Error& re) {
          r.problems.push_back("a read after the failed commit threw: " + Describe(re));
        } catch (const std::exception& re) {
          r.problems.push_back(std::string("a read after the failed commit threw: ") + re.what());
        }
      } else if (e.code() != ErrorCode::kIoError) {
        r.problems.push_back("transaction " + std::to_string(i) + " after a failed commit gave " +
                             Describe(e) + ", want kIoError (poisoned)");
      }
    } catch (const std::exception& e) {
      r.problems.push_back("transaction " + std::to_string(i) +
                           " threw a non-statestore exception: " + e.what());
    }
  }
  if (crash_before_close && g_instance != nullptr) {
    g_instance->CrashAt(g_instance->ops(FaultOp::kAny) + 1);
  }
  store.reset();  // closes the store: the last shared_ptr
  if (g_instance != nullptr && g_instance->open_files() != 0) {
    r.problems.push_back(std::to_string(g_instance->open_files()) +
                         " file(s) still open after the Store was released");
  }
  return r;
}

namespace {

std::string IntegrityCheck(const std::string& db, const char* vfs) {
  sqlite3* h = nullptr;
  int rc = sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READWRITE, vfs);
  std::string out;
  if (rc != SQLITE_OK) {
    out = std::string("cannot open: ") + (h != nullptr ? sqlite3_errmsg(h) : sqlite3_errstr(rc));
    sqlite3_close(h);
    return out;
  }
  sqlite3_stmt* st = nullptr;
  rc = sqlite3_prepare_v2(h, "PRAGMA integrity_check", -1, &st, nullptr);
  if (rc != SQLITE_OK) {
    out = std::string("cannot prepare: ") + sqlite3_errmsg(h);
  } else {
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
      if (!out.empty()) out += "; ";
      const unsigned char* text = sqlite3_column_text(st, 0);
      out += text != nullptr ? reinterpret_cast<const char*>(text) : "(null)";
    }
    if (rc != SQLITE_DONE) out += std::string(" [step: ") + sqlite3_errmsg(h) + "]";
  }
  sqlite3_finalize(st);
  sqlite3_close(h);
  return out;
}

}  // namespace

DurableState CheckDurableState(const std::string& db, const Options& options,
                               const std::vector<Revision>& acked) {
  DurableState s;
  struct stat st {};
  s.file_exists = ::stat(db.c_str(), &st) == 0;
  auto problem = [&](std::string text) { s.problems.push_back(std::move(text)); };
  try {
    std::shared_ptr<Store> store = Store::open(db, options);
    std::map<std::string, Entry> got;
    for (Entry& e : store->list(kFaultKeyspace)) got.emplace(e.key, std::move(e));
    int m = 0;
    if (auto it = got.find("last"); it != got.end())
      m = static_cast<int>(it->second.value.as_int());
    s.committed = m;
    // All or nothing: the whole keyspace is exactly that of transactions 1..m.
    std::map<std::string, Value> want = ExpectedState(m);
    for (const auto& [key, value] : want) {
      auto it = got.find(key);
      if (it == got.end()) {
        problem("key " + key + " of transaction 1.." + std::to_string(m) + " is missing");
      } else if (!(it->second.value == value)) {
        problem("key " + key + " has a wrong value");
      }
    }
    for (const auto& [key, entry] : got) {
      if (want.count(key) == 0) {
        problem("key " + key + " is present but transactions 1.." + std::to_string(m) +
                " do not leave it (part of a transaction is visible)");
      }
    }
    // Acknowledged revisions.
    for (int j = 1; j <= m && j <= static_cast<int>(acked.size()); ++j) {
      auto it = got.find(Key(j, "a"));
      if (it != got.end() && it->second.version != acked[j - 1]) {
        problem("key " + Key(j, "a") + " has version " + std::to_string(it->second.version) +
                ", transact() returned r" + std::to_string(acked[j - 1]));
      }
    }
    // History: one commit per transaction, each with all its changes; replay equals state.
    HistoryQuery query;
    query.keyspace = kFaultKeyspace;
    std::vector<Commit> commits = store->history(query);
    if (static_cast<int>(commits.size()) != m) {
      problem("history has " + std::to_string(commits.size()) + " commits, state shows " +
              std::to_string(m));
    }
    std::map<std::string, Value> replay;
    for (std::size_t c = 0; c < commits.size(); ++c) {
      const int j = static_cast<int>(c) + 1;
      if (c < acked.size() && commits[c].revision != acked[c]) {
        problem("history commit " + std::to_string(j) + " is r" +
                std::to_string(commits[c].revision) + ", transact() returned r" +
                std::to_string(acked[c]));
      }
      std::size_t changes = 0;
      for (const Change& change : commits[c].changes) {
        if (change.keyspace != kFaultKeyspace) continue;
        ++changes;
        if (change.new_value) {
          replay[change.key] = *change.new_value;
        } else {
          replay.erase(change.key);
        }
      }
      if (changes != (j > 1 ? 4u : 3u)) {
        problem("history commit r" + std::to_string(commits[c].revision) + " has " +
                std::to_string(changes) + " changes (a partial transaction)");
      }
    }
    std::map<std::string, Value> state;
    for (const auto& [key, entry] : got) state.emplace(key, entry.value);
    if (replay != state) problem("history replay does not reproduce the state");
    if (!commits.empty() && store->history_bounds().head != commits.back().revision) {
      problem("head revision " + std::to_string(store->history_bounds().head) +
              " is not the last commit r" + std::to_string(commits.back().revision));
    }
    // Writable again after the reopen.
    Revision after = store->put("fi_check", "after-reopen", Value("ok"));
    if (after <= (commits.empty() ? 0 : commits.back().revision)) {
      problem("the write after reopen got r" + std::to_string(after));
    }
  } catch (const Error& e) {
    problem("reopen/check failed: " + Describe(e));
  } catch (const std::exception& e) {
    problem(std::string("reopen/check threw: ") + e.what());
  }
  s.integrity = IntegrityCheck(db, g_real != nullptr ? g_real->zName : nullptr);
  if (s.integrity != "ok") problem("integrity_check: " + s.integrity);
  return s;
}

}  // namespace statestore::test

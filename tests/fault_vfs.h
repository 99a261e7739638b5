// FaultVfs — a fault-injecting SQLite VFS for the durability tests (issue 6).
//
// A shim over the VFS that was SQLite's default when it was installed (on Linux "unix"). It is
// registered as kName and, by Install(), made SQLite's default VFS, so statestore's own
// connections (which open files with the default VFS) go through it without any library change.
// Every call is passed through to the real VFS except where described below.
//
// What it counts. Every xWrite, xSync and xTruncate on a *durable* file — the main database, its
// -wal and a rollback journal (SQLITE_OPEN_MAIN_DB / _WAL / _MAIN_JOURNAL) — is one operation.
// Operations are numbered from 1 since the last Reset(), one counter per kind and one global
// counter over all three kinds. Temp files, the -shm (SQLite maps it with xShmMap; those methods
// pass through unchanged) and files statestore opens itself (NAME-gen) are neither counted nor
// faulted. xRead, xLock, xFileControl, ... always pass through.
//
// Faults (Arm). The Nth operation of one kind (or of any kind) fails without touching the file:
//   * EIO:    xWrite -> SQLITE_IOERR_WRITE, xSync -> SQLITE_IOERR_FSYNC,
//             xTruncate -> SQLITE_IOERR_TRUNCATE;
//   * ENOSPC: xWrite -> SQLITE_FULL; xSync and xTruncate -> SQLITE_IOERR_FSYNC / _TRUNCATE, as
//             SQLite's unix VFS reports an ENOSPC from fsync()/ftruncate().
// A failed write writes nothing (no short write). With `sticky`, every later operation of any
// kind fails the same way (a disk that returned EIO tends to keep doing so); otherwise only the
// Nth fails and the disk "recovers". What the model does NOT cover: Linux dropping the dirty pages
// of a failed fsync from the page cache (a later read would then return old data); errors on
// reads, locks or the -shm.
//
// Power loss (CrashAt, SimulatePowerLoss). The shim remembers, per file path, the content the file
// had when an xSync on it last succeeded (fsync() makes the whole file durable, whatever handle
// wrote it). Content a file already had when the shim first saw it open is taken as durable (call
// Reset() while no store is open to start a new baseline). CrashAt(N) models the machine stopping
// just before operation N: that operation and every later one is dropped (not performed) and
// reported as an I/O error, so the workload stops and nothing after the cut is acknowledged.
// SimulatePowerLoss(), called once no file of the shim is open any more, then puts every tracked
// file back to its last synced content — a -wal or journal never synced since it was created is
// removed, a database file never synced is left empty — and removes every -shm beside a tracked
// database (shared memory does not survive power loss).
// Unsynced writes are lost all together: the model never keeps a subset of them, tears a write,
// or reorders writes (SQLite's WAL checksums would cover those; they are not exercised here).
// Directory entries are not modelled: a -wal or journal exists after power loss once it was
// synced, a database file always keeps its name (SQLite's unix VFS fsyncs the directory on the
// first sync of a new -wal or journal, which makes the database's name durable too), and xDelete
// is durable at once. After CrashAt's cut, xDelete is dropped as well. Files statestore writes
// without SQLite (NAME-gen, the shared change counter) keep whatever they hold: after a power
// loss the counter may be ahead of the database, which the library must (and does) tolerate.
// Operations dropped after the cut are still counted (dropped() says how many).
//
// Because the shim keeps its own record of what is durable, set_real_sync(false) may skip the
// real fsync() (the tests do: they would be fsync-bound otherwise); durability as the model sees
// it is unchanged. STATESTORE_FAULT_TRACE=1 in the environment prints every counted operation
// (number, kind, file) to stderr.
//
// Thread safety: all methods may be called from any thread. Every counted operation holds one
// I/O mutex from its decision to the end of the real call (so the content recorded after an
// xSync is exactly what that fsync covered), and the counters and the durable-content map are
// guarded by mu_. Install(), Uninstall() and Reset() must not race with open connections.
#ifndef STATESTORE_TESTS_FAULT_VFS_H_
#define STATESTORE_TESTS_FAULT_VFS_H_

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "statestore/statestore.h"

struct sqlite3_vfs;

namespace statestore::test {

enum class FaultOp { kWrite, kSync, kTruncate, kAny };
enum class FaultErrno { kEio, kEnospc };

const char* ToString(FaultOp op);
const char* ToString(FaultErrno error);

struct FaultPlan {
  FaultOp op = FaultOp::kAny;  // which operations `nth` counts
  std::uint64_t nth = 0;       // 1-based, among operations of kind `op` since Reset(); 0 = never
  FaultErrno error = FaultErrno::kEio;
  bool sticky = false;  // after the first fault, fail every later operation of any kind too
};

class FaultVfs {
 public:
  static constexpr const char* kName = "statestore-fault";

  // Registers the shim (once per process) over the current default VFS and makes it the default.
  // Returns the process-wide instance.
  static FaultVfs& Install();
  // Makes the VFS that was the default before Install() the default again. The shim stays
  // registered under kName. Safe to call when not installed.
  static void Uninstall();

  // Name of the VFS the shim forwards to ("unix"): open verification connections with it.
  const char* real_vfs_name() const;

  // Clears every counter, the fault plan, the crash point and the durable-content baseline.
  // Requires: no file of the shim open (else std::logic_error).
  void Reset();

  // Sets the fault plan (counters keep running; Reset() first to count from 1).
  void Arm(const FaultPlan& plan);
  void Disarm();  // no more faults, no crash point; counters and durable content stay

  // The machine "stops" just before global operation `nth` (1-based): see the header comment.
  void CrashAt(std::uint64_t nth);
  bool crashed() const;

  // Operations seen since Reset() of kind `op` (kAny: of all kinds).
  std::uint64_t ops(FaultOp op) const;
  // Operations that were failed by the plan / dropped by the crash point.
  std::uint64_t faults() const;
  std::uint64_t dropped() const;
  // Kind of the first operation the plan failed, if any.
  std::optional<FaultOp> first_fault_op() const;
  // Global number of the first failed operation (0 if none).
  std::uint64_t first_fault_at() const;

  // Files of the shim currently open (any kind).
  int open_files() const;

  // When false, a successful xSync is recorded as durable (the model above) without calling the
  // real fsync(): the model does not need it, and it makes the tests fsync-bound otherwise.
  // Default: true.
  void set_real_sync(bool on);
  bool real_sync() const;

  // Restores every tracked file to its last synced content (see the header comment) and clears
  // the crash point and the plan. Requires: open_files() == 0 (else std::logic_error).
  void SimulatePowerLoss();

  // --- used by the VFS callbacks (fault_vfs.cc) ---
  enum class Decision { kProceed, kFail, kDrop };
  // `path` only names the file in the STATESTORE_FAULT_TRACE output (one line per operation).
  Decision Decide(FaultOp op, const std::string& path, int* rc);
  void Track(const std::string& path, bool is_main_db);  // before the real xOpen
  void OnOpened();
  void OnSynced(const std::string& path, std::string content);
  void OnDelete(const std::string& path);
  void OnClose();

 private:
  FaultVfs() = default;

  struct Tracked {
    std::optional<std::string> durable;  // nullopt: created and never synced
    bool main_db = false;
  };

  mutable std::mutex mu_;
  std::uint64_t counts_[4] = {0, 0, 0, 0};  // indexed by FaultOp
  FaultPlan plan_;
  bool fired_ = false;
  std::uint64_t faults_ = 0;
  std::uint64_t dropped_ = 0;
  std::optional<FaultOp> first_fault_op_;
  std::uint64_t first_fault_at_ = 0;
  std::uint64_t crash_at_ = 0;
  bool crashed_ = false;
  int open_files_ = 0;
  bool real_sync_ = true;
  std::map<std::string, Tracked> tracked_;
};

}  // namespace statestore::test

// ---------------------------------------------------------------------------------------------
// The small workload the fault tests run, and the check made after reopening.

namespace statestore::test {

// Keyspace the workload writes.
inline constexpr const char* kFaultKeyspace = "fi";

// Options for a deterministic run: no session reaper (it would write on its own schedule), no
// logging to stderr (a poisoned store logs one error per run).
Options FaultTestOptions(Durability durability,
                         std::uint64_t wal_checkpoint_bytes = Options{}.wal_checkpoint_bytes);

struct WorkloadResult {
  bool opened = false;
  std::optional<Error> open_error;
  // revisions[i] is what transact() returned for transaction i+1; only acknowledged transactions
  // are here, and they are a prefix: the workload stops asking after a crash.
  std::vector<Revision> acked;
  int failed_tx = 0;  // first transaction whose transact() threw (1-based), 0 if none
  std::optional<Error> first_failure;
  // Broken promises seen while running (wrong error code, a write accepted after a failed commit,
  // a non-Error exception, wrong read after the failure). Empty when all is well.
  std::vector<std::string> problems;
};

// Opens the store at `db`, runs `transactions` transactions (transaction i writes k<i>.a and
// k<i>.b, sets "last" to i and erases k<i-1>.b), checks each outcome against the documented
// contract, and releases the store. When `stop_when_crashed` is set, stops after the VFS crashed
// (the process would be dead). When `crash_before_close` is set, the VFS crashes (CrashAt) after
// the last transaction, so the close writes and syncs nothing: SimulatePowerLoss() then shows
// what the acknowledged commits alone made durable. Never throws.
WorkloadResult RunFaultWorkload(const std::string& db, const Options& options, int transactions,
                                bool stop_when_crashed, bool crash_before_close = false);

struct DurableState {
  bool file_exists = false;
  std::string integrity;  // result of PRAGMA integrity_check ("ok")
  int committed = 0;      // m: transactions 1..m are in the file
  std::vector<std::string> problems;
};

// Reopens the store (through the default VFS: the real one, or the shim with no fault armed)
// and checks that its state is exactly that of transactions 1..m for some m
// (all-or-nothing: no partial transaction), with `acked` revisions on the acknowledged ones,
// history consistent with state (replay of retained history equals the keyspace), and the
// store writable again; then runs PRAGMA integrity_check through the real VFS. Never throws.
DurableState CheckDurableState(const std::string& db, const Options& options,
                               const std::vector<Revision>& acked);

}  // namespace statestore::test

#endif  // STATESTORE_TESTS_FAULT_VFS_H_

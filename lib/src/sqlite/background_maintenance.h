// BackgroundMaintenance — WAL checkpoints and history retention, off the commit path.
//
// Why a thread: SQLite's automatic checkpoint runs inside the COMMIT of whichever connection
// pushes the WAL past wal_autocheckpoint frames — with group commit that is the leader, so every
// queued writer waited for the checkpoint's writes and fsyncs (stalls of 50–190 ms were measured
// in bench/session_sweep_bench before this class existed). Instead, each writable connection
// reports the WAL's size after every commit through sqlite3_wal_hook (which also switches
// SQLite's automatic checkpoint off for that connection), and one thread per writable Store does
// the checkpoints on its own connection. History retention moves here for the same reason.
//
// Invariants:
//   1. A checkpoint is due once checkpoint_frames new frames were appended since the last one
//      (or since the WAL started over) — never again merely because the WAL is still long: a
//      PASSIVE pass per commit would fsync the database file after every commit. Its bulk is
//      PASSIVE: it takes neither the write lock nor waits for readers, so no writer waits for
//      it. If writers appended meanwhile, they cannot start the WAL over by themselves (only a
//      writer that finds every frame copied does), so a RESTART follows. It runs between two
//      groups (GroupCommitter::RunBetweenGroups; SQLite's locks are not fair, so it would
//      otherwise lose every race for the write lock to a steady stream of groups): writers wait
//      while it copies the frames appended during the PASSIVE pass and waits for readers, at
//      most kRestartBusyBudget for the latter.
//   2. A checkpoint never affects an acknowledged commit: it copies frames that are already
//      durable in the WAL; if it fails, the frames stay in the WAL and the next one retries.
//   3. Retention batches go through the GroupCommitter as ordinary requests: they join a group
//      and share its fsync, and no leader runs them while other callers wait.
//   4. Nothing escapes the thread: failures are logged (warn) and retried on the next signal.
//   5. The owner calls Stop() before the GroupCommitter and the ConnectionPool are destroyed
//      (the thread uses both); signals after Stop() are ignored. The object itself outlives the
//      pool's connections, whose WAL hooks point at it.
//   6. About once a second (and never on the commit path) the thread runs the owner's periodic
//      check (Dependencies::every_second: the change counter file's health, shared_generation.h
//      invariant 8).
//   7. Free pages go back to the file system in bounded steps through the committer
//      (free_space.h), after a retention batch and whenever the once-a-second look at the header
//      finds more than FreeSpace::kStartFreePages free (session sweeps, other processes'
//      compactions). A due checkpoint or Stop() interrupts the steps between two of them; the
//      steps resume on the next pass.
//   8. Every Options::expiry_sweep_interval the thread sweeps keys whose time-to-live ran out
//      (expiry_sweep.h), in batches through the committer; a due checkpoint or Stop() interrupts it
//      between two batches, and it resumes right after the checkpoint.
#ifndef STATESTORE_SRC_BACKGROUND_MAINTENANCE_H_
#define STATESTORE_SRC_BACKGROUND_MAINTENANCE_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <new>
#include <string>
#include <thread>

#include "sqlite/connection.h"
#include "util/mutex.h"

namespace spdlog {
class logger;
}

namespace statestore::internal {

class ConnectionPool;
class GroupCommitter;
struct StoreCounters;

class BackgroundMaintenance final : public WalCommitObserver {
 public:
  // A PASSIVE checkpoint is requested once this many bytes of frames were appended — SQLite's
  // own default (wal_autocheckpoint 1000 frames) at its default 4 KiB pages — or fewer when
  // Options::wal_checkpoint_bytes asks for a smaller WAL (see CheckpointFrames). A byte count,
  // not a frame count, so that files with smaller pages (database_file.h invariant 10) do not
  // checkpoint more often: a page dirtied by many commits between two checkpoints is copied to
  // the database file once, so a longer interval writes fewer bytes per commit.
  static constexpr std::uint64_t kCheckpointWalBytes = 1000 * 4096;
  // The frames of `page_size` bytes that make a checkpoint due.
  static int CheckpointFrames(std::uint64_t wal_checkpoint_bytes, int page_size);

  struct Dependencies {
    ConnectionPool* pool;
    GroupCommitter* committer;
    StoreCounters* counters;
    spdlog::logger* log;
    std::string wal_path;
    std::uint64_t wal_restart_bytes;        // Options::wal_checkpoint_bytes; 0 = no size bound
    int checkpoint_frames;                  // CheckpointFrames(wal_restart_bytes, page size)
    std::function<void()> every_second;     // invariant 6; may be empty; must not throw
    std::function<void()> retention_batch;  // RetentionRuns::Batch; throws on failure
    // ExpirySweep::Run (invariant 8); may be empty; throws on failure.
    std::function<void(const std::function<bool()>& interrupted)> expiry_sweep;
    std::chrono::milliseconds expiry_interval;  // Options::expiry_sweep_interval
  };

  BackgroundMaintenance() = default;
  BackgroundMaintenance(const BackgroundMaintenance&) = delete;
  BackgroundMaintenance& operator=(const BackgroundMaintenance&) = delete;
  ~BackgroundMaintenance();

  // Starts the thread. Called once, after the committer and the pool exist.
  // Throws: Error(kInternal) if the thread cannot be started.
  void Start(const Dependencies& deps);
  // Wakes and joins the thread (a running checkpoint or batch finishes first). Idempotent.
  void Stop();
  // In a fork()ed child releasing an inherited Store: the thread does not exist here, so it is
  // neither joined nor woken; Stop() becomes a no-op.
  void Abandon();

  // Called by SQLite on the committing thread after every commit of a writable connection, with
  // the number of frames now in the WAL. Cheap unless a checkpoint is due.
  void OnWalCommit(int wal_frames) override;
  // Asks for one history-retention batch (the committer calls this every N commits).
  void RequestRetention();

 private:
  void Run();
  void Checkpoint();
  void Retention();
  void ReturnFreeSpace();  // invariant 7
  void SweepExpired();     // invariant 8
  bool Stopping();
  void Wake(std::atomic<bool>& flag);

  Dependencies deps_{};
  std::atomic<bool> started_{false};
  std::atomic<bool> checkpoint_due_{false};
  // Invariant 1: the WAL size (frames) at which the next checkpoint is due, and the size after
  // the newest commit this process saw.
  std::atomic<int> next_checkpoint_at_{0};
  std::atomic<int> last_wal_frames_{0};
  std::atomic<bool> retention_due_{false};
  std::atomic<bool> space_due_{false};   // invariant 7
  std::atomic<bool> expiry_due_{false};  // invariant 8
  Mutex mu_;
  // Manually destroyed (union member): after Abandon() it is not, because glibc's
  // pthread_cond_destroy waits for the waiters it knows of — in a fork()ed child, the parent's
  // thread that was waiting when it forked, which never leaves.
  union CvStorage {
    CvStorage() { new (&cv) std::condition_variable; }
    ~CvStorage() {}
    std::condition_variable cv;
  } cv_storage_;
  std::condition_variable& cv_ = cv_storage_.cv;
  bool stop_ GUARDED_BY(mu_) = false;
  bool abandoned_ = false;
  std::thread thread_;
  // Abandon() moves thread_ here: a union member is never destroyed.
  union Abandoned {
    Abandoned() {}
    ~Abandoned() {}
    std::thread thread;
  } abandoned_thread_;
};

}  // namespace statestore::internal

#endif  // STATESTORE_SRC_BACKGROUND_MAINTENANCE_H_

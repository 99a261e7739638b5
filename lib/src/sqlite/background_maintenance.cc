#include "sqlite/background_maintenance.h"

#include <spdlog/spdlog.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <new>
#include <system_error>

#include "core/group_commit.h"
#include "core/store_counters.h"
#include "sqlite/connection_pool.h"
#include "sqlite/free_space.h"
#include "statestore/error.h"

namespace statestore::internal {

namespace {

// How long the RESTART fallback may wait for the write lock and for readers to leave the WAL.
// Writers queue behind it meanwhile, so it is kept far below any sensible busy_timeout.
constexpr std::chrono::milliseconds kRestartBusyBudget(100);
// Invariant 6.
constexpr std::chrono::seconds kPeriodicInterval(1);

std::uint64_t FileSize(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
}

}  // namespace

int BackgroundMaintenance::CheckpointFrames(std::uint64_t wal_checkpoint_bytes, int page_size) {
  // At most half the bound: the WAL keeps growing while a checkpoint runs, and the next writer
  // can only rewind it once the checkpoint caught up.
  std::uint64_t bytes = kCheckpointWalBytes;
  if (wal_checkpoint_bytes != 0) bytes = std::min(bytes, wal_checkpoint_bytes / 2);
  const auto page = static_cast<std::uint64_t>(std::max(page_size, 512));
  return static_cast<int>(std::max<std::uint64_t>(bytes / page, 1));
}

BackgroundMaintenance::~BackgroundMaintenance() {
  Stop();
  if (!abandoned_) cv_storage_.cv.~condition_variable();
}

void BackgroundMaintenance::Start(const Dependencies& deps) {
  deps_ = deps;
  next_checkpoint_at_.store(deps_.checkpoint_frames, std::memory_order_relaxed);
  try {
    thread_ = std::thread([this] { Run(); });
  } catch (const std::system_error& e) {
    throw Error(ErrorCode::kInternal,
                std::string("cannot start the background maintenance thread: ") + e.what());
  }
  started_.store(true, std::memory_order_release);
}

void BackgroundMaintenance::Abandon() {
  abandoned_ = true;
  // The std::thread names a thread of the parent: destroying it joinable would terminate.
  new (&abandoned_thread_.thread) std::thread(std::move(thread_));
}

void BackgroundMaintenance::Stop() {
  if (abandoned_) return;
  {
    MutexLock lock(&mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  started_.store(false, std::memory_order_release);
}

void BackgroundMaintenance::OnWalCommit(int wal_frames) {
  if (!started_.load(std::memory_order_acquire)) return;  // deps_ is written before started_
  last_wal_frames_.store(wal_frames, std::memory_order_relaxed);
  int due = next_checkpoint_at_.load(std::memory_order_relaxed);
  if (wal_frames < deps_.checkpoint_frames && due != deps_.checkpoint_frames) {
    // The WAL started over: count from its beginning again.
    next_checkpoint_at_.store(deps_.checkpoint_frames, std::memory_order_relaxed);
    return;
  }
  if (wal_frames >= due) Wake(checkpoint_due_);
}

void BackgroundMaintenance::RequestRetention() { Wake(retention_due_); }

void BackgroundMaintenance::Wake(std::atomic<bool>& flag) {
  if (!started_.load(std::memory_order_acquire)) return;
  // Only the false -> true edge takes the mutex: commits while a request is pending stay cheap.
  if (flag.exchange(true, std::memory_order_acq_rel)) return;
  { MutexLock lock(&mu_); }  // orders the flag before the thread's check under mu_
  cv_.notify_one();
}

void BackgroundMaintenance::Run() {
  MutexLock lock(&mu_);
  auto next_periodic = std::chrono::steady_clock::now() + kPeriodicInterval;
  // Invariant 8: far in the future when there is no sweep.
  const bool sweeps = static_cast<bool>(deps_.expiry_sweep) && deps_.expiry_interval.count() > 0;
  auto next_expiry = sweeps ? std::chrono::steady_clock::now() + deps_.expiry_interval
                            : std::chrono::steady_clock::time_point::max();
  for (;;) {
    const auto wake = std::min(next_periodic, next_expiry);
    while (!stop_ && !checkpoint_due_.load(std::memory_order_acquire) &&
           !retention_due_.load(std::memory_order_acquire) &&
           !space_due_.load(std::memory_order_acquire) &&
           !expiry_due_.load(std::memory_order_acquire) &&
           std::chrono::steady_clock::now() < wake) {
      lock.WaitUntil(cv_, wake);
    }
    if (stop_) return;
    lock.Unlock();
    if (std::chrono::steady_clock::now() >= next_periodic) {
      next_periodic = std::chrono::steady_clock::now() + kPeriodicInterval;
      if (deps_.every_second) deps_.every_second();       // invariant 6
      space_due_.store(true, std::memory_order_release);  // invariant 7: look at the header
    }
    if (std::chrono::steady_clock::now() >= next_expiry) {
      next_expiry = std::chrono::steady_clock::now() + deps_.expiry_interval;
      expiry_due_.store(true, std::memory_order_release);  // invariant 8
    }
    // Cleared before the work, so that a commit during it asks again (invariant 4: retried).
    if (checkpoint_due_.exchange(false, std::memory_order_acq_rel)) Checkpoint();
    if (retention_due_.exchange(false, std::memory_order_acq_rel)) Retention();
    if (space_due_.exchange(false, std::memory_order_acq_rel)) ReturnFreeSpace();
    if (expiry_due_.exchange(false, std::memory_order_acq_rel)) SweepExpired();
    lock.Lock();
  }
}

void BackgroundMaintenance::Checkpoint() {
  try {
    Connection& c = deps_.pool->ForThisThread();
    int log_frames = 0, checkpointed = 0;
    int rc = sqlite3_wal_checkpoint_v2(c.handle(), nullptr, SQLITE_CHECKPOINT_PASSIVE, &log_frames,
                                       &checkpointed);
    Bump(deps_.counters->checkpoints);
    if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
      deps_.log->warn("statestore: checkpoint of {} failed: {}", deps_.wal_path,
                      sqlite3_errstr(rc));
      return;
    }
    // Invariant 1: not due again before another checkpoint's worth of frames is appended.
    if (log_frames < 0) {  // could not run (another process's checkpoint holds the lock)
      next_checkpoint_at_.store(
          last_wal_frames_.load(std::memory_order_relaxed) + deps_.checkpoint_frames,
          std::memory_order_relaxed);
      return;
    }
    next_checkpoint_at_.store(log_frames + deps_.checkpoint_frames, std::memory_order_relaxed);
    // If every frame is copied and nobody appended since, the next writer starts the WAL over by
    // itself. Otherwise only a RESTART (or a pause in the writes) gets it there.
    const bool caught_up = checkpointed == log_frames &&
                           last_wal_frames_.load(std::memory_order_relaxed) <= log_frames;
    const bool too_big =
        deps_.wal_restart_bytes > 0 && FileSize(deps_.wal_path) > deps_.wal_restart_bytes;
    if (caught_up && !too_big) return;
    // Between two groups, so this process's writers do not take the write lock from under it.
    deps_.committer->RunBetweenGroups([&] {
      const std::chrono::milliseconds saved = c.busy_timeout();
      c.set_busy_timeout(kRestartBusyBudget);
      rc = sqlite3_wal_checkpoint_v2(c.handle(), nullptr, SQLITE_CHECKPOINT_RESTART, &log_frames,
                                     &checkpointed);
      c.set_busy_timeout(saved);
    });
    Bump(deps_.counters->checkpoints);
    if (rc == SQLITE_BUSY) {
      // Expected under load: a reader or writer outlasted the budget. The PASSIVE pass still
      // copied what it could, and the next commit past the threshold tries again.
      deps_.log->debug("statestore: restart checkpoint of {} gave way to a busy reader/writer",
                       deps_.wal_path);
    } else if (rc != SQLITE_OK) {
      deps_.log->warn("statestore: restart checkpoint of {} failed ({}); will retry",
                      deps_.wal_path, sqlite3_errstr(rc));
    }
  } catch (const std::exception& e) {
    deps_.log->warn("statestore: checkpoint of {} failed: {}", deps_.wal_path, e.what());
  }
}

void BackgroundMaintenance::Retention() {
  try {
    deps_.retention_batch();
  } catch (const std::exception& e) {
    deps_.log->warn("statestore: history retention on {} failed: {}", deps_.wal_path, e.what());
  }
  space_due_.store(true, std::memory_order_release);  // invariant 7
}

void BackgroundMaintenance::SweepExpired() {
  bool for_checkpoint = false;
  try {
    deps_.expiry_sweep([&] {
      for_checkpoint = checkpoint_due_.load(std::memory_order_acquire);
      return for_checkpoint || Stopping();
    });
  } catch (const std::exception& e) {
    // Invariant 4: the next second's pass retries; reads do not depend on the sweep.
    deps_.log->warn("statestore: sweep of expired keys on {} failed: {}", deps_.wal_path, e.what());
  }
  // Invariant 8: resume right after the checkpoint.
  if (for_checkpoint) expiry_due_.store(true, std::memory_order_release);
}

bool BackgroundMaintenance::Stopping() {
  MutexLock lock(&mu_);
  return stop_;
}

void BackgroundMaintenance::ReturnFreeSpace() {
  try {
    // The look is a read of the header on this thread's connection; steps only when due.
    if (!FreeSpace::Due(deps_.pool->ForThisThread())) return;
    bool interrupted = false;
    FreeSpace::ReturnAll(*deps_.committer, *deps_.counters, [&] {
      interrupted = checkpoint_due_.load(std::memory_order_acquire) || Stopping();
      return interrupted;
    });
    // Invariant 7: a checkpoint first, then the remaining steps.
    if (interrupted) space_due_.store(true, std::memory_order_release);
  } catch (const std::exception& e) {
    deps_.log->warn("statestore: returning free pages of {} failed: {}", deps_.wal_path, e.what());
  }
}

}  // namespace statestore::internal

// SessionReaper — the background thread that sweeps expired sessions for a Store.
//
// One per writable Store whose SessionOptions::sweep_interval is positive, owned by the
// StoreImpl and started at open. It sleeps for the interval (steady clock; the injected session
// clock only decides what is expired), runs SessionsImpl::Sweep, and repeats.
//
// Invariants:
//   1. Nothing escapes the thread: a failed sweep is logged (warn, with the error but never a
//      token or value) and retried one interval later.
//   2. Stop() wakes the thread, makes a running sweep stop after its current batch, and joins
//      the thread. The owner calls it before the Store's connections and writer are destroyed,
//      so the thread never outlives what it uses. Stop() is idempotent; the destructor calls it.
#ifndef STATESTORE_SRC_SESSION_REAPER_H_
#define STATESTORE_SRC_SESSION_REAPER_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <string>
#include <thread>

#include "util/mutex.h"

namespace spdlog {
class logger;
}

namespace statestore::internal {

class SessionsImpl;

class SessionReaper {
 public:
  // Starts the thread. Throws: Error(kInternal) if the thread cannot be started.
  // `sweep_turn`, if set, is asked before each sweep whether this process sweeps this time
  // (sessions_layer.h SweepTurn); false or a throw skips the sweep until the next interval.
  SessionReaper(SessionsImpl* sessions, std::chrono::milliseconds interval, spdlog::logger* log,
                std::string path, std::function<bool()> sweep_turn = {});
  SessionReaper(const SessionReaper&) = delete;
  SessionReaper& operator=(const SessionReaper&) = delete;
  ~SessionReaper();

  void Stop();

 private:
  void Run();

  SessionsImpl* const sessions_;
  const std::chrono::milliseconds interval_;
  spdlog::logger* const log_;
  const std::string path_;  // for log lines
  const std::function<bool()> sweep_turn_;

  Mutex mu_;
  std::condition_variable cv_;
  bool stop_ GUARDED_BY(mu_) = false;
  std::atomic<bool> stopping_{false};  // read by a running sweep between batches
  std::thread thread_;
};

}  // namespace statestore::internal

#endif  // STATESTORE_SRC_SESSION_REAPER_H_

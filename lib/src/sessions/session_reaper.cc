#include "sessions/session_reaper.h"

#include <pthread.h>
#include <spdlog/spdlog.h>

#include <exception>
#include <system_error>
#include <utility>

#include "sessions/sessions_impl.h"
#include "statestore/error.h"

namespace statestore::internal {

SessionReaper::SessionReaper(SessionsImpl* sessions, std::chrono::milliseconds interval,
                             spdlog::logger* log, std::string path,
                             std::function<bool()> sweep_turn)
    : sessions_(sessions),
      interval_(interval),
      log_(log),
      path_(std::move(path)),
      sweep_turn_(std::move(sweep_turn)) {
  try {
    thread_ = std::thread([this] { Run(); });
  } catch (const std::system_error& e) {
    throw Error(ErrorCode::kInternal,
                std::string("cannot start the session reaper thread: ") + e.what());
  }
  ::pthread_setname_np(thread_.native_handle(), "statestore-reap");  // best effort
}

SessionReaper::~SessionReaper() { Stop(); }

void SessionReaper::Stop() {
  {
    MutexLock lock(&mu_);
    stop_ = true;
  }
  stopping_.store(true, std::memory_order_relaxed);
  cv_.notify_all();
  if (!thread_.joinable()) return;
  if (thread_.get_id() == std::this_thread::get_id()) {
    thread_.detach();  // cannot join itself; it returns as soon as it sees stop_
  } else {
    thread_.join();
  }
}

void SessionReaper::Run() {
  MutexLock lock(&mu_);
  for (;;) {
    if (lock.WaitFor(cv_, interval_, [this]() REQUIRES(mu_) { return stop_; })) return;
    lock.Unlock();
    try {
      if (sweep_turn_ && !sweep_turn_()) {
        lock.Lock();
        continue;  // another process sweeps this store
      }
      const std::uint64_t removed =
          sessions_->Sweep(0, [this] { return stopping_.load(std::memory_order_relaxed); });
      if (removed > 0) {
        log_->debug("statestore: session reaper removed {} expired sessions from {}", removed,
                    path_);
      }
    } catch (const std::exception& e) {
      log_->warn("statestore: session reaper sweep of {} failed (retrying in {} ms): {}", path_,
                 interval_.count(), e.what());
    } catch (...) {
      log_->warn("statestore: session reaper sweep of {} failed (retrying in {} ms)", path_,
                 interval_.count());
    }
    lock.Lock();
  }
}

}  // namespace statestore::internal

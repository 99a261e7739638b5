// Annotated locks: the one lock family of lib/src (std::mutex and friends are not used directly).
// Clang's -Wthread-safety checks every GUARDED_BY / REQUIRES in lib/src at compile time
// (lib/CMakeLists.txt turns it on, as errors, whenever the compiler is clang; scripts/run-tests.sh
// runs such a build); with other compilers the annotations compile to nothing.
//
// Condition variables are plain std::condition_variable, waited on through MutexLock. A wait
// predicate is a lambda, which the analysis checks as a function of its own: annotate it
// REQUIRES(mu) (it runs with mu held), or it may not read what mu guards.
#ifndef STATESTORE_SRC_MUTEX_H_
#define STATESTORE_SRC_MUTEX_H_

#include <boost/thread/shared_mutex.hpp>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <utility>

#if defined(__clang__)
#define STATESTORE_TSA(x) __attribute__((x))
#else
#define STATESTORE_TSA(x)
#endif

#define CAPABILITY(x) STATESTORE_TSA(capability(x))
#define SCOPED_CAPABILITY STATESTORE_TSA(scoped_lockable)
#define GUARDED_BY(x) STATESTORE_TSA(guarded_by(x))
#define PT_GUARDED_BY(x) STATESTORE_TSA(pt_guarded_by(x))
#define REQUIRES(...) STATESTORE_TSA(requires_capability(__VA_ARGS__))
#define REQUIRES_SHARED(...) STATESTORE_TSA(requires_shared_capability(__VA_ARGS__))
#define ACQUIRE(...) STATESTORE_TSA(acquire_capability(__VA_ARGS__))
#define ACQUIRE_SHARED(...) STATESTORE_TSA(acquire_shared_capability(__VA_ARGS__))
#define RELEASE(...) STATESTORE_TSA(release_capability(__VA_ARGS__))
#define RELEASE_SHARED(...) STATESTORE_TSA(release_shared_capability(__VA_ARGS__))
#define RELEASE_GENERIC(...) STATESTORE_TSA(release_generic_capability(__VA_ARGS__))
#define EXCLUDES(...) STATESTORE_TSA(locks_excluded(__VA_ARGS__))
#define TRY_ACQUIRE(...) STATESTORE_TSA(try_acquire_capability(__VA_ARGS__))

namespace statestore::internal {

class CAPABILITY("mutex") Mutex {
 public:
  void Lock() ACQUIRE() { mu_.lock(); }
  bool TryLock() TRY_ACQUIRE(true) { return mu_.try_lock(); }
  void Unlock() RELEASE() { mu_.unlock(); }

 private:
  friend class MutexLock;
  std::mutex mu_;
};

// Scoped exclusive lock on a Mutex, with an explicit Unlock/Lock for work done outside it and a
// condition-variable wait.
class SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex* mu) ACQUIRE(mu) : mu_(mu) { mu_->Lock(); }
  ~MutexLock() RELEASE() {
    if (held_) mu_->Unlock();
  }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

  void Unlock() RELEASE() {
    mu_->Unlock();
    held_ = false;
  }
  void Lock() ACQUIRE() {
    mu_->Lock();
    held_ = true;
  }
  // Atomically releases the mutex, waits, and reacquires it before returning.
  void Wait(std::condition_variable& cv) {
    std::unique_lock<std::mutex> lock(mu_->mu_, std::adopt_lock);
    cv.wait(lock);
    lock.release();
  }
  // Waits until `stop_waiting()` (called with the mutex held; must not throw) returns true.
  template <typename Predicate>
  void Wait(std::condition_variable& cv, Predicate stop_waiting) {
    std::unique_lock<std::mutex> lock(mu_->mu_, std::adopt_lock);
    cv.wait(lock, std::move(stop_waiting));
    lock.release();
  }
  // Like Wait, but returns by `deadline` at the latest.
  template <typename TimePoint>
  void WaitUntil(std::condition_variable& cv, const TimePoint& deadline) {
    std::unique_lock<std::mutex> lock(mu_->mu_, std::adopt_lock);
    cv.wait_until(lock, deadline);
    lock.release();
  }
  // Like Wait(cv, stop_waiting), but for `timeout` at most (steady clock). Returns
  // stop_waiting(): false if the time ran out first.
  template <typename Rep, typename Period, typename Predicate>
  bool WaitFor(std::condition_variable& cv, const std::chrono::duration<Rep, Period>& timeout,
               Predicate stop_waiting) {
    std::unique_lock<std::mutex> lock(mu_->mu_, std::adopt_lock);
    const bool done = cv.wait_for(lock, timeout, std::move(stop_waiting));
    lock.release();
    return done;
  }

 private:
  Mutex* const mu_;
  bool held_ = true;
};

// Reader-writer lock (boost::shared_mutex, as the design asks for the read caches).
class CAPABILITY("shared_mutex") SharedMutex {
 public:
  void Lock() ACQUIRE() { mu_.lock(); }
  void Unlock() RELEASE() { mu_.unlock(); }
  void LockShared() ACQUIRE_SHARED() { mu_.lock_shared(); }
  void UnlockShared() RELEASE_SHARED() { mu_.unlock_shared(); }

 private:
  boost::shared_mutex mu_;
};

class SCOPED_CAPABILITY WriterLock {
 public:
  explicit WriterLock(SharedMutex* mu) ACQUIRE(mu) : mu_(mu) { mu_->Lock(); }
  ~WriterLock() RELEASE() { mu_->Unlock(); }
  WriterLock(const WriterLock&) = delete;
  WriterLock& operator=(const WriterLock&) = delete;

 private:
  SharedMutex* const mu_;
};

class SCOPED_CAPABILITY ReaderLock {
 public:
  explicit ReaderLock(SharedMutex* mu) ACQUIRE_SHARED(mu) : mu_(mu) { mu_->LockShared(); }
  ~ReaderLock() RELEASE() { mu_->UnlockShared(); }
  ReaderLock(const ReaderLock&) = delete;
  ReaderLock& operator=(const ReaderLock&) = delete;

 private:
  SharedMutex* const mu_;
};

}  // namespace statestore::internal

#endif  // STATESTORE_SRC_MUTEX_H_

#include "sqlite/writer_turns.h"

#include <linux/futex.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>

namespace statestore::internal {

namespace {

static_assert(std::atomic_ref<std::uint32_t>::is_always_lock_free);
static_assert(std::atomic_ref<std::int32_t>::is_always_lock_free);

// Not FUTEX_PRIVATE_FLAG: waiters in other processes share the word through the file mapping.
long Futex(std::uint32_t* word, int op, std::uint32_t value, const struct timespec* timeout) {
  return ::syscall(SYS_futex, word, op, value, timeout, nullptr, 0);
}

bool Alive(pid_t pid) { return ::kill(pid, 0) == 0 || errno == EPERM; }

}  // namespace

WriterTurns::WriterTurns(void* words) : words_(words), self_(::getpid()) {}

std::uint32_t* WriterTurns::release_word() const { return static_cast<std::uint32_t*>(words_); }

std::int32_t* WriterTurns::slot(int i) const { return static_cast<std::int32_t*>(words_) + 1 + i; }

std::uint32_t WriterTurns::ReleaseSeq() const {
  return std::atomic_ref<std::uint32_t>(*release_word()).load(std::memory_order_acquire);
}

void WriterTurns::WaitForRelease(std::uint32_t seen, std::chrono::microseconds max) const {
  if (max.count() <= 0) return;
  struct timespec timeout {};
  timeout.tv_sec = static_cast<time_t>(max.count() / 1'000'000);
  timeout.tv_nsec = static_cast<long>(max.count() % 1'000'000) * 1000;
  // Returns at once if the word already moved (EAGAIN); EINTR and ETIMEDOUT are fine too.
  Futex(release_word(), FUTEX_WAIT, seen, &timeout);
}

void WriterTurns::Released() {
  std::atomic_ref<std::uint32_t>(*release_word()).fetch_add(1, std::memory_order_acq_rel);
  Futex(release_word(), FUTEX_WAKE, INT_MAX, nullptr);
}

void WriterTurns::BeginWait() {
  if (my_slot_ >= 0) return;
  for (int i = 0; i < kSlots; ++i) {
    std::int32_t expected = 0;
    if (std::atomic_ref<std::int32_t>(*slot(i)).compare_exchange_strong(
            expected, static_cast<std::int32_t>(self_), std::memory_order_acq_rel)) {
      my_slot_ = i;
      return;
    }
  }
  // Every slot taken: wait unannounced (still woken by Released; invariant 1).
}

void WriterTurns::EndWait() {
  if (my_slot_ < 0) return;
  std::int32_t expected = static_cast<std::int32_t>(self_);
  std::atomic_ref<std::int32_t>(*slot(my_slot_))
      .compare_exchange_strong(expected, 0, std::memory_order_acq_rel);
  my_slot_ = -1;
}

void WriterTurns::YieldToWaiters() {
  // Read first: a waiter that commits after this returns the wait below at once.
  const std::uint32_t seen = ReleaseSeq();
  bool other_waits = false;
  for (int i = 0; i < kSlots; ++i) {
    std::int32_t pid = std::atomic_ref<std::int32_t>(*slot(i)).load(std::memory_order_acquire);
    if (pid == 0 || pid == static_cast<std::int32_t>(self_)) continue;
    if (pid > 0 && Alive(pid)) {
      other_waits = true;
      continue;
    }
    // Invariant 2: a dead process's slot (or garbage) is cleared, once.
    std::atomic_ref<std::int32_t>(*slot(i)).compare_exchange_strong(pid, 0,
                                                                    std::memory_order_acq_rel);
  }
  if (other_waits) WaitForRelease(seen, kYieldBudget);
}

}  // namespace statestore::internal

// WriterTurns — fair hand-over of SQLite's write lock between processes.
//
// Design note. SQLite's write lock is not fair. A connection that finds it taken sleeps in its
// busy handler and polls, while the process that just committed starts its next transaction at
// once; under steady load from two processes one of them waits out whole streaks of the other's
// groups (measured with bench/web_bench, two service processes on one file: 0.7x the throughput
// of one, p99 70 ms against 20 ms). So processes cooperate through a few words of the shared
// counter page (<db>-gen, shared_generation.h), beside the counter:
//
//   release   a 32-bit sequence every writer bumps, with FUTEX_WAKE, right after its COMMIT or
//             ROLLBACK. A connection waiting for the write lock sleeps on it with FUTEX_WAIT
//             (bounded by its remaining busy time), so it retries the moment the lock is free
//             instead of at the end of a poll interval — waiting without spinning.
//   waiters   kSlots slots of process ids. A group-commit writer whose BEGIN IMMEDIATE had to
//             wait puts its pid in a slot until BEGIN returns. A writer about to begin its next
//             transaction that sees another live process listed gives it the turn: it waits for
//             `release` to move (the waiter committed), at most kYieldBudget — not starving.
//
// Invariants:
//   1. Advisory only: the write lock is SQLite's, and every wait here is bounded (the busy
//      handler's remaining time, or kYieldBudget). A waiter that died with its slot set, a
//      process of an older statestore that does not take part, a pid reused by another process,
//      or a damaged page cost at most a bounded delay, never correctness or progress.
//   2. A slot holds a pid only between the first busy wait of this process's group-commit writer
//      and the return of that BEGIN IMMEDIATE (EndWait), success or failure. Slots of dead
//      processes (kill(pid, 0) fails with ESRCH) are cleared by whoever finds them.
//   3. The words are used through std::atomic_ref and the futex system call only, so a page the
//      SIGBUS handler replaced (shared_generation.h invariant 5) is still memory: waits there
//      are only local to this process, and bounded.
#ifndef STATESTORE_SRC_WRITER_TURNS_H_
#define STATESTORE_SRC_WRITER_TURNS_H_

#include <sys/types.h>

#include <chrono>
#include <cstdint>

namespace statestore::internal {

class WriterTurns {
 public:
  static constexpr int kSlots = 16;
  static constexpr std::chrono::microseconds kYieldBudget{2000};
  // The page bytes this uses: a uint32 `release`, then kSlots int32 pids.
  static constexpr std::size_t kBytes = 4 * (1 + kSlots);

  // `words` points at kBytes of the shared page, 4-byte aligned, valid for the object's life.
  explicit WriterTurns(void* words);
  WriterTurns(const WriterTurns&) = delete;
  WriterTurns& operator=(const WriterTurns&) = delete;

  // The current `release` value, to pass to WaitForRelease.
  std::uint32_t ReleaseSeq() const;
  // Sleeps until `release` differs from `seen`, at most `max` (spurious early returns are fine:
  // callers retry). Never throws.
  void WaitForRelease(std::uint32_t seen, std::chrono::microseconds max) const;
  // After a write transaction ended (COMMIT or ROLLBACK): wakes every waiter. Never throws.
  void Released();

  // Invariant 2, for the group-commit writer: BeginWait when its BEGIN first has to wait,
  // EndWait when BEGIN returned. Never throw.
  void BeginWait();
  void EndWait();
  // Before the group-commit writer begins a transaction: if another live process is waiting,
  // waits (at most kYieldBudget) for the next release. Never throws.
  void YieldToWaiters();

 private:
  std::uint32_t* release_word() const;
  std::int32_t* slot(int i) const;

  void* const words_;
  const pid_t self_;
  int my_slot_ = -1;  // this process's slot while waiting (only the writer thread touches it)
};

}  // namespace statestore::internal

#endif  // STATESTORE_SRC_WRITER_TURNS_H_

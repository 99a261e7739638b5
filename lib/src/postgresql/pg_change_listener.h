// PgChangeListener — how a process learns of every other process's commits on the PostgreSQL
// engine: the store's ChangeSignal (core/change_signal.h), bumped by this process's writer and by
// a thread that LISTENs on the store's channel, to which every group writer sends a NOTIFY inside
// its transaction (delivered at COMMIT, never for a rolled-back one).
//
// Invariants:
//   1. This process's commits bump the counter before COMMIT and after it, before transact()
//      returns (the group writer calls Bump) — ChangeSignal invariant 1 for its own commits.
//   2. Another process's commit bumps it when its notification arrives, typically well under a
//      millisecond after that COMMIT on one host: ChangeSignal invariant 1 holds for foreign
//      commits only with that delay. That is why the read cache is off on this engine unless
//      Options::postgres.cache_reads_with_bounded_staleness.
//   3. Whenever the listening connection is (re)established, the counter is bumped once after
//      LISTEN took effect: notifications sent while it was down are lost, and the bump makes
//      every watcher (config watches, session listeners, the read cache) re-read history, which
//      is complete. While it is down, usable() is false and the counter is bumped every poll
//      interval, so watchers poll history instead of trusting silence.
//   4. When the connection is established again (not the first time), the read cache named by
//      ForgetCacheOnReconnect is dropped whole before that bump (ReadCache::Forget): a lost
//      connection may mean a crash or failover that lost commits the cache had seen (only with
//      synchronous_commit off), after which revision numbers are reused and a catch-up by
//      revision would keep their stale entries.
//   5. On a standby (pg_is_in_recovery(): a read-only Store given a standby's address) LISTEN is
//      refused, and the standby's commits arrive as the primary's WAL, not as notifications. The
//      thread then counts as started (open() does not wait busy_timeout for a LISTEN that cannot
//      happen), stays !usable() and bumps every poll interval as in invariant 3, and asks again
//      each interval, so a promotion is noticed.
#ifndef STATESTORE_SRC_POSTGRESQL_PG_CHANGE_LISTENER_H_
#define STATESTORE_SRC_POSTGRESQL_PG_CHANGE_LISTENER_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "core/change_signal.h"
#include "core/read_cache.h"
#include "postgresql/pg_connection.h"
#include "postgresql/pg_connection_pool.h"
#include "util/mutex.h"

namespace spdlog {
class logger;
}

namespace statestore::internal {

class PgChangeListener final : public ChangeSignal {
 public:
  // Starts the thread at once; `log` outlives it.
  PgChangeListener(std::string conninfo, std::string session_sql, std::string channel,
                   std::chrono::milliseconds reconnect_timeout, spdlog::logger* log);
  ~PgChangeListener() override;  // Stop()
  // Stops and joins the thread (idempotent): before the cache of invariant 4 goes.
  void Stop();

  std::uint64_t Load() const override { return counter_.load(std::memory_order_acquire); }
  std::uint64_t Bump() override { return counter_.fetch_add(1, std::memory_order_acq_rel); }
  bool usable() const override { return listening_.load(std::memory_order_acquire); }

  // The server process of this Store's writer connection (0: none): its own notifications are
  // not counted, as the committer bumped the counter for those commits already (invariant 1).
  void SetWriterBackend(int pid) { writer_backend_.store(pid, std::memory_order_release); }
  // Invariant 4. Called once, before the cache is used; `cache` outlives the listener's thread.
  void ForgetCacheOnReconnect(ReadCache* cache) {
    cache_to_forget_.store(cache, std::memory_order_release);
  }
  // Waits (at most `timeout`) until the thread listens and has made its first bump, so that a
  // Store returned by open sees no spurious bump from the listener's start (a cached read right
  // after open would otherwise miss once). Returns whether it is listening.
  bool WaitUntilListening(std::chrono::milliseconds timeout) const;
  // A fork()ed child: the thread does not exist there; leak its connection.
  void Abandon() noexcept;

 private:
  void Run();
  // Waits on the socket for up to `timeout`; returns false when the connection broke.
  bool WaitAndDrain(PgConnection& c, std::chrono::milliseconds timeout);

  const std::string conninfo_;
  const std::string session_sql_;
  const std::string channel_;
  const std::chrono::milliseconds reconnect_timeout_;
  spdlog::logger* const log_;
  std::atomic<std::uint64_t> counter_{1};
  std::atomic<int> writer_backend_{0};
  std::atomic<ReadCache*> cache_to_forget_{nullptr};
  std::atomic<bool> listening_{false};
  std::atomic<bool> started_{false};  // listening, and the connect bump made
  std::atomic<bool> stop_{false};
  int wake_fds_[2] = {-1, -1};                // a pipe: the destructor wakes the thread's poll()
  std::unique_ptr<PgConnection> connection_;  // the thread's; Abandon leaks it
  std::thread thread_;
  bool abandoned_ = false;
};

// ChangeFeed (core/read_cache.h) over the changes table, on a connection `connect` hands out for
// the call: a pool lease for readers, the writer's own connection inside its transaction.
class PgChangeFeed final : public ChangeFeed {
 public:
  // With a pool: each call leases a connection and reads in one statement (one snapshot).
  explicit PgChangeFeed(PgConnectionPool* pool) : pool_(pool) {}
  // Without: reads on `*connection` (the writer's; may change as it reconnects).
  explicit PgChangeFeed(std::unique_ptr<PgConnection>* connection) : connection_(connection) {}

  bool ChangedKeys(Revision after, Revision through, std::size_t max_keys, Revision* head,
                   std::vector<std::string>* keys) noexcept override;

 private:
  PgConnectionPool* pool_ = nullptr;
  std::unique_ptr<PgConnection>* connection_ = nullptr;
};

}  // namespace statestore::internal

#endif  // STATESTORE_SRC_POSTGRESQL_PG_CHANGE_LISTENER_H_

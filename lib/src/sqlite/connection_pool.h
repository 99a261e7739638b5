// ConnectionPool — one Connection per thread per Store, opened lazily.
//
// Invariants:
//   1. A Connection is only ever used by the thread it was opened for (Connection invariant 1).
//   2. A thread's Connection is closed when that thread exits (a thread_local hook calls
//      ReleaseThread) or when the pool is destroyed, whichever comes first. The pool is destroyed
//      only when no API call is in flight (the Store owns it), so no Connection is in use then.
//   3. The per-thread fast path caches (pool serial, Connection*). Serials are never reused, so a
//      cached pointer can never refer to a destroyed pool's Connection.
//   4. fork(): in a child process the connections were opened by the parent; SQLite forbids
//      using them across fork, closing included. A pool released in a child (or a thread exiting
//      there) leaks them instead of closing them.
#ifndef STATESTORE_SRC_CONNECTION_POOL_H_
#define STATESTORE_SRC_CONNECTION_POOL_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <thread>
#include <unordered_map>

#include "sqlite/connection.h"
#include "util/mutex.h"

namespace statestore::internal {

// Invariant 4: keeps `connection` open (and reachable, so leak checkers stay quiet) for the
// life of the process. For connections inherited across fork().
void LeakAfterFork(std::unique_ptr<Connection> connection);

class ConnectionPool : public std::enable_shared_from_this<ConnectionPool> {
 public:
  explicit ConnectionPool(ConnectionConfig config);
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;
  ~ConnectionPool();

  // The calling thread's connection, opened on first use. Throws: Error if opening fails.
  Connection& ForThisThread();

  // A connection outside the pool, owned by the caller, configured like the pooled ones (WAL
  // checked). The GroupCommitter's writer connection. Throws: Error if opening fails.
  std::unique_ptr<Connection> OpenUnpooled() const;

  // Closes the connection of thread `id`, if any. Called from that thread's exit hook.
  void ReleaseThread(std::thread::id id);

  std::size_t open_connections() const;

 private:
  const ConnectionConfig config_;
  const std::uint64_t serial_;
  const pid_t owner_pid_;  // invariant 4
  mutable Mutex mu_;
  std::unordered_map<std::thread::id, std::unique_ptr<Connection>> connections_ GUARDED_BY(mu_);
};

}  // namespace statestore::internal

#endif  // STATESTORE_SRC_CONNECTION_POOL_H_

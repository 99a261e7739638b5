// PgConnectionPool — the Store's connections for reads, shared by all its threads: a thread
// leases one for one read (a statement or a read-only transaction) and gives it back.
//
// Invariants:
//   1. A leased connection is used by its lease's thread only (PgConnection invariant 1), and
//      comes back idle: no transaction open (the lease's destructor rolls back what a failed
//      read left open, and drops a broken connection instead of keeping it).
//   2. At most `max` connections exist; a lease that finds none idle and the pool full waits up
//      to busy_timeout, then fails with kBusy.
//   3. After a broken connection, every idle one is dropped too (a server restart breaks them
//      all, and each would otherwise fail one more read).
#ifndef STATESTORE_SRC_POSTGRESQL_PG_CONNECTION_POOL_H_
#define STATESTORE_SRC_POSTGRESQL_PG_CONNECTION_POOL_H_

#include <chrono>
#include <condition_variable>
#include <memory>
#include <string>
#include <vector>

#include "postgresql/pg_connection.h"
#include "util/mutex.h"

namespace statestore::internal {

class PgConnectionPool {
 public:
  PgConnectionPool(std::string conninfo, std::string session_sql, std::size_t max,
                   std::chrono::milliseconds busy_timeout);
  ~PgConnectionPool();

  class Lease {
   public:
    Lease(PgConnectionPool* pool, std::unique_ptr<PgConnection> connection)
        : pool_(pool), connection_(std::move(connection)) {}
    Lease(Lease&&) = default;
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    PgConnection& operator*() const { return *connection_; }
    PgConnection* operator->() const { return connection_.get(); }

   private:
    PgConnectionPool* pool_;
    std::unique_ptr<PgConnection> connection_;
  };

  // Throws: Error(kBusy) (invariant 2), kUnavailable when the server cannot be reached.
  Lease Acquire();
  // Drops every idle connection (invariant 3).
  void DropIdle();
  // A fork()ed child: leaks every connection instead of closing it.
  void Abandon();

 private:
  void Release(std::unique_ptr<PgConnection> connection);

  const std::string conninfo_;
  const std::string session_sql_;
  const std::size_t max_;
  const std::chrono::milliseconds busy_timeout_;
  Mutex mu_;
  std::condition_variable freed_;
  std::vector<std::unique_ptr<PgConnection>> idle_ GUARDED_BY(mu_);
  std::size_t open_ GUARDED_BY(mu_) = 0;  // idle + leased
  bool abandoned_ GUARDED_BY(mu_) = false;
};

}  // namespace statestore::internal

#endif  // STATESTORE_SRC_POSTGRESQL_PG_CONNECTION_POOL_H_

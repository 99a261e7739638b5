#include "postgresql/pg_connection_pool.h"

#include "statestore/error.h"

namespace statestore::internal {

PgConnectionPool::PgConnectionPool(std::string conninfo, std::string session_sql, std::size_t max,
                                   std::chrono::milliseconds busy_timeout)
    : conninfo_(std::move(conninfo)),
      session_sql_(std::move(session_sql)),
      max_(max == 0 ? 1 : max),
      busy_timeout_(busy_timeout) {}

PgConnectionPool::~PgConnectionPool() {
  MutexLock lock(&mu_);
  if (abandoned_) {
    for (auto& c : idle_) c->Abandon();
  }
  idle_.clear();
}

PgConnectionPool::Lease::~Lease() {
  if (connection_) pool_->Release(std::move(connection_));
}

PgConnectionPool::Lease PgConnectionPool::Acquire() {
  MutexLock lock(&mu_);
  const auto deadline = std::chrono::steady_clock::now() + busy_timeout_;
  for (;;) {
    if (!idle_.empty()) {
      std::unique_ptr<PgConnection> c = std::move(idle_.back());
      idle_.pop_back();
      return Lease(this, std::move(c));
    }
    if (open_ < max_) {
      ++open_;
      lock.Unlock();
      try {
        return Lease(this, PgConnection::Connect(conninfo_, session_sql_, busy_timeout_));
      } catch (...) {
        lock.Lock();
        --open_;
        freed_.notify_one();
        throw;
      }
    }
    if (!lock.WaitFor(freed_, deadline - std::chrono::steady_clock::now(),
                      [&]() REQUIRES(mu_) { return !idle_.empty() || open_ < max_; })) {
      throw Error(ErrorCode::kBusy, "all " + std::to_string(max_) +
                                        " PostgreSQL read connections stayed in use for " +
                                        std::to_string(busy_timeout_.count()) +
                                        " ms (Options::postgres.max_read_connections)");
    }
  }
}

void PgConnectionPool::Release(std::unique_ptr<PgConnection> connection) {
  bool keep = !connection->broken();
  if (keep && connection->InTransaction()) {
    try {
      connection->ExecScript("cannot roll back", "ROLLBACK");
    } catch (...) {
      keep = false;
    }
    keep = keep && !connection->broken();
  }
  std::vector<std::unique_ptr<PgConnection>> dropped;
  MutexLock lock(&mu_);
  if (abandoned_) {
    connection->Abandon();
    keep = false;
  }
  if (keep) {
    idle_.push_back(std::move(connection));
  } else {
    --open_;
    // Invariant 3: the others are likely broken too.
    open_ -= idle_.size();
    dropped.swap(idle_);
    connection.reset();
  }
  freed_.notify_all();
  lock.Unlock();
  // `dropped` closes outside the lock (PQfinish may write to a dead socket).
}

void PgConnectionPool::DropIdle() {
  std::vector<std::unique_ptr<PgConnection>> dropped;
  MutexLock lock(&mu_);
  open_ -= idle_.size();
  dropped.swap(idle_);
  freed_.notify_all();
}

void PgConnectionPool::Abandon() {
  MutexLock lock(&mu_);
  abandoned_ = true;
  for (auto& c : idle_) c->Abandon();
}

}  // namespace statestore::internal

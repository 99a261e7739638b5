#include "sqlite/connection_pool.h"

#include <unistd.h>

#include <atomic>
#include <vector>

namespace statestore::internal {

namespace {

std::atomic<std::uint64_t> next_serial{1};

// Per-thread record of the pools that opened a connection for this thread; its destructor runs
// at thread exit and hands each connection back (ConnectionPool invariant 2).
struct ThreadConnections {
  std::uint64_t last_serial = 0;
  Connection* last_connection = nullptr;
  std::vector<std::weak_ptr<ConnectionPool>> pools;

  ~ThreadConnections() {
    auto id = std::this_thread::get_id();
    for (auto& weak : pools) {
      if (auto pool = weak.lock()) pool->ReleaseThread(id);
    }
  }
};

thread_local ThreadConnections tls_connections;

}  // namespace

void LeakAfterFork(std::unique_ptr<Connection> connection) {
  struct Kept {
    Mutex mu;
    std::vector<std::unique_ptr<Connection>> connections GUARDED_BY(mu);
  };
  static auto* const kept = new Kept;  // never destroyed (invariant 4: kept open for good)
  MutexLock lock(&kept->mu);
  kept->connections.push_back(std::move(connection));
}

ConnectionPool::ConnectionPool(ConnectionConfig config)
    : config_(std::move(config)), serial_(next_serial.fetch_add(1)), owner_pid_(::getpid()) {}

ConnectionPool::~ConnectionPool() {
  if (::getpid() == owner_pid_) return;
  // Invariant 4: a fork()ed child leaks the parent's connections.
  MutexLock lock(&mu_);
  for (auto& [id, connection] : connections_) LeakAfterFork(std::move(connection));
}

Connection& ConnectionPool::ForThisThread() {
  ThreadConnections& tls = tls_connections;
  if (tls.last_serial == serial_) return *tls.last_connection;
  auto id = std::this_thread::get_id();
  Connection* connection = nullptr;
  {
    MutexLock lock(&mu_);
    auto it = connections_.find(id);
    if (it != connections_.end()) connection = it->second.get();
  }
  if (connection == nullptr) {
    // Open outside the lock: opening does file I/O.
    auto fresh = std::make_unique<Connection>(config_);
    fresh->VerifyWal();
    connection = fresh.get();
    {
      MutexLock lock(&mu_);
      connections_.emplace(id, std::move(fresh));
    }
    // Drop registrations of pools that are gone, then register this one.
    std::erase_if(tls.pools, [](const std::weak_ptr<ConnectionPool>& w) { return w.expired(); });
    tls.pools.push_back(weak_from_this());
  }
  tls.last_serial = serial_;
  tls.last_connection = connection;
  return *connection;
}

std::unique_ptr<Connection> ConnectionPool::OpenUnpooled() const {
  auto connection = std::make_unique<Connection>(config_);
  connection->VerifyWal();
  return connection;
}

void ConnectionPool::ReleaseThread(std::thread::id id) {
  if (::getpid() != owner_pid_) return;  // invariant 4: leaked with the pool
  std::unique_ptr<Connection> released;
  {
    MutexLock lock(&mu_);
    auto it = connections_.find(id);
    if (it == connections_.end()) return;
    released = std::move(it->second);
    connections_.erase(it);
  }
  if (std::this_thread::get_id() == id && tls_connections.last_connection == released.get()) {
    tls_connections.last_serial = 0;
    tls_connections.last_connection = nullptr;
  }
  // `released` closes here, outside the lock.
}

std::size_t ConnectionPool::open_connections() const {
  MutexLock lock(&mu_);
  return connections_.size();
}

}  // namespace statestore::internal

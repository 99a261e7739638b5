#include "postgresql/pg_change_listener.h"

#include <fcntl.h>
#include <libpq-fe.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include "postgresql/pg_sql.h"
#include "statestore/error.h"

namespace statestore::internal {

namespace {
// How often the thread wakes while connected (to see stop_) and retries while disconnected.
constexpr std::chrono::milliseconds kPollInterval{200};
}  // namespace

PgChangeListener::PgChangeListener(std::string conninfo, std::string session_sql,
                                   std::string channel, std::chrono::milliseconds reconnect_timeout,
                                   spdlog::logger* log)
    : conninfo_(std::move(conninfo)),
      session_sql_(std::move(session_sql)),
      channel_(std::move(channel)),
      reconnect_timeout_(reconnect_timeout),
      log_(log) {
  if (::pipe2(wake_fds_, O_CLOEXEC | O_NONBLOCK) != 0) {
    throw Error(ErrorCode::kIoError, "cannot create the change listener's wake-up pipe");
  }
  thread_ = std::thread([this] { Run(); });
}

PgChangeListener::~PgChangeListener() {
  if (!abandoned_) {
    Stop();
  } else if (thread_.joinable()) {
    thread_.detach();  // no such thread in this process (fork)
  }
  ::close(wake_fds_[0]);
  ::close(wake_fds_[1]);
}

void PgChangeListener::Stop() {
  stop_.store(true, std::memory_order_release);
  const char byte = 1;
  [[maybe_unused]] ssize_t n = ::write(wake_fds_[1], &byte, 1);
  if (thread_.joinable()) thread_.join();
}

void PgChangeListener::Abandon() noexcept {
  abandoned_ = true;
  if (connection_) {
    connection_->Abandon();
    connection_.release();  // deliberately leaked: the parent owns the socket's session
  }
}

bool PgChangeListener::WaitUntilListening(std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!started_.load(std::memory_order_acquire)) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return true;
}

bool PgChangeListener::WaitAndDrain(PgConnection& c, std::chrono::milliseconds timeout) {
  pollfd fds[2] = {{PQsocket(c.handle()), POLLIN, 0}, {wake_fds_[0], POLLIN, 0}};
  const int ready = ::poll(fds, 2, static_cast<int>(timeout.count()));
  if (ready < 0) return true;  // EINTR: look again
  if (fds[0].revents == 0) return true;
  if (PQconsumeInput(c.handle()) == 0) return false;
  bool any = false;
  const int own = writer_backend_.load(std::memory_order_acquire);
  while (PGnotify* n = PQnotifies(c.handle())) {
    if (n->be_pid != own) any = true;
    PQfreemem(n);
  }
  if (any) Bump();
  return PQstatus(c.handle()) == CONNECTION_OK;
}

void PgChangeListener::Run() {
  // The channel is an identifier built from the validated schema name (pg_schema.h).
  const std::string listen = "LISTEN \"" + channel_ + "\"";
  bool warned = false;
  bool said_standby = false;
  while (!stop_.load(std::memory_order_acquire)) {
    bool standby = false;
    try {
      connection_ = PgConnection::Connect(conninfo_, session_sql_, reconnect_timeout_);
      standby =
          connection_
              ->Exec("cannot ask whether the server is a standby", "SELECT pg_is_in_recovery()")
              .Bool(0, 0);
      if (!standby) connection_->ExecScript("cannot LISTEN for commits", listen.c_str());
    } catch (const std::exception& e) {
      connection_.reset();
      if (!warned) {
        log_->warn("statestore: change listener cannot connect ({}); retrying", e.what());
        warned = true;
      }
      Bump();  // invariant 3: watchers poll history meanwhile
      pollfd wake = {wake_fds_[0], POLLIN, 0};
      ::poll(&wake, 1, static_cast<int>(kPollInterval.count()));
      continue;
    }
    if (standby) {
      // Invariant 5.
      connection_.reset();
      if (!said_standby) {
        log_->info(
            "statestore: connected to a standby (in recovery), which cannot LISTEN; watchers and "
            "the read cache poll history instead");
        said_standby = true;
      }
      started_.store(true, std::memory_order_release);
      Bump();
      pollfd wake = {wake_fds_[0], POLLIN, 0};
      ::poll(&wake, 1, static_cast<int>(kPollInterval.count()));
      continue;
    }
    if (warned) log_->info("statestore: change listener connected again");
    warned = false;
    // Invariant 4: on every connection after the first.
    if (ReadCache* cache = cache_to_forget_.load(std::memory_order_acquire);
        cache != nullptr && started_.load(std::memory_order_acquire)) {
      cache->Forget();
    }
    listening_.store(true, std::memory_order_release);
    Bump();  // invariant 3: anything sent while we were away is in history
    started_.store(true, std::memory_order_release);
    while (!stop_.load(std::memory_order_acquire)) {
      if (!WaitAndDrain(*connection_, kPollInterval)) break;
    }
    listening_.store(false, std::memory_order_release);
    Bump();
    if (!stop_.load(std::memory_order_acquire)) {
      log_->warn("statestore: change listener lost its connection; reconnecting");
    }
    connection_.reset();
  }
}

bool PgChangeFeed::ChangedKeys(Revision after, Revision through, std::size_t max_keys,
                               Revision* head, std::vector<std::string>* keys) noexcept {
  try {
    auto read = [&](PgConnection& c) {
      PgResult r = c.Exec("cannot read changed keys", pgsql::kChangedKeysSince,
                          PgParams()
                              .Int(static_cast<std::int64_t>(after))
                              .Int(static_cast<std::int64_t>(through))
                              .Int(static_cast<std::int64_t>(max_keys) + 1));
      if (r.rows() == 0) return false;
      *head = static_cast<Revision>(r.Int(0, 0));
      // Behind what the cache saw: the server lost commits (ReadCache::Forget says when).
      if (*head < after) return false;
      const auto compacted = static_cast<Revision>(r.Int(0, 1));
      if (compacted > after) return false;  // history cannot tell
      if (static_cast<std::size_t>(r.rows()) > max_keys) return false;
      for (int i = 0; i < r.rows(); ++i) {
        if (r.IsNull(i, 2) || r.IsNull(i, 3)) continue;
        std::string composite = r.Text(i, 2);
        composite.push_back('\0');
        composite.append(r.View(i, 3));
        keys->push_back(std::move(composite));
      }
      return true;
    };
    if (pool_ != nullptr) {
      PgConnectionPool::Lease lease = pool_->Acquire();
      return read(*lease);
    }
    if (connection_ == nullptr || !*connection_) return false;
    return read(**connection_);
  } catch (...) {
    return false;
  }
}

}  // namespace statestore::internal

#include "postgres/pg_failover_pair.h"

#include <stdexcept>
#include <thread>

namespace statestore::test {

namespace {

using Ms = std::chrono::milliseconds;

constexpr const char* kStandbyName = "statestore_standby";

Ms Since(PgFailoverPair::TimePoint start) {
  return std::chrono::duration_cast<Ms>(std::chrono::steady_clock::now() - start);
}

}  // namespace

PgFailoverPair::PgFailoverPair(const Settings& settings) : synchronous_(settings.synchronous) {
  server_settings_.server_settings = settings.server_settings;
  // A standby's walreceiver names itself after cluster_name. The synchronous standby is named
  // rather than '*': pg_basebackup's own WAL stream (application_name pg_basebackup) would match
  // '*' and acknowledge commits that only a half-made backup holds.
  server_settings_.server_settings.push_back(std::string("cluster_name=") + kStandbyName);
  // A standby whose primary died retries its WAL sources every wal_retrieve_retry_interval
  // (default 5 s), and a promotion requested meanwhile could wait that long.
  server_settings_.server_settings.push_back("wal_retrieve_retry_interval=100ms");
  if (synchronous_) {
    server_settings_.server_settings.push_back(std::string("synchronous_standby_names=") +
                                               kStandbyName);
  }
}

std::unique_ptr<PgFailoverPair> PgFailoverPair::Start(const Settings& settings) {
  std::unique_ptr<PgFailoverPair> pair(new PgFailoverPair(settings));
  pair->slots_[0] = PgCluster::Start(pair->server_settings_);
  pair->slots_[1] = PgCluster::StartStandby(*pair->slots_[0], pair->server_settings_);
  pair->WaitForStandby();
  return pair;
}

std::string PgFailoverPair::uri(const std::string& database) const {
  return "postgresql://postgres@/" + database + "?host=" + slots_[0]->socket_dir() + "," +
         slots_[1]->socket_dir() + "&port=" + std::to_string(slots_[0]->port()) + "," +
         std::to_string(slots_[1]->port()) + "&target_session_attrs=read-write";
}

void PgFailoverPair::FailOver() {
  KillPrimary();
  PromoteStandby();
}

void PgFailoverPair::KillPrimary() {
  primary().Kill();
  killed_at_ = std::chrono::steady_clock::now();
}

void PgFailoverPair::PromoteStandby() {
  standby().Promote();
  primary_ = 1 - primary_;
  promote_time_ = Since(killed_at_);
}

void PgFailoverPair::RebuildStandby() {
  const auto start = std::chrono::steady_clock::now();
  standby().RebuildAsStandbyOf(primary());
  WaitForStandby();
  rebuild_time_ = Since(start);
}

void PgFailoverPair::DetachStandby() {
  if (synchronous_) throw std::logic_error("DetachStandby: the primary's commits would wait");
  standby().QueryValue("ALTER SYSTEM SET primary_conninfo = ''");
  standby().QueryValue("SELECT pg_reload_conf()");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (primary().QueryValue("SELECT count(*) FROM pg_stat_replication") != "0") {
    if (std::chrono::steady_clock::now() > deadline) {
      throw std::runtime_error("the standby still streams 60 s after it was detached");
    }
    std::this_thread::sleep_for(Ms(10));
  }
}

void PgFailoverPair::WaitForStandby() {
  const std::string sql =
      std::string(
          "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming' AND "
          "application_name = '") +
      kStandbyName + "'" + (synchronous_ ? " AND sync_state IN ('sync', 'quorum')" : "");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  std::string last;
  while (std::chrono::steady_clock::now() < deadline) {
    last = primary().QueryValue(sql);
    if (last != "0" && !last.empty()) return;
    std::this_thread::sleep_for(Ms(20));
  }
  throw std::runtime_error("the standby in " + standby().socket_dir() +
                           " did not start streaming from " + primary().socket_dir() +
                           " within 120 s");
}

}  // namespace statestore::test

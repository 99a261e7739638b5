// PgFailoverPair — a primary and its streaming standby on this machine, for the failover tests
// (issue 15): two PgClusters in two directories (slots 0 and 1) whose sockets a multi-host URI
// names, so a Store follows whichever one is primary. FailOver() does what an HA manager does
// after the primary's machine is lost: SIGKILL it, promote the standby. RebuildStandby() makes
// the dead slot a standby of the new primary again.
//
// Invariants:
//   1. With Settings::synchronous, every server names the standby as its synchronous one: a
//      primary acknowledges a commit only once its standby has flushed it, and while it has no
//      standby its commits wait (a promoted primary accepts writes only once RebuildStandby()
//      gave it one). So a commit acknowledged by any primary is on the standby FailOver promotes.
//   2. The slots never change places in uri(): host 0 then host 1, target_session_attrs=read-write
//      (libpq skips the dead one and the standby).
//   3. Like PgCluster, nothing is left running or on disk when the pair is destroyed.
#ifndef STATESTORE_TESTS_POSTGRES_PG_FAILOVER_PAIR_H_
#define STATESTORE_TESTS_POSTGRES_PG_FAILOVER_PAIR_H_

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "postgres/pg_cluster.h"

namespace statestore::test {

class PgFailoverPair {
 public:
  struct Settings {
    bool synchronous = true;  // invariant 1
    // Extra settings for both servers, "name=value" (e.g. "synchronous_commit=off").
    std::vector<std::string> server_settings;
  };

  // Starts a primary in slot 0 and its standby in slot 1, and waits until the standby streams
  // (synchronously, with Settings::synchronous). Throws std::runtime_error on failure.
  static std::unique_ptr<PgFailoverPair> Start(const Settings& settings);

  // "postgresql://postgres@/DATABASE?host=DIR0,DIR1&port=5432,5432&target_session_attrs=read-write"
  std::string uri(const std::string& database = "postgres") const;
  PgCluster& primary() { return *slots_[primary_]; }
  PgCluster& standby() { return *slots_[1 - primary_]; }
  int primary_slot() const { return primary_; }

  using TimePoint = std::chrono::steady_clock::time_point;

  // KillPrimary() then PromoteStandby().
  void FailOver();
  // Kills the primary (PgCluster::Kill); the standby is still a standby.
  void KillPrimary();
  // Promotes the standby; returns once the new primary accepts connections as a primary. Its
  // writes wait for a standby (invariant 1). REQUIRES: KillPrimary() ran.
  void PromoteStandby();
  // Makes the dead slot a standby of the current primary and waits until it streams (as a
  // synchronous standby with Settings::synchronous). REQUIRES: FailOver() ran since the last call.
  void RebuildStandby();

  // Cuts the standby off (primary_conninfo = '' on it, reloaded) and waits until the primary has
  // no standby: what it commits from then on, a failover loses — an asynchronous standby that
  // fell behind. REQUIRES: !Settings::synchronous (else the primary's commits would wait).
  void DetachStandby();

  // When the last KillPrimary() had killed every process of the primary; how long from then
  // until the standby was promoted, and how long the last RebuildStandby() took.
  TimePoint last_kill() const { return killed_at_; }
  std::chrono::milliseconds last_promote_time() const { return promote_time_; }
  std::chrono::milliseconds last_rebuild_time() const { return rebuild_time_; }

 private:
  explicit PgFailoverPair(const Settings& settings);
  // Polls the primary's pg_stat_replication until its standby streams (in sync when synchronous).
  void WaitForStandby();

  PgCluster::Settings server_settings_;
  bool synchronous_;
  std::unique_ptr<PgCluster> slots_[2];
  int primary_ = 0;
  TimePoint killed_at_;
  std::chrono::milliseconds promote_time_{0};
  std::chrono::milliseconds rebuild_time_{0};
};

}  // namespace statestore::test

#endif  // STATESTORE_TESTS_POSTGRES_PG_FAILOVER_PAIR_H_

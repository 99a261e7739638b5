// PgStore — the Store on the PostgreSQL engine: EngineStore (core/engine_store.h) with
// PostgreSQL's parts and hooks. Store::open makes one for a connection string
// (postgresql://..., postgres://..., or libpq's key=value form).
//
// Ownership: a PgStore owns its read pool (PgConnectionPool), the group writer's connection
// (PgGroupWriter) and the GroupCommitter, the change listener (the ChangeSignal: a thread and a
// connection that LISTENs), the read cache (disabled unless
// Options::postgres.cache_reads_with_bounded_staleness), the retention thread, and the layers.
// One PgStore exists per (server, database, schema) per process; Store::open hands out
// shared_ptrs to it.
//
// Read guarantee. Every read hook runs on its own snapshot of the server: a point read is one
// statement, every other read a REPEATABLE READ, READ ONLY transaction. So a read that starts
// after a commit returned — in any process on any machine — sees it, as store.h promises. The
// one exception is opt-in: with cache_reads_with_bounded_staleness, Store::get may answer from
// the cache until another process's commit notification arrives (pg_change_listener.h).
//
// fork(): as on SQLite, a child must not use an inherited PgStore; releasing it leaks its
// connections (libpq connections must not be shared across processes) and joins no thread.
#ifndef STATESTORE_SRC_POSTGRESQL_PG_STORE_H_
#define STATESTORE_SRC_POSTGRESQL_PG_STORE_H_

#include <sys/types.h>

#include <condition_variable>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "core/engine_store.h"
#include "postgresql/pg_change_listener.h"
#include "postgresql/pg_connection_pool.h"
#include "postgresql/pg_group_writer.h"
#include "postgresql/pg_server_clock.h"
#include "statestore/store.h"
#include "util/mutex.h"

namespace statestore::internal {

class PgStore final : public EngineStore {
 public:
  // REQUIRES: PgCheckAndMigrate passed on `conninfo` with `options`.
  // `server_clock`: the server's clock when Options::clock was not injected (then
  // options.clock reads it), else null.
  PgStore(std::string conninfo, std::string description, const Options& options,
          RedactionKey redaction_key, std::shared_ptr<PgServerClock> server_clock);
  ~PgStore() override;

  pid_t owner_pid() const { return owner_pid_; }

  // Whether this process runs the sweeps now — of expired sessions (sessions_layer.h SweepTurn)
  // and of keys whose time-to-live ran out (ExpiryLoop): true while its own connection holds the
  // session-level advisory lock of this store's schema, which one process of the fleet holds at
  // a time. The lock goes with the connection: a process that exits or loses its connection
  // hands the sweeps to the next one that asks. Called by the session reaper's thread and the
  // expiry thread. Throws: Error when the server cannot be reached (the sweep is skipped).
  bool TakeSweepTurn() EXCLUDES(sweep_mu_);

  // For the admin tools (admin/admin_pg_*.cc), which read tables the engine hooks do not: runs
  // `fn` on one REPEATABLE READ, READ ONLY snapshot on a pooled connection (as every read hook).
  void ReadForAdmin(const std::function<void(PgConnection&)>& fn);
  // A new connection outside the pool with the readers' session settings (search_path is the
  // store's schema, pg_schema.h invariant 1), for what a pooled read transaction cannot do
  // (VACUUM runs outside any transaction). The caller owns it.
  std::unique_ptr<PgConnection> ConnectForAdmin() const;

 private:
  Revision ReadSnapshot(const std::function<void(EngineTransaction&)>& body,
                        bool want_head) override;
  std::optional<Entry> ReadEntryAtHead(std::string_view keyspace, std::string_view key,
                                       Revision* head) override;
  std::vector<std::string> ReadKeyspaces() override;
  HistoryBounds ReadHistoryBounds() override;
  HistoryBounds ReadKeyspaceBounds(std::string_view keyspace) override;
  std::vector<Commit> ReadHistory(const HistoryQuery& query) override;
  std::optional<Commit> ReadCommitAt(Revision revision) override;
  std::optional<HistoryPolicy> ReadStoredPolicy(std::string_view keyspace) override;
  void RevertIn(EngineTransaction& tx, Revision revision, bool force) override;
  bool StorePolicyIn(EngineTransaction& tx, std::string_view keyspace,
                     const std::optional<HistoryPolicy>& policy) override;
  std::uint64_t CompactAll() override;

  // Runs `fn(connection)` in a REPEATABLE READ, READ ONLY transaction on a pooled connection.
  // A connection found broken at BEGIN (the server restarted since it was last used) is replaced
  // once; `fn` has not run then.
  template <typename F>
  auto InReadTransaction(F&& fn) -> decltype(fn(std::declval<PgConnection&>()));
  // One retention batch through the committer if one is due; returns whether more is left.
  struct BatchResult {
    std::uint64_t revisions_removed = 0;
    std::uint64_t changes_removed = 0;
    bool more = false;
  };
  BatchResult RetentionBatch();
  void RetentionLoop();
  void RequestRetention();
  bool Stopping() EXCLUDES(retention_mu_);
  // ~PgStore in a fork()ed child: no other thread exists there, and sweep_mu_ may have been
  // copied locked, so it is not taken.
  void AbandonSweepConnectionAfterFork() STATESTORE_TSA(no_thread_safety_analysis);

  // The expiry sweep (PgTransaction invariants 8 and 9), as on SQLite (sqlite/expiry_sweep.h):
  // every Options::expiry_sweep_interval the process whose turn it is (TakeSweepTurn) asks,
  // without the write lock, whether any key or lease is due (the deadline indexes), and if so
  // ends due leases and expires due keys in batches of 256 (a lease whole, however many keys),
  // each an ordinary request of the group commit queue in a commit labelled "expired".
  // Several sweepers would still be correct: a batch reads the due keys under the write lock.
  void ExpiryLoop();
  // Resamples server_clock_ every PgServerClock::kResampleInterval (its invariant 3) on a pooled
  // connection; a failed sample keeps the old anchor. Waits on retention_cv_ for stopping_.
  void ClockLoop();
  bool KeysDueNow();
  void SweepExpiredKeys();

  const pid_t owner_pid_;
  const std::string conninfo_;
  DamagedRowReporter damaged_rows_;
  PgConnectionPool pool_;
  PgChangeListener listener_;
  PgChangeFeed pool_feed_;
  ReadCache cache_;
  PgGroupWriter writer_;
  GroupCommitter committer_;

  Mutex retention_mu_;
  std::condition_variable retention_cv_;
  bool retention_requested_ GUARDED_BY(retention_mu_) = false;
  bool stopping_ GUARDED_BY(retention_mu_) = false;
  std::thread retention_thread_;
  std::thread expiry_thread_;                    // ExpiryLoop; waits on retention_cv_ for stopping_
  std::shared_ptr<PgServerClock> server_clock_;  // null when Options::clock was injected
  std::thread clock_thread_;                     // ClockLoop, when server_clock_ is set

  // TakeSweepTurn's connection and whether it holds the lock.
  Mutex sweep_mu_;
  std::unique_ptr<PgConnection> sweep_connection_ GUARDED_BY(sweep_mu_);
  bool holds_sweep_lock_ GUARDED_BY(sweep_mu_) = false;
};

// Store::open for a PostgreSQL connection string.
std::shared_ptr<Store> OpenPostgresStore(const std::string& conninfo, const Options& options,
                                         const LayerFactory& make_layers);

}  // namespace statestore::internal

#endif  // STATESTORE_SRC_POSTGRESQL_PG_STORE_H_

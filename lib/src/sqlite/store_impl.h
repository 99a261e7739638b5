// StoreImpl — the Store on the SQLite engine: EngineStore (core/engine_store.h, the API written
// once) with SQLite's parts and hooks.
//
// Ownership: a StoreImpl owns its ConnectionPool (one SQLite connection per thread), the
// GroupCommitter (the one writer) and its SqliteGroupWriter, the ReadCache, the SharedGeneration
// mapping (the cache's ChangeSignal), the maintenance thread, the layers Store::open attached
// (sessions, config: stopped first when it closes), and the PresenceLock (the database file
// descriptor whose OFD locks say that this process has the file open; closed after every
// connection: presence_lock.h invariant 2). One StoreImpl exists per canonical path per process
// (the registry in store_impl.cc); Store::open hands out shared_ptrs to it.
//
// fork(): a StoreImpl remembers the pid that created it. Released in another process (a child
// that inherited it), it joins no thread (none exists there) and closes no SQLite connection and
// no descriptor of the database (SQLite forbids carrying connections across fork, and closing a
// descriptor would drop the child's own locks on the file): it leaks them. The child can then
// not open the same file again (Store::open refuses; see store.h).
#ifndef STATESTORE_SRC_STORE_IMPL_H_
#define STATESTORE_SRC_STORE_IMPL_H_

#include <sys/types.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/engine_store.h"
#include "core/group_commit.h"
#include "core/keyspace_directory.h"
#include "core/read_cache.h"
#include "core/redaction_key.h"
#include "core/store_counters.h"
#include "sqlite/background_maintenance.h"
#include "sqlite/connection_pool.h"
#include "sqlite/expiry_sweep.h"
#include "sqlite/history_change_feed.h"
#include "sqlite/presence_lock.h"
#include "sqlite/retention_runs.h"
#include "sqlite/shared_generation.h"
#include "sqlite/sqlite_group_writer.h"
#include "sqlite/sqlite_store.h"
#include "sqlite/value_codec.h"
#include "sqlite/writer_turns.h"
#include "statestore/store.h"

namespace statestore::internal {

class StoreImpl final : public EngineStore {
 public:
  // REQUIRES: `canonical_path` passed CheckAndMigrate while `presence` held the shared presence
  // lock. `immutable`: read-only media (database_file.h invariant 8).
  StoreImpl(std::string canonical_path, const Options& options, RedactionKey redaction_key,
            std::unique_ptr<PresenceLock> presence, bool immutable);
  ~StoreImpl() override;

  // The process that opened it (fork(): see the note above).
  pid_t owner_pid() const { return owner_pid_; }

 private:
  // EngineStore's hooks.
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

  // Runs `fn(connection)` inside a read transaction on this thread's connection.
  template <typename F>
  auto InReadTransaction(F&& fn) -> decltype(fn(std::declval<Connection&>()));
  // Maintenance thread, about once a second (writable Stores).
  void CheckGenerationFile();
  // ~StoreImpl in a fork()ed child.
  void AbandonAfterFork() noexcept;

  const pid_t owner_pid_;
  // Declared first, so destroyed last of the engine's members: after every connection
  // (presence_lock.h invariant 2). EngineStore's members (options, counters, keyspace directory)
  // outlive it; they hold no connection.
  std::unique_ptr<PresenceLock> presence_;
  DamagedRowReporter damaged_rows_;  // rows scans skipped (value_codec.h note 2)
  std::unique_ptr<SharedGeneration> generation_;
  // Fair write-lock hand-over between processes, in generation_'s page; null without it.
  std::unique_ptr<WriterTurns> turns_;
  ReadCache cache_;
  // Before the pool: every writable connection's WAL hook points at it, so it must outlive them.
  // Its thread is stopped first thing in ~StoreImpl (it uses the committer and the pool).
  BackgroundMaintenance maintenance_;
  std::shared_ptr<ConnectionPool> pool_;
  // How the cache learns which keys other processes changed; uses the pool.
  HistoryChangeFeed change_feed_;
  SqliteGroupWriter writer_;  // the committer's engine half; outlives it
  // Which revisions this Store committed and what they changed (the committer records, the
  // Store answers known_unchanged). Revisions of a SQLite file are this file's forever: nothing
  // but a restore (exclusive, no live Store) rewrites them, so the log cannot go stale.
  LocalCommitLog local_commits_;
  GroupCommitter committer_;
  RetentionRuns retention_;
  ExpirySweep expiry_;  // TransactionImpl invariant 7; run by maintenance_
  // Whether this Store holds the file's sweeper byte (ExpirySweep invariant 4). Maintenance thread
  // only.
  bool expiry_sweeper_ = false;
};

// Whether a Store of this process has `canonical_path` open (Restore refuses then, before it
// opens a descriptor of the file: presence_lock.h invariant 2).
bool IsOpenInThisProcess(const std::string& canonical_path);

}  // namespace statestore::internal

#endif  // STATESTORE_SRC_STORE_IMPL_H_

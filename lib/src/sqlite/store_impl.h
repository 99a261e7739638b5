// StoreImpl — the members behind statestore::Store.
//
// Ownership: a StoreImpl owns its ConnectionPool (one SQLite connection per thread), the
// GroupCommitter (the one writer), the ReadCache, the SharedGeneration mapping, the maintenance
// thread, the layers Store::open attached (sessions, config: stopped first when it closes), and
// the PresenceLock (the database file
// descriptor whose OFD locks say that this process has the file open; closed last, after every
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

#include <memory>
#include <string>

#include "core/group_commit.h"
#include "core/keyspace_directory.h"
#include "core/read_cache.h"
#include "core/redaction_key.h"
#include "core/store_counters.h"
#include "sqlite/background_maintenance.h"
#include "sqlite/connection_pool.h"
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

class StoreImpl final : public Store {
 public:
  // REQUIRES: `canonical_path` passed CheckAndMigrate while `presence` held the shared presence
  // lock. `immutable`: read-only media (database_file.h invariant 8).
  StoreImpl(std::string canonical_path, const Options& options, RedactionKey redaction_key,
            std::unique_ptr<PresenceLock> presence, bool immutable);
  ~StoreImpl() override;

  Revision transact(const Body& body, const TransactOptions& options) override;
  void read(const Body& body) override;
  std::optional<Value> get(std::string_view keyspace, std::string_view key) override;
  std::optional<Entry> get_entry(std::string_view keyspace, std::string_view key) override;
  std::vector<Entry> list(std::string_view keyspace, std::string_view prefix,
                          std::size_t limit) override;
  std::vector<std::string> keyspaces() override;
  Revision put(std::string_view keyspace, std::string_view key, const Value& value) override;
  Revision erase(std::string_view keyspace, std::string_view key) override;
  HistoryBounds history_bounds() override;
  std::vector<Commit> history(const HistoryQuery& query) override;
  std::optional<Commit> commit_at(Revision revision) override;
  Revision revert(Revision revision, const RevertOptions& options) override;
  HistoryBounds history_bounds(std::string_view keyspace) override;
  std::uint64_t compact_history() override;
  void set_history_policy(std::string_view keyspace,
                          const std::optional<HistoryPolicy>& policy) override;
  EffectiveHistoryPolicy history_policy(std::string_view keyspace) override;
  // Store::open, writable: stores Options::history_policies that differ from the file's.
  void ApplyHistoryPolicies();
  Stats stats() const override;
  const std::string& path() const override { return path_; }
  const Options& options() const override { return options_; }
  Bytes value_digest(const Value& value) const override;
  bool has_redaction_key() const override { return redaction_key_.available(); }
  Bytes keyed_digest(std::string_view data) const override;
  std::uint64_t change_counter() const noexcept override;
  spdlog::logger& logger() const noexcept override { return *log_; }
  // OpenSqliteStore, once, before the Store is shared (Store::attach_layers).
  void AttachLayers(Layers layers);
  // The process that opened it (fork(): see the note above).
  pid_t owner_pid() const { return owner_pid_; }

 private:
  // Runs `fn(connection)` inside a read transaction on this thread's connection.
  template <typename F>
  auto InReadTransaction(const char* what, F&& fn) -> decltype(fn(std::declval<Connection&>()));
  // The common start of get/get_entry: checks, counts, and answers from the cache if it can.
  template <typename Out>
  bool CacheHit(std::string_view keyspace, std::string_view key, Out* out);
  // A cache miss: reads the entry from SQLite and fills the cache.
  CachedEntry ReadThrough(std::string_view keyspace, std::string_view key);
  Origin MakeOrigin(std::string_view label) const;
  Revision Submit(const GroupCommitter::Body& body, std::string_view label);
  // Maintenance thread, about once a second (writable Stores).
  void CheckGenerationFile();
  // ~StoreImpl in a fork()ed child.
  void AbandonAfterFork() noexcept;

  const pid_t owner_pid_;
  // Declared first, so destroyed last: after every connection (presence_lock.h invariant 2).
  std::unique_ptr<PresenceLock> presence_;
  const std::string path_;
  const Options options_;
  const RedactionKey redaction_key_;  // available unless read-only (redaction_key.h invariant 5)
  std::shared_ptr<spdlog::logger> log_;
  StoreCounters counters_;
  DamagedRowReporter damaged_rows_;  // rows scans skipped (value_codec.h note 2)
  std::unique_ptr<SharedGeneration> generation_;
  // Fair write-lock hand-over between processes, in generation_'s page; null without it.
  std::unique_ptr<WriterTurns> turns_;
  ReadCache cache_;
  KeyspaceDirectory keyspaces_;
  // Before the pool: every writable connection's WAL hook points at it, so it must outlive them.
  // Its thread is stopped first thing in ~StoreImpl (it uses the committer and the pool).
  BackgroundMaintenance maintenance_;
  std::shared_ptr<ConnectionPool> pool_;
  // How the cache learns which keys other processes changed; uses the pool.
  HistoryChangeFeed change_feed_;
  SqliteGroupWriter writer_;  // the committer's engine half; outlives it
  GroupCommitter committer_;
  RetentionRuns retention_;
};

// Whether a Store of this process has `canonical_path` open (Restore refuses then, before it
// opens a descriptor of the file: presence_lock.h invariant 2).
bool IsOpenInThisProcess(const std::string& canonical_path);

}  // namespace statestore::internal

#endif  // STATESTORE_SRC_STORE_IMPL_H_

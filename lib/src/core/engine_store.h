// EngineStore — the Store API written once for every engine: argument checks, the in-body guard,
// origins, the read cache around point reads, writes through the group committer, history
// policies, and what the Store reports about itself. An engine derives from it (SQLite:
// StoreImpl), owns the parts (read cache, committer, change signal) and implements the hooks
// below, each of which runs on its own snapshot or inside a body of the committer.
//
// Invariants:
//   1. Every public entry point checks its arguments (and refuses to run inside a body) before
//      any hook runs, so a refused call reaches no engine.
//   2. Writes reach the engine only through the committer (core/group_commit.h): the engine
//      hooks that write (RevertIn, StorePolicyIn) run inside a body.
//   3. Point reads go cache first; a miss reads the engine with the head of its snapshot and
//      fills the cache under the cache's protocol (read_cache.h invariants 3 and 5). read()
//      reports the head of its snapshot to the cache likewise.
//   4. BindParts is called once by the engine's constructor, before the Store is shared; the
//      parts outlive every call (they are the engine's members, the Store's lifetime).
#ifndef STATESTORE_SRC_CORE_ENGINE_STORE_H_
#define STATESTORE_SRC_CORE_ENGINE_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/engine_transaction.h"
#include "core/group_commit.h"
#include "core/keyspace_directory.h"
#include "core/local_commit_log.h"
#include "core/read_cache.h"
#include "core/redaction_key.h"
#include "core/store_counters.h"
#include "statestore/store.h"

namespace statestore::internal {

// Makes the layers a new Store carries (statestore/store_layer.h). Called once per new Store,
// after the engine opened and migrated it and before the Store is shared with anyone.
using LayerFactory = std::function<Store::Layers(Store& store)>;

// The logger of a Store whose Options::logger is null: "statestore", stderr, level warn.
std::shared_ptr<spdlog::logger> DefaultStoreLogger();

class EngineStore : public Store {
 public:
  Revision transact(const Body& body, const TransactOptions& options) override;
  void read(const Body& body) override;
  std::optional<Value> get(std::string_view keyspace, std::string_view key) override;
  std::optional<Entry> get_entry(std::string_view keyspace, std::string_view key) override;
  std::vector<Entry> list(std::string_view keyspace, std::string_view prefix,
                          std::size_t limit) override;
  std::vector<std::string> keyspaces() override;
  using Store::put;
  Revision put(std::string_view keyspace, std::string_view key, const Value& value,
               const PutOptions& options) override;
  Revision erase(std::string_view keyspace, std::string_view key) override;
  Revision expire(std::string_view keyspace, std::string_view key,
                  std::chrono::milliseconds ttl) override;
  Revision persist(std::string_view keyspace, std::string_view key) override;
  LeaseId grant_lease(std::chrono::milliseconds ttl) override;
  bool keep_alive(LeaseId lease) override;
  bool revoke_lease(LeaseId lease) override;
  std::optional<Lease> lease(LeaseId lease) override;
  std::vector<Lease> leases() override;
  Revision set_max_keys(std::string_view keyspace, std::optional<std::uint64_t> max_keys) override;
  std::optional<KeyBound> key_bound(std::string_view keyspace) override;
  HistoryBounds history_bounds() override;
  std::vector<Commit> history(const HistoryQuery& query) override;
  std::optional<Commit> commit_at(Revision revision) override;
  Revision revert(Revision revision, const RevertOptions& options) override;
  HistoryBounds history_bounds(std::string_view keyspace) override;
  std::uint64_t compact_history() override;
  void set_history_policy(std::string_view keyspace,
                          const std::optional<HistoryPolicy>& policy) override;
  EffectiveHistoryPolicy history_policy(std::string_view keyspace) override;
  Stats stats() const override;
  const std::string& path() const override { return path_; }
  const Options& options() const override { return options_; }
  Bytes value_digest(const Value& value) const override;
  bool has_redaction_key() const override { return redaction_key_.available(); }
  Bytes keyed_digest(std::string_view data) const override;
  std::uint64_t change_counter() const noexcept override;
  bool known_unchanged(std::string_view keyspace, Revision from,
                       Revision to) const noexcept override;
  spdlog::logger& logger() const noexcept override { return *log_; }

  // Store::open, writable: stores Options::history_policies that differ from the stored ones.
  void ApplyHistoryPolicies();
  // Store::open, once, before the Store is shared (Store::attach_layers).
  void AttachLayers(Layers layers) { attach_layers(std::move(layers)); }

 protected:
  // `path`: what path() reports (SQLite: the canonical file path).
  EngineStore(std::string path, const Options& options, std::shared_ptr<spdlog::logger> log,
              RedactionKey redaction_key);

  struct Parts {
    ReadCache* cache;
    GroupCommitter* committer;
    ChangeSignal* signal;  // null: change_counter() is 0 (a read-only Store without one)
    // Whether get()/get_entry() may answer from the cache. false: every get reads the engine
    // (still filling the cache for the engine's own use; PostgreSQL without
    // Options::postgres.cache_reads_with_bounded_staleness).
    bool cache_answers_gets = true;
    // What the committer records of this Store's commits (local_commit_log.h); null: the engine
    // keeps no log and known_unchanged() is always false.
    const LocalCommitLog* local_commits = nullptr;
  };
  void BindParts(const Parts& parts);  // invariant 4

  // Engine hooks. Each read hook runs on one snapshot of committed data; none is called inside a
  // body (invariant 1). Throws: Error.
  //
  // Runs `body` on a read-only EngineTransaction over one snapshot; returns the snapshot's head
  // revision if `want_head` (else 0).
  virtual Revision ReadSnapshot(const std::function<void(EngineTransaction&)>& body,
                                bool want_head) = 0;
  // One point read and its snapshot's head. Throws kCorruption naming the key for a row that does
  // not decode (such a row is never cached).
  virtual std::optional<Entry> ReadEntryAtHead(std::string_view keyspace, std::string_view key,
                                               Revision* head) = 0;
  virtual std::vector<std::string> ReadKeyspaces() = 0;
  virtual HistoryBounds ReadHistoryBounds() = 0;
  virtual HistoryBounds ReadKeyspaceBounds(std::string_view keyspace) = 0;
  virtual std::vector<Commit> ReadHistory(const HistoryQuery& query) = 0;
  virtual std::optional<Commit> ReadCommitAt(Revision revision) = 0;
  // The policy stored for `keyspace`; nullopt if none (or no such keyspace).
  virtual std::optional<HistoryPolicy> ReadStoredPolicy(std::string_view keyspace) = 0;
  // Inside a body (invariant 2): the writes of a revert (history_log.h invariant 3); stores or
  // clears a policy and returns whether it changed.
  virtual void RevertIn(EngineTransaction& tx, Revision revision, bool force) = 0;
  virtual bool StorePolicyIn(EngineTransaction& tx, std::string_view keyspace,
                             const std::optional<HistoryPolicy>& policy) = 0;
  // compact_history() after the checks: retention to completion, then space back to the system.
  virtual std::uint64_t CompactAll() = 0;

  Origin MakeOrigin(std::string_view label) const;
  Revision Submit(const GroupCommitter::Body& body, std::string_view label);

  const std::string path_;
  const Options options_;
  const RedactionKey redaction_key_;  // available unless read-only (redaction_key.h invariant 5)
  const std::shared_ptr<spdlog::logger> log_;
  StoreCounters counters_;
  KeyspaceDirectory keyspaces_;

 private:
  // The common start of get/get_entry: checks, counts, and answers from the cache if it can.
  template <typename Out>
  bool CacheHit(std::string_view keyspace, std::string_view key, Out* out);
  // A cache miss: reads the entry from the engine and fills the cache (invariant 3).
  CachedEntry ReadThrough(std::string_view keyspace, std::string_view key);

  ReadCache* cache_ = nullptr;
  bool cache_answers_gets_ = true;
  GroupCommitter* committer_ = nullptr;
  ChangeSignal* signal_ = nullptr;
  const LocalCommitLog* local_commits_ = nullptr;
};

}  // namespace statestore::internal

#endif  // STATESTORE_SRC_CORE_ENGINE_STORE_H_

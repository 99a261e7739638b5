#include "sqlite/store_impl.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>
#include <unistd.h>

#include <map>
#include <mutex>
#include <set>

#include "core/body_scope.h"
#include "core/validate.h"
#include "sqlite/database_file.h"
#include "sqlite/free_space.h"
#include "sqlite/history_log.h"
#include "sqlite/schema_sql.h"
#include "sqlite/sql_transaction.h"
#include "sqlite/sqlite_error.h"
#include "sqlite/transaction_impl.h"
#include "sqlite/value_codec.h"
#include "util/mutex.h"

namespace statestore {

namespace internal {

namespace {

static_assert(WriterTurns::kBytes <= SharedGeneration::kSpareBytes);

ConnectionConfig MakeConnectionConfig(const std::string& path, const Options& options,
                                      bool immutable, StoreCounters* counters,
                                      WalCommitObserver* wal_observer, WriterTurns* turns) {
  ConnectionConfig config;
  config.path = path;
  config.read_only = options.read_only;
  config.immutable = immutable;
  config.create = false;  // the file exists by now (PrepareDatabasePath)
  config.durability = options.durability;
  config.busy_timeout = options.busy_timeout;
  config.counters = counters;
  config.wal_observer = options.read_only ? nullptr : wal_observer;
  config.turns = options.read_only ? nullptr : turns;
  config.vfs = options.vfs;
  config.journal_size_limit = options.wal_checkpoint_bytes > 0
                                  ? options.wal_checkpoint_bytes
                                  : ConnectionConfig{}.journal_size_limit;
  return config;
}

// A writer must have the generation: other processes' read caches are coherent only because
// every commit bumps it (Attach throws rather than return null for a writer). A read-only Store
// can do without; it then reads without a cache.
std::unique_ptr<SharedGeneration> OpenGeneration(PresenceLock& presence, const Options& options,
                                                 spdlog::logger& log) {
  std::string why;
  auto generation =
      SharedGeneration::Attach(presence, !options.read_only, options.busy_timeout, &why);
  if (!generation && options.cache_capacity > 0) {
    log.info("statestore: read cache disabled for {}: {}", presence.path(), why);
  }
  return generation;
}

// One StoreImpl per canonical path per process.
struct Registry {
  Mutex mu;
  std::map<std::string, std::pair<StoreImpl*, std::weak_ptr<StoreImpl>>> open GUARDED_BY(mu);
  // Files whose Store this process inherited across fork() and released: SQLite still holds
  // the parent's connections to them here (leaked), so they cannot be opened again.
  std::set<std::string> inherited GUARDED_BY(mu);
};

Registry& GetRegistry() {
  static Registry* registry = new Registry;  // never destroyed: stores may outlive main()
  return *registry;
}

void CheckOptions(const Options& options) {
  if (options.busy_timeout.count() < 0) {
    throw Error(ErrorCode::kInvalidArgument, "Options::busy_timeout must not be negative");
  }
  if (options.expiry_sweep_interval.count() < 0) {
    throw Error(ErrorCode::kInvalidArgument,
                "Options::expiry_sweep_interval must not be negative (0 = no sweep)");
  }
  ValidateLabel(options.origin_label);
  for (const auto& [name, policy] : options.history_policies) {
    try {
      ValidateHistoryPolicy(name, policy);
    } catch (const Error& e) {
      throw Error(ErrorCode::kInvalidArgument,
                  std::string("Options::history_policies: ") + e.what());
    }
  }
  // As the PostgreSQL engine refuses Options::vfs: an option of the other engine that is set is
  // a mistake (a tool given --schema and a file), not something to ignore.
  if (options.postgres.schema != PostgresOptions{}.schema) {
    throw Error(ErrorCode::kInvalidArgument,
                "Options::postgres.schema ('" + options.postgres.schema +
                    "') names a PostgreSQL schema; an SQLite file holds one store, so leave it "
                    "at \"statestore\" when opening a file");
  }
  if (!options.vfs.empty() && (options.vfs.find('\0') != std::string::npos ||
                               sqlite3_vfs_find(options.vfs.c_str()) == nullptr)) {
    throw Error(ErrorCode::kInvalidArgument,
                "Options::vfs: no SQLite VFS named '" + options.vfs +
                    "' is registered (register it with sqlite3_vfs_register before Store::open, "
                    "or leave Options::vfs empty for SQLite's default)");
  }
  if (!options.redaction_key.empty() && options.redaction_key.size() != kRedactionKeyBytes) {
    throw Error(ErrorCode::kInvalidArgument,
                "Options::redaction_key must be exactly 32 bytes (or empty to use the key file), "
                "not " +
                    std::to_string(options.redaction_key.size()));
  }
}

[[noreturn]] void RefuseInherited(const std::string& path) {
  throw Error(ErrorCode::kInvalidArgument,
              path +
                  " was opened by this process's parent before fork(); SQLite connections do "
                  "not survive fork(), and this process holds the parent's (leaked) ones, so "
                  "it cannot open the file again. Release the inherited Store and exec a new "
                  "program to use the file from a child process");
}

void CheckCompatible(const Options& open, const Options& asked, const std::string& path) {
  if (open.read_only != asked.read_only || open.durability != asked.durability) {
    throw Error(ErrorCode::kInvalidArgument,
                path + " is already open in this process with different options (read_only " +
                    (open.read_only ? "true" : "false") + ", durability " +
                    (open.durability == Durability::kFull ? "Full" : "Normal") +
                    "); one process shares one Store per file");
  }
  if (asked.vfs != open.vfs) {
    throw Error(ErrorCode::kInvalidArgument,
                path + " is already open in this process through SQLite VFS '" +
                    (open.vfs.empty() ? "(default)" : open.vfs) + "', not '" +
                    (asked.vfs.empty() ? "(default)" : asked.vfs) +
                    "'; one process shares one Store per file");
  }
  if (!asked.redaction_key.empty() && asked.redaction_key != open.redaction_key) {
    throw Error(ErrorCode::kInvalidArgument,
                path + " is already open in this process with another Options::redaction_key");
  }
  if (!asked.history_policies.empty() && open.history_policies != asked.history_policies) {
    throw Error(ErrorCode::kInvalidArgument,
                path +
                    " is already open in this process with other Options::history_policies; "
                    "use Store::set_history_policy to change a policy");
  }
  if (open.config.profile != asked.config.profile) {
    throw Error(ErrorCode::kInvalidArgument,
                path + " is already open in this process with config profile '" +
                    open.config.profile + "', not '" + asked.config.profile +
                    "'; one process shares one Store (and one Config) per file");
  }
}

}  // namespace

StoreImpl::StoreImpl(std::string canonical_path, const Options& options, RedactionKey redaction_key,
                     std::unique_ptr<PresenceLock> presence, bool immutable)
    : EngineStore(std::move(canonical_path), options,
                  options.logger ? options.logger : DefaultStoreLogger(), std::move(redaction_key)),
      owner_pid_(::getpid()),
      presence_(std::move(presence)),
      damaged_rows_(&counters_, log_.get()),
      generation_(OpenGeneration(*presence_, options_, *log_)),
      turns_(generation_ ? std::make_unique<WriterTurns>(generation_->spare()) : nullptr),
      cache_(options_.cache_capacity, generation_.get(), &counters_),
      pool_(std::make_shared<ConnectionPool>(MakeConnectionConfig(
          path_, options_, immutable, &counters_, &maintenance_, turns_.get()))),
      change_feed_(pool_.get()),
      writer_(SqliteGroupWriter::Dependencies{pool_.get(), &keyspaces_, &options_, path_ + "-wal",
                                              &damaged_rows_, &redaction_key_}),
      committer_(GroupCommitter::Dependencies{
          &writer_, &keyspaces_, &cache_, &counters_, &options_, log_.get(),
          options_.read_only ? std::function<void()>()
                             : std::function<void()>([this] { maintenance_.RequestRetention(); }),
          &local_commits_}),
      retention_(&committer_, pool_.get(), &counters_, &options_),
      expiry_(&committer_, pool_.get(), &counters_, &options_) {
  BindParts(
      Parts{&cache_, &committer_, generation_.get(), /*cache_answers_gets=*/true, &local_commits_});
  if (cache_.enabled()) {
    // The cache is empty, so it is coherent with the head now (ReadCache::SetChangeFeed).
    Connection& c = pool_->ForThisThread();
    cache_.SetChangeFeed(&change_feed_, CallSqlite("cannot read head revision", [&] {
      StatementUse q(c, sql::kHeadRevisionNow);
      q->executeStep();
      return static_cast<Revision>(q->getColumn(0).getInt64());
    }));
  }
  if (!options_.read_only) {
    maintenance_.Start(BackgroundMaintenance::Dependencies{
        pool_.get(), &committer_, &counters_, log_.get(), path_ + "-wal",
        options_.wal_checkpoint_bytes,
        BackgroundMaintenance::CheckpointFrames(
            options_.wal_checkpoint_bytes,
            static_cast<int>(pool_->ForThisThread().QueryInt("PRAGMA page_size"))),
        [this] { CheckGenerationFile(); }, [this] { retention_.Batch(); },
        options_.expiry_sweep_interval.count() > 0
            ? [this](const std::function<bool()>& interrupted) {
                // ExpirySweep invariant 4. Only this thread touches expiry_sweeper_.
                if (!expiry_sweeper_) {
                  expiry_sweeper_ = presence_->TryLock(kExpirySweeperByte, 1, F_WRLCK);
                }
                if (expiry_sweeper_) expiry_.Run(interrupted);
              }
            : std::function<void(const std::function<bool()>&)>(),
        options_.expiry_sweep_interval});
  }
  log_->debug("statestore: opened {}", path_);
}

StoreImpl::~StoreImpl() {
  if (::getpid() != owner_pid_) {
    AbandonAfterFork();
    return;
  }
  // First the layers (sessions' reaper and listener, config's watches): their threads run
  // transactions and read history through this Store (statestore/store_layer.h).
  stop_layers();
  // And the maintenance thread (checkpoints and retention through the committer and the pool).
  maintenance_.Stop();
  Registry& registry = GetRegistry();
  internal::MutexLock lock(&registry.mu);
  auto it = registry.open.find(path_);
  if (it != registry.open.end() && it->second.first == this) registry.open.erase(it);
}

void StoreImpl::AbandonAfterFork() noexcept {
  // Threads of the parent do not exist here: neither stop nor join them; and leak every SQLite
  // connection and the database descriptor (see store_impl.h). Members destroyed after this
  // body only free memory, unmap <db>-gen and close its descriptor (SQLite never locks it).
  abandon_layers_after_fork();
  maintenance_.Abandon();
  writer_.Abandon();  // the pool leaks its own connections (ConnectionPool invariant 4)
  presence_->Abandon();
  Registry& registry = GetRegistry();
  internal::MutexLock lock(&registry.mu);
  registry.inherited.insert(path_);
  auto it = registry.open.find(path_);
  if (it != registry.open.end() && it->second.first == this) registry.open.erase(it);
}

void StoreImpl::CheckGenerationFile() {
  if (!generation_) return;
  try {
    std::string problem = generation_->CheckFile();
    if (!problem.empty()) log_->error("statestore: {}", problem);
  } catch (const std::exception& e) {
    log_->warn("statestore: checking {} failed: {}", generation_->path(), e.what());
  }
}

bool IsOpenInThisProcess(const std::string& canonical_path) {
  Registry& registry = GetRegistry();
  internal::MutexLock lock(&registry.mu);
  auto it = registry.open.find(canonical_path);
  return (it != registry.open.end() && !it->second.second.expired()) ||
         registry.inherited.count(canonical_path) != 0;
}

template <typename F>
auto StoreImpl::InReadTransaction(F&& fn) -> decltype(fn(std::declval<Connection&>())) {
  Connection& c = pool_->ForThisThread();
  ReadTransaction tx(c);
  if constexpr (std::is_void_v<decltype(fn(c))>) {
    fn(c);
    tx.Commit();
  } else {
    auto result = fn(c);
    tx.Commit();
    return result;
  }
}

namespace {

Revision ReadHeadRevision(Connection& c) {
  return CallSqlite("cannot read head revision", [&] {
    StatementUse q(c, sql::kHeadRevisionNow);
    q->executeStep();
    return static_cast<Revision>(q->getColumn(0).getInt64());
  });
}

}  // namespace

Revision StoreImpl::ReadSnapshot(const std::function<void(EngineTransaction&)>& body,
                                 bool want_head) {
  return InReadTransaction([&](Connection& c) {
    TransactionImpl tx(c, keyspaces_, /*read_only=*/true, Origin{}, options_.redacted_keyspaces,
                       &damaged_rows_);
    tx.UseClock(&options_.clock);
    body(tx);
    return want_head ? ReadHeadRevision(c) : Revision{0};
  });
}

std::optional<Entry> StoreImpl::ReadEntryAtHead(std::string_view keyspace, std::string_view key,
                                                Revision* head) {
  Connection& c = pool_->ForThisThread();
  // One autocommit read of committed data, with the head revision of its snapshot. The names are
  // bound without a copy: thread-local scratch strings outlive the statement's use.
  thread_local std::string keyspace_text, key_text;
  keyspace_text.assign(keyspace);
  key_text.assign(key);
  CachedEntry entry = CallSqlite("cannot read entry", [&]() -> CachedEntry {
    StatementUse q(c, sql::kSelectEntryAtHead);
    q->bindNoCopy(1, keyspace_text);
    q->bindNoCopy(2, key_text);
    if (!q->executeStep())
      throw Error(ErrorCode::kCorruption, "meta row 'head_revision' is missing");
    *head = static_cast<Revision>(q->getColumn(0).getInt64());
    if (q->isColumnNull(1)) return std::nullopt;
    // TransactionImpl invariant 7: a key whose deadline has passed is absent (and stays absent:
    // only a later commit can bring it back, and that moves the cache's change signal).
    std::optional<std::int64_t> expires_us;
    if (!q->isColumnNull(4)) {
      expires_us = q->getColumn(4).getInt64();
      if (*expires_us <= NowMicros(options_.clock)) return std::nullopt;
    }
    std::string problem;
    std::optional<Value> value = DecodeValue(*q, 1, 2, &problem);
    if (!value) throw DamagedRowError(keyspace, key, problem);  // never cached
    Entry e;
    e.key = std::string(key);
    e.value = std::move(*value);
    e.version = static_cast<std::uint64_t>(q->getColumn(3).getInt64());
    if (expires_us) e.expires_at = FromMicros(*expires_us);
    if (!q->isColumnNull(5)) e.lease = q->getColumn(5).getInt64();
    return e;
  });
  c.AssertIdle();
  return entry;
}

std::vector<std::string> StoreImpl::ReadKeyspaces() {
  return InReadTransaction([&](Connection& c) {
    return CallSqlite("cannot list keyspaces", [&] {
      std::vector<std::string> names;
      StatementUse q(c, sql::kListKeyspaces);
      while (q->executeStep()) names.push_back(q->getColumn(0).getString());
      return names;
    });
  });
}

HistoryBounds StoreImpl::ReadHistoryBounds() {
  return InReadTransaction([](Connection& c) { return internal::ReadHistoryBounds(c); });
}

HistoryBounds StoreImpl::ReadKeyspaceBounds(std::string_view keyspace) {
  return InReadTransaction(
      [&](Connection& c) { return internal::ReadKeyspaceBounds(c, keyspace); });
}

std::vector<Commit> StoreImpl::ReadHistory(const HistoryQuery& query) {
  return InReadTransaction([&](Connection& c) { return QueryHistory(c, query, &damaged_rows_); });
}

std::optional<Commit> StoreImpl::ReadCommitAt(Revision revision) {
  return InReadTransaction([&](Connection& c) { return ReadCommit(c, revision, &damaged_rows_); });
}

std::optional<HistoryPolicy> StoreImpl::ReadStoredPolicy(std::string_view keyspace) {
  return InReadTransaction([&](Connection& c) -> std::optional<HistoryPolicy> {
    std::optional<KeyspaceHistoryRow> row = ReadKeyspaceHistory(c, keyspace);
    if (!row) return std::nullopt;
    return row->stored;
  });
}

void StoreImpl::RevertIn(EngineTransaction& tx, Revision revision, bool force) {
  RevertInto(AsSqlite(tx), revision, force);
}

bool StoreImpl::StorePolicyIn(EngineTransaction& tx, std::string_view keyspace,
                              const std::optional<HistoryPolicy>& policy) {
  return StoreHistoryPolicy(AsSqlite(tx).connection(), keyspace, policy);
}

std::uint64_t StoreImpl::CompactAll() {
  const std::uint64_t removed = retention_.CompactAll();
  // The freed pages go back to the file system now (free_space.h), in the same bounded steps
  // the maintenance thread uses: `statectl compact-history` exits before that thread would.
  FreeSpace::ReturnAll(committer_, counters_, [] { return false; });
  return removed;
}

std::shared_ptr<Store> OpenSqliteStore(const std::string& path, const Options& options,
                                       const LayerFactory& make_layers) {
  internal::RefuseInsideBody("open");
  internal::CheckOptions(options);
  internal::Registry& registry = internal::GetRegistry();
  // Declared before the lock so that, if it turns out to be the last reference, the Store's
  // destructor (which takes the registry lock) runs after the lock is released.
  std::shared_ptr<internal::StoreImpl> existing;
  // Likewise a new Store whose history policies cannot be stored (ApplyHistoryPolicies throws).
  std::shared_ptr<internal::StoreImpl> store;
  // Held across the open so two threads opening one file get one Store.
  internal::MutexLock lock(&registry.mu);
  std::string canonical = internal::PrepareDatabasePath(path, options);
  auto it = registry.open.find(canonical);
  if (it != registry.open.end()) {
    if ((existing = it->second.second.lock())) {
      if (existing->owner_pid() != ::getpid()) internal::RefuseInherited(canonical);
      internal::CheckCompatible(existing->options(), options, canonical);
      return existing;
    }
  }
  if (registry.inherited.count(canonical) != 0) internal::RefuseInherited(canonical);
  // The database descriptor first: it must outlive every connection (presence_lock.h).
  auto presence = internal::PresenceLock::Open(canonical, !options.read_only);
  internal::CheckDatabaseFiles(canonical, presence->file_stat(), options);
  presence->LockShared(options.busy_timeout);
  const bool immutable = options.read_only && internal::NeedsImmutableOpen(canonical);
  internal::RedactionKey key;
  {
    internal::ConnectionConfig config;
    config.path = canonical;
    config.read_only = options.read_only;
    config.immutable = immutable;
    config.durability = options.durability;
    config.busy_timeout = options.busy_timeout;
    config.vfs = options.vfs;
    internal::Connection bootstrap(config);
    key = internal::CheckAndMigrate(bootstrap, options);
  }
  store = std::make_shared<internal::StoreImpl>(canonical, options, std::move(key),
                                                std::move(presence), immutable);
  // Before the Store is registered: if it throws, the Store is released (after the registry
  // lock, see `store` above) and the open fails.
  store->ApplyHistoryPolicies();
  store->AttachLayers(make_layers(*store));
  registry.open[canonical] = {store.get(), store};
  return store;
}

}  // namespace internal

}  // namespace statestore

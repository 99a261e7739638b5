#include "postgresql/pg_store.h"

#include <spdlog/spdlog.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdlib>
#include <map>

#include "core/body_scope.h"
#include "core/history_policy.h"
#include "core/validate.h"
#include "postgresql/pg_history_log.h"
#include "postgresql/pg_schema.h"
#include "postgresql/pg_sql.h"
#include "postgresql/pg_transaction.h"
#include "statestore/error.h"
#include "util/clock.h"

namespace statestore::internal {

namespace {

// At most this many revisions of each keyspace per retention batch (as on SQLite).
constexpr std::uint64_t kRevisionsPerBatch = 256;

// The expiry sweep's batch and commit label, as on SQLite (sqlite/expiry_sweep.h invariant 1).
constexpr std::size_t kExpiredKeysPerBatch = 256;
constexpr char kExpiredLabel[] = "expired";

PgTransaction& AsPg(EngineTransaction& tx) { return static_cast<PgTransaction&>(tx); }

// One PgStore per (server, database, schema) per process.
struct Registry {
  Mutex mu;
  std::map<std::string, std::weak_ptr<PgStore>> open GUARDED_BY(mu);
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
  ValidatePgSchemaName(options.postgres.schema);
  for (const auto& [name, policy] : options.history_policies) {
    try {
      ValidateHistoryPolicy(name, policy);
    } catch (const Error& e) {
      throw Error(ErrorCode::kInvalidArgument,
                  std::string("Options::history_policies: ") + e.what());
    }
  }
  if (!options.vfs.empty()) {
    throw Error(ErrorCode::kInvalidArgument,
                "Options::vfs names an SQLite VFS; it has no meaning for a PostgreSQL store");
  }
  if (!options.redaction_key.empty() && options.redaction_key.size() != kRedactionKeyBytes) {
    throw Error(ErrorCode::kInvalidArgument,
                "Options::redaction_key must be exactly 32 bytes (or empty), not " +
                    std::to_string(options.redaction_key.size()));
  }
  if (options.postgres.max_read_connections == 0) {
    throw Error(ErrorCode::kInvalidArgument, "Options::postgres.max_read_connections must be > 0");
  }
}

void CheckCompatible(const Options& open, const Options& asked, const std::string& name) {
  if (open.read_only != asked.read_only || open.durability != asked.durability ||
      open.postgres.cache_reads_with_bounded_staleness !=
          asked.postgres.cache_reads_with_bounded_staleness) {
    throw Error(ErrorCode::kInvalidArgument,
                name +
                    " is already open in this process with different options (read_only, "
                    "durability or postgres.cache_reads_with_bounded_staleness); one process "
                    "shares one Store per store");
  }
  if (!asked.redaction_key.empty() && asked.redaction_key != open.redaction_key) {
    throw Error(ErrorCode::kInvalidArgument,
                name + " is already open in this process with another Options::redaction_key");
  }
  if (!asked.history_policies.empty() && open.history_policies != asked.history_policies) {
    throw Error(ErrorCode::kInvalidArgument,
                name +
                    " is already open in this process with other Options::history_policies; "
                    "use Store::set_history_policy to change a policy");
  }
  if (open.config.profile != asked.config.profile) {
    throw Error(ErrorCode::kInvalidArgument,
                name + " is already open in this process with config profile '" +
                    open.config.profile + "', not '" + asked.config.profile + "'");
  }
}

// The cache always exists (the writer's bodies read through it, PgCommitGroup); whether it
// answers Store::get is Options::postgres.cache_reads_with_bounded_staleness (BindParts).
std::size_t CacheCapacity(const Options& options) { return options.cache_capacity; }

}  // namespace

PgStore::PgStore(std::string conninfo, std::string description, const Options& options,
                 RedactionKey redaction_key, std::shared_ptr<PgServerClock> server_clock)
    : EngineStore(std::move(description), options,
                  options.logger ? options.logger : DefaultStoreLogger(), std::move(redaction_key)),
      owner_pid_(::getpid()),
      conninfo_(std::move(conninfo)),
      damaged_rows_(&counters_, log_.get()),
      pool_(conninfo_, PgSessionSql(options_, /*writer=*/false),
            options_.postgres.max_read_connections, options_.busy_timeout),
      listener_(conninfo_, PgSessionSql(options_, false), PgChannelName(options_.postgres.schema),
                options_.busy_timeout, log_.get()),
      pool_feed_(&pool_),
      cache_(CacheCapacity(options_), &listener_, &counters_),
      writer_(PgGroupWriter::Dependencies{conninfo_, PgSessionSql(options_, /*writer=*/true),
                                          PgChannelName(options_.postgres.schema), path_,
                                          &keyspaces_, &options_, &damaged_rows_, &redaction_key_,
                                          &listener_, &cache_}),
      committer_(GroupCommitter::Dependencies{
          &writer_, &keyspaces_, &cache_, &counters_, &options_, log_.get(),
          options_.read_only ? std::function<void()>()
                             : std::function<void()>([this] { RequestRetention(); })}),
      server_clock_(std::move(server_clock)) {
  BindParts(Parts{&cache_, &committer_, &listener_,
                  options_.postgres.cache_reads_with_bounded_staleness});
  listener_.ForgetCacheOnReconnect(&cache_);  // ~PgStore stops the listener before cache_ goes
  // The listener's first bump happens before the Store is handed out (pg_change_listener.h).
  if (!listener_.WaitUntilListening(options_.busy_timeout)) {
    log_->warn("statestore: {}: change listener not connected yet; reads bypass the cache", path_);
  }
  if (cache_.enabled()) {
    cache_.SetChangeFeed(&pool_feed_, InReadTransaction([](PgConnection& c) {
      PgResult r = c.Exec("cannot read head revision", pgsql::kHeadRevision);
      return static_cast<Revision>(r.Int(0, 0));
    }));
  }
  if (server_clock_) {
    const std::int64_t offset_us = server_clock_->wall_clock_offset_us();
    if (offset_us > 1'000'000 || offset_us < -1'000'000) {
      log_->warn(
          "statestore: {}: this machine's clock is {:.3f} s {} the server's; the store keeps "
          "time by the server's clock (commit times, expiry), but check NTP on both",
          path_, std::abs(offset_us) / 1e6, offset_us > 0 ? "behind" : "ahead of");
    }
    clock_thread_ = std::thread([this] { ClockLoop(); });
  }
  if (!options_.read_only) {
    retention_thread_ = std::thread([this] { RetentionLoop(); });
    if (options_.expiry_sweep_interval.count() > 0) {
      expiry_thread_ = std::thread([this] { ExpiryLoop(); });
    }
  }
  log_->debug("statestore: opened {}", path_);
}

PgStore::~PgStore() {
  if (::getpid() != owner_pid_) {
    // A fork()ed child (see pg_store.h): no thread of ours exists here; leak the connections.
    abandon_layers_after_fork();
    writer_.Abandon();
    listener_.Abandon();
    pool_.Abandon();
    AbandonSweepConnectionAfterFork();
    if (retention_thread_.joinable()) retention_thread_.detach();
    if (expiry_thread_.joinable()) expiry_thread_.detach();
    if (clock_thread_.joinable()) clock_thread_.detach();
    return;
  }
  stop_layers();
  {
    MutexLock lock(&retention_mu_);
    stopping_ = true;
  }
  retention_cv_.notify_all();
  if (retention_thread_.joinable()) retention_thread_.join();
  if (expiry_thread_.joinable()) expiry_thread_.join();
  if (clock_thread_.joinable()) clock_thread_.join();
  listener_.Stop();  // its thread may Forget cache_ (declared after it, so destroyed first)
  Registry& registry = GetRegistry();
  MutexLock lock(&registry.mu);
  auto it = registry.open.find(path_);
  if (it != registry.open.end() && it->second.expired()) registry.open.erase(it);
}

template <typename F>
auto PgStore::InReadTransaction(F&& fn) -> decltype(fn(std::declval<PgConnection&>())) {
  for (int attempt = 0;; ++attempt) {
    PgConnectionPool::Lease lease = pool_.Acquire();
    try {
      lease->ExecScript("cannot begin read transaction",
                        "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY");
    } catch (const Error&) {
      if (attempt == 0 && lease->broken()) continue;  // the lease drops it and the idle ones
      throw;
    }
    if constexpr (std::is_void_v<decltype(fn(*lease))>) {
      fn(*lease);
      lease->ExecScript("cannot end read transaction", "COMMIT");
      return;
    } else {
      auto result = fn(*lease);
      lease->ExecScript("cannot end read transaction", "COMMIT");
      return result;
    }
  }
}

Revision PgStore::ReadSnapshot(const std::function<void(EngineTransaction&)>& body,
                               bool want_head) {
  return InReadTransaction([&](PgConnection& c) {
    PgTransaction tx(c, keyspaces_, /*read_only=*/true, Origin{}, options_.redacted_keyspaces,
                     &damaged_rows_);
    tx.UseClock(&options_.clock);  // which keys have expired (PgTransaction invariant 8)
    body(tx);
    if (!want_head) return Revision{0};
    PgResult r = c.Exec("cannot read head revision", pgsql::kHeadRevision);
    return static_cast<Revision>(r.Int(0, 0));
  });
}

std::optional<Entry> PgStore::ReadEntryAtHead(std::string_view keyspace, std::string_view key,
                                              Revision* head) {
  for (int attempt = 0;; ++attempt) {
    PgConnectionPool::Lease lease = pool_.Acquire();
    std::optional<PgResult> result;
    try {
      result.emplace(lease->Exec("cannot read entry", pgsql::kSelectEntryAtHead,
                                 PgParams().Text(keyspace).Key(key)));
    } catch (const Error&) {
      // A connection that idled across a server restart: one statement, nothing ran; again.
      if (attempt == 0 && lease->broken()) continue;
      throw;
    }
    const PgResult& r = *result;
    if (r.rows() != 1) throw Error(ErrorCode::kCorruption, "meta row 'head_revision' is missing");
    *head = static_cast<Revision>(r.Int(0, 0));
    if (r.IsNull(0, 1)) return std::nullopt;
    std::optional<std::int64_t> expires_us;
    if (!r.IsNull(0, 4)) {
      // PgTransaction invariant 8: absent from its deadline on, by this reader's clock.
      expires_us = r.Int(0, 4);
      if (*expires_us <= NowMicros(options_.clock)) return std::nullopt;
    }
    std::string problem;
    std::optional<Value> value = DecodePgValue(r, 0, 1, 2, &problem);
    if (!value) throw DamagedRowError(keyspace, key, problem);  // never cached
    Entry e{std::string(key), std::move(*value), static_cast<std::uint64_t>(r.Int(0, 3)),
            std::nullopt, std::nullopt};
    if (expires_us) e.expires_at = FromMicros(*expires_us);  // ReadCache invariant 8: not cached
    if (!r.IsNull(0, 5)) e.lease = r.Int(0, 5);
    return e;
  }
}

std::vector<std::string> PgStore::ReadKeyspaces() {
  return InReadTransaction([](PgConnection& c) {
    PgResult r = c.Exec("cannot list keyspaces", pgsql::kListKeyspaces);
    std::vector<std::string> names;
    for (int i = 0; i < r.rows(); ++i) names.push_back(r.Text(i, 0));
    return names;
  });
}

HistoryBounds PgStore::ReadHistoryBounds() {
  return InReadTransaction([](PgConnection& c) { return PgReadHistoryBounds(c); });
}

HistoryBounds PgStore::ReadKeyspaceBounds(std::string_view keyspace) {
  return InReadTransaction([&](PgConnection& c) { return PgReadKeyspaceBounds(c, keyspace); });
}

std::vector<Commit> PgStore::ReadHistory(const HistoryQuery& query) {
  return InReadTransaction(
      [&](PgConnection& c) { return PgQueryHistory(c, query, &damaged_rows_); });
}

std::optional<Commit> PgStore::ReadCommitAt(Revision revision) {
  return InReadTransaction(
      [&](PgConnection& c) { return PgReadCommit(c, revision, &damaged_rows_); });
}

std::optional<HistoryPolicy> PgStore::ReadStoredPolicy(std::string_view keyspace) {
  return InReadTransaction([&](PgConnection& c) -> std::optional<HistoryPolicy> {
    auto row = PgReadKeyspaceHistory(c, keyspace);
    if (!row) return std::nullopt;
    return row->stored;
  });
}

void PgStore::RevertIn(EngineTransaction& tx, Revision revision, bool force) {
  PgRevertInto(AsPg(tx), revision, force);
}

bool PgStore::StorePolicyIn(EngineTransaction& tx, std::string_view keyspace,
                            const std::optional<HistoryPolicy>& policy) {
  return PgStoreHistoryPolicy(AsPg(tx), keyspace, policy);
}

PgStore::BatchResult PgStore::RetentionBatch() {
  BatchResult result;
  const bool due = InReadTransaction([&](PgConnection& c) {
    return PgRetentionDue(c, options_.history_retention, NowMicros(options_.clock));
  });
  if (!due) return result;
  committer_.Submit(
      [&](EngineTransaction& tx) {
        const auto r = PgRunRetentionBatch(AsPg(tx).connection(), options_.history_retention,
                                           kRevisionsPerBatch, NowMicros(options_.clock));
        result = BatchResult{r.revisions_removed, r.changes_removed, r.more};
      },
      Origin{});
  if (result.changes_removed > 0) Bump(counters_.compaction_runs);
  return result;
}

std::uint64_t PgStore::CompactAll() {
  std::uint64_t total = 0;
  for (;;) {
    const BatchResult r = RetentionBatch();
    total += r.revisions_removed;
    if (!r.more && r.changes_removed == 0) break;
  }
  return total;
}

void PgStore::RequestRetention() {
  {
    MutexLock lock(&retention_mu_);
    retention_requested_ = true;
  }
  retention_cv_.notify_one();
}

void PgStore::RetentionLoop() {
  for (;;) {
    {
      MutexLock lock(&retention_mu_);
      lock.Wait(retention_cv_,
                [&]() REQUIRES(retention_mu_) { return stopping_ || retention_requested_; });
      if (stopping_) return;
      retention_requested_ = false;
    }
    try {
      RetentionBatch();
    } catch (const std::exception& e) {
      log_->warn("statestore: history retention on {} failed: {}", path_, e.what());
    }
  }
}

bool PgStore::TakeSweepTurn() {
  MutexLock lock(&sweep_mu_);
  try {
    if (sweep_connection_ == nullptr || sweep_connection_->broken()) {
      holds_sweep_lock_ = false;
      sweep_connection_ = PgConnection::Connect(conninfo_, PgSessionSql(options_, /*writer=*/false),
                                                options_.busy_timeout);
    }
    if (holds_sweep_lock_) {
      // Still ours while the connection lives; this round trip finds out whether it does.
      sweep_connection_->Exec("cannot check the sweep lock", "SELECT 1");
      return true;
    }
    PgResult r = sweep_connection_->Exec(
        "cannot take the sweep lock",
        "SELECT pg_try_advisory_lock(hashtextextended('statestore sweep ' || $1, 0))",
        PgParams().Text(options_.postgres.schema));
    holds_sweep_lock_ = r.Bool(0, 0);
    return holds_sweep_lock_;
  } catch (const Error&) {
    // A lost connection lost the lock with it; the next call connects again.
    holds_sweep_lock_ = false;
    sweep_connection_.reset();
    throw;
  }
}

void PgStore::AbandonSweepConnectionAfterFork() {
  if (sweep_connection_) sweep_connection_.release()->Abandon();  // leaked with the rest
}

bool PgStore::KeysDueNow() {
  return InReadTransaction([&](PgConnection& c) {
    PgResult r = c.Exec("cannot look for expired keys", pgsql::kAnyKeyDue,
                        PgParams().Int(NowMicros(options_.clock)));
    return r.Bool(0, 0);
  });
}

void PgStore::SweepExpiredKeys() {
  static const std::int64_t pid = ::getpid();
  // A full batch means more are likely due: the next batch goes without asking first (the
  // batch itself finds what is due under the write lock; asking costs a read transaction).
  bool more = false;
  while (!Stopping() && (more || KeysDueNow())) {
    PgTransaction::ExpiredCount expired;
    committer_.Submit(
        [&](EngineTransaction& tx) { expired = AsPg(tx).ExpireDue(kExpiredKeysPerBatch); },
        Origin{pid, static_cast<std::int64_t>(::syscall(SYS_gettid)), kExpiredLabel});
    Bump(counters_.expiry_sweep_batches);
    // Nothing: what was due was rewritten meanwhile (the due check ran without the write lock).
    if (expired.keys + expired.leases == 0) break;
    Bump(counters_.keys_expired, expired.keys);
    Bump(counters_.leases_expired, expired.leases);
    // A lease is never split, so a batch may end past the limit.
    more = expired.keys + expired.leases >= kExpiredKeysPerBatch;
  }
}

bool PgStore::Stopping() {
  MutexLock lock(&retention_mu_);
  return stopping_;
}

void PgStore::ExpiryLoop() {
  for (;;) {
    {
      MutexLock lock(&retention_mu_);
      lock.WaitFor(retention_cv_, options_.expiry_sweep_interval,
                   [&]() REQUIRES(retention_mu_) { return stopping_; });
      if (stopping_) return;
    }
    try {
      if (TakeSweepTurn()) SweepExpiredKeys();
    } catch (const std::exception& e) {
      // The next interval's pass retries; reads do not depend on the sweep.
      log_->warn("statestore: sweep of expired keys on {} failed: {}", path_, e.what());
    }
  }
}

void PgStore::ClockLoop() {
  for (;;) {
    {
      MutexLock lock(&retention_mu_);
      lock.WaitFor(retention_cv_, PgServerClock::kResampleInterval,
                   [&]() REQUIRES(retention_mu_) { return stopping_; });
      if (stopping_) return;
    }
    try {
      PgConnectionPool::Lease lease = pool_.Acquire();
      server_clock_->Resample([&] { return PgReadServerMicros(*lease); });
    } catch (const std::exception& e) {
      // The old anchor stays: it drifts by this machine's steady clock only (invariant 3).
      log_->debug("statestore: {}: cannot read the server's clock: {}", path_, e.what());
    }
  }
}

void PgStore::ReadForAdmin(const std::function<void(PgConnection&)>& fn) {
  InReadTransaction([&](PgConnection& c) { fn(c); });
}

std::unique_ptr<PgConnection> PgStore::ConnectForAdmin() const {
  return PgConnection::Connect(conninfo_, PgSessionSql(options_, /*writer=*/false),
                               options_.busy_timeout);
}

std::shared_ptr<Store> OpenPostgresStore(const std::string& conninfo, const Options& options,
                                         const LayerFactory& make_layers) {
  RefuseInsideBody("open");
  CheckOptions(options);
  // The registry key and what path() reports: server, database, user and schema, no password.
  const std::string name = DescribeConninfo(conninfo) + "#" + options.postgres.schema;
  Registry& registry = GetRegistry();
  std::shared_ptr<PgStore> existing;
  std::shared_ptr<PgStore> store;
  MutexLock lock(&registry.mu);
  auto it = registry.open.find(name);
  if (it != registry.open.end() && (existing = it->second.lock())) {
    if (existing->owner_pid() != ::getpid()) {
      throw Error(ErrorCode::kInvalidArgument,
                  name +
                      " was opened by this process's parent before fork(); open it in a "
                      "process that did not inherit it (exec)");
    }
    CheckCompatible(existing->options(), options, name);
    return existing;
  }
  RedactionKey key;
  Options effective = options;
  std::shared_ptr<PgServerClock> server_clock;
  {
    std::unique_ptr<PgConnection> bootstrap =
        PgConnection::Connect(conninfo, PgSessionSql(options, false), options.busy_timeout);
    key = PgCheckAndMigrate(*bootstrap, options);
    if (!options.clock) {
      // One clock for every process on every machine: the server's (pg_server_clock.h). The
      // layers read it through Store::options().clock.
      server_clock =
          std::make_shared<PgServerClock>([&] { return PgReadServerMicros(*bootstrap); });
      effective.clock = [clock = server_clock] { return clock->Now(); };
    }
  }
  store =
      std::make_shared<PgStore>(conninfo, name, effective, std::move(key), std::move(server_clock));
  store->ApplyHistoryPolicies();
  store->AttachLayers(make_layers(*store));
  registry.open[name] = store;
  return store;
}

}  // namespace statestore::internal

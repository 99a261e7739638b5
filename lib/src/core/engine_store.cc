#include "core/engine_store.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <utility>

#include "core/body_scope.h"
#include "core/history_policy.h"
#include "core/validate.h"
#include "statestore/error.h"

namespace statestore::internal {

namespace {

// This thread's Linux TID (Origin::thread_id).
std::int64_t CurrentThreadId() {
  thread_local std::int64_t tid = static_cast<std::int64_t>(::syscall(SYS_gettid));
  return tid;
}

}  // namespace

std::shared_ptr<spdlog::logger> DefaultStoreLogger() {
  static const std::shared_ptr<spdlog::logger> logger = [] {
    auto l = std::make_shared<spdlog::logger>("statestore",
                                              std::make_shared<spdlog::sinks::stderr_sink_mt>());
    l->set_level(spdlog::level::warn);
    return l;
  }();
  return logger;
}

EngineStore::EngineStore(std::string path, const Options& options,
                         std::shared_ptr<spdlog::logger> log, RedactionKey redaction_key)
    : path_(std::move(path)),
      options_(options),
      redaction_key_(std::move(redaction_key)),
      log_(std::move(log)) {}

void EngineStore::BindParts(const Parts& parts) {
  cache_ = parts.cache;
  cache_answers_gets_ = parts.cache_answers_gets;
  committer_ = parts.committer;
  signal_ = parts.signal;
  local_commits_ = parts.local_commits;
}

Bytes EngineStore::value_digest(const Value& value) const {
  return redaction_key_.ValueDigest(value);
}

Bytes EngineStore::keyed_digest(std::string_view data) const {
  return redaction_key_.KeyedDigest(data);
}

std::uint64_t EngineStore::change_counter() const noexcept {
  return signal_ != nullptr ? signal_->Load() : 0;
}

bool EngineStore::known_unchanged(std::string_view keyspace, Revision from,
                                  Revision to) const noexcept {
  if (local_commits_ == nullptr) return false;
  try {
    return local_commits_->Unchanged(keyspace, from, to);
  } catch (...) {
    return false;  // a lock that cannot be taken: cannot tell
  }
}

Stats EngineStore::stats() const {
  Stats stats = counters_.Snapshot();
  add_layer_stats(stats);
  return stats;
}

Origin EngineStore::MakeOrigin(std::string_view label) const {
  static const std::int64_t pid = ::getpid();
  Origin origin;
  origin.pid = pid;
  origin.thread_id = CurrentThreadId();
  origin.label = label.empty() ? options_.origin_label : std::string(label);
  return origin;
}

Revision EngineStore::Submit(const GroupCommitter::Body& body, std::string_view label) {
  if (options_.read_only) {
    throw Error(ErrorCode::kReadOnly, path_ + " was opened read-only; writes are refused");
  }
  return committer_->Submit(body, MakeOrigin(label));
}

Revision EngineStore::transact(const Body& body, const TransactOptions& options) {
  RefuseInsideBody("transact");
  if (!body) throw Error(ErrorCode::kInvalidArgument, "transact: body is empty");
  ValidateLabel(options.label);
  return Submit([&body](EngineTransaction& tx) { body(tx); }, options.label);
}

void EngineStore::read(const Body& body) {
  if (!body) throw Error(ErrorCode::kInvalidArgument, "read: body is empty");
  RefuseInsideBody("read");
  std::vector<std::pair<std::string, KeyspaceRef>> seen;
  const Revision head = ReadSnapshot(
      [&](EngineTransaction& tx) {
        {
          BodyScope scope;
          body(tx);
        }
        seen = tx.keyspaces_seen();
      },
      cache_->enabled());
  // What this snapshot showed must not be contradicted by an older cached value afterwards
  // (ReadCache invariant 5).
  if (cache_->enabled()) cache_->ObserveHead(head, nullptr);
  // Read transactions see committed data only, so the ids they resolved are committed.
  for (const auto& [name, ref] : seen) keyspaces_.Add(name, ref);
}

template <typename Out>
bool EngineStore::CacheHit(std::string_view keyspace, std::string_view key, Out* out) {
  RefuseInsideBody("get");
  ValidateKeyspace(keyspace);
  ValidateKey(key);
  counters_.reads.Add();
  if (cache_answers_gets_ && cache_->Lookup(keyspace, key, out)) {
    counters_.cache_hits.Add();
    return true;
  }
  counters_.cache_misses.Add();
  return false;
}

std::optional<Entry> EngineStore::get_entry(std::string_view keyspace, std::string_view key) {
  CachedEntry cached;
  if (CacheHit(keyspace, key, &cached)) return cached;
  return ReadThrough(keyspace, key);
}

CachedEntry EngineStore::ReadThrough(std::string_view keyspace, std::string_view key) {
  ReadCache::FillTicket ticket = cache_->BeginFill();
  Revision head = 0;
  CachedEntry entry = ReadEntryAtHead(keyspace, key, &head);
  cache_->ObserveHead(head, &ticket);
  cache_->Fill(ticket, keyspace, key, entry);
  return entry;
}

std::optional<Value> EngineStore::get(std::string_view keyspace, std::string_view key) {
  // The hot path: a hit copies the value only, never the entry's key.
  std::optional<Value> value;
  if (CacheHit(keyspace, key, &value)) return value;
  CachedEntry entry = ReadThrough(keyspace, key);
  if (!entry) return std::nullopt;
  return std::move(entry->value);
}

std::vector<Entry> EngineStore::list(std::string_view keyspace, std::string_view prefix,
                                     std::size_t limit) {
  RefuseInsideBody("list");
  std::vector<Entry> out;
  read([&](Transaction& tx) { out = tx.list(keyspace, prefix, limit); });
  return out;
}

std::vector<std::string> EngineStore::keyspaces() {
  RefuseInsideBody("keyspaces");
  return ReadKeyspaces();
}

Revision EngineStore::put(std::string_view keyspace, std::string_view key, const Value& value,
                          const PutOptions& options) {
  RefuseInsideBody("put");
  // Validate before queueing so bad input never reaches the writer.
  ValidateKeyspace(keyspace);
  ValidateKey(key);
  ValidateValue(keyspace, key, value);
  ValidatePutOptions(keyspace, key, options);
  return Submit([&](EngineTransaction& tx) { tx.put(keyspace, key, value, options); }, {});
}

Revision EngineStore::expire(std::string_view keyspace, std::string_view key,
                             std::chrono::milliseconds ttl) {
  RefuseInsideBody("expire");
  ValidateKeyspace(keyspace);
  ValidateKey(key);
  ValidateTtl(keyspace, key, ttl);
  return Submit([&](EngineTransaction& tx) { tx.expire(keyspace, key, ttl); }, {});
}

Revision EngineStore::persist(std::string_view keyspace, std::string_view key) {
  RefuseInsideBody("persist");
  ValidateKeyspace(keyspace);
  ValidateKey(key);
  return Submit([&](EngineTransaction& tx) { tx.persist(keyspace, key); }, {});
}

LeaseId EngineStore::grant_lease(std::chrono::milliseconds ttl) {
  RefuseInsideBody("grant_lease");
  ValidateLeaseTtl(ttl);
  LeaseId id = 0;
  Submit([&](EngineTransaction& tx) { id = tx.grant_lease(ttl); }, {});
  return id;
}

bool EngineStore::keep_alive(LeaseId lease) {
  RefuseInsideBody("keep_alive");
  bool alive = false;
  Submit([&](EngineTransaction& tx) { alive = tx.keep_alive(lease); }, {});
  return alive;
}

bool EngineStore::revoke_lease(LeaseId lease) {
  RefuseInsideBody("revoke_lease");
  bool revoked = false;
  Submit([&](EngineTransaction& tx) { revoked = tx.revoke_lease(lease); }, {});
  return revoked;
}

std::optional<Lease> EngineStore::lease(LeaseId lease) {
  RefuseInsideBody("lease");
  std::optional<Lease> out;
  read([&](Transaction& tx) { out = tx.lease(lease); });
  return out;
}

std::vector<Lease> EngineStore::leases() {
  RefuseInsideBody("leases");
  std::vector<Lease> out;
  read([&](Transaction& tx) { out = tx.leases(); });
  return out;
}

Revision EngineStore::set_max_keys(std::string_view keyspace,
                                   std::optional<std::uint64_t> max_keys) {
  RefuseInsideBody("set_max_keys");
  ValidateMaxKeys(keyspace, max_keys);
  // Submit returns the head when the body changed nothing; 0 says "no evictions" instead.
  bool evicted = false;
  const Revision revision = Submit(
      [&](EngineTransaction& tx) {
        tx.set_max_keys(keyspace, max_keys);
        evicted = !tx.writes().empty();
      },
      {});
  return evicted ? revision : 0;
}

std::optional<KeyBound> EngineStore::key_bound(std::string_view keyspace) {
  RefuseInsideBody("key_bound");
  ValidateKeyspace(keyspace);
  std::optional<KeyBound> out;
  read([&](Transaction& tx) { out = tx.key_bound(keyspace); });
  return out;
}

Revision EngineStore::erase(std::string_view keyspace, std::string_view key) {
  RefuseInsideBody("erase");
  ValidateKeyspace(keyspace);
  ValidateKey(key);
  return Submit([&](EngineTransaction& tx) { tx.erase(keyspace, key); }, {});
}

HistoryBounds EngineStore::history_bounds() {
  RefuseInsideBody("history_bounds");
  return ReadHistoryBounds();
}

std::vector<Commit> EngineStore::history(const HistoryQuery& query) {
  RefuseInsideBody("history");
  return ReadHistory(query);
}

std::optional<Commit> EngineStore::commit_at(Revision revision) {
  RefuseInsideBody("commit_at");
  return ReadCommitAt(revision);
}

Revision EngineStore::revert(Revision revision, const RevertOptions& options) {
  RefuseInsideBody("revert");
  ValidateLabel(options.label);
  std::string label = options.label.empty() ? "revert " + std::to_string(revision) : options.label;
  return Submit([&](EngineTransaction& tx) { RevertIn(tx, revision, options.force); }, label);
}

HistoryBounds EngineStore::history_bounds(std::string_view keyspace) {
  ValidateKeyspace(keyspace);
  RefuseInsideBody("history_bounds");
  return ReadKeyspaceBounds(keyspace);
}

void EngineStore::set_history_policy(std::string_view keyspace,
                                     const std::optional<HistoryPolicy>& policy) {
  RefuseInsideBody("set_history_policy");
  if (policy) {
    ValidateHistoryPolicy(keyspace, *policy);
  } else {
    ValidateKeyspace(keyspace);
  }
  if (options_.read_only) {
    throw Error(ErrorCode::kReadOnly,
                path_ + " was opened read-only; setting a history policy is a write");
  }
  bool changed = false;
  // No change to the state, so the transaction makes no revision (and no history of its own).
  committer_->Submit([&](EngineTransaction& tx) { changed = StorePolicyIn(tx, keyspace, policy); },
                     MakeOrigin({}));
  if (changed) {
    log_->info("statestore: {}: history policy of keyspace '{}' is now {}", path_, keyspace,
               !policy             ? std::string("the default (none stored)")
               : policy->keep_none ? std::string("keep none")
               : policy->keeps_all()
                   ? std::string("keep all")
                   : "keep " + std::to_string(policy->keep_revisions) + " revisions / " +
                         std::to_string(policy->keep_for.count()) + " s");
  }
}

EffectiveHistoryPolicy EngineStore::history_policy(std::string_view keyspace) {
  ValidateKeyspace(keyspace);
  RefuseInsideBody("history_policy");
  return ResolveHistoryPolicy(keyspace, ReadStoredPolicy(keyspace), options_.history_retention);
}

void EngineStore::ApplyHistoryPolicies() {
  if (options_.read_only) return;
  // Not a structured binding: lambdas may capture those only from C++20 (clang refuses it).
  for (const auto& entry : options_.history_policies) {
    // Compare first, so that an open with the policies already stored takes no write lock.
    if (ReadStoredPolicy(entry.first) != entry.second)
      set_history_policy(entry.first, entry.second);
  }
}

std::uint64_t EngineStore::compact_history() {
  RefuseInsideBody("compact_history");
  if (options_.read_only) {
    throw Error(ErrorCode::kReadOnly, path_ + " was opened read-only; compaction is a write");
  }
  return CompactAll();
}

}  // namespace statestore::internal

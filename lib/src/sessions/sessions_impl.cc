#include "sessions/sessions_impl.h"

#include <sodium.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <limits>
#include <tuple>
#include <utility>

#include "sessions/session_keys.h"
#include "sessions/session_token.h"
#include "statestore/error.h"
#include "util/clock.h"
#include "util/values.h"

namespace statestore::internal {

namespace keys = session_keys;

namespace {

constexpr std::string_view kKeyspace = kSessionsKeyspace;
constexpr std::size_t kMaxSweepBatch = 100'000;
// At most one "touch failed" warning per this many microseconds.
constexpr std::int64_t kTouchWarningIntervalUs = 10'000'000;

[[noreturn]] void Invalid(const std::string& message) {
  throw Error(ErrorCode::kInvalidArgument, message);
}

// hex(BLAKE2b-256_K(first 16 bytes of SHA-256(principal)))[0, 32), K the redaction key
// (Store::keyed_digest), so a copied file does not reveal principals by hashing guesses. The
// format is fixed by the files already written (schema 3's migration computes it too).
std::string PrincipalDigest(const Store& store, std::string_view principal) {
  unsigned char sha[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(sha, reinterpret_cast<const unsigned char*>(principal.data()),
                     principal.size());
  const Bytes keyed = store.keyed_digest(std::string_view(reinterpret_cast<const char*>(sha), 16));
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(32);
  for (std::size_t i = 0; i < 16; ++i) {
    out.push_back(kHex[keyed[i] >> 4]);
    out.push_back(kHex[keyed[i] & 0x0f]);
  }
  return out;
}

Session MakeSession(const std::string& id, SessionRecord r) {
  Session s;
  static_cast<SessionInfo&>(s) = ToSessionInfo(id, r);
  s.attributes = std::move(r.attributes);
  return s;
}

// ---- Transaction helpers. Each keeps the invariants of session_keys.h.

std::optional<SessionRecord> Load(Transaction& tx, const std::string& id) {
  auto v = tx.get(kKeyspace, keys::Record(id));
  if (!v) return std::nullopt;
  return DecodeSessionRecord(*v, ShortSessionId(id));
}

Value ExpiryIndexValue(const Store& store, const SessionRecord& r) {
  return r.principal.empty() ? Value() : Value(PrincipalDigest(store, r.principal));
}

void AdjustCount(Transaction& tx, std::int64_t delta) {
  if (delta == 0) return;
  std::int64_t n = 0;
  if (auto v = tx.get(kKeyspace, keys::kCount)) {
    if (v->type() != ValueType::kInt) {
      throw Error(ErrorCode::kCorruption, "sessions/count is not an integer");
    }
    n = v->as_int();
  }
  tx.put(kKeyspace, keys::kCount, std::max<std::int64_t>(n + delta, 0));
}

// Writes a new session `id` (no count change).
void Insert(const Store& store, Transaction& tx, const std::string& id, const SessionRecord& r) {
  // An existing s/<id> (a 256-bit collision) is a kConflict, never an overwrite.
  tx.put_if_version(kKeyspace, keys::Record(id), EncodeSessionRecord(r, ShortSessionId(id)), 0);
  tx.put(kKeyspace, keys::Expiry(r.expires_us(), id), ExpiryIndexValue(store, r));
  if (!r.principal.empty()) {
    tx.put(kKeyspace, keys::Principal(PrincipalDigest(store, r.principal), id), Value());
  }
}

// Rewrites session `id` from `before` to `after` (same principal).
void Replace(const Store& store, Transaction& tx, const std::string& id,
             const SessionRecord& before, const SessionRecord& after) {
  tx.put(kKeyspace, keys::Record(id), EncodeSessionRecord(after, ShortSessionId(id)));
  if (before.expires_us() != after.expires_us()) {
    tx.erase(kKeyspace, keys::Expiry(before.expires_us(), id));
    tx.put(kKeyspace, keys::Expiry(after.expires_us(), id), ExpiryIndexValue(store, after));
  }
}

// Deletes session `id` (no count change).
void Remove(const Store& store, Transaction& tx, const std::string& id, const SessionRecord& r) {
  tx.erase(kKeyspace, keys::Record(id));
  tx.erase(kKeyspace, keys::Expiry(r.expires_us(), id));
  if (!r.principal.empty()) {
    tx.erase(kKeyspace, keys::Principal(PrincipalDigest(store, r.principal), id));
  }
}

// Moves the last access to `now_us` (never backwards: clocks of several processes may disagree).
// Returns whether the record changed.
bool MoveLastAccess(SessionRecord* r, std::int64_t now_us) {
  if (now_us <= r->last_access_us) return false;
  r->last_access_us = now_us;
  return true;
}

void ValidateNewSession(const NewSession& s) {
  if (s.idle_ttl.count() <= 0) Invalid("session idle TTL must be positive");
  if (s.max_lifetime.count() < 0) Invalid("session max_lifetime must not be negative");
  ValidatePrincipal(s.principal, /*allow_empty=*/true);
  ValidateAttributes(s.attributes);
}

}  // namespace

void ValidateSessionOptions(const SessionOptions& options) {
  if (options.max_lifetime.count() < 0) {
    Invalid("SessionOptions::max_lifetime must not be negative");
  }
  if (!(options.touch_fraction >= 0.0 && options.touch_fraction <= 1.0)) {
    Invalid("SessionOptions::touch_fraction must be in [0, 1]");
  }
  if (options.sweep_batch == 0 || options.sweep_batch > kMaxSweepBatch) {
    Invalid("SessionOptions::sweep_batch must be in 1.." + std::to_string(kMaxSweepBatch));
  }
  if (options.sweep_interval.count() < 0) {
    Invalid("SessionOptions::sweep_interval must not be negative");
  }
  switch (options.touch_policy) {
    case TouchPolicy::kEveryAccess:
    case TouchPolicy::kAfterFraction:
    case TouchPolicy::kExplicit:
      break;
    default:
      Invalid("SessionOptions::touch_policy is not a TouchPolicy");
  }
  switch (options.limit_policy) {
    case SessionLimitPolicy::kEvictLeastRecentlyUsed:
    case SessionLimitPolicy::kRefuseCreate:
      break;
    default:
      Invalid("SessionOptions::limit_policy is not a SessionLimitPolicy");
  }
  if (options.listener_poll_interval.count() <= 0) {
    Invalid("SessionOptions::listener_poll_interval must be positive");
  }
}

Options WithSessionRedaction(const Options& options) {
  Options effective = options;
  auto& redacted = effective.redacted_keyspaces;
  if (!options.sessions.record_values_in_history &&
      std::find(redacted.begin(), redacted.end(), kKeyspace) == redacted.end()) {
    redacted.emplace_back(kKeyspace);
  }
  return effective;
}

namespace {
// Commits read per history query by the listener thread: bounds its memory on a long backlog.
constexpr std::size_t kListenerBatch = 256;
}  // namespace

SessionsImpl::SessionsImpl(Store& store)
    : deps_{&store, &store.logger()},
      options_(store.options().sessions),
      events_(std::make_unique<SessionEventHub>(
          SessionEventHub::Source{&store, [&store] { return store.change_counter(); },
                                  options_.listener_poll_interval, kListenerBatch, deps_.log})) {}

SessionListener SessionsImpl::listen(SessionEventCallback callback, Revision from_revision) {
  if (!callback) Invalid("Sessions::listen: the callback is empty");
  if (!events_) Invalid("Sessions::listen: the Store was inherited across fork()");
  return events_->Add(std::move(callback), from_revision);
}

void SessionsImpl::Shutdown() noexcept {
  if (events_) events_->Shutdown();
}

void SessionsImpl::AbandonAfterFork() noexcept { static_cast<void>(events_.release()); }

std::int64_t SessionsImpl::NowMicros() const {
  return internal::NowMicros(options_.clock ? options_.clock : deps_.store->options().clock);
}

bool SessionsImpl::TouchDue(const SessionRecord& r, std::int64_t now_us) const {
  if (now_us <= r.last_access_us) return false;
  switch (options_.touch_policy) {
    case TouchPolicy::kEveryAccess:
      return true;
    case TouchPolicy::kAfterFraction:
      return static_cast<double>(now_us - r.last_access_us) >=
             options_.touch_fraction * static_cast<double>(r.idle_ttl_us);
    case TouchPolicy::kExplicit:
      return false;
  }
  return false;
}

// ---- Creating

std::string SessionsImpl::create(std::chrono::microseconds idle_ttl, const Attributes& attributes,
                                 std::string_view principal) {
  NewSession s;
  s.idle_ttl = idle_ttl;
  s.attributes = attributes;
  s.principal = std::string(principal);
  return create(s);
}

std::string SessionsImpl::create(const NewSession& session) {
  ValidateNewSession(session);  // before queueing: bad input never reaches the writer
  std::string token;
  Nudge(deps_.store->transact([&](Transaction& tx) { token = CreateIn(tx, session); }));
  return token;
}

std::string SessionsImpl::create(Transaction& tx, const NewSession& session) {
  ValidateNewSession(session);
  if (tx.read_only()) {
    throw Error(ErrorCode::kReadOnly, "Sessions::create needs a write transaction");
  }
  return CreateIn(tx, session);
}

std::string SessionsImpl::CreateIn(Transaction& tx, const NewSession& session) {
  std::string token = NewSessionToken();
  const std::string id = SessionIdForToken(token);
  const std::int64_t now = NowMicros();
  SessionRecord r;
  r.principal = session.principal;
  r.created_us = now;
  r.last_access_us = now;
  r.idle_ttl_us = session.idle_ttl.count();
  const std::int64_t lifetime = session.max_lifetime.count() > 0 ? session.max_lifetime.count()
                                                                 : options_.max_lifetime.count();
  r.deadline_us = lifetime > 0 ? SaturatingAdd(now, lifetime) : kNoDeadline;
  r.attributes = session.attributes;
  EnforcePrincipalLimit(tx, r.principal, now);
  Insert(*deps_.store, tx, id, r);
  AdjustCount(tx, +1);
  return token;
}

void SessionsImpl::EnforcePrincipalLimit(Transaction& tx, const std::string& principal,
                                         std::int64_t now) {
  const std::size_t limit = options_.max_sessions_per_principal;
  if (limit == 0 || principal.empty()) return;
  // Runs inside the create's write transaction, which holds the write lock (IMMEDIATE) from the
  // scan to the commit: no other create of this principal, in any process, can slip in between,
  // so the limit holds however creates race (invariant 2 makes p/<digest>/ the complete list).
  const std::string prefix = keys::PrincipalPrefix(PrincipalDigest(*deps_.store, principal));
  struct Candidate {
    std::int64_t last_access_us, created_us;
    std::string id;
    SessionRecord record;
  };
  std::vector<Candidate> live;
  for (const Entry& e : tx.list(kKeyspace, prefix)) {
    std::string id = e.key.substr(prefix.size());
    std::optional<SessionRecord> r;
    try {
      r = Load(tx, id);
    } catch (const Error& err) {
      // A damaged record (not a damaged file) neither counts nor blocks the principal's creates.
      if (err.code() != ErrorCode::kCorruption || err.sqlite_code() != 0) throw;
      continue;
    }
    // Expired-unswept sessions do not count (they are absent for every method); a digest
    // collision is another principal's.
    if (!r || r->principal != principal || !r->LiveAt(now)) continue;
    live.push_back(Candidate{r->last_access_us, r->created_us, std::move(id), std::move(*r)});
  }
  if (live.size() < limit) return;
  if (options_.limit_policy == SessionLimitPolicy::kRefuseCreate) {
    // The principal is not named: it may be personal data, and errors get logged.
    throw Error(ErrorCode::kConflict,
                "Sessions::create: the principal already has " + std::to_string(live.size()) +
                    " live sessions, the limit (SessionOptions::max_sessions_per_principal = " +
                    std::to_string(limit) +
                    "); destroy one of them or wait until one expires, then retry");
  }
  std::sort(live.begin(), live.end(), [](const Candidate& a, const Candidate& b) {
    return std::tie(a.last_access_us, a.created_us, a.id) <
           std::tie(b.last_access_us, b.created_us, b.id);
  });
  const std::size_t evict = live.size() - limit + 1;
  for (std::size_t i = 0; i < evict; ++i) {
    Remove(*deps_.store, tx, live[i].id, live[i].record);
  }
  // (Not logged here: the body may run again or roll back. History shows the evictions.)
  AdjustCount(tx, -static_cast<std::int64_t>(evict));
}

// ---- Reading

std::optional<SessionRecord> SessionsImpl::ReadLive(std::string_view token, std::string* id) {
  if (!IsWellFormedSessionToken(token)) return std::nullopt;
  *id = SessionIdForToken(token);
  auto v = deps_.store->get(kKeyspace, keys::Record(*id));
  if (!v) return std::nullopt;
  SessionRecord r = DecodeSessionRecord(*v, ShortSessionId(*id));
  if (!r.LiveAt(NowMicros())) return std::nullopt;
  return r;
}

void SessionsImpl::TouchAfterRead(const std::string& id, SessionRecord* record) {
  if (deps_.store->options().read_only || !TouchDue(*record, NowMicros())) return;
  {
    MutexLock lock(&touching_mu_);
    if (!touching_.insert(id).second) return;  // another thread is touching it right now
  }
  try {
    std::optional<SessionRecord> result;
    deps_.store->transact([&](Transaction& tx) {
      result.reset();
      auto current = Load(tx, id);
      const std::int64_t now = NowMicros();
      if (!current || !current->LiveAt(now)) return;
      SessionRecord after = *current;
      if (TouchDue(after, now) && MoveLastAccess(&after, now))
        Replace(*deps_.store, tx, id, *current, after);
      result = std::move(after);
    });
    // The session as of the touch: newer than what the read saw.
    if (result) *record = std::move(*result);
  } catch (const std::exception& e) {
    WarnTouchFailed(id, e.what());
  } catch (...) {
    WarnTouchFailed(id, "unknown error");
  }
  MutexLock lock(&touching_mu_);
  touching_.erase(id);
}

void SessionsImpl::WarnTouchFailed(const std::string& id, const char* why) {
  const std::int64_t now = std::chrono::duration_cast<std::chrono::microseconds>(
                               std::chrono::steady_clock::now().time_since_epoch())
                               .count();
  const std::uint64_t failures = touch_failures_.fetch_add(1) + 1;
  std::int64_t last = last_touch_warning_us_.load();
  if ((last != 0 && now - last < kTouchWarningIntervalUs) ||
      !last_touch_warning_us_.compare_exchange_strong(last, now)) {
    return;
  }
  touch_failures_.fetch_sub(failures);
  deps_.log->warn(
      "statestore: touching session {} after a read failed; the read succeeded, the session's "
      "idle expiry was not extended ({} such failures since the last warning): {}",
      ShortSessionId(id), failures, why);
}

std::optional<Session> SessionsImpl::get(std::string_view token) {
  std::string id;
  auto r = ReadLive(token, &id);
  if (!r) return std::nullopt;
  TouchAfterRead(id, &*r);
  return MakeSession(id, std::move(*r));
}

bool SessionsImpl::exists(std::string_view token) {
  std::string id;
  return ReadLive(token, &id).has_value();
}

std::optional<Value> SessionsImpl::get_attribute(std::string_view token, std::string_view name) {
  ValidateAttributeName(name);
  std::string id;
  auto r = ReadLive(token, &id);
  if (!r) return std::nullopt;
  TouchAfterRead(id, &*r);
  auto it = r->attributes.find(name);
  if (it == r->attributes.end()) return std::nullopt;
  return std::move(it->second);
}

std::optional<Attributes> SessionsImpl::get_many(std::string_view token,
                                                 const std::vector<std::string>& names) {
  for (const auto& name : names) ValidateAttributeName(name);
  std::string id;
  auto r = ReadLive(token, &id);
  if (!r) return std::nullopt;
  TouchAfterRead(id, &*r);
  Attributes out;
  for (const auto& name : names) {
    auto it = r->attributes.find(name);
    if (it != r->attributes.end()) out.emplace(name, it->second);
  }
  return out;
}

// ---- Writing

bool SessionsImpl::Mutate(std::string_view token,
                          const std::function<void(const SessionRecord&, SessionRecord&)>& change,
                          bool force_touch) {
  // A malformed token names no session: the same answer as an unknown one (session.h, "Bad
  // input"), so untrusted cookies never turn into errors.
  if (!IsWellFormedSessionToken(token)) return false;
  const std::string id = SessionIdForToken(token);
  bool live = false;
  deps_.store->transact([&](Transaction& tx) {
    live = false;
    auto before = Load(tx, id);
    const std::int64_t now = NowMicros();
    if (!before || !before->LiveAt(now)) return;
    live = true;
    SessionRecord after = *before;
    if (change) change(*before, after);
    if (force_touch || TouchDue(after, now)) MoveLastAccess(&after, now);
    if (after != *before) Replace(*deps_.store, tx, id, *before, after);
  });
  return live;
}

bool SessionsImpl::set_attribute(std::string_view token, std::string_view name,
                                 const Value& value) {
  ValidateAttributeName(name);
  ValidateAttributeValue(name, value);
  return Mutate(
      token,
      [&](const SessionRecord&, SessionRecord& r) {
        r.attributes.insert_or_assign(std::string(name), value);
      },
      false);
}

bool SessionsImpl::set_many(std::string_view token, const Attributes& values) {
  ValidateAttributes(values);
  return Mutate(
      token,
      [&](const SessionRecord&, SessionRecord& r) {
        for (const auto& [name, value] : values) r.attributes.insert_or_assign(name, value);
      },
      false);
}

bool SessionsImpl::erase_attribute(std::string_view token, std::string_view name) {
  ValidateAttributeName(name);
  return Mutate(
      token,
      [&](const SessionRecord&, SessionRecord& r) {
        if (auto it = r.attributes.find(name); it != r.attributes.end()) r.attributes.erase(it);
      },
      false);
}

bool SessionsImpl::update(std::string_view token, const std::function<void(Attributes&)>& fn) {
  if (!fn) Invalid("Sessions::update: the function is empty");
  return update_session(token, [&fn](SessionRef& s) { fn(s.attributes()); });
}

bool SessionsImpl::update_session(std::string_view token,
                                  const std::function<void(SessionRef&)>& fn) {
  if (!fn) Invalid("Sessions::update: the function is empty");
  const std::string id = IsWellFormedSessionToken(token) ? SessionIdForToken(token) : "";
  return Mutate(
      token,
      [&](const SessionRecord& before, SessionRecord& r) {
        // `r` is a fresh copy on every run of the body; the info is of `before` (read-only).
        const SessionInfo info = ToSessionInfo(id, before);
        SessionRef ref(info, r.attributes);
        fn(ref);
        // Check what fn added or changed. An attribute it left alone is checked no more: a record
        // written before a rule existed (a NaN, value.h) must not make every update fail.
        for (const auto& [name, value] : r.attributes) {
          auto it = before.attributes.find(name);
          if (it != before.attributes.end() && IdenticalValues(it->second, value)) continue;
          ValidateAttributeName(name);
          ValidateAttributeValue(name, value);
        }
      },
      false);
}

bool SessionsImpl::touch(std::string_view token) { return Mutate(token, nullptr, true); }

std::optional<std::string> SessionsImpl::rotate(std::string_view token) {
  if (!IsWellFormedSessionToken(token)) return std::nullopt;  // as an unknown token
  const std::string old_id = SessionIdForToken(token);
  std::optional<std::string> new_token;
  std::string new_id;
  // The label tells listeners that this commit's removal and insert are one rotation
  // (session_keys.h, "Origin labels"); it replaces Options::origin_label for this commit.
  TransactOptions label;
  label.label = std::string(keys::kRotateLabel);
  const Revision rev = deps_.store->transact(
      [&](Transaction& tx) {
        new_token.reset();
        auto before = Load(tx, old_id);
        const std::int64_t now = NowMicros();
        if (!before || !before->LiveAt(now)) return;
        SessionRecord after = *before;  // same data, creation time and absolute deadline
        MoveLastAccess(&after, now);
        std::string fresh = NewSessionToken();
        new_id = SessionIdForToken(fresh);
        Remove(*deps_.store, tx, old_id, *before);
        Insert(*deps_.store, tx, new_id, after);  // the count does not change
        new_token = std::move(fresh);
      },
      label);
  if (new_token) {
    Nudge(rev);
    deps_.log->debug("statestore: session {} rotated to {}", ShortSessionId(old_id),
                     ShortSessionId(new_id));
  }
  return new_token;
}

bool SessionsImpl::destroy(std::string_view token) {
  if (!IsWellFormedSessionToken(token)) return false;  // as an unknown token
  const std::string id = SessionIdForToken(token);
  bool live = false;
  bool damaged = false;
  const Revision rev = deps_.store->transact([&](Transaction& tx) {
    live = false;
    damaged = false;
    std::optional<SessionRecord> before;
    try {
      // Both can say kCorruption: a row SQLite holds in a form its type tag does not allow, or a
      // record that is not ours. (A damaged *file* is kCorruption with a SQLite code: rethrown.)
      auto stored = tx.get(kKeyspace, keys::Record(id));
      if (!stored) return;
      before = DecodeSessionRecord(*stored, ShortSessionId(id));
    } catch (const Error& e) {
      // e.g. a newer version's record (kSchemaTooNew): keep it
      if (e.code() != ErrorCode::kCorruption || e.sqlite_code() != 0) throw;
      damaged = true;
    }
    if (damaged) {
      // An undecodable record can still be destroyed. Its index entries cannot be found without
      // it; the sweep drops them when they expire (it tolerates a missing record).
      tx.erase(kKeyspace, keys::Record(id));
    } else {
      live = before->LiveAt(NowMicros());
      Remove(*deps_.store, tx, id, *before);
    }
    AdjustCount(tx, -1);
  });
  Nudge(rev);
  if (damaged) {
    deps_.log->warn("statestore: destroyed session {}, whose stored record was damaged",
                    ShortSessionId(id));
  }
  return live;
}

std::uint64_t SessionsImpl::destroy_all(std::string_view principal) {
  ValidatePrincipal(principal, /*allow_empty=*/false);
  const std::string prefix = keys::PrincipalPrefix(PrincipalDigest(*deps_.store, principal));
  const std::size_t batch = options_.sweep_batch;
  std::uint64_t total_live = 0;
  for (;;) {
    std::size_t listed = 0, removed = 0;
    std::uint64_t live = 0;
    const Revision rev = deps_.store->transact([&](Transaction& tx) {
      listed = removed = 0;
      live = 0;
      const std::int64_t now = NowMicros();
      std::int64_t records = 0;
      const auto entries = tx.list(kKeyspace, prefix, batch);
      listed = entries.size();
      for (const Entry& e : entries) {
        const std::string id = e.key.substr(prefix.size());
        auto r = Load(tx, id);
        if (!r) {  // a dangling index entry (invariant 2 broken): drop it
          tx.erase(kKeyspace, e.key);
          ++removed;
          continue;
        }
        if (r->principal != principal) continue;  // a digest collision: not this principal's
        if (r->LiveAt(now)) ++live;
        Remove(*deps_.store, tx, id, *r);
        ++records;
        ++removed;
      }
      AdjustCount(tx, -records);
    });
    Nudge(rev);
    total_live += live;
    if (listed < batch || removed == 0) break;
  }
  deps_.log->debug("statestore: destroyed {} live sessions of a principal", total_live);
  return total_live;
}

// ---- Tools

std::vector<SessionInfo> SessionsImpl::list(std::string_view principal) {
  ValidatePrincipal(principal, /*allow_empty=*/false);
  const std::string prefix = keys::PrincipalPrefix(PrincipalDigest(*deps_.store, principal));
  std::vector<SessionInfo> out;
  deps_.store->read([&](Transaction& tx) {
    out.clear();
    const std::int64_t now = NowMicros();
    for (const Entry& e : tx.list(kKeyspace, prefix)) {
      const std::string id = e.key.substr(prefix.size());
      auto r = Load(tx, id);
      if (r && r->principal == principal && r->LiveAt(now)) out.push_back(ToSessionInfo(id, *r));
    }
  });
  std::sort(out.begin(), out.end(), [](const SessionInfo& a, const SessionInfo& b) {
    return std::tie(a.created, a.short_id) < std::tie(b.created, b.short_id);
  });
  return out;
}

std::uint64_t SessionsImpl::count() {
  std::int64_t stored = 0;
  std::uint64_t expired = 0;
  deps_.store->read([&](Transaction& tx) {
    stored = 0;
    expired = 0;
    if (auto v = tx.get(kKeyspace, keys::kCount)) {
      if (v->type() != ValueType::kInt) {
        throw Error(ErrorCode::kCorruption, "sessions/count is not an integer");
      }
      stored = v->as_int();
    }
    // The expired, unswept sessions are the first entries of the expiry index. Read a growing
    // prefix of it until a live one shows up (or the index ends).
    const std::int64_t now = NowMicros();
    for (std::size_t want = 256;; want *= 4) {
      const auto entries = tx.list(kKeyspace, keys::kExpiryPrefix, want);
      expired = 0;
      bool saw_live = false;
      for (const Entry& e : entries) {
        auto parsed = keys::ParseExpiry(e.key);
        if (parsed && parsed->expires_us > now) {
          saw_live = true;
          break;
        }
        ++expired;
      }
      if (saw_live || entries.size() < want) break;
    }
  });
  const auto total = static_cast<std::uint64_t>(std::max<std::int64_t>(stored, 0));
  return total > expired ? total - expired : 0;
}

std::uint64_t SessionsImpl::sweep(std::size_t max_batches) {
  if (deps_.store->options().read_only) {
    throw Error(ErrorCode::kReadOnly, "Sessions::sweep: the Store was opened read-only");
  }
  return Sweep(max_batches, nullptr);
}

std::uint64_t SessionsImpl::Sweep(std::size_t max_batches, const std::function<bool()>& stop) {
  // One instant for the whole sweep, so that it ends even while sessions keep expiring.
  const std::int64_t now = NowMicros();
  const std::size_t batch = options_.sweep_batch;
  std::uint64_t total = 0;
  for (std::size_t batches = 0; max_batches == 0 || batches < max_batches; ++batches) {
    if (stop && stop()) break;
    // Peek with a read (no write lock): an idle reaper never makes other writers wait.
    const auto first = deps_.store->list(kKeyspace, keys::kExpiryPrefix, 1);
    if (first.empty()) break;
    if (auto parsed = keys::ParseExpiry(first[0].key); parsed && parsed->expires_us > now) break;

    std::size_t processed = 0;
    std::int64_t records = 0;
    TransactOptions label;
    label.label = std::string(keys::kSweepLabel);
    const Revision rev = deps_.store->transact(
        [&](Transaction& tx) {
          processed = 0;
          records = 0;
          for (const Entry& e : tx.list(kKeyspace, keys::kExpiryPrefix, batch)) {
            auto parsed = keys::ParseExpiry(e.key);
            if (parsed && parsed->expires_us > now) break;
            ++processed;
            tx.erase(kKeyspace, e.key);
            if (!parsed) continue;  // not an index key (invariant 1 broken): dropped
            if (tx.erase(kKeyspace, keys::Record(parsed->id))) ++records;
            if (e.value.type() == ValueType::kString) {
              tx.erase(kKeyspace, keys::Principal(e.value.as_string(), parsed->id));
            }
          }
          AdjustCount(tx, -records);
        },
        label);
    Nudge(rev);
    if (processed > 0) sweep_runs_.fetch_add(1, std::memory_order_relaxed);
    total += static_cast<std::uint64_t>(records);
    if (processed < batch) break;
  }
  if (total > 0) deps_.log->debug("statestore: swept {} expired sessions", total);
  return total;
}

}  // namespace statestore::internal

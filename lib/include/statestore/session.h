// statestore::Sessions — user/application sessions with attributes and expiry, stored durably in
// the Store they belong to (reach them with Store::sessions()).
//
// A session is created with an idle time-to-live, optional initial attributes and an optional
// principal (user id). create() returns an opaque *token*: 32 bytes from a CSPRNG (libsodium's
// randombytes, backed by getrandom(2)), printed as 43 characters of unpadded base64url
// ([A-Za-z0-9_-]). The token is the only handle on the session; hand it to the client (cookie,
// header) and pass it back on every call. Only SHA-256(token) is stored — the session *id*, 64
// lower-case hex digits — so neither the database file, its -wal, its history nor the logs ever
// contain a token, and a copied file does not hand out live sessions. Tools see the first 12 hex
// digits of the id (SessionInfo::short_id), never a token.
//
// Expiry. A session expires at min(last access + idle TTL, created + maximum lifetime). Accessing
// it slides the idle expiry forward ("touch", governed by SessionOptions::touch_policy); the
// absolute deadline never moves. An expired session is absent for every method from the moment it
// expires, whether or not it has been swept yet. Expired sessions are deleted in small batches by
// a background reaper the Store owns (SessionOptions::sweep_interval) and by sweep(). Each
// process decides expiry with its own clock (SessionOptions::clock): keep the clocks of processes
// sharing a file synchronized (NTP); a touch never moves a last access backwards.
//
// Every change is an ordinary transaction of the core, so it is durable as Options::durability
// promises, visible at once to every thread and process sharing the file, and recorded in history
// (by default with SHA-256 digests instead of values: SessionOptions::record_values_in_history).
// Session traffic (creates, touches, sweeps) therefore grows history like any other write: bound
// it with Options::history_retention.
//
// Thread safety: a Sessions object is safe for concurrent use from any number of threads, like
// the Store it belongs to, and valid as long as that Store. Several processes may use the sessions
// of one file at once. Like every Store entry point that opens its own transaction, no method may
// be called from inside a transaction body (kInvalidArgument) — except create(Transaction&, ...),
// which exists for that.
//
// Bad input. A token that is not 43 base64url characters is *malformed*. Methods that only read
// (get, exists, get_attribute, get_many) treat a malformed token like an unknown one and return
// nullopt/false, so untrusted input can be passed to them unchecked; methods that write throw
// Error(kInvalidArgument) for it (the application validated the session before writing to it).
// An invalid attribute name, principal, TTL or value is kInvalidArgument everywhere. A method that
// throws has written nothing.
//
// Limits (kInvalidArgument):
//   attribute names  1..kMaxAttributeNameBytes bytes from [A-Za-z0-9_.:-]
//   attribute values any statestore::Value within the core's limits (value.h); all attributes of
//                    one session together, encoded, must fit in kMaxValueBytes (4 MiB) — a
//                    session is stored as one value (sessions are meant to be small)
//   principals       empty (none) or 1..kMaxPrincipalBytes bytes of UTF-8 without NUL
//   idle TTL         > 0; max_lifetime >= 0 (0 = SessionOptions::max_lifetime)
#ifndef STATESTORE_SESSION_H_
#define STATESTORE_SESSION_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "statestore/history.h"
#include "statestore/transaction.h"
#include "statestore/value.h"

namespace statestore {

// The keyspace that holds all sessions. It is reserved for this API: writing to it directly
// breaks the invariants Sessions relies on.
inline constexpr std::string_view kSessionsKeyspace = "sessions";
// The origin label of the commits that sweep expired sessions (the Store's reaper and
// Sessions::sweep_expired), so that tools can tell them apart in history (statectl history
// shows each as one "swept N sessions" line).
inline constexpr std::string_view kSweepOriginLabel = "sessions: sweep";
// In the sessions keyspace, a session's record is the key "s/<id>" (one per session; the other
// keys are indexes). A sweep commit erases one record per session it swept.
inline constexpr std::string_view kSessionRecordPrefix = "s/";

// A session's attributes: name -> value, sorted by name.
using Attributes = std::map<std::string, Value, std::less<>>;

// When reading a session extends its idle expiry ("touch"). Whatever the policy, a touch never
// moves the expiry past the absolute deadline, and touch() always touches.
enum class TouchPolicy {
  // Every access (get, get_attribute, get_many and every write) touches: the most precise
  // sliding expiry, at the cost of one write transaction per read.
  kEveryAccess,
  // An access touches only when more than SessionOptions::touch_fraction of the idle TTL has
  // passed since the last touch. With the default 0.25, a session read continuously is written at
  // most once per quarter TTL, and its idle expiry lags the last access by at most a quarter TTL.
  kAfterFraction,
  // Accesses never touch; only touch() (and rotate()) extend a session.
  kExplicit,
};

// Part of Options (Options::sessions). Like every option, fixed by the first Store::open of a file
// in a process: opening it again returns the same Store with the same SessionOptions.
struct SessionOptions {
  // Absolute maximum lifetime of a session, counted from create(); touches never extend it and
  // rotate() keeps it. 0 = no absolute limit. A session may set its own (NewSession).
  // Default: 24 hours.
  std::chrono::microseconds max_lifetime = std::chrono::hours(24);

  // See TouchPolicy. Default: kAfterFraction.
  TouchPolicy touch_policy = TouchPolicy::kAfterFraction;

  // For kAfterFraction: the fraction of the idle TTL, in [0, 1], that must pass after a touch
  // before an access touches again (0 behaves like kEveryAccess). Default: 0.25.
  double touch_fraction = 0.25;

  // At most this many sessions are deleted per transaction by sweep() and destroy_all(). Each
  // batch is one short write transaction, so other writers never wait for more than one batch.
  // 1..100000. Default: 64 — about 1.5 ms of write lock per batch on a 2-core VM with 100,000
  // sessions (bench/session_sweep_bench.cc); larger batches sweep faster but hold the lock longer.
  std::size_t sweep_batch = 64;

  // How often the Store's background reaper thread sweeps expired sessions (every process that
  // opens the file writable runs one). 0 = no reaper: call Sessions::sweep() yourself. The reaper
  // runs its first sweep one interval after open; the Store stops and joins it when it closes.
  // Ignored for a read-only Store. Default: 60 seconds.
  std::chrono::milliseconds sweep_interval = std::chrono::seconds(60);

  // false (default): the Store adds kSessionsKeyspace to Options::redacted_keyspaces, so history
  // records that a session changed but only SHA-256 digests of its values (privacy: a copy of the
  // file does not reveal past attribute values). true: history records session values like any
  // other (a keyspace that was redacted once stays redacted).
  bool record_values_in_history = false;

  // The time source for expiry (creation, access, deadlines), called from any thread; must be
  // thread-safe. Null (default) = std::chrono::system_clock::now. Tests inject a clock to check
  // expiry without sleeping. Times are stored with microsecond precision.
  std::function<Clock::time_point()> clock;
};

// What create() makes.
struct NewSession {
  // Idle time-to-live: the session expires this long after its last touch. Must be > 0.
  std::chrono::microseconds idle_ttl{0};
  // Initial attributes.
  Attributes attributes;
  // The user (or other owner) the session belongs to, for list() and destroy_all(); empty = none.
  std::string principal;
  // Absolute lifetime of this session; 0 = SessionOptions::max_lifetime.
  std::chrono::microseconds max_lifetime{0};
};

// A session as tools may see it: everything but the attributes (and never the token).
struct SessionInfo {
  // The first 12 hex digits of the session id (SHA-256 of the token). Changes on rotate().
  std::string short_id;
  std::string principal;  // empty = none
  Clock::time_point created;
  Clock::time_point last_access;  // the last touch (create, touch, rotate, or a touching access)
  std::chrono::microseconds idle_ttl{0};
  Clock::time_point idle_expiry;      // last_access + idle_ttl
  Clock::time_point absolute_expiry;  // created + max lifetime; time_point::max() = none
  Clock::time_point expires;          // min(idle_expiry, absolute_expiry)
};

// A live session with its attributes.
struct Session : SessionInfo {
  Attributes attributes;
};

class Sessions {
 public:
  // Length of a token: 32 random bytes as unpadded base64url.
  static constexpr std::size_t kTokenLength = 43;
  static constexpr std::size_t kMaxAttributeNameBytes = 128;
  static constexpr std::size_t kMaxPrincipalBytes = 256;

  // True if `token` has the form of a token (length and alphabet); says nothing about whether
  // such a session exists. Never throws.
  static bool IsWellFormedToken(std::string_view token) noexcept;

  Sessions(const Sessions&) = delete;
  Sessions& operator=(const Sessions&) = delete;
  virtual ~Sessions() = default;

  // ---- Creating

  // Creates a session in its own transaction and returns its token.
  // Throws: Error(kInvalidArgument) for a non-positive TTL, a bad principal, attribute name or
  // value; kReadOnly for a read-only Store; kBusy, kIoError, kFull as Store::transact.
  virtual std::string create(std::chrono::microseconds idle_ttl, const Attributes& attributes = {},
                             std::string_view principal = {}) = 0;
  virtual std::string create(const NewSession& session) = 0;

  // Creates a session inside the caller's write transaction, so that it commits (or rolls back)
  // together with the caller's other writes — e.g. a user record and its first session, or many
  // sessions at once. The session exists once the transaction commits. Each run of the body
  // creates a new token: use the token returned by the run that committed (the last one).
  // Throws: as create() above; kReadOnly inside a Store::read body.
  virtual std::string create(Transaction& tx, const NewSession& session) = 0;

  // ---- Reading. These touch the session as SessionOptions::touch_policy says (not exists());
  // a touch that fails (a lock held past busy_timeout, a read-only Store, a poisoned write path)
  // is logged and does not fail the read.

  // The live session, or nullopt if the token is malformed or unknown, or the session expired.
  // Answered from the read cache when possible (no SQLite access).
  // Throws: Error(kCorruption) if the stored session cannot be decoded (kSchemaTooNew if a newer
  // statestore wrote it); kIoError.
  virtual std::optional<Session> get(std::string_view token) = 0;

  // Whether the session is live. Does not touch it.
  // Throws: as get().
  virtual bool exists(std::string_view token) = 0;

  // One attribute, or nullopt if the session is absent (see get()) or has no such attribute.
  // Throws: Error(kInvalidArgument) for an invalid attribute name; otherwise as get().
  virtual std::optional<Value> get_attribute(std::string_view token, std::string_view name) = 0;

  // The listed attributes that exist (absent names are left out of the map), read from one
  // version of the session; nullopt if the session is absent.
  // Throws: Error(kInvalidArgument) for an invalid attribute name; otherwise as get().
  virtual std::optional<Attributes> get_many(std::string_view token,
                                             const std::vector<std::string>& names) = 0;

  // ---- Writing. Each method is one atomic transaction. Those returning bool return false, and
  // write nothing, when the session is unknown or expired. Common throws: Error(kInvalidArgument)
  // for a malformed token; kReadOnly for a read-only Store; kCorruption if the stored session
  // cannot be decoded (kSchemaTooNew if a newer statestore wrote it); kBusy, kIoError, kFull as
  // Store::transact.

  // Sets one attribute. Returns whether the session is live (and the attribute was set).
  // Throws: also kInvalidArgument for an invalid name or value, or if the session's attributes
  // would no longer fit in kMaxValueBytes.
  virtual bool set_attribute(std::string_view token, std::string_view name, const Value& value) = 0;

  // Sets several attributes at once (others are kept). Returns whether the session is live.
  // Throws: as set_attribute().
  virtual bool set_many(std::string_view token, const Attributes& values) = 0;

  // Removes one attribute (nothing happens if it does not exist). Returns whether the session is
  // live. Throws: also kInvalidArgument for an invalid name.
  virtual bool erase_attribute(std::string_view token, std::string_view name) = 0;

  // Atomic read-modify-write of the attribute map: calls `fn` with the session's current
  // attributes and stores what `fn` leaves in the map (clear it to remove every attribute), in
  // one transaction — no concurrent update, from any thread or process, is lost. Returns whether
  // the session is live; `fn` is not called when it is not.
  // `fn` MAY RUN MORE THAN ONCE (when the transaction is retried, each time on a fresh copy of
  // the attributes); only the effect of the last run is kept. It must not have side effects
  // outside its argument that cannot be repeated, and must not call the Store or Sessions.
  // Throws: whatever `fn` throws (nothing is written); also kInvalidArgument if `fn` added or
  // changed an attribute to an invalid name or value (a NaN double, ...), or left attributes that
  // do not fit. Attributes it left as they were are not checked again.
  virtual bool update(std::string_view token, const std::function<void(Attributes&)>& fn) = 0;

  // Extends the idle expiry to now + idle TTL (capped by the absolute deadline), whatever the
  // touch policy. Returns whether the session is live.
  virtual bool touch(std::string_view token) = 0;

  // Session-fixation defence: moves the session to a new token (same attributes, principal,
  // creation time and absolute deadline; touched) in one transaction. The old token is dead from
  // then on. Returns the new token, or nullopt (nothing changed) if the session is not live.
  virtual std::optional<std::string> rotate(std::string_view token) = 0;

  // Deletes the session. Returns whether it was live (an expired, unswept session is deleted
  // too, and false is returned). A session whose stored record is damaged is deleted as well
  // (false, and a warning is logged) rather than refused with kCorruption.
  virtual bool destroy(std::string_view token) = 0;

  // Deletes every session of `principal` ("log out everywhere"), in transactions of at most
  // SessionOptions::sweep_batch sessions; returns how many live ones were deleted. A session
  // created for the principal while this runs may survive.
  // Throws: Error(kInvalidArgument) for an empty or invalid principal; kReadOnly, kBusy, kIoError.
  virtual std::uint64_t destroy_all(std::string_view principal) = 0;

  // ---- Tools

  // The live sessions of `principal`, oldest first, read from one snapshot. No tokens, no
  // attributes. Throws: Error(kInvalidArgument) for an empty or invalid principal; kCorruption,
  // kIoError.
  virtual std::vector<SessionInfo> list(std::string_view principal) = 0;

  // Number of live sessions (all principals), from one snapshot: a stored counter minus the
  // expired sessions not swept yet, so it costs O(1 + unswept expired sessions).
  // Throws: Error(kCorruption), kIoError.
  virtual std::uint64_t count() = 0;

  // Deletes expired sessions now, in transactions of at most SessionOptions::sweep_batch
  // sessions each, until none is left or `max_batches` batches ran (0 = no limit). Returns how
  // many sessions were deleted. Other writers wait for at most one batch at a time; live
  // sessions stay readable throughout. Safe to run in several threads and processes at once.
  // Throws: Error(kReadOnly) for a read-only Store; kBusy, kIoError, kFull.
  virtual std::uint64_t sweep(std::size_t max_batches = 0) = 0;

 protected:
  Sessions() = default;
};

}  // namespace statestore

#endif  // STATESTORE_SESSION_H_

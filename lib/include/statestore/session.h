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
// process decides expiry with its own clock (SessionOptions::clock, else the Store's): keep the
// clocks of processes sharing a file synchronized (NTP; on PostgreSQL the Store's clock is the
// server's, one for every machine); a touch never moves a last access backwards.
//
// Every change is an ordinary transaction of the core, so it is durable as Options::durability
// promises, visible at once to every thread and process sharing the file, and recorded in history
// (by default with SHA-256 digests instead of values: SessionOptions::record_values_in_history).
// Session traffic (creates, touches, sweeps) therefore grows history like any other write: bound
// it with Options::history_retention.
//
// Events. listen() tells the application when sessions are created, destroyed, expired (swept)
// or rotated, by this or any other process, after commit, in revision order — e.g. to release
// per-session resources on expiry, like Spring Session's session events. Events are read back from
// the sessions keyspace's history, so they survive restarts (resume from a revision) as far back
// as history is retained; history is redacted, so an event names the session by its id
// (SHA-256 of the token; IdOf), never by token, and carries no attribute and — unless
// record_values_in_history — no principal.
//
// Limits per principal. SessionOptions::max_sessions_per_principal bounds the live sessions of one
// principal, checked atomically inside the create transaction: evict the least recently used, or
// refuse with kConflict (SessionLimitPolicy).
//
// Thread safety: a Sessions object is safe for concurrent use from any number of threads, like
// the Store it belongs to, and valid as long as that Store. Several processes may use the sessions
// of one file at once. Like every Store entry point that opens its own transaction, no method may
// be called from inside a transaction body (kInvalidArgument) — except create(Transaction&, ...),
// which exists for that.
//
// Bad input. A token that is not 43 base64url characters is *malformed* (empty, too short or too
// long, a character outside [A-Za-z0-9_-], a control character or NUL). Every method that takes a
// token treats a malformed token exactly like an unknown one: reads return nullopt/false, writes
// return their "no such session" result (false, or nullopt for rotate() and update() with a
// value) and write nothing. So a server can pass an untrusted cookie to any method unchecked, and
// a bad cookie is "logged out", never an error. An invalid attribute name, principal, TTL or value
// is kInvalidArgument everywhere (it comes from the application, not from the client);
// IsValidPrincipal() tells in advance whether a principal will be accepted. A method that throws
// has written nothing.
//
// Limits (kInvalidArgument):
//   attribute names  1..kMaxAttributeNameBytes bytes from [A-Za-z0-9_.:-]
//   attribute values any statestore::Value within the core's limits (value.h); all attributes of
//                    one session together, encoded, must fit in kMaxValueBytes (4 MiB) — a
//                    session is stored as one value (sessions are meant to be small)
//   principals       empty (none) or 1..kMaxPrincipalBytes bytes of UTF-8 without control
//                    characters (U+0000..U+001F, U+007F)
//   idle TTL         > 0; max_lifetime >= 0 (0 = SessionOptions::max_lifetime)
#ifndef STATESTORE_SESSION_H_
#define STATESTORE_SESSION_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "statestore/history.h"
#include "statestore/revision.h"
#include "statestore/session_options.h"
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

// What update()'s function works on: the session's attributes, which it may change, and the rest
// of the session, which it may only read (principal, times; a function that needs to move them
// wants touch(), rotate() or a new session). Valid only during the call it is passed to.
class SessionRef {
 public:
  SessionRef(const SessionInfo& info, Attributes& attributes)
      : info_(info), attributes_(attributes) {}
  SessionRef(const SessionRef&) = delete;
  SessionRef& operator=(const SessionRef&) = delete;

  // The session before this update, as read inside its transaction (not yet touched by it).
  const SessionInfo& info() const { return info_; }
  const std::string& principal() const { return info_.principal; }  // empty = none
  Clock::time_point created() const { return info_.created; }
  Clock::time_point expires() const { return info_.expires; }
  // The attributes: what is left here when the function returns is stored.
  Attributes& attributes() { return attributes_; }

 private:
  const SessionInfo& info_;
  Attributes& attributes_;
};

// A change of the set of sessions, as read back from the history (Sessions::listen).
struct SessionEvent {
  enum class Kind {
    // A session appeared (create(), in any process). Also each session created by
    // create(Transaction&), when its transaction commits.
    kCreated,
    // A session was deleted by destroy(), destroy_all(), or evicted by the per-principal limit
    // (SessionLimitPolicy::kEvictLeastRecentlyUsed) — also when it had expired but was not swept
    // yet: the commit deleted it, not the expiry.
    kDestroyed,
    // The reaper or sweep() deleted the expired session (told by the sweep's origin label,
    // "sessions: sweep"). It expired at some time before `time`, not necessarily at it; with no
    // reaper (sweep_interval 0) an expired session has no event until someone calls sweep().
    kExpired,
    // rotate() moved the session `previous_id` to `session_id` (told by the rotate's origin
    // label, "sessions: rotate", and the pair in that commit). Same data, new token.
    kRotated,
    // History the listener needed was removed by retention (the sessions keyspace keeps a bounded
    // history): events of revisions `revision`..`compacted_through` are lost. The listener goes
    // on with compacted_through + 1; reconcile what you keep per session (e.g. drop resources of
    // sessions you have not seen for longer than their TTL).
    kCompacted,
  };
  Kind kind = Kind::kCreated;
  // The commit the event comes from. Several events may share one revision (one event per
  // session per commit); (revision, kind, session_id) identifies an event for de-duplication.
  Revision revision = 0;
  Revision compacted_through = 0;  // kCompacted only
  Clock::time_point time;          // commit time (UTC); kCompacted: unset
  Origin origin;                   // who committed; kCompacted: unset
  // The session id: 64 lower-case hex digits, SHA-256 of the token (Sessions::IdOf(token)); for
  // kRotated the new id. Empty for kCompacted. Never a token: history has none.
  std::string session_id;
  std::string previous_id;  // kRotated: the id before the rotation
  // The session's principal, only when SessionOptions::record_values_in_history is true and the
  // history row holds the record. The default, redacted history holds only digests of records
  // and a keyed digest of the principal: no principal can be told from it, and this is empty.
  std::string principal;
};

using SessionEventCallback = std::function<void(const SessionEvent&)>;

namespace internal {
class SessionEventHub;
struct SessionListenerState;
}  // namespace internal

// A listener subscription (Sessions::listen), RAII: stopped when destroyed. Move-only.
class SessionListener {
 public:
  SessionListener() = default;  // inactive
  SessionListener(SessionListener&& other) noexcept = default;
  SessionListener& operator=(SessionListener&& other) noexcept;
  SessionListener(const SessionListener&) = delete;
  SessionListener& operator=(const SessionListener&) = delete;
  // Stops; see stop().
  ~SessionListener();

  // Stops deliveries. When it returns the callback is not running and will not be called again —
  // except when called from inside this listener's own callback: then it returns at once and the
  // callback is not called again after the current call returns. Never throws.
  void stop() noexcept;

  // False after stop(), after the Store closed, and for a default-constructed listener.
  bool active() const noexcept;

  // Every event of a revision <= this has been delivered (its callback returned). To resume after
  // a restart, listen again from delivered_through() + 1: events of a revision that was being
  // delivered when the process died come again (at least once).
  Revision delivered_through() const noexcept;

  // How many callback calls threw (each is logged; the event counts as delivered).
  std::uint64_t callback_failures() const noexcept;

 private:
  friend class internal::SessionEventHub;
  explicit SessionListener(std::shared_ptr<internal::SessionListenerState> state)
      : state_(std::move(state)) {}
  std::shared_ptr<internal::SessionListenerState> state_;
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

  // True if `principal` is accepted by list() and destroy_all() (and by create()/NewSession, which
  // also accept empty = no principal): 1..kMaxPrincipalBytes bytes of valid UTF-8 without control
  // characters. The methods that take a principal throw Error(kInvalidArgument) exactly when this
  // is false, so a server can answer 400 for a bad user id before calling them. Cheap, needs no
  // Store, never throws.
  static bool IsValidPrincipal(std::string_view principal) noexcept;

  // The session id of `token` (64 lower-case hex digits: SHA-256 of the token), as
  // SessionEvent::session_id carries it: key per-session resources by it to release them on a
  // kDestroyed/kExpired event. nullopt for a malformed token. Says nothing about whether the
  // session exists. Never throws (but std::bad_alloc).
  static std::optional<std::string> IdOf(std::string_view token);

  Sessions(const Sessions&) = delete;
  Sessions& operator=(const Sessions&) = delete;
  virtual ~Sessions() = default;

  // ---- Creating

  // Creates a session in its own transaction and returns its token. With
  // SessionOptions::max_sessions_per_principal set and the principal at its limit, first evicts
  // the principal's least recently used sessions in the same transaction, or refuses
  // (SessionOptions::limit_policy).
  // Throws: Error(kInvalidArgument) for a non-positive TTL, a bad principal (!IsValidPrincipal
  // and not empty), attribute name or value; kConflict when the principal is at its limit under
  // SessionLimitPolicy::kRefuseCreate (nothing written); kReadOnly for a read-only Store; kBusy,
  // kIoError, kFull as Store::transact.
  virtual std::string create(std::chrono::microseconds idle_ttl, const Attributes& attributes = {},
                             std::string_view principal = {}) = 0;
  virtual std::string create(const NewSession& session) = 0;

  // Creates a session inside the caller's write transaction, so that it commits (or rolls back)
  // together with the caller's other writes — e.g. a user record and its first session, or many
  // sessions at once. The session exists once the transaction commits. Each run of the body
  // creates a new token: use the token returned by the run that committed (the last one). The
  // per-principal limit counts the sessions this transaction created before.
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
  // write nothing, when the session is unknown or expired or the token malformed ("no such
  // session"). Common throws: kReadOnly for a read-only Store; kCorruption if the stored session
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
  // the session is live; `fn` is not called when it is not (nor for a malformed token).
  // `fn` MAY RUN MORE THAN ONCE (when the transaction is retried, each time on a fresh copy of
  // the attributes); only the effect of the last run is kept. It must not have side effects
  // outside its argument that cannot be repeated, and must not call the Store or Sessions.
  // Throws: whatever `fn` throws (nothing is written); also kInvalidArgument if `fn` added or
  // changed an attribute to an invalid name or value (a NaN double, ...), or left attributes that
  // do not fit. Attributes it left as they were are not checked again.
  virtual bool update(std::string_view token, const std::function<void(Attributes&)>& fn) = 0;

  // The same, but `fn` gets a SessionRef: the attributes to change and the principal, creation
  // and expiry times to read. Returns whether the session was live. Same rules and throws.
  virtual bool update_session(std::string_view token,
                              const std::function<void(SessionRef&)>& fn) = 0;

  // update() whose `fn(SessionRef&)` returns a value: returns the value returned by the run of
  // `fn` that committed (fn may run more than once; earlier runs' results are dropped), or
  // nullopt if the session is not live (or the token malformed) and fn was not called. A
  // function returning void makes this return bool, like update_session(). (A function taking
  // Attributes& picks the update() above, as before; so name the parameter's type, SessionRef&:
  // a generic `auto&` lambda is taken for the Attributes& form.)
  // Example: auto n = sessions.update(token, [](SessionRef& s) {
  //            auto& c = s.attributes()["hits"]; c = Value(c.is_null() ? 1 : c.as_int() + 1);
  //            return c.as_int(); });                                  // std::optional<int64_t>
  // (std::conjunction stops at the first false: a generic lambda written for Attributes& is never
  // instantiated with a SessionRef&.)
  template <class F, class = std::enable_if_t<
                         std::conjunction_v<std::negation<std::is_invocable<F&, Attributes&>>,
                                            std::is_invocable<F&, SessionRef&>>>>
  auto update(std::string_view token, F fn) {
    using R = std::invoke_result_t<F&, SessionRef&>;
    if constexpr (std::is_void_v<R>) {
      return update_session(token, [&fn](SessionRef& s) { fn(s); });
    } else {
      std::optional<std::decay_t<R>> result;
      const bool live = update_session(token, [&fn, &result](SessionRef& s) {
        result.reset();  // a retried run replaces the result of the run before it
        result.emplace(fn(s));
      });
      if (!live) result.reset();  // a run that did not commit must not leak its result
      return result;
    }
  }

  // Extends the idle expiry to now + idle TTL (capped by the absolute deadline), whatever the
  // touch policy. Returns whether the session is live.
  virtual bool touch(std::string_view token) = 0;

  // Session-fixation defence: moves the session to a new token (same attributes, principal,
  // creation time and absolute deadline; touched) in one transaction. The old token is dead from
  // then on. Returns the new token, or nullopt (nothing changed) if the session is not live or
  // the token malformed. The commit carries the origin label "sessions: rotate" (instead of
  // Options::origin_label): that is how listeners tell a rotation from a destroy plus a create.
  virtual std::optional<std::string> rotate(std::string_view token) = 0;

  // Deletes the session. Returns whether it was live (an expired, unswept session is deleted
  // too, and false is returned; false also for an unknown or malformed token, with nothing
  // written: "log out" with a bad cookie is a no-op). A session whose stored record is damaged
  // is deleted as well (false, and a warning is logged) rather than refused with kCorruption.
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

  // ---- Events

  // Calls `callback` for every session created, destroyed, expired or rotated (SessionEvent) —
  // by this process or any other sharing the file — after its commit, in revision order, from
  // the Store's one listener thread (started with the first listener, joined when the Store
  // closes). Events are read back from the history of the sessions keyspace, so they include
  // commits made while this process was not running, as far back as history is retained:
  // `from_revision` is the first revision to deliver (resume with delivered_through() + 1);
  // 0 = only commits after the current head. Delivery is at least once across restarts and
  // exactly once within one listener's life. When retention removed history the listener still
  // needs, it gets one kCompacted event and carries on after it.
  //
  // Callbacks run one at a time on the listener thread, with no statestore lock held: a slow
  // callback delays the other listeners of this Store (hand heavy work to your own threads), and
  // a callback may call Store and Sessions methods. A callback that throws is logged (rate
  // limited) and counts the event as delivered. Commits of other processes are seen within about
  // SessionOptions::listener_poll_interval; those of this process's Sessions at once; create()
  // inside your own transaction is seen at the next poll.
  // Throws: Error(kInvalidArgument) for an empty callback or a closing Store; kIoError,
  // kCorruption reading the head revision.
  virtual SessionListener listen(SessionEventCallback callback, Revision from_revision = 0) = 0;

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

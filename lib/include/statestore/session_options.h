// statestore::SessionOptions — how the Sessions layer (statestore/session.h) of a Store behaves.
// Part of Options (Options::sessions), so it lives in its own small header: options.h needs it
// without pulling in the whole Sessions API.
#ifndef STATESTORE_SESSION_OPTIONS_H_
#define STATESTORE_SESSION_OPTIONS_H_

#include <chrono>
#include <cstddef>
#include <functional>

#include "statestore/history.h"  // Clock

namespace statestore {

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

// What create() does when a principal already has SessionOptions::max_sessions_per_principal
// live sessions.
enum class SessionLimitPolicy {
  // Delete the principal's least recently used live sessions (smallest last access, then oldest
  // creation, then smallest id) in the create transaction, so the new one fits. "Last access" is
  // the last *recorded* touch, as precise as SessionOptions::touch_policy makes it. Listeners
  // see each evicted session as kDestroyed in the creating commit. Like Spring Security's
  // maximumSessions: logging in on a new device logs out the stalest one.
  kEvictLeastRecentlyUsed,
  // Refuse the create: Error(kConflict) — the request conflicts with the state of the store, as
  // a failed compare-and-set does; nothing is written. Map it to HTTP 409/429 ("too many
  // sessions"); destroy one (list() shows them) or wait for one to expire, then retry.
  kRefuseCreate,
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
  // opens the file writable runs one; on PostgreSQL every process has one too, but only the one
  // holding the store's sweep lock sweeps, so the fleet runs one sweep per interval).
  // 0 = no reaper: call Sessions::sweep() yourself. The reaper
  // runs its first sweep one interval after open; the Store stops and joins it when it closes.
  // Ignored for a read-only Store. Default: 60 seconds.
  std::chrono::milliseconds sweep_interval = std::chrono::seconds(60);

  // false (default): the Store adds kSessionsKeyspace to Options::redacted_keyspaces, so history
  // records that a session changed but only SHA-256 digests of its values (privacy: a copy of the
  // file does not reveal past attribute values). true: history records session values like any
  // other (a keyspace that was redacted once stays redacted).
  bool record_values_in_history = false;

  // The time source for expiry (creation, access, deadlines), called from any thread; must be
  // thread-safe. Null (default) = the Store's clock (Options::clock), which by default is
  // std::chrono::system_clock::now. Tests inject a clock to check expiry without sleeping. Times
  // are stored with microsecond precision.
  std::function<Clock::time_point()> clock;

  // At most this many live sessions per principal (sessions without a principal are not
  // limited); 0 = unlimited (default). Checked inside the create transaction, through the
  // principal index, so creates racing in several threads or processes can never exceed it
  // (they serialize on the write lock). Expired sessions not swept yet do not count. Costs one
  // index scan plus one record read per live session of the principal on each create that names
  // a principal. Lowering the limit deletes nothing until the principal's next create.
  std::size_t max_sessions_per_principal = 0;

  // What create() does at the limit. Default: kEvictLeastRecentlyUsed.
  SessionLimitPolicy limit_policy = SessionLimitPolicy::kEvictLeastRecentlyUsed;

  // While listeners exist (Sessions::listen), how often the Store's listener thread looks for
  // session commits of other processes: one load of a shared change counter, and a read of the
  // head revision only when it moved (or every 100 ms as a safety net). Commits made through
  // this process's Sessions wake the thread at once, whatever the interval. Must be > 0.
  // Default: 10 ms.
  std::chrono::milliseconds listener_poll_interval{10};
};

}  // namespace statestore

#endif  // STATESTORE_SESSION_OPTIONS_H_

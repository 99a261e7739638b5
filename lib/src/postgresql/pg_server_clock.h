// The PostgreSQL server's wall clock, as seen from this process. A PostgreSQL Store without an
// injected Options::clock takes every time it decides by from it: commit times, TTL and lease
// deadlines and whether they have passed, session expiry, keep_for retention. Machines whose
// clocks disagree then still agree on what has expired: a machine whose clock runs ahead would
// otherwise expire sessions and keys early for everyone (one clock: issue 14).
//
// Invariants:
//  1. Now() = the server's time at the last sample + the time elapsed since then on this
//     machine's steady clock. It does no I/O, and a step of this machine's wall clock (an
//     operator's `date -s`, a bad NTP jump) does not move it.
//  2. A sample reads the server's clock_timestamp() in one round trip, timed on the steady clock,
//     and takes the server's time to be at the round trip's midpoint: its error is at most half
//     the round trip (uncertainty()). Of kRoundTripsPerSample round trips the shortest wins.
//  3. Resample() replaces the anchor (the PostgreSQL Store calls it every kResampleInterval from
//     a background thread), so the drift of this machine's steady clock against the server's
//     stays what it can gather in that interval (tens of ppm: milliseconds).
//  4. Now() never goes back within the process: a sample behind the previous extrapolation holds
//     Now() at the last time returned until the server's clock passes it. Expiry decisions
//     therefore never undo each other (a key seen expired stays expired).
#ifndef STATESTORE_SRC_POSTGRESQL_PG_SERVER_CLOCK_H_
#define STATESTORE_SRC_POSTGRESQL_PG_SERVER_CLOCK_H_

#include <chrono>
#include <cstdint>
#include <functional>

#include "statestore/history.h"  // Clock
#include "util/mutex.h"

namespace statestore::internal {

class PgConnection;

class PgServerClock {
 public:
  // Reads the server's clock once: microseconds since the Unix epoch. Throws Error.
  using ReadServerMicros = std::function<std::int64_t()>;

  static constexpr int kRoundTripsPerSample = 3;
  static constexpr std::chrono::seconds kResampleInterval{60};

  // Takes the first sample. Throws what `read` throws.
  explicit PgServerClock(const ReadServerMicros& read);
  PgServerClock(const PgServerClock&) = delete;
  PgServerClock& operator=(const PgServerClock&) = delete;

  // The server's time now (invariants 1 and 4). Thread-safe.
  Clock::time_point Now() EXCLUDES(mu_);
  // A new sample (invariant 3). Throws what `read` throws; the old anchor stays then.
  void Resample(const ReadServerMicros& read) EXCLUDES(mu_);
  // Half the round trip of the current anchor's sample (invariant 2).
  std::chrono::microseconds uncertainty() EXCLUDES(mu_);
  // The server's clock minus this machine's wall clock at the last sample, in microseconds
  // (for a warning at open when they are far apart; nothing decides by it).
  std::int64_t wall_clock_offset_us() EXCLUDES(mu_);

 private:
  struct Anchor {
    std::chrono::steady_clock::time_point at;  // the round trip's midpoint, on this machine
    std::int64_t server_us = 0;                // the server's time then
    std::chrono::microseconds half_round_trip{0};
    std::int64_t wall_offset_us = 0;
  };
  static Anchor Sample(const ReadServerMicros& read);

  Mutex mu_;
  Anchor anchor_ GUARDED_BY(mu_);
  std::int64_t last_returned_us_ GUARDED_BY(mu_) = INT64_MIN;
};

// The server's clock_timestamp() on `connection`, in microseconds since the epoch (outside or
// inside a transaction: clock_timestamp is the wall clock, not the transaction's start).
std::int64_t PgReadServerMicros(PgConnection& connection);

}  // namespace statestore::internal

#endif  // STATESTORE_SRC_POSTGRESQL_PG_SERVER_CLOCK_H_

#include "postgresql/pg_server_clock.h"

#include <algorithm>

#include "postgresql/pg_connection.h"
#include "util/clock.h"

namespace statestore::internal {

namespace {

using std::chrono::duration_cast;
using std::chrono::microseconds;
using std::chrono::steady_clock;

}  // namespace

PgServerClock::PgServerClock(const ReadServerMicros& read) : anchor_(Sample(read)) {}

PgServerClock::Anchor PgServerClock::Sample(const ReadServerMicros& read) {
  Anchor best;
  bool have = false;
  for (int i = 0; i < kRoundTripsPerSample; ++i) {
    const auto sent = steady_clock::now();
    const std::int64_t wall_before = ToMicros(Clock::now());
    const std::int64_t server_us = read();
    const std::int64_t wall_after = ToMicros(Clock::now());
    const auto received = steady_clock::now();
    const auto half = duration_cast<microseconds>(received - sent) / 2;
    if (!have || half < best.half_round_trip) {
      best.at = sent + (received - sent) / 2;
      best.server_us = server_us;
      best.half_round_trip = half;
      best.wall_offset_us = server_us - (wall_before + (wall_after - wall_before) / 2);
      have = true;
    }
  }
  return best;
}

Clock::time_point PgServerClock::Now() {
  const auto now = steady_clock::now();
  MutexLock lock(&mu_);
  const std::int64_t us = anchor_.server_us + duration_cast<microseconds>(now - anchor_.at).count();
  last_returned_us_ = std::max(last_returned_us_, us);  // invariant 4
  return FromMicros(last_returned_us_);
}

void PgServerClock::Resample(const ReadServerMicros& read) {
  const Anchor fresh = Sample(read);  // no lock across the round trips: Now() never waits on I/O
  MutexLock lock(&mu_);
  anchor_ = fresh;
}

std::chrono::microseconds PgServerClock::uncertainty() {
  MutexLock lock(&mu_);
  return anchor_.half_round_trip;
}

std::int64_t PgServerClock::wall_clock_offset_us() {
  MutexLock lock(&mu_);
  return anchor_.wall_offset_us;
}

std::int64_t PgReadServerMicros(PgConnection& connection) {
  // extract(epoch ...) is numeric with microsecond precision (PostgreSQL 14+): exact in int8.
  PgResult r = connection.Exec("cannot read the server's clock",
                               "SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::int8");
  return r.Int(0, 0);
}

}  // namespace statestore::internal

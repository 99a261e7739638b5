// PgServerClock (lib/src/postgresql/pg_server_clock.h) with a stand-in for the server's clock, so
// that the server can be made to disagree with this machine (a real server here shares its
// clock): it follows the server, not this machine (invariant 1), the shortest round trip of a
// sample wins (invariant 2), it advances between samples without asking the server, and it
// never goes back (invariant 4). pg_engine_test checks that a Store uses it.
#include "postgresql/pg_server_clock.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <thread>

#include "test_util.h"

namespace statestore::test {
namespace {

using internal::PgServerClock;
using std::chrono::milliseconds;

std::int64_t WallMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now().time_since_epoch())
      .count();
}

std::int64_t Micros(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}

constexpr std::int64_t kHourUs = 3'600'000'000;
// How far apart two readings of "the same" time may be on a loaded machine.
const std::int64_t kSlackUs = 50'000 * kSlowFactor;

TEST(PgServerClockTest, FollowsTheServerNotThisMachine) {
  PgServerClock clock([] { return WallMicros() + kHourUs; });  // a server an hour ahead
  const std::int64_t ahead = Micros(clock.Now()) - WallMicros();
  EXPECT_GE(ahead, kHourUs - kSlackUs);
  EXPECT_LE(ahead, kHourUs + kSlackUs);
  EXPECT_GE(clock.wall_clock_offset_us(), kHourUs - kSlackUs);
  EXPECT_LE(clock.wall_clock_offset_us(), kHourUs + kSlackUs);
}

TEST(PgServerClockTest, AdvancesBetweenSamplesWithoutAskingTheServer) {
  const std::int64_t fixed = 1'900'000'000'000'000;  // a server time that never moves
  int reads = 0;
  PgServerClock clock([&] {
    ++reads;
    return fixed;
  });
  EXPECT_EQ(reads, PgServerClock::kRoundTripsPerSample);
  const std::int64_t first = Micros(clock.Now());
  std::this_thread::sleep_for(milliseconds(100));
  const std::int64_t later = Micros(clock.Now());
  EXPECT_EQ(reads, PgServerClock::kRoundTripsPerSample) << "Now() must not do I/O";
  EXPECT_GE(first, fixed);
  EXPECT_LE(first, fixed + kSlackUs);
  EXPECT_GE(later - first, 100'000);
  EXPECT_LE(later - first, 100'000 + kSlackUs);
}

TEST(PgServerClockTest, TheShortestRoundTripWins) {
  // The first round trip is slow and its answer is off by an hour (a reply delayed in a queue);
  // the fast ones are right. Whichever order, the fast one decides.
  for (int slow_one = 0; slow_one < PgServerClock::kRoundTripsPerSample; ++slow_one) {
    int call = 0;
    PgServerClock clock([&] {
      if (call++ == slow_one) {
        std::this_thread::sleep_for(milliseconds(30));
        return WallMicros() + kHourUs;
      }
      return WallMicros();
    });
    const std::int64_t off = Micros(clock.Now()) - WallMicros();
    EXPECT_LE(off, kSlackUs) << "slow round trip " << slow_one << " won";
    EXPECT_GE(off, -kSlackUs);
    EXPECT_LT(clock.uncertainty().count(), 15'000) << "half of the fast round trip";
  }
}

TEST(PgServerClockTest, NeverGoesBackAndAFailedSampleKeepsTheOldOne) {
  std::int64_t server_offset = kHourUs;
  PgServerClock clock([&] { return WallMicros() + server_offset; });
  const std::int64_t before = Micros(clock.Now());
  // The server's clock is set back ten seconds: Now() holds until the server passes it.
  server_offset = kHourUs - 10'000'000;
  clock.Resample([&] { return WallMicros() + server_offset; });
  const std::int64_t held = Micros(clock.Now());
  EXPECT_GE(held, before);
  EXPECT_LE(held, before + kSlackUs);
  // Ahead again: it follows at once.
  clock.Resample([&] { return WallMicros() + kHourUs + 20'000'000; });
  const std::int64_t jumped = Micros(clock.Now()) - WallMicros();
  EXPECT_GE(jumped, kHourUs + 20'000'000 - kSlackUs);
  // A sample that fails changes nothing: the error reaches the caller, the clock keeps going.
  EXPECT_THROW(clock.Resample([]() -> std::int64_t { throw std::runtime_error("server gone"); }),
               std::runtime_error);
  const std::int64_t still = Micros(clock.Now()) - WallMicros();
  EXPECT_GE(still, kHourUs + 20'000'000 - kSlackUs);
  EXPECT_LE(still, kHourUs + 20'000'000 + kSlackUs);
}

}  // namespace
}  // namespace statestore::test

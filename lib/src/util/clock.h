// Wall-clock time as a Store sees it: Options::clock when set (tests inject one; a program may
// too), else the system clock. Stored times are microseconds since the Unix epoch, UTC.
#ifndef STATESTORE_SRC_UTIL_CLOCK_H_
#define STATESTORE_SRC_UTIL_CLOCK_H_

#include <chrono>
#include <cstdint>
#include <functional>

#include "statestore/history.h"  // Clock

namespace statestore::internal {

using ClockFunction = std::function<Clock::time_point()>;

inline Clock::time_point Now(const ClockFunction& clock) { return clock ? clock() : Clock::now(); }

inline std::int64_t ToMicros(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}

inline Clock::time_point FromMicros(std::int64_t us) {
  return Clock::time_point(
      std::chrono::duration_cast<Clock::duration>(std::chrono::microseconds(us)));
}

inline std::int64_t NowMicros(const ClockFunction& clock) { return ToMicros(Now(clock)); }

}  // namespace statestore::internal

#endif  // STATESTORE_SRC_UTIL_CLOCK_H_

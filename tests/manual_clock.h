// ManualClock — a wall clock a test moves by hand (Options::clock), safe to read from the
// Store's threads while the test moves it.
#ifndef STATESTORE_TESTS_MANUAL_CLOCK_H_
#define STATESTORE_TESTS_MANUAL_CLOCK_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>

#include "statestore/history.h"  // Clock

namespace statestore::test {

class ManualClock {
 public:
  explicit ManualClock(Clock::time_point start) : us_(Micros(start)) {}
  Clock::time_point now() const { return Clock::time_point(std::chrono::microseconds(us_.load())); }
  void advance(std::chrono::microseconds d) { us_ += d.count(); }
  void set(Clock::time_point t) { us_ = Micros(t); }
  // The clock as Options::clock; `this` must outlive every Store given it.
  std::function<Clock::time_point()> function() {
    return [this] { return now(); };
  }

  static std::int64_t Micros(Clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
  }

 private:
  std::atomic<std::int64_t> us_;
};

// 2031-01-01T00:00:00Z: far from the real clock, so a stamp from it cannot pass by chance.
inline const Clock::time_point kManualClockStart =
    Clock::time_point(std::chrono::seconds(1924992000));

}  // namespace statestore::test

#endif  // STATESTORE_TESTS_MANUAL_CLOCK_H_

// Short forms of the PutOptions the TTL and lease tests write with, and the real-time wait they
// use for the background sweep (one definition for tests/ttl_test.cc, tests/lease_test.cc and
// the TTL and lease conformance suites).
#ifndef STATESTORE_TESTS_PUT_OPTIONS_HELPERS_H_
#define STATESTORE_TESTS_PUT_OPTIONS_HELPERS_H_

#include <chrono>
#include <thread>

#include "statestore/statestore.h"
#include "test_util.h"

namespace statestore::test {

inline PutOptions Ttl(std::chrono::milliseconds ttl) {
  PutOptions o;
  o.ttl = ttl;
  return o;
}

inline PutOptions KeepTtl() {
  PutOptions o;
  o.keep_ttl = true;
  return o;
}

inline PutOptions WithLease(LeaseId lease) {
  PutOptions o;
  o.lease = lease;
  return o;
}

// Waits (real time) until `pred` holds or `timeout` passes; returns pred(). For what a
// background thread (the sweep) does on its own schedule.
template <typename Pred>
bool WaitFor(Pred pred,
             std::chrono::milliseconds timeout = std::chrono::milliseconds(20'000 * kSlowFactor)) {
  const auto give_up = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > give_up) return pred();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

}  // namespace statestore::test

#endif  // STATESTORE_TESTS_PUT_OPTIONS_HELPERS_H_

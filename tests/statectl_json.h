// The --json output of a statectl run, for the statectl suites: asserts (non-fatally) that the
// command succeeded and printed JSON, and returns it (null JSON when it did not, with the run's
// exit code and output in the failure message).
#ifndef STATESTORE_TESTS_STATECTL_JSON_H_
#define STATESTORE_TESTS_STATECTL_JSON_H_

#include <gtest/gtest.h>

#include <exception>
#include <nlohmann/json.hpp>

#include "statectl_runner.h"

namespace statestore::test {

inline nlohmann::json CtlJsonOutput(const CtlResult& r) {
  EXPECT_EQ(r.code, 0) << Describe(r);
  try {
    return nlohmann::json::parse(r.out);
  } catch (const std::exception& e) {
    ADD_FAILURE() << "not JSON: " << e.what() << "\n" << Describe(r);
    return nlohmann::json();
  }
}

}  // namespace statestore::test

#endif  // STATESTORE_TESTS_STATECTL_JSON_H_

// Sessions options on a SQLite file: invalid SessionOptions are refused at open before the file
// is created. Everything else the sessions API does on one thread (create, attributes, update,
// expiry with an injected clock, rotation, sweeping, redaction) is engine-neutral and in
// conformance/session_conformance_test.cc.
#include <chrono>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "statestore/statestore.h"
#include "test_util.h"

namespace statestore {
namespace {

using std::chrono::microseconds;
using test::TempDir;

class SessionTest : public ::testing::Test {
 protected:
  TempDir dir_;
};

TEST_F(SessionTest, OptionsAreValidatedAtOpen) {
  auto open_with = [&](const std::function<void(SessionOptions&)>& edit) {
    Options o;
    edit(o.sessions);
    return test::CatchError([&] { Store::open(dir_.file("other.db"), o); });
  };
  for (auto edit : std::vector<std::function<void(SessionOptions&)>>{
           [](SessionOptions& s) { s.touch_fraction = 1.5; },
           [](SessionOptions& s) { s.touch_fraction = -0.1; },
           [](SessionOptions& s) { s.touch_fraction = std::nan(""); },
           [](SessionOptions& s) { s.sweep_batch = 0; },
           [](SessionOptions& s) { s.max_lifetime = microseconds(-1); },
           [](SessionOptions& s) { s.sweep_interval = std::chrono::milliseconds(-1); },
       }) {
    auto e = open_with(edit);
    ASSERT_TRUE(e.has_value());
    EXPECT_EQ(e->code(), ErrorCode::kInvalidArgument) << e->what();
  }
  EXPECT_FALSE(test::FileExists(dir_.file("other.db")));
}

}  // namespace
}  // namespace statestore

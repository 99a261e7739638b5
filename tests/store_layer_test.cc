// The layer seam of Store on a SQLite file: keyed_digest needs the redaction key, which a
// read-only Store lacks when the -key side file is gone. The engine-neutral seam tests
// (find_layer, change_counter, keyed_digest) are in conformance/store_layer_conformance_test.cc.
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "statestore/statestore.h"
#include "test_util.h"

namespace statestore {
namespace {

using test::CatchError;
using test::TempDir;

class StoreLayerTest : public ::testing::Test {
 protected:
  TempDir dir_;
  std::string db_ = dir_.file("state.db");
};

TEST_F(StoreLayerTest, KeyedDigestNeedsTheKeyAReadOnlyStoreMayLack) {
  { Store::open(db_)->put("app", "k", Value(1)); }
  ASSERT_EQ(::unlink((db_ + "-key").c_str()), 0);
  Options read_only;
  read_only.read_only = true;
  auto store = Store::open(db_, read_only);
  EXPECT_FALSE(store->has_redaction_key());
  const auto e = CatchError([&] { store->keyed_digest("alice"); });
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->code(), ErrorCode::kReadOnly);
}

}  // namespace
}  // namespace statestore

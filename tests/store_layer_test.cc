// The layer seam of Store (statestore/store_layer.h): what Sessions and Config are built on, so
// that they run unchanged on any engine — Store::find_layer, change_counter, keyed_digest.
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

TEST_F(StoreLayerTest, EveryOpenedStoreCarriesTheSessionsAndConfigLayers) {
  auto store = Store::open(db_);
  EXPECT_NE(store->find_layer("sessions"), nullptr);
  EXPECT_NE(store->find_layer("config"), nullptr);
  EXPECT_EQ(store->find_layer("no such layer"), nullptr);
  EXPECT_EQ(store->find_layer(""), nullptr);
  // The layers work through the public API: a session and a setting round-trip.
  const std::string token = store->sessions().create(std::chrono::minutes(5), {{"a", Value(1)}});
  EXPECT_EQ(store->sessions().get_attribute(token, "a"), Value(1));
  store->config().set("x", ConfigValue(std::int64_t{7}));
  EXPECT_EQ(store->config().get<std::int64_t>("x"), std::optional<std::int64_t>(7));

  // A second open of the same path returns the same Store, layers included.
  EXPECT_EQ(Store::open(db_)->find_layer("sessions"), store->find_layer("sessions"));
}

TEST_F(StoreLayerTest, ChangeCounterMovesWithCommitsOfThisAndOtherProcesses) {
  auto store = Store::open(db_);
  const std::uint64_t before = store->change_counter();
  store->put("app", "k", Value(1));
  const std::uint64_t after_own = store->change_counter();
  EXPECT_NE(after_own, before);
  // A read changes nothing.
  EXPECT_EQ(store->get("app", "k"), Value(1));
  EXPECT_EQ(store->change_counter(), after_own);
  // A commit by another process moves it too: that is what the layers' watchers poll.
  auto child = test::ChildProcess::SpawnWorker({"config-put", db_, "y", "int", "3"});
  ASSERT_EQ(child.Wait(std::chrono::seconds(30)), 0);
  EXPECT_NE(store->change_counter(), after_own);
}

TEST_F(StoreLayerTest, KeyedDigestIsKeyedByTheRedactionKey) {
  Options a;
  a.redaction_key = std::string(32, 'a');
  Options b;
  b.redaction_key = std::string(32, 'b');
  auto store_a = Store::open(dir_.file("a.db"), a);
  auto store_a2 = Store::open(dir_.file("a2.db"), a);
  auto store_b = Store::open(dir_.file("b.db"), b);
  const Bytes d = store_a->keyed_digest("alice");
  EXPECT_EQ(d.size(), 32u);
  EXPECT_EQ(store_a2->keyed_digest("alice"), d);  // same key: same digest, any file
  EXPECT_NE(store_b->keyed_digest("alice"), d);   // another key: another digest
  EXPECT_NE(store_a->keyed_digest("alice2"), d);  // another input: another digest
  EXPECT_NE(store_a->keyed_digest(std::string_view("", 0)), d);
  std::set<Bytes> distinct;
  for (int i = 0; i < 64; ++i) distinct.insert(store_a->keyed_digest(std::to_string(i)));
  EXPECT_EQ(distinct.size(), 64u);
}

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

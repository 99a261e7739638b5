// Conformance: the layer seam of Store (statestore/store_layer.h), what Sessions and Config are
// built on so that they run unchanged on any engine — Store::find_layer, change_counter,
// keyed_digest.
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "conformance/conformance_test.h"
#include "statestore/statestore.h"
#include "test_util.h"

namespace statestore {
namespace {

class StoreLayerConformance : public test::ConformanceTest {};

TEST_P(StoreLayerConformance, EveryOpenedStoreCarriesTheSessionsAndConfigLayers) {
  auto store = OpenSecond();
  EXPECT_NE(store->find_layer("sessions"), nullptr);
  EXPECT_NE(store->find_layer("config"), nullptr);
  EXPECT_EQ(store->find_layer("no such layer"), nullptr);
  EXPECT_EQ(store->find_layer(""), nullptr);
  // The layers work through the public API: a session and a setting round-trip.
  const std::string token = store->sessions().create(std::chrono::minutes(5), {{"a", Value(1)}});
  EXPECT_EQ(store->sessions().get_attribute(token, "a"), Value(1));
  store->config().set("x", ConfigValue(std::int64_t{7}));
  EXPECT_EQ(store->config().get<std::int64_t>("x"), std::optional<std::int64_t>(7));

  // A second open of the same location returns the same Store, layers included.
  EXPECT_EQ(OpenSecond()->find_layer("sessions"), store->find_layer("sessions"));
}

TEST_P(StoreLayerConformance, ChangeCounterMovesWithCommitsOfThisAndOtherProcesses) {
  CONFORMANCE_REQUIRE(test::Capability::kMultiProcess);
  auto store = OpenSecond();
  const std::uint64_t before = store->change_counter();
  store->put("app", "k", Value(1));
  const std::uint64_t after_own = store->change_counter();
  EXPECT_NE(after_own, before);
  // A read changes nothing.
  EXPECT_EQ(store->get("app", "k"), Value(1));
  EXPECT_EQ(store->change_counter(), after_own);
  // A commit by another process moves it too: that is what the layers' watchers poll.
  auto child = test::ChildProcess::SpawnWorker({"config-put", locator(), "y", "int", "3"});
  ASSERT_EQ(child.Wait(std::chrono::seconds(30)), 0);
  EXPECT_NE(store->change_counter(), after_own);
}

TEST_P(StoreLayerConformance, KeyedDigestIsKeyedByTheRedactionKey) {
  Options a;
  a.redaction_key = std::string(32, 'a');
  Options b;
  b.redaction_key = std::string(32, 'b');
  std::unique_ptr<test::StoreLocation> location_a = engine().NewLocation();
  std::unique_ptr<test::StoreLocation> location_a2 = engine().NewLocation();
  std::unique_ptr<test::StoreLocation> location_b = engine().NewLocation();
  auto store_a = location_a->Open(a);
  auto store_a2 = location_a2->Open(a);
  auto store_b = location_b->Open(b);
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

STATESTORE_CONFORMANCE_SUITE(StoreLayerConformance);

}  // namespace
}  // namespace statestore

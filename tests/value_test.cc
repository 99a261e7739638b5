// Value: types, accessors, equality, and the round trip of every type through the store (state,
// history old/new values, and the file itself after a reopen with the cache disabled).
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "statestore/statestore.h"
#include "test_util.h"

namespace statestore {
namespace {

using test::CatchError;
using test::TempDir;

// Every type, with the edge cases a storage layer tends to get wrong.
std::vector<Value> SampleValues() {
  return {
      Value(),
      Value(nullptr),
      Value(true),
      Value(false),
      Value(0),
      Value(-1),
      Value(std::numeric_limits<std::int64_t>::min()),
      Value(std::numeric_limits<std::int64_t>::max()),
      Value(static_cast<long long>(1) << 53),
      Value(0.0),
      Value(3.5),
      Value(-2.25e-300),
      Value(std::numeric_limits<double>::max()),
      Value(std::numeric_limits<double>::denorm_min()),
      Value(std::numeric_limits<double>::infinity()),
      Value(-std::numeric_limits<double>::infinity()),
      Value(1.0),  // a double that happens to be integral stays a double
      Value(""),
      Value("plain ascii"),
      Value("h\xc3\xa9llo w\xc3\xb6rld \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e \xf0\x9f\x8e\x89"),
      Value("123"),  // text that looks like a number stays text
      Value(std::string(1000, 'x')),
      Value(Bytes{}),
      Value(Bytes{0x00}),
      Value(Bytes{0x00, 0xFF, 0x01, 0x80, 0x7F, 0x00}),
      Value(Bytes{0xFF, 0xFE, 0xFD}),
      Value(Bytes{'1', '2', '3'}),  // bytes that look like text stay bytes
  };
}

TEST(ValueTest, DefaultIsNull) {
  Value v;
  EXPECT_TRUE(v.is_null());
  EXPECT_EQ(v.type(), ValueType::kNull);
  EXPECT_EQ(Value(nullptr), v);
  EXPECT_EQ(v.payload_size(), 0u);
}

TEST(ValueTest, ConstructorsPickTheRightType) {
  EXPECT_EQ(Value(true).type(), ValueType::kBool);
  EXPECT_EQ(Value(1).type(), ValueType::kInt);
  EXPECT_EQ(Value(1L).type(), ValueType::kInt);
  EXPECT_EQ(Value(1LL).type(), ValueType::kInt);
  EXPECT_EQ(Value(1.0).type(), ValueType::kDouble);
  EXPECT_EQ(Value("x").type(), ValueType::kString);
  EXPECT_EQ(Value(std::string("x")).type(), ValueType::kString);
  EXPECT_EQ(Value(std::string_view("x")).type(), ValueType::kString);
  EXPECT_EQ(Value(Bytes{1}).type(), ValueType::kBytes);
}

TEST(ValueTest, TypeTagsAreTheFileFormat) {
  EXPECT_EQ(static_cast<int>(ValueType::kNull), 0);
  EXPECT_EQ(static_cast<int>(ValueType::kBool), 1);
  EXPECT_EQ(static_cast<int>(ValueType::kInt), 2);
  EXPECT_EQ(static_cast<int>(ValueType::kDouble), 3);
  EXPECT_EQ(static_cast<int>(ValueType::kString), 4);
  EXPECT_EQ(static_cast<int>(ValueType::kBytes), 5);
  EXPECT_EQ(ToString(ValueType::kNull), "null");
  EXPECT_EQ(ToString(ValueType::kBool), "bool");
  EXPECT_EQ(ToString(ValueType::kInt), "int");
  EXPECT_EQ(ToString(ValueType::kDouble), "double");
  EXPECT_EQ(ToString(ValueType::kString), "string");
  EXPECT_EQ(ToString(ValueType::kBytes), "bytes");
}

TEST(ValueTest, AccessorsReturnThePayload) {
  EXPECT_TRUE(Value(true).as_bool());
  EXPECT_FALSE(Value(false).as_bool());
  EXPECT_EQ(Value(std::numeric_limits<std::int64_t>::min()).as_int(),
            std::numeric_limits<std::int64_t>::min());
  EXPECT_EQ(Value(2.5).as_double(), 2.5);
  EXPECT_EQ(Value("abc").as_string(), "abc");
  EXPECT_EQ(Value(Bytes{0, 255}).as_bytes(), (Bytes{0, 255}));
}

TEST(ValueTest, WrongTypeAccessorThrowsInvalidArgument) {
  const std::vector<Value> one_of_each = {Value(),    Value(true), Value(7),
                                          Value(7.0), Value("7"),  Value(Bytes{7})};
  for (const Value& v : one_of_each) {
    SCOPED_TRACE(std::string(ToString(v.type())));
    auto check = [&](ValueType accessor_type, const std::function<void()>& call) {
      auto err = CatchError(call);
      if (accessor_type == v.type()) {
        EXPECT_FALSE(err.has_value());
      } else {
        ASSERT_TRUE(err.has_value()) << "accessor for " << ToString(accessor_type);
        EXPECT_EQ(err->code(), ErrorCode::kInvalidArgument);
        // The message names both types.
        EXPECT_TRUE(test::Contains(err->what(), ToString(accessor_type))) << err->what();
        if (!v.is_null()) {
          EXPECT_TRUE(test::Contains(err->what(), ToString(v.type()))) << err->what();
        }
      }
    };
    check(ValueType::kBool, [&] { (void)v.as_bool(); });
    check(ValueType::kInt, [&] { (void)v.as_int(); });
    check(ValueType::kDouble, [&] { (void)v.as_double(); });
    check(ValueType::kString, [&] { (void)v.as_string(); });
    check(ValueType::kBytes, [&] { (void)v.as_bytes(); });
  }
}

TEST(ValueTest, EqualityRespectsTypes) {
  EXPECT_NE(Value(1), Value(1.0));
  EXPECT_NE(Value(1), Value(true));
  EXPECT_NE(Value("ab"), Value(Bytes{'a', 'b'}));
  EXPECT_NE(Value(""), Value());
  EXPECT_NE(Value(Bytes{}), Value());
  EXPECT_NE(Value(0), Value());
  EXPECT_EQ(Value("ab"), Value(std::string("ab")));
  EXPECT_EQ(Value(Bytes{0, 1}), Value(Bytes{0, 1}));
}

TEST(ValueTest, PayloadSize) {
  EXPECT_EQ(Value().payload_size(), 0u);
  EXPECT_EQ(Value(5).payload_size(), 8u);
  EXPECT_EQ(Value(5.0).payload_size(), 8u);
  EXPECT_EQ(Value("abcd").payload_size(), 4u);
  EXPECT_EQ(Value(Bytes(10)).payload_size(), 10u);
}

TEST(ValueTest, ToDisplayIsShortAndNonEmpty) {
  EXPECT_FALSE(Value().to_display().empty());
  EXPECT_FALSE(Value(Bytes{0, 1, 2}).to_display().empty());
  std::string long_text(10000, 'z');
  // Cut to roughly max_chars (allow quotes and an ellipsis).
  EXPECT_LE(Value(long_text).to_display(20).size(), 40u);
}

class ValueRoundTripTest : public ::testing::Test {
 protected:
  TempDir dir_;
  std::string db_ = dir_.file("state.db");
};

TEST_F(ValueRoundTripTest, EveryTypeThroughPutGet) {
  const auto values = SampleValues();
  auto store = Store::open(db_);
  for (std::size_t i = 0; i < values.size(); ++i) {
    store->put("values", "k" + std::to_string(i), values[i]);
  }
  for (std::size_t i = 0; i < values.size(); ++i) {
    SCOPED_TRACE("value #" + std::to_string(i) + " " + values[i].to_display());
    auto got = store->get("values", "k" + std::to_string(i));
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->type(), values[i].type());
    EXPECT_EQ(*got, values[i]);
  }
}

TEST_F(ValueRoundTripTest, EveryTypeThroughTheFileWithoutCache) {
  const auto values = SampleValues();
  {
    auto store = Store::open(db_);
    store->transact([&](Transaction& tx) {
      for (std::size_t i = 0; i < values.size(); ++i) {
        tx.put("values", "k" + std::to_string(i), values[i]);
        // Inside the transaction the write is visible with its type.
        auto in_tx = tx.get("values", "k" + std::to_string(i));
        ASSERT_TRUE(in_tx.has_value());
        EXPECT_EQ(*in_tx, values[i]);
      }
    });
  }
  Options options;
  options.cache_capacity = 0;
  auto store = Store::open(db_, options);
  for (std::size_t i = 0; i < values.size(); ++i) {
    SCOPED_TRACE("value #" + std::to_string(i) + " " + values[i].to_display());
    auto got = store->get("values", "k" + std::to_string(i));
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->type(), values[i].type());
    EXPECT_EQ(*got, values[i]);
    auto entry = store->get_entry("values", "k" + std::to_string(i));
    ASSERT_TRUE(entry.has_value());
    EXPECT_EQ(entry->value, values[i]);
  }
  auto listed = store->list("values");
  ASSERT_EQ(listed.size(), values.size());
  for (const Entry& e : listed) {
    std::size_t i = std::stoul(e.key.substr(1));
    ASSERT_LT(i, values.size());
    EXPECT_EQ(e.value, values[i]) << e.key;
  }
  // Reading in a read() body goes to SQLite too.
  store->read([&](Transaction& tx) {
    for (std::size_t i = 0; i < values.size(); ++i) {
      auto got = tx.get("values", "k" + std::to_string(i));
      ASSERT_TRUE(got.has_value());
      EXPECT_EQ(*got, values[i]) << "value #" << i;
    }
  });
}

TEST_F(ValueRoundTripTest, EveryTypeThroughHistoryOldAndNewValues) {
  const auto values = SampleValues();
  auto store = Store::open(db_);
  std::vector<Revision> created(values.size());
  for (std::size_t i = 0; i < values.size(); ++i) {
    created[i] = store->put("values", "k" + std::to_string(i), values[i]);
  }
  std::vector<Revision> overwritten(values.size());
  for (std::size_t i = 0; i < values.size(); ++i) {
    overwritten[i] = store->put("values", "k" + std::to_string(i), Value("replaced"));
  }
  for (std::size_t i = 0; i < values.size(); ++i) {
    SCOPED_TRACE("value #" + std::to_string(i) + " " + values[i].to_display());
    auto c1 = store->commit_at(created[i]);
    ASSERT_TRUE(c1.has_value());
    ASSERT_EQ(c1->changes.size(), 1u);
    EXPECT_FALSE(c1->changes[0].old_value.has_value());
    ASSERT_TRUE(c1->changes[0].new_value.has_value());
    EXPECT_EQ(c1->changes[0].new_value->type(), values[i].type());
    EXPECT_EQ(*c1->changes[0].new_value, values[i]);

    auto c2 = store->commit_at(overwritten[i]);
    ASSERT_TRUE(c2.has_value());
    ASSERT_EQ(c2->changes.size(), 1u);
    ASSERT_TRUE(c2->changes[0].old_value.has_value());
    EXPECT_EQ(c2->changes[0].old_value->type(), values[i].type());
    EXPECT_EQ(*c2->changes[0].old_value, values[i]);
    EXPECT_EQ(c2->changes[0].new_value, std::optional<Value>(Value("replaced")));
  }
}

TEST_F(ValueRoundTripTest, MaximumSizeValuesRoundTrip) {
  auto store = Store::open(db_);
  std::string big_text(kMaxValueBytes, 'a');
  Bytes big_bytes(kMaxValueBytes);
  for (std::size_t i = 0; i < big_bytes.size(); ++i) big_bytes[i] = static_cast<std::uint8_t>(i);
  store->put("big", "text", Value(big_text));
  store->put("big", "bytes", Value(big_bytes));
  store.reset();
  Options options;
  options.cache_capacity = 0;
  store = Store::open(db_, options);
  EXPECT_EQ(store->get("big", "text"), std::optional<Value>(Value(big_text)));
  EXPECT_EQ(store->get("big", "bytes"), std::optional<Value>(Value(big_bytes)));
}

}  // namespace
}  // namespace statestore

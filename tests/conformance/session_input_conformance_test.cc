// Conformance: sessions and untrusted input — tokens that create() issues are distinct and well
// formed (issue test 5), and bad input (malformed and unknown tokens, attribute name rules,
// oversize values) is answered as documented with nothing written (test 7). That no token reaches
// the database file, its -wal or the logs, and the token generator itself, are checked by
// session_security_test.cc.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include <gtest/gtest.h>

#include "conformance/conformance_test.h"
#include "statestore/statestore.h"
#include "test_util.h"

namespace statestore {
namespace {

using std::chrono::hours;
using std::chrono::minutes;

bool IsBase64UrlChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

void ExpectWellFormed(const std::string& token) {
  ASSERT_EQ(token.size(), 43u);
  for (char c : token) ASSERT_TRUE(IsBase64UrlChar(c)) << "character " << int(c);
}

// ---- Tokens (issue test 5)

class SessionTokenConformance : public test::ConformanceTest {};

TEST_P(SessionTokenConformance, CreatedTokensAreDistinctAndWellFormed) {
  Options options;
  options.durability = Durability::kNormal;
  auto store = OpenSecond(options);
  constexpr int kPerTransaction = 5'000;
  constexpr int kTransactions = 4;
  std::unordered_set<std::string> seen;
  for (int t = 0; t < kTransactions; ++t) {
    std::vector<std::string> tokens;
    store->transact([&](Transaction& tx) {
      tokens.clear();
      for (int i = 0; i < kPerTransaction; ++i) {
        tokens.push_back(store->sessions().create(tx, NewSession{hours(1), {}, "", {}}));
      }
    });
    for (auto& token : tokens) {
      ExpectWellFormed(token);
      ASSERT_TRUE(seen.insert(std::move(token)).second);
    }
  }
  EXPECT_EQ(seen.size(), std::size_t{kPerTransaction * kTransactions});
  EXPECT_EQ(store->sessions().count(), seen.size());
  // Spot-check that they resolve.
  int n = 0;
  for (const auto& token : seen) {
    ASSERT_TRUE(store->sessions().exists(token));
    if (++n == 200) break;
  }
}

STATESTORE_CONFORMANCE_SUITE(SessionTokenConformance);

// ---- Bad input (issue test 7)

class SessionBadInputConformance : public test::ConformanceTest {
 protected:
  void SetUp() override {
    ConformanceTest::SetUp();
    if (IsSkipped()) return;
    Options options;
    options.sessions.sweep_interval = std::chrono::milliseconds(0);
    Reopen(options);
    token_ = s().create(hours(1), {{"a", Value(1)}}, "alice");
  }
  Sessions& s() { return store()->sessions(); }

  // Runs `op`, expects Error(kInvalidArgument) and that nothing was written.
  void ExpectInvalid(const std::string& what, const std::function<void()>& op) {
    SCOPED_TRACE(what);
    const Revision head = store()->history_bounds().head;
    const auto before = store()->list(kSessionsKeyspace);
    auto e = test::CatchError(op);
    ASSERT_TRUE(e.has_value()) << "no error";
    EXPECT_EQ(e->code(), ErrorCode::kInvalidArgument) << e->what();
    EXPECT_EQ(store()->history_bounds().head, head);
    const auto after = store()->list(kSessionsKeyspace);
    ASSERT_EQ(after.size(), before.size());
    for (std::size_t i = 0; i < after.size(); ++i) {
      EXPECT_EQ(after[i].key, before[i].key);
      EXPECT_EQ(after[i].version, before[i].version);
    }
  }

  std::string token_;
};

std::vector<std::string> MalformedTokens(const std::string& good) {
  std::vector<std::string> bad = {"",
                                  "short",
                                  good.substr(0, 42),
                                  good + "A",
                                  good.substr(0, 42) + "=",
                                  good.substr(0, 42) + "+",
                                  good.substr(0, 42) + "/",
                                  good.substr(0, 42) + " ",
                                  good.substr(0, 41) + "\xc3\xa9",  // 43 bytes, non-ASCII
                                  std::string(43, '\0'),
                                  good.substr(0, 20) + std::string(1, '\0') + good.substr(21)};
  for (const auto& b : bad) EXPECT_FALSE(Sessions::IsWellFormedToken(b));
  return bad;
}

TEST_P(SessionBadInputConformance, MalformedTokensAreUnknownTokensForEveryMethod) {
  // Reads and writes alike (issue 11): a bad cookie is "no such session", never an error.
  for (const std::string& bad : MalformedTokens(token_)) {
    const Revision head = store()->history_bounds().head;
    EXPECT_EQ(s().get(bad), std::nullopt);
    EXPECT_FALSE(s().exists(bad));
    EXPECT_EQ(s().get_attribute(bad, "a"), std::nullopt);
    EXPECT_EQ(s().get_many(bad, {"a"}), std::nullopt);
    EXPECT_FALSE(s().set_attribute(bad, "a", Value(2)));
    EXPECT_FALSE(s().set_many(bad, {{"a", Value(2)}}));
    EXPECT_FALSE(s().erase_attribute(bad, "a"));
    EXPECT_FALSE(s().update(bad, [](Attributes&) { ADD_FAILURE(); }));
    EXPECT_FALSE(s().touch(bad));
    EXPECT_EQ(s().rotate(bad), std::nullopt);
    EXPECT_FALSE(s().destroy(bad));
    EXPECT_EQ(store()->history_bounds().head, head);
  }
  EXPECT_EQ(s().get_attribute(token_, "a"), std::optional<Value>(Value(1)));
}

TEST_P(SessionBadInputConformance, UnknownTokensAreAbsentAndWriteNothing) {
  // A token the generator issued, but for another store: unknown here. (The generator itself,
  // internal::NewSessionToken, is not public API; session_security_test.cc tests it.)
  std::unique_ptr<test::StoreLocation> elsewhere = engine().NewLocation();
  const std::string unknown = elsewhere->Open()->sessions().create(hours(1));
  // The same 32 bytes spelled differently (the last character's two spare bits) is another token.
  std::string respelled = token_;
  respelled.back() = respelled.back() == 'A' ? 'B' : 'A';
  for (const std::string& t : {unknown, respelled}) {
    const Revision head = store()->history_bounds().head;
    EXPECT_EQ(s().get(t), std::nullopt);
    EXPECT_FALSE(s().exists(t));
    EXPECT_EQ(s().get_attribute(t, "a"), std::nullopt);
    EXPECT_EQ(s().get_many(t, {"a"}), std::nullopt);
    EXPECT_FALSE(s().set_attribute(t, "a", Value(2)));
    EXPECT_FALSE(s().set_many(t, {{"a", Value(2)}}));
    EXPECT_FALSE(s().erase_attribute(t, "a"));
    EXPECT_FALSE(s().update(t, [](Attributes&) { ADD_FAILURE() << "fn called"; }));
    EXPECT_FALSE(s().touch(t));
    EXPECT_EQ(s().rotate(t), std::nullopt);
    EXPECT_FALSE(s().destroy(t));
    EXPECT_EQ(store()->history_bounds().head, head);
  }
}

TEST_P(SessionBadInputConformance, AttributeNameRules) {
  const std::vector<std::string> bad_names = {"",
                                              std::string(129, 'a'),
                                              "a b",
                                              "a/b",
                                              "caf\xc3\xa9",
                                              std::string("a\0b", 3),
                                              "a\nb",
                                              "a=b",
                                              "a\"b"};
  for (const auto& name : bad_names) {
    ExpectInvalid("set " + name, [&] { s().set_attribute(token_, name, Value(1)); });
    ExpectInvalid("set_many " + name, [&] { s().set_many(token_, {{name, Value(1)}}); });
    ExpectInvalid("erase " + name, [&] { s().erase_attribute(token_, name); });
    ExpectInvalid("get " + name, [&] { s().get_attribute(token_, name); });
    ExpectInvalid("get_many " + name, [&] { s().get_many(token_, {"a", name}); });
    ExpectInvalid("update " + name,
                  [&] { s().update(token_, [&](Attributes& a) { a[name] = Value(1); }); });
    ExpectInvalid("create " + name, [&] { s().create(hours(1), {{name, Value(1)}}); });
  }
  // The edges that are allowed.
  const std::string longest(128, 'z');
  EXPECT_TRUE(s().set_attribute(token_, longest, Value(1)));
  EXPECT_TRUE(s().set_attribute(token_, "Az09_.:-", Value(2)));
  EXPECT_EQ(s().get_attribute(token_, longest), std::optional<Value>(Value(1)));
  // A malformed token does not hide a bad name: names are checked first.
  ExpectInvalid("bad name, bad token", [&] { s().get_attribute("nope", "a b"); });
}

TEST_P(SessionBadInputConformance, OversizeAndInvalidValues) {
  const std::string too_big(kMaxValueBytes + 1, 'x');
  ExpectInvalid("oversize set", [&] { s().set_attribute(token_, "big", Value(too_big)); });
  ExpectInvalid("oversize set_many", [&] { s().set_many(token_, {{"big", Value(too_big)}}); });
  ExpectInvalid("oversize create", [&] { s().create(hours(1), {{"big", Value(too_big)}}); });
  ExpectInvalid("oversize update",
                [&] { s().update(token_, [&](Attributes& a) { a["big"] = Value(too_big); }); });
  // Each value fits, the session does not.
  const std::string three_mib(3 << 20, 'y');
  ASSERT_TRUE(s().set_attribute(token_, "first", Value(three_mib)));
  ExpectInvalid("session too big", [&] { s().set_attribute(token_, "second", Value(three_mib)); });
  EXPECT_EQ(s().get_attribute(token_, "second"), std::nullopt);
  EXPECT_TRUE(s().erase_attribute(token_, "first"));
  // Strings must be UTF-8.
  ExpectInvalid("bad utf-8", [&] { s().set_attribute(token_, "s", Value("\xff\xfe")); });
  // TTLs, lifetimes and principals.
  ExpectInvalid("zero ttl", [&] { s().create(std::chrono::microseconds(0)); });
  ExpectInvalid("negative ttl", [&] { s().create(-minutes(1)); });
  ExpectInvalid("negative lifetime", [&] {
    s().create(NewSession{hours(1), {}, "", -std::chrono::hours(1)});
  });
  ExpectInvalid("long principal", [&] { s().create(hours(1), {}, std::string(257, 'p')); });
  ExpectInvalid("NUL principal", [&] { s().create(hours(1), {}, std::string("a\0b", 3)); });
  ExpectInvalid("non-UTF-8 principal", [&] { s().create(hours(1), {}, "\xff"); });
  ExpectInvalid("list empty principal", [&] { s().list(""); });
  ExpectInvalid("destroy_all empty principal", [&] { s().destroy_all(""); });
  ExpectInvalid("empty update fn", [&] { s().update(token_, nullptr); });
  EXPECT_EQ(s().get(token_)->attributes, (Attributes{{"a", Value(1)}}));
}

STATESTORE_CONFORMANCE_SUITE(SessionBadInputConformance);

}  // namespace
}  // namespace statestore

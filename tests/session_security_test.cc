// Sessions and untrusted input: tokens (issue test 5), no token in the database file, its -wal,
// history or the logs (test 4), and bad input — malformed and unknown tokens, attribute name
// rules, oversize values — answered as documented with nothing written (test 7).
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <unordered_set>
#include <vector>

#include <gtest/gtest.h>

#include "../lib/src/sessions/session_token.h"  // NewSessionToken: the token generator behind create()
#include "statestore/statestore.h"
#include "test_util.h"

namespace statestore {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using test::TempDir;

bool IsBase64UrlChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

void ExpectWellFormed(const std::string& token) {
  ASSERT_EQ(token.size(), 43u);
  for (char c : token) ASSERT_TRUE(IsBase64UrlChar(c)) << "character " << int(c);
}

// ---- Tokens (issue test 5)

TEST(SessionTokenTest, HundredThousandGeneratedTokensAreDistinctAndWellFormed) {
  constexpr int kTokens = 100'000;
  std::unordered_set<std::string> seen;
  seen.reserve(kTokens);
  std::array<int, 256> first_chars{};
  for (int i = 0; i < kTokens; ++i) {
    std::string t = internal::NewSessionToken();
    ExpectWellFormed(t);
    ++first_chars[static_cast<unsigned char>(t[0])];
    ASSERT_TRUE(seen.insert(std::move(t)).second) << "duplicate token after " << i;
  }
  // A crude uniformity check: each of the 64 symbols starts about 1/64 of the tokens.
  for (char c = 0; c < 127; ++c) {
    if (!IsBase64UrlChar(c)) continue;
    EXPECT_GT(first_chars[static_cast<unsigned char>(c)], kTokens / 64 / 2) << c;
    EXPECT_LT(first_chars[static_cast<unsigned char>(c)], kTokens / 64 * 2) << c;
  }
}

TEST(SessionTokenTest, CreatedTokensAreDistinctAndWellFormed) {
  TempDir dir;
  Options options;
  options.durability = Durability::kNormal;
  auto store = Store::open(dir.file("t.db"), options);
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

// ---- No token in the file, the WAL, history or the logs (issue test 4)

TEST(SessionSecrecyTest, NoIssuedTokenReachesTheFileTheWalHistoryOrTheLogs) {
  TempDir dir;
  const std::string db = dir.file("secret.db");
  std::ostringstream log_text;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(log_text);
  auto logger = std::make_shared<spdlog::logger>("session-secrecy", sink);
  logger->set_level(spdlog::level::trace);

  Options options;
  options.logger = logger;
  options.wal_checkpoint_bytes = 0;  // keep everything in the -wal while open
  const std::string kSecretValue = "attribute-value-7f3e9c1a";
  std::vector<std::string> tokens;
  {
    auto store = Store::open(db, options);
    Sessions& s = store->sessions();
    for (int i = 0; i < 40; ++i) {
      tokens.push_back(
          s.create(minutes(30), {{"secret", Value(kSecretValue)}}, i % 3 == 0 ? "alice" : ""));
    }
    for (int i = 0; i < 40; i += 4) {
      s.set_attribute(tokens[i], "secret", Value(kSecretValue + "-2"));
      s.update(tokens[i + 1], [](Attributes& a) { a["n"] = Value(1); });
      auto rotated = s.rotate(tokens[i + 2]);
      ASSERT_TRUE(rotated.has_value());
      tokens.push_back(*rotated);
      s.destroy(tokens[i + 3]);
      s.touch(tokens[i]);
      s.get(tokens[i]);
    }
    s.destroy_all("alice");
    s.sweep();
    // Bad input whose error messages could echo a token. A malformed token is no error at all
    // ("no such session"); an error about another argument must not echo the token.
    for (int i = 0; i < 5; ++i) {
      std::string almost = tokens[i];
      almost.back() = '=';
      EXPECT_FALSE(s.destroy(almost));
      EXPECT_FALSE(s.set_attribute(almost, "secret", Value(1)));
      auto e = test::CatchError([&] { s.set_attribute(almost, "bad name", Value(1)); });
      ASSERT_TRUE(e.has_value());
      EXPECT_FALSE(test::Contains(e->what(), almost.substr(0, 20))) << e->what();
    }

    // While open: the database and its WAL.
    ASSERT_GT(test::FileSize(db + "-wal"), 0u);
    const std::string file = test::ReadFile(db);
    const std::string wal = test::ReadFile(db + "-wal");
    for (const auto& token : tokens) {
      ASSERT_FALSE(test::Contains(file, token)) << "token in the database file";
      ASSERT_FALSE(test::Contains(wal, token)) << "token in the -wal";
    }
    // The scan does see what is stored: the attribute value (current state) is in the WAL.
    EXPECT_TRUE(test::Contains(wal, kSecretValue));

    // History records digests of session values, never the values.
    HistoryQuery q;
    q.keyspace = "sessions";
    std::size_t changes = 0;
    for (const Commit& c : store->history(q)) {
      for (const Change& ch : c.changes) {
        ++changes;
        EXPECT_TRUE(ch.redacted) << ch.key;
        for (const auto* v : {&ch.old_value, &ch.new_value}) {
          if (!v->has_value()) continue;
          ASSERT_EQ((*v)->type(), ValueType::kBytes);
          EXPECT_EQ((*v)->as_bytes().size(), 32u);  // a SHA-256 digest
        }
        for (const auto& token : tokens) ASSERT_FALSE(test::Contains(ch.key, token));
      }
    }
    EXPECT_GT(changes, 100u);
  }
  // After close (checkpointed into the main file).
  const std::string file = test::ReadFile(db);
  for (const auto& token : tokens) ASSERT_FALSE(test::Contains(file, token));
  if (test::FileExists(db + "-wal")) {
    const std::string wal = test::ReadFile(db + "-wal");
    for (const auto& token : tokens) ASSERT_FALSE(test::Contains(wal, token));
  }
  logger->flush();
  const std::string logs = log_text.str();
  EXPECT_TRUE(test::Contains(logs, "rotated")) << "debug logging did not reach the sink";
  for (const auto& token : tokens) {
    ASSERT_FALSE(test::Contains(logs, token)) << "token in the log";
    ASSERT_FALSE(test::Contains(logs, token.substr(0, 16))) << "token prefix in the log";
  }
  EXPECT_FALSE(test::Contains(logs, kSecretValue));
}

// ---- Bad input (issue test 7)

class SessionBadInputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Options options;
    options.sessions.sweep_interval = std::chrono::milliseconds(0);
    store_ = Store::open(dir_.file("bad.db"), options);
    token_ = s().create(hours(1), {{"a", Value(1)}}, "alice");
  }
  Sessions& s() { return store_->sessions(); }

  // Runs `op`, expects Error(kInvalidArgument) and that nothing was written.
  void ExpectInvalid(const std::string& what, const std::function<void()>& op) {
    SCOPED_TRACE(what);
    const Revision head = store_->history_bounds().head;
    const auto before = store_->list(kSessionsKeyspace);
    auto e = test::CatchError(op);
    ASSERT_TRUE(e.has_value()) << "no error";
    EXPECT_EQ(e->code(), ErrorCode::kInvalidArgument) << e->what();
    EXPECT_EQ(store_->history_bounds().head, head);
    const auto after = store_->list(kSessionsKeyspace);
    ASSERT_EQ(after.size(), before.size());
    for (std::size_t i = 0; i < after.size(); ++i) {
      EXPECT_EQ(after[i].key, before[i].key);
      EXPECT_EQ(after[i].version, before[i].version);
    }
  }

  TempDir dir_;
  std::shared_ptr<Store> store_;
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

TEST_F(SessionBadInputTest, MalformedTokensAreUnknownTokensForEveryMethod) {
  // Reads and writes alike (issue 11): a bad cookie is "no such session", never an error.
  for (const std::string& bad : MalformedTokens(token_)) {
    const Revision head = store_->history_bounds().head;
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
    EXPECT_EQ(store_->history_bounds().head, head);
  }
  EXPECT_EQ(s().get_attribute(token_, "a"), std::optional<Value>(Value(1)));
}

TEST_F(SessionBadInputTest, UnknownTokensAreAbsentAndWriteNothing) {
  const std::string unknown = internal::NewSessionToken();
  // The same 32 bytes spelled differently (the last character's two spare bits) is another token.
  std::string respelled = token_;
  respelled.back() = respelled.back() == 'A' ? 'B' : 'A';
  for (const std::string& t : {unknown, respelled}) {
    const Revision head = store_->history_bounds().head;
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
    EXPECT_EQ(store_->history_bounds().head, head);
  }
}

TEST_F(SessionBadInputTest, AttributeNameRules) {
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

TEST_F(SessionBadInputTest, OversizeAndInvalidValues) {
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

}  // namespace
}  // namespace statestore

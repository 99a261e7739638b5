// Sessions and untrusted input on a SQLite file: the token generator (issue test 5) and no token
// in the database file, its -wal, history or the logs (test 4). Tokens issued by create() and bad
// input answered with nothing written (test 7) are engine-neutral:
// conformance/session_input_conformance_test.cc.
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

}  // namespace
}  // namespace statestore

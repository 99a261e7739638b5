// Conformance: invalid input is refused with kInvalidArgument by every entry point, and nothing is
// written: the head revision, the state and stats().commits stay as they were.
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "conformance/conformance_test.h"
#include "statestore/statestore.h"
#include "test_util.h"

namespace statestore {
namespace {

using test::CatchError;

struct Named {
  std::string name;
  std::string text;
};

std::vector<Named> InvalidKeys() {
  return {
      {"empty", ""},
      {"too long", std::string(kMaxKeyBytes + 1, 'k')},
      {"NUL byte", std::string("a\0b", 3)},
      {"only NUL", std::string(1, '\0')},
      {"lone 0xFF", "ab\xff"},
      {"lone continuation byte", "\x80"},
      {"truncated sequence", "caf\xc3"},
      {"overlong encoding", "\xc0\xaf"},
      {"UTF-16 surrogate", "\xed\xa0\x80"},
      {"beyond U+10FFFF", "\xf4\x90\x80\x80"},
  };
}

std::vector<Named> InvalidKeyspaces() {
  return {
      {"empty", ""},
      {"too long", std::string(kMaxKeyspaceNameBytes + 1, 'a')},
      {"uppercase", "App"},
      {"all uppercase", "APP"},
      {"slash", "a/b"},
      {"space", "a b"},
      {"leading digit", "1abc"},
      {"leading underscore", "_abc"},
      {"leading dot", ".abc"},
      {"NUL byte", std::string("ab\0", 3)},
      {"non-ASCII", "caf\xc3\xa9"},
  };
}

class ValidationConformance : public test::ConformanceTest {
 protected:
  void SetUp() override {
    ConformanceTest::SetUp();
    if (IsSkipped()) return;
    store()->put("app", "existing", Value(1));
    store()->put("app", "other", Value("x"));
  }

  // Everything observable that a refused call must not change.
  struct Snapshot {
    Revision head;
    std::uint64_t commits;
    std::map<std::string, std::vector<std::pair<std::string, Value>>> state;
    std::vector<std::string> keyspaces;
    std::size_t history_size;
  };

  Snapshot Take() {
    Snapshot s;
    s.head = store()->history_bounds().head;
    s.commits = store()->stats().commits;
    s.keyspaces = store()->keyspaces();
    for (const auto& ks : s.keyspaces) {
      for (const Entry& e : store()->list(ks)) s.state[ks].emplace_back(e.key, e.value);
    }
    s.history_size = store()->history().size();
    return s;
  }

  // Runs `call`, expects kInvalidArgument and no change.
  void ExpectRefused(const std::string& what, const std::function<void()>& call) {
    SCOPED_TRACE(what);
    const Snapshot before = Take();
    auto err = CatchError(call);
    ASSERT_TRUE(err.has_value()) << what << ": accepted";
    EXPECT_EQ(err->code(), ErrorCode::kInvalidArgument) << what << ": " << err->what();
    EXPECT_FALSE(std::string(err->what()).empty());
    const Snapshot after = Take();
    EXPECT_EQ(after.head, before.head);
    EXPECT_EQ(after.commits, before.commits);
    EXPECT_EQ(after.state, before.state);
    EXPECT_EQ(after.keyspaces, before.keyspaces);
    EXPECT_EQ(after.history_size, before.history_size);
  }
};

TEST_P(ValidationConformance, InvalidKeysAreRefusedEverywhere) {
  for (const auto& [name, key] : InvalidKeys()) {
    const std::string k = key;
    ExpectRefused("Store::put key " + name, [&] { store()->put("app", k, Value(1)); });
    ExpectRefused("Store::get key " + name, [&] { (void)store()->get("app", k); });
    ExpectRefused("Store::get_entry key " + name, [&] { (void)store()->get_entry("app", k); });
    ExpectRefused("Store::erase key " + name, [&] { store()->erase("app", k); });
    ExpectRefused("Transaction::put key " + name, [&] {
      store()->transact([&](Transaction& tx) {
        tx.put("app", "valid-before", Value(1));
        tx.put("app", k, Value(1));
      });
    });
    ExpectRefused("Transaction::get key " + name,
                  [&] { store()->transact([&](Transaction& tx) { (void)tx.get("app", k); }); });
    ExpectRefused("Transaction::erase key " + name,
                  [&] { store()->transact([&](Transaction& tx) { tx.erase("app", k); }); });
    ExpectRefused("Transaction::put_if_version key " + name, [&] {
      store()->transact([&](Transaction& tx) { tx.put_if_version("app", k, Value(1), 0); });
    });
    ExpectRefused("read() get key " + name,
                  [&] { store()->read([&](Transaction& tx) { (void)tx.get("app", k); }); });
  }
}

TEST_P(ValidationConformance, InvalidKeyspacesAreRefusedEverywhere) {
  for (const auto& [name, keyspace] : InvalidKeyspaces()) {
    const std::string ks = keyspace;
    ExpectRefused("Store::put keyspace " + name, [&] { store()->put(ks, "k", Value(1)); });
    ExpectRefused("Store::get keyspace " + name, [&] { (void)store()->get(ks, "k"); });
    ExpectRefused("Store::get_entry keyspace " + name, [&] { (void)store()->get_entry(ks, "k"); });
    ExpectRefused("Store::list keyspace " + name, [&] { (void)store()->list(ks); });
    ExpectRefused("Store::erase keyspace " + name, [&] { store()->erase(ks, "k"); });
    ExpectRefused("Transaction::put keyspace " + name, [&] {
      store()->transact([&](Transaction& tx) {
        tx.put("app", "valid-before", Value(1));
        tx.put(ks, "k", Value(1));
      });
    });
    ExpectRefused("Transaction::list keyspace " + name,
                  [&] { store()->transact([&](Transaction& tx) { (void)tx.list(ks, ""); }); });
    ExpectRefused("Transaction::erase keyspace " + name,
                  [&] { store()->transact([&](Transaction& tx) { tx.erase(ks, "k"); }); });
    ExpectRefused("read() list keyspace " + name,
                  [&] { store()->read([&](Transaction& tx) { (void)tx.list(ks, ""); }); });
  }
}

TEST_P(ValidationConformance, OversizeValuesAreRefused) {
  const Value big_string(std::string(kMaxValueBytes + 1, 's'));
  const Value big_bytes(Bytes(kMaxValueBytes + 1, 0xAB));
  for (const Value* v : {&big_string, &big_bytes}) {
    const std::string type(ToString(v->type()));
    ExpectRefused("Store::put oversize " + type, [&] { store()->put("app", "existing", *v); });
    ExpectRefused("Store::put oversize new key " + type, [&] { store()->put("app", "new", *v); });
    ExpectRefused("Transaction::put oversize " + type, [&] {
      store()->transact([&](Transaction& tx) {
        tx.put("app", "valid-before", Value(1));
        tx.put("app", "existing", *v);
      });
    });
    ExpectRefused("Transaction::put_if_version oversize " + type, [&] {
      store()->transact([&](Transaction& tx) { tx.put_if_version("app", "new", *v, 0); });
    });
  }
  EXPECT_EQ(store()->get("app", "existing"), std::optional<Value>(Value(1)));
}

TEST_P(ValidationConformance, OverlongLabelIsRefused) {
  ExpectRefused("set_label 257 bytes", [&] {
    store()->transact([&](Transaction& tx) {
      tx.put("app", "existing", Value(2));
      tx.set_label(std::string(257, 'l'));
    });
  });
  // 256 bytes is fine.
  Revision rev = store()->transact([&](Transaction& tx) {
    tx.put("app", "existing", Value(2));
    tx.set_label(std::string(256, 'l'));
  });
  EXPECT_EQ(store()->commit_at(rev)->origin.label, std::string(256, 'l'));
}

TEST_P(ValidationConformance, CaughtInvalidArgumentLetsTheTransactionCommitTheRest) {
  Revision rev = store()->transact([](Transaction& tx) {
    tx.put("app", "good", Value(1));
    auto err = CatchError([&] { tx.put("app", "", Value(2)); });
    ASSERT_TRUE(err.has_value());
    EXPECT_EQ(err->code(), ErrorCode::kInvalidArgument);
    err = CatchError([&] { tx.put("Bad", "k", Value(2)); });
    ASSERT_TRUE(err.has_value());
    EXPECT_EQ(err->code(), ErrorCode::kInvalidArgument);
  });
  EXPECT_EQ(store()->get("app", "good"), std::optional<Value>(Value(1)));
  auto commit = store()->commit_at(rev);
  ASSERT_TRUE(commit.has_value());
  ASSERT_EQ(commit->changes.size(), 1u);
  EXPECT_EQ(commit->changes[0].key, "good");
}

TEST_P(ValidationConformance, LimitsThemselvesAreAccepted) {
  const std::string longest_key(kMaxKeyBytes, 'k');
  const std::string longest_keyspace(kMaxKeyspaceNameBytes, 'a');
  const std::string utf8_key = "\xf0\x9f\x8e\x89 f\xc3\xbcr \xe6\x97\xa5 \xf4\x8f\xbf\xbf";
  // Multi-byte characters count as bytes: 1024 bytes of 4-byte characters.
  std::string utf8_longest;
  while (utf8_longest.size() + 4 <= kMaxKeyBytes) utf8_longest += "\xf0\x9f\x8e\x89";
  const std::string odd_key = "  spaces, /slashes/, %percent_, tabs\t, 'quotes\"";

  store()->put("app", longest_key, Value(1));
  store()->put(longest_keyspace, "k", Value(2));
  store()->put("a", "k", Value(3));
  store()->put("z9._-", "k", Value(4));
  store()->put("app", utf8_key, Value(5));
  store()->put("app", utf8_longest, Value(6));
  store()->put("app", odd_key, Value(7));
  store()->put("app", "max-string", Value(std::string(kMaxValueBytes, 's')));

  EXPECT_EQ(store()->get("app", longest_key), std::optional<Value>(Value(1)));
  EXPECT_EQ(store()->get(longest_keyspace, "k"), std::optional<Value>(Value(2)));
  EXPECT_EQ(store()->get("a", "k"), std::optional<Value>(Value(3)));
  EXPECT_EQ(store()->get("z9._-", "k"), std::optional<Value>(Value(4)));
  EXPECT_EQ(store()->get("app", utf8_key), std::optional<Value>(Value(5)));
  EXPECT_EQ(store()->get("app", utf8_longest), std::optional<Value>(Value(6)));
  EXPECT_EQ(store()->get("app", odd_key), std::optional<Value>(Value(7)));
  EXPECT_EQ(store()->get("app", "max-string")->as_string().size(), kMaxValueBytes);
}

TEST_P(ValidationConformance, ReadOfMissingKeyIsNulloptNotAnError) {
  EXPECT_EQ(store()->get("app", "nope"), std::nullopt);
  EXPECT_EQ(store()->get("unknownkeyspace", "nope"), std::nullopt);
  EXPECT_EQ(store()->get_entry("unknownkeyspace", "nope"), std::nullopt);
  EXPECT_TRUE(store()->list("unknownkeyspace").empty());
}

STATESTORE_CONFORMANCE_SUITE(ValidationConformance);

}  // namespace
}  // namespace statestore

// Conformance: sessions API edges a web service meets (issue 11, part 5): hostile tokens answered
// like unknown ones by every method, IsValidPrincipal agreeing with the methods that take a
// principal, update() with a SessionRef and a result, and the per-principal session limit (one
// thread; the racing version is in session_events_conformance_test.cc).
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "conformance/conformance_test.h"
#include "statestore/statestore.h"
#include "test_util.h"

namespace statestore {
namespace {

using std::chrono::hours;
using std::chrono::minutes;

// Every kind of token a client can send that is not a token.
std::vector<std::string> HostileTokens(const std::string& good) {
  std::vector<std::string> bad = {
      "",
      "a",
      good.substr(0, 42),               // one short
      good + "A",                       // one long
      std::string(1 << 20, 'A'),        // huge (1 MiB)
      good.substr(0, 42) + "=",         // padding
      good.substr(0, 42) + "+",         // base64, not base64url
      good.substr(0, 42) + "/",         //
      good.substr(0, 42) + " ",         // space
      " " + good.substr(1),             //
      good.substr(0, 42) + "\n",        // control characters
      good.substr(0, 42) + "\r",        //
      good.substr(0, 42) + "\x7f",      //
      good.substr(0, 41) + "\xc3\xa9",  // 43 bytes, non-ASCII
      good.substr(0, 42) + "\xff",      // not UTF-8
      std::string(43, '\0'),            // NUL
      good.substr(0, 20) + std::string(1, '\0') + good.substr(21),
      good + std::string(1, '\0'),                    // NUL after a good token
      "'; DROP TABLE kv; --" + std::string(23, 'x'),  // 43 bytes of SQL
      "%41%41%41%41%41%41%41%41%41%41%41%41%41%41A",  // URL-encoded
  };
  for (const auto& b : bad) EXPECT_FALSE(Sessions::IsWellFormedToken(b));
  return bad;
}

class SessionEdgesConformance : public test::ConformanceTest {
 protected:
  void Open(const SessionOptions& so = {}) {
    Options options;
    options.sessions = so;
    options.sessions.sweep_interval = std::chrono::milliseconds(0);
    options.sessions.clock = [this] {
      return Clock::time_point(
          std::chrono::duration_cast<Clock::duration>(std::chrono::microseconds(now_us_.load())));
    };
    Reopen(options);
  }
  Sessions& s() { return store()->sessions(); }
  void Advance(std::chrono::microseconds d) { now_us_.fetch_add(d.count()); }

  // Keys and versions of the whole sessions keyspace, and the head: "nothing was written".
  struct Snapshot {
    Revision head;
    std::vector<std::pair<std::string, Revision>> keys;
    bool operator==(const Snapshot& o) const { return head == o.head && keys == o.keys; }
  };
  Snapshot Take() {
    Snapshot snap{store()->history_bounds().head, {}};
    for (const auto& e : store()->list(kSessionsKeyspace)) snap.keys.emplace_back(e.key, e.version);
    return snap;
  }

  // The fixture's TearDown closes the store (and its reaper) before now_us_ goes.
  std::atomic<std::int64_t> now_us_{std::int64_t{1} << 50};  // about 2005
};

TEST_P(SessionEdgesConformance, EveryMethodTreatsHostileTokensAsUnknown) {
  Open();
  const std::string good = s().create(hours(1), {{"a", Value(1)}}, "alice");
  for (const std::string& bad : HostileTokens(good)) {
    SCOPED_TRACE("token of " + std::to_string(bad.size()) + " bytes");
    const Snapshot before = Take();
    bool called = false;
    EXPECT_EQ(s().get(bad), std::nullopt);
    EXPECT_FALSE(s().exists(bad));
    EXPECT_EQ(s().get_attribute(bad, "a"), std::nullopt);
    EXPECT_EQ(s().get_many(bad, {"a"}), std::nullopt);
    EXPECT_FALSE(s().set_attribute(bad, "a", Value(2)));
    EXPECT_FALSE(s().set_many(bad, {{"a", Value(2)}}));
    EXPECT_FALSE(s().erase_attribute(bad, "a"));
    EXPECT_FALSE(s().update(bad, [&](Attributes&) { called = true; }));
    EXPECT_FALSE(s().update_session(bad, [&](SessionRef&) { called = true; }));
    EXPECT_FALSE(s().update(bad, [&](SessionRef&) { called = true; }));
    EXPECT_EQ(s().update(bad,
                         [&](SessionRef&) {
                           called = true;
                           return 1;
                         }),
              std::nullopt);
    EXPECT_FALSE(s().touch(bad));
    EXPECT_EQ(s().rotate(bad), std::nullopt);
    EXPECT_FALSE(s().destroy(bad));
    EXPECT_EQ(Sessions::IdOf(bad), std::nullopt);
    EXPECT_FALSE(called) << "a function was called for a malformed token";
    EXPECT_TRUE(Take() == before) << "something was written";
  }
  // The good session is untouched by all of it.
  EXPECT_EQ(s().get_attribute(good, "a"), std::optional<Value>(Value(1)));
}

TEST_P(SessionEdgesConformance, ArgumentErrorsStillWinOverAMalformedToken) {
  // The application's own mistakes (a bad attribute name) are errors whatever the client sent.
  Open();
  auto e = test::CatchError([&] { s().set_attribute("", "bad name", Value(1)); });
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->code(), ErrorCode::kInvalidArgument);
  e = test::CatchError([&] { s().update("", std::function<void(Attributes&)>()); });
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->code(), ErrorCode::kInvalidArgument);
}

TEST_P(SessionEdgesConformance, IsValidPrincipalAgreesWithTheMethods) {
  Open();
  const std::vector<std::string> principals = {"alice",
                                               "user@example.com",
                                               "a/b c",
                                               "\xc3\xa9l\xc3\xa8ve",
                                               std::string(256, 'p'),
                                               "",
                                               std::string(257, 'p'),
                                               std::string("a\0b", 3),
                                               "\xff\xfe",
                                               "\xc3",
                                               "bob\x1b[2J",
                                               "eve\nadmin",
                                               "tab\there",
                                               "del\x7f"};
  // The refused ones are exactly these: empty, too long, NUL or another control, not UTF-8.
  std::size_t refused = 0;
  for (const std::string& p : principals) refused += Sessions::IsValidPrincipal(p) ? 0 : 1;
  EXPECT_EQ(refused, 9u);
  for (const std::string& p : principals) {
    SCOPED_TRACE("principal of " + std::to_string(p.size()) + " bytes");
    const bool valid = Sessions::IsValidPrincipal(p);
    auto list_error = test::CatchError([&] { s().list(p); });
    auto destroy_error = test::CatchError([&] { s().destroy_all(p); });
    auto create_error = test::CatchError([&] { s().create(hours(1), {}, p); });
    EXPECT_EQ(!list_error.has_value(), valid);
    EXPECT_EQ(!destroy_error.has_value(), valid);
    // create() also takes "" (no principal).
    EXPECT_EQ(!create_error.has_value(), valid || p.empty());
    for (const auto& err : {list_error, destroy_error, create_error}) {
      if (err) {
        EXPECT_EQ(err->code(), ErrorCode::kInvalidArgument) << err->what();
      }
    }
  }
}

TEST_P(SessionEdgesConformance, IdOfIsTheSha256OfTheToken) {
  Open();
  const std::string t = s().create(hours(1));
  auto id = Sessions::IdOf(t);
  ASSERT_TRUE(id.has_value());
  EXPECT_EQ(id->size(), 64u);
  EXPECT_EQ(id->substr(0, 12), s().get(t)->short_id);
  // Stored under it.
  EXPECT_TRUE(store()->get(kSessionsKeyspace, "s/" + *id).has_value());
}

TEST_P(SessionEdgesConformance, UpdateSeesTheSessionAndReturnsTheCommittedValue) {
  Open();
  const std::string t = s().create(hours(1), {{"hits", Value(41)}}, "alice");
  const Session before = *s().get(t);
  Advance(minutes(1));
  std::optional<std::int64_t> hits = s().update(t, [&](SessionRef& ref) {
    EXPECT_EQ(ref.principal(), "alice");
    EXPECT_EQ(ref.created(), before.created);
    EXPECT_EQ(ref.expires(), before.expires);
    EXPECT_EQ(ref.info().short_id, before.short_id);
    Value& v = ref.attributes()["hits"];
    v = Value(v.as_int() + 1);
    ref.attributes()["who"] = Value(ref.principal());
    return v.as_int();
  });
  EXPECT_EQ(hits, std::optional<std::int64_t>(42));
  EXPECT_EQ(s().get_attribute(t, "hits"), std::optional<Value>(Value(42)));
  EXPECT_EQ(s().get_attribute(t, "who"), std::optional<Value>(Value("alice")));

  // A void function gives bool; a string result comes back as a string.
  EXPECT_TRUE(s().update(t, [](SessionRef& ref) { ref.attributes().erase("who"); }));
  std::optional<std::string> p = s().update(t, [](SessionRef& ref) { return ref.principal(); });
  EXPECT_EQ(p, std::optional<std::string>("alice"));

  // The old signature, a generic lambda included, still picks update(token, fn(Attributes&)).
  EXPECT_TRUE(s().update(t, [](Attributes& a) { a["x"] = Value(1); }));
  EXPECT_TRUE(s().update(t, [](auto& a) { a.erase("x"); }));
  EXPECT_EQ(s().get_attribute(t, "x"), std::nullopt);

  // Not live: nullopt, fn not called.
  ASSERT_TRUE(s().destroy(t));
  EXPECT_EQ(s().update(t,
                       [](SessionRef&) {
                         ADD_FAILURE() << "fn called";
                         return 1;
                       }),
            std::nullopt);
}

TEST_P(SessionEdgesConformance, UpdateThatThrowsOrBreaksRulesWritesNothing) {
  Open();
  const std::string t = s().create(hours(1), {{"a", Value(1)}});
  const Snapshot before = Take();
  auto e = test::CatchError([&] {
    s().update(t, [](SessionRef& ref) -> int {
      ref.attributes()["a"] = Value(2);
      throw Error(ErrorCode::kConflict, "app says no");
    });
  });
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->code(), ErrorCode::kConflict);
  e = test::CatchError(
      [&] { s().update(t, [](SessionRef& ref) { ref.attributes()["bad name"] = Value(1); }); });
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->code(), ErrorCode::kInvalidArgument);
  EXPECT_TRUE(Take() == before);
}

TEST_P(SessionEdgesConformance, LimitEvictsTheLeastRecentlyUsed) {
  SessionOptions so;
  so.max_sessions_per_principal = 3;
  so.touch_policy = TouchPolicy::kExplicit;
  Open(so);
  std::vector<std::string> t;
  for (int i = 0; i < 3; ++i) {
    t.push_back(s().create(hours(1), {}, "alice"));
    Advance(std::chrono::seconds(1));
  }
  // t[0] is the oldest but was used last: t[1] is the least recently used.
  ASSERT_TRUE(s().touch(t[0]));
  Advance(std::chrono::seconds(1));
  const std::string other = s().create(hours(1), {}, "bob");  // another principal: not counted
  const std::string anon1 = s().create(hours(1));             // no principal: never limited
  const std::string anon2 = s().create(hours(1));
  t.push_back(s().create(hours(1), {}, "alice"));
  EXPECT_TRUE(s().exists(t[0]));
  EXPECT_FALSE(s().exists(t[1])) << "the least recently used session survived";
  EXPECT_TRUE(s().exists(t[2]));
  EXPECT_TRUE(s().exists(t[3]));
  EXPECT_TRUE(s().exists(other));
  EXPECT_TRUE(s().exists(anon1) && s().exists(anon2));
  EXPECT_EQ(s().list("alice").size(), 3u);
  EXPECT_EQ(s().count(), 6u);  // the stored counter followed the eviction
}

TEST_P(SessionEdgesConformance, LimitRefusesWithConflictAndExpiredSessionsDoNotCount) {
  SessionOptions so;
  so.max_sessions_per_principal = 2;
  so.limit_policy = SessionLimitPolicy::kRefuseCreate;
  Open(so);
  const std::string short_lived = s().create(minutes(1), {}, "alice");
  const std::string a = s().create(hours(1), {}, "alice");
  const Snapshot before = Take();
  auto e = test::CatchError([&] { s().create(hours(1), {}, "alice"); });
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->code(), ErrorCode::kConflict);
  EXPECT_NE(std::string(e->what()).find("max_sessions_per_principal"), std::string::npos)
      << e->what();
  EXPECT_EQ(std::string(e->what()).find("alice"), std::string::npos) << "principal in message";
  EXPECT_TRUE(Take() == before);
  // Once one expired (not swept yet) there is room again.
  Advance(minutes(2));
  EXPECT_FALSE(s().exists(short_lived));
  const std::string b = s().create(hours(1), {}, "alice");
  EXPECT_TRUE(s().exists(a) && s().exists(b));
  // Inside a caller's transaction, the limit sees that transaction's own creates.
  s().destroy(b);
  auto e2 = test::CatchError([&] {
    store()->transact([&](Transaction& tx) {
      NewSession ns;
      ns.idle_ttl = hours(1);
      ns.principal = "alice";
      s().create(tx, ns);
      s().create(tx, ns);  // the third live one
    });
  });
  ASSERT_TRUE(e2.has_value());
  EXPECT_EQ(e2->code(), ErrorCode::kConflict);
  EXPECT_EQ(s().list("alice").size(), 1u);
}

TEST_P(SessionEdgesConformance, NewOptionsAreValidated) {
  Options options;
  options.sessions.listener_poll_interval = std::chrono::milliseconds(0);
  auto e = test::CatchError([&] { OpenSecond(options); });
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->code(), ErrorCode::kInvalidArgument);
  options = Options();
  options.sessions.limit_policy = static_cast<SessionLimitPolicy>(42);
  e = test::CatchError([&] { OpenSecond(options); });
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->code(), ErrorCode::kInvalidArgument);
}

STATESTORE_CONFORMANCE_SUITE(SessionEdgesConformance);

}  // namespace
}  // namespace statestore

// Conformance: the sessions API on one thread — create, get, attributes, update, rotate, destroy,
// list, count; expiry with an injected clock (SessionOptions::clock: sliding idle expiry, touch
// policies, absolute lifetime), rotation, sweeping, and the data layout (only SHA-256 of a token
// is stored; history is redacted).
#include <sodium.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "conformance/conformance_test.h"
#include "statestore/statestore.h"
#include "test_util.h"

namespace statestore {
namespace {

using std::chrono::hours;
using std::chrono::microseconds;
using std::chrono::minutes;
using std::chrono::seconds;

// 2030-01-01T00:00:00Z.
const Clock::time_point kT0 = Clock::time_point(seconds(1'893'456'000));

// A clock the test moves by hand; safe to read from any thread.
class FakeClock {
 public:
  explicit FakeClock(Clock::time_point start) : us_(Micros(start)) {}
  Clock::time_point now() const { return Clock::time_point(microseconds(us_.load())); }
  void advance(microseconds d) { us_ += d.count(); }
  void set(Clock::time_point t) { us_ = Micros(t); }
  std::function<Clock::time_point()> fn() {
    return [this] { return now(); };
  }

 private:
  static std::int64_t Micros(Clock::time_point t) {
    return std::chrono::duration_cast<microseconds>(t.time_since_epoch()).count();
  }
  std::atomic<std::int64_t> us_;
};

std::string Sha256Hex(std::string_view s) {
  EXPECT_GE(sodium_init(), 0);
  unsigned char d[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(d, reinterpret_cast<const unsigned char*>(s.data()), s.size());
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned char b : d) {
    out.push_back(hex[b >> 4]);
    out.push_back(hex[b & 15]);
  }
  return out;
}

bool IsBase64Url(std::string_view s) {
  for (char c : s) {
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
          c == '_')) {
      return false;
    }
  }
  return true;
}

class SessionConformance : public test::ConformanceTest {
 protected:
  void SetUp() override {
    ConformanceTest::SetUp();
    if (IsSkipped()) return;
    Open();
  }

  // (Re)opens the store with options_ (after the test changed them). Expiry follows clock_
  // through SessionOptions::clock, which the sessions layer reads on every engine.
  void Open() {
    options_.sessions.clock = clock_.fn();
    options_.sessions.sweep_interval = std::chrono::milliseconds(0);  // sweeps are explicit here
    Reopen(options_);
  }
  Sessions& sessions() { return store()->sessions(); }
  Revision Head() { return store()->history_bounds().head; }
  // Number of keys with this prefix in keyspace "sessions".
  std::size_t Keys(std::string_view prefix) {
    return store()->list(kSessionsKeyspace, prefix).size();
  }

  // The fixture's TearDown closes the store (and its reaper) before clock_ goes.
  FakeClock clock_{kT0};
  Options options_;
};

TEST_P(SessionConformance, CreateThenGetReturnsEverything) {
  Attributes attrs{{"null", Value()},
                   {"flag", Value(true)},
                   {"n", Value(-42)},
                   {"big", Value(std::numeric_limits<long long>::max())},
                   {"small", Value(std::numeric_limits<long long>::min())},
                   {"pi", Value(3.25)},
                   {"inf", Value(-std::numeric_limits<double>::infinity())},
                   {"text", Value("héllo")},
                   {"empty", Value("")},
                   {"blob", Value(Bytes{0, 1, 2, 255})},
                   {"noblob", Value(Bytes{})},
                   {"A.b:c-d_9", Value(1)}};
  const std::string token = sessions().create(minutes(30), attrs, "alice@example.com");
  EXPECT_EQ(token.size(), Sessions::kTokenLength);
  EXPECT_TRUE(IsBase64Url(token));
  EXPECT_TRUE(Sessions::IsWellFormedToken(token));

  auto s = sessions().get(token);
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->principal, "alice@example.com");
  EXPECT_EQ(s->short_id, Sha256Hex(token).substr(0, 12));
  EXPECT_EQ(s->created, kT0);
  EXPECT_EQ(s->last_access, kT0);
  EXPECT_EQ(s->idle_ttl, minutes(30));
  EXPECT_EQ(s->idle_expiry, kT0 + minutes(30));
  EXPECT_EQ(s->absolute_expiry, kT0 + hours(24));
  EXPECT_EQ(s->expires, kT0 + minutes(30));
  ASSERT_EQ(s->attributes.size(), attrs.size());
  for (const auto& [name, value] : attrs) {
    SCOPED_TRACE(name);
    ASSERT_EQ(s->attributes.count(name), 1u);
    const Value& got = s->attributes.at(name);
    ASSERT_EQ(got.type(), value.type());
    EXPECT_EQ(got, value);
  }
  // A double may be anything but NaN (value.h); hostile_values_test checks the refusal.
  EXPECT_TRUE(sessions().exists(token));
  EXPECT_EQ(sessions().count(), 1u);
}

TEST_P(SessionConformance, OnlyTheHashOfTheTokenIsAKey) {
  const std::string token = sessions().create(minutes(5), {{"a", Value(1)}}, "bob");
  const std::string id = Sha256Hex(token);
  EXPECT_TRUE(store()->get(kSessionsKeyspace, "s/" + id).has_value());
  for (const Entry& e : store()->list(kSessionsKeyspace)) {
    EXPECT_EQ(e.key.find(token), std::string::npos) << e.key;
    if (e.value.type() == ValueType::kString) {
      EXPECT_EQ(e.value.as_string().find(token), std::string::npos);
    }
  }
  EXPECT_EQ(Keys("s/"), 1u);
  EXPECT_EQ(Keys("x/"), 1u);
  EXPECT_EQ(Keys("p/"), 1u);
}

TEST_P(SessionConformance, AttributesGetSetEraseMany) {
  const std::string t = sessions().create(minutes(30), {{"a", Value(1)}, {"b", Value("x")}});
  EXPECT_EQ(sessions().get_attribute(t, "a"), std::optional<Value>(Value(1)));
  EXPECT_EQ(sessions().get_attribute(t, "zzz"), std::nullopt);

  EXPECT_TRUE(sessions().set_attribute(t, "c", Value(Bytes{9})));
  EXPECT_TRUE(sessions().set_attribute(t, "a", Value(2)));
  EXPECT_EQ(sessions().get_attribute(t, "a"), std::optional<Value>(Value(2)));

  auto many = sessions().get_many(t, {"a", "c", "missing"});
  ASSERT_TRUE(many.has_value());
  EXPECT_EQ(*many, (Attributes{{"a", Value(2)}, {"c", Value(Bytes{9})}}));

  EXPECT_TRUE(sessions().set_many(t, {{"a", Value(3)}, {"d", Value(false)}}));
  EXPECT_EQ(sessions().get(t)->attributes,
            (Attributes{
                {"a", Value(3)}, {"b", Value("x")}, {"c", Value(Bytes{9})}, {"d", Value(false)}}));

  EXPECT_TRUE(sessions().erase_attribute(t, "b"));
  EXPECT_TRUE(sessions().erase_attribute(t, "b"));  // idempotent
  EXPECT_EQ(sessions().get_attribute(t, "b"), std::nullopt);

  // Writing the same values again is not a commit.
  const Revision head = Head();
  EXPECT_TRUE(sessions().set_attribute(t, "a", Value(3)));
  EXPECT_TRUE(sessions().set_many(t, {}));
  EXPECT_EQ(Head(), head);
}

TEST_P(SessionConformance, UpdateIsReadModifyWrite) {
  const std::string t = sessions().create(minutes(30), {{"n", Value(1)}, {"keep", Value("k")}});
  int calls = 0;
  EXPECT_TRUE(sessions().update(t, [&](Attributes& a) {
    ++calls;
    a["n"] = Value(a.at("n").as_int() + 1);
    a["new"] = Value("v");
  }));
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(sessions().get(t)->attributes,
            (Attributes{{"keep", Value("k")}, {"n", Value(2)}, {"new", Value("v")}}));

  EXPECT_TRUE(sessions().update(t, [](Attributes& a) { a.clear(); }));
  EXPECT_TRUE(sessions().get(t)->attributes.empty());
  EXPECT_TRUE(sessions().exists(t));

  // An exception from fn writes nothing and propagates.
  struct Boom {};
  const Revision head = Head();
  EXPECT_THROW(sessions().update(t,
                                 [](Attributes& a) {
                                   a["x"] = Value(1);
                                   throw Boom{};
                                 }),
               Boom);
  EXPECT_EQ(Head(), head);
  EXPECT_TRUE(sessions().get(t)->attributes.empty());
}

TEST_P(SessionConformance, DestroyListCountDestroyAll) {
  std::vector<std::string> alice;
  for (int i = 0; i < 3; ++i) {
    alice.push_back(sessions().create(minutes(30), {}, "alice"));
    clock_.advance(seconds(1));
  }
  const std::string bob = sessions().create(minutes(30), {}, "bob");
  const std::string nobody = sessions().create(minutes(30));
  EXPECT_EQ(sessions().count(), 5u);

  auto listed = sessions().list("alice");
  ASSERT_EQ(listed.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(listed[i].short_id, Sha256Hex(alice[i]).substr(0, 12));  // oldest first
    EXPECT_EQ(listed[i].principal, "alice");
    EXPECT_EQ(listed[i].created, kT0 + seconds(i));
  }
  EXPECT_EQ(sessions().list("bob").size(), 1u);
  EXPECT_TRUE(sessions().list("carol").empty());

  EXPECT_TRUE(sessions().destroy(alice[1]));
  EXPECT_FALSE(sessions().destroy(alice[1]));
  EXPECT_FALSE(sessions().exists(alice[1]));
  EXPECT_EQ(sessions().count(), 4u);
  EXPECT_EQ(sessions().list("alice").size(), 2u);

  EXPECT_EQ(sessions().destroy_all("alice"), 2u);
  EXPECT_EQ(sessions().destroy_all("alice"), 0u);
  EXPECT_FALSE(sessions().exists(alice[0]));
  EXPECT_TRUE(sessions().exists(bob));
  EXPECT_TRUE(sessions().exists(nobody));
  EXPECT_EQ(sessions().count(), 2u);
  EXPECT_EQ(Keys("s/"), 2u);
  EXPECT_EQ(Keys("x/"), 2u);
  EXPECT_EQ(Keys("p/"), 1u);  // bob's
}

TEST_P(SessionConformance, DestroyAllWorksInBatches) {
  options_.sessions.sweep_batch = 4;
  Open();
  std::vector<std::string> tokens;
  store()->transact([&](Transaction& tx) {
    tokens.clear();
    NewSession s;
    s.idle_ttl = minutes(10);
    s.principal = "many";
    for (int i = 0; i < 11; ++i) tokens.push_back(sessions().create(tx, s));
  });
  EXPECT_EQ(sessions().count(), 11u);
  EXPECT_EQ(sessions().destroy_all("many"), 11u);
  EXPECT_EQ(sessions().count(), 0u);
  EXPECT_EQ(Keys(""), 1u);  // only the counter is left
}

TEST_P(SessionConformance, CreateInsideACallersTransaction) {
  std::string token;
  store()->transact([&](Transaction& tx) {
    tx.put("app", "user", "alice");
    NewSession s;
    s.idle_ttl = minutes(10);
    s.principal = "alice";
    s.attributes = {{"role", Value("admin")}};
    token = sessions().create(tx, s);
  });
  EXPECT_EQ(sessions().get_attribute(token, "role"), std::optional<Value>(Value("admin")));

  // Rolled back with the caller's transaction: no session, no counter change.
  struct Abort {};
  std::string lost;
  EXPECT_THROW(store()->transact([&](Transaction& tx) {
    lost = sessions().create(tx, NewSession{minutes(10), {}, "alice", {}});
    throw Abort{};
  }),
               Abort);
  EXPECT_FALSE(sessions().exists(lost));
  EXPECT_EQ(sessions().count(), 1u);
  EXPECT_EQ(sessions().list("alice").size(), 1u);

  // Not in a read snapshot.
  auto e = test::CatchError([&] {
    store()->read([&](Transaction& tx) {
      sessions().create(tx, NewSession{minutes(1), {}, "", {}});
    });
  });
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->code(), ErrorCode::kReadOnly);
}

TEST_P(SessionConformance, ReadsAreServedFromTheCache) {
  options_ = WithReadCache(options_);
  Open();
  const std::string t = sessions().create(hours(1), {{"a", Value(1)}});
  ASSERT_TRUE(sessions().get(t).has_value());  // fills the cache
  const Stats before = store()->stats();
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(sessions().get(t).has_value());
    ASSERT_TRUE(sessions().get_attribute(t, "a").has_value());
    ASSERT_TRUE(sessions().exists(t));
  }
  const Stats after = store()->stats();
  EXPECT_EQ(after.cache_misses, before.cache_misses);
  EXPECT_EQ(after.cache_hits - before.cache_hits, 300u);
  EXPECT_EQ(after.commits, before.commits);  // no touch was due
}

TEST_P(SessionConformance, SessionsKeyspaceIsRedactedByDefault) {
  const auto& redacted = store()->options().redacted_keyspaces;
  EXPECT_NE(std::find(redacted.begin(), redacted.end(), "sessions"), redacted.end());
}

TEST_P(SessionConformance, RecordValuesInHistoryKeepsTheKeyspaceUnredacted) {
  options_.sessions.record_values_in_history = true;
  Open();
  const auto& redacted = store()->options().redacted_keyspaces;
  EXPECT_EQ(std::find(redacted.begin(), redacted.end(), "sessions"), redacted.end());
  const std::string t = sessions().create(minutes(5), {{"color", Value("ultramarine-7731")}});
  HistoryQuery q;
  q.keyspace = "sessions";
  bool saw_value = false;
  for (const Commit& c : store()->history(q)) {
    for (const Change& ch : c.changes) {
      EXPECT_FALSE(ch.redacted);
      if (ch.new_value && ch.new_value->type() == ValueType::kBytes) {
        const Bytes& b = ch.new_value->as_bytes();
        saw_value |= std::string(b.begin(), b.end()).find("ultramarine-7731") != std::string::npos;
      }
    }
  }
  EXPECT_TRUE(saw_value);
}

TEST_P(SessionConformance, SlidingIdleExpiryTouchesAfterAFraction) {
  // Default policy: touch once more than a quarter of the TTL passed.
  const std::string t = sessions().create(minutes(10));
  Revision head = Head();

  clock_.set(kT0 + minutes(2));  // 20% of the TTL: no touch, no write
  ASSERT_TRUE(sessions().get(t).has_value());
  EXPECT_EQ(Head(), head);
  EXPECT_EQ(sessions().get(t)->idle_expiry, kT0 + minutes(10));

  clock_.set(kT0 + minutes(3));  // 30%: touches, one write
  auto s = sessions().get(t);
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(Head(), head + 1);
  EXPECT_EQ(s->last_access, kT0 + minutes(3));
  EXPECT_EQ(s->idle_expiry, kT0 + minutes(13));
  head = Head();
  ASSERT_TRUE(sessions().get_attribute(t, "x") == std::nullopt);  // just touched: no write
  EXPECT_EQ(Head(), head);

  // exists() never touches.
  clock_.set(kT0 + minutes(12) + seconds(59));
  EXPECT_TRUE(sessions().exists(t));
  EXPECT_EQ(Head(), head);
  clock_.set(kT0 + minutes(13));  // expiry is exclusive: expired at exactly idle_expiry
  EXPECT_FALSE(sessions().exists(t));
  EXPECT_FALSE(sessions().get(t).has_value());
  EXPECT_EQ(sessions().get_attribute(t, "x"), std::nullopt);
  EXPECT_EQ(sessions().get_many(t, {"x"}), std::nullopt);
  EXPECT_EQ(Head(), head);
  EXPECT_EQ(sessions().count(), 0u);
}

TEST_P(SessionConformance, KeepsLivingWhileUsedWithinTheIdleTtl) {
  const std::string t = sessions().create(minutes(10));
  for (int i = 1; i <= 30; ++i) {  // 30 accesses 4 minutes apart: 2 hours
    clock_.set(kT0 + minutes(4 * i));
    ASSERT_TRUE(sessions().get(t).has_value()) << "access " << i;
  }
  clock_.advance(minutes(10));
  EXPECT_FALSE(sessions().exists(t));
}

TEST_P(SessionConformance, TouchPolicyEveryAccess) {
  options_.sessions.touch_policy = TouchPolicy::kEveryAccess;
  Open();
  const std::string t = sessions().create(minutes(10));
  Revision head = Head();
  ASSERT_TRUE(sessions().get(t).has_value());  // same instant: nothing to move
  EXPECT_EQ(Head(), head);
  clock_.advance(seconds(1));
  ASSERT_TRUE(sessions().get(t).has_value());
  EXPECT_EQ(Head(), ++head);
  clock_.advance(seconds(1));
  ASSERT_TRUE(sessions().get_attribute(t, "a") == std::nullopt);
  EXPECT_EQ(Head(), ++head);
  clock_.advance(seconds(1));
  ASSERT_TRUE(sessions().set_attribute(t, "a", Value(1)));  // one write: value and touch
  EXPECT_EQ(Head(), ++head);
  EXPECT_EQ(sessions().get(t)->idle_expiry, kT0 + seconds(3) + minutes(10));
}

TEST_P(SessionConformance, TouchPolicyExplicit) {
  options_.sessions.touch_policy = TouchPolicy::kExplicit;
  Open();
  const std::string t = sessions().create(minutes(10));
  clock_.set(kT0 + minutes(9));
  const Revision head = Head();
  ASSERT_TRUE(sessions().get(t).has_value());
  ASSERT_TRUE(sessions().set_attribute(t, "a", Value(1)));
  EXPECT_EQ(Head(), head + 1);
  EXPECT_EQ(sessions().get(t)->idle_expiry, kT0 + minutes(10));  // reads and writes: no touch
  EXPECT_TRUE(sessions().touch(t));
  EXPECT_EQ(sessions().get(t)->idle_expiry, kT0 + minutes(19));
  clock_.set(kT0 + minutes(19));
  EXPECT_FALSE(sessions().exists(t));
  EXPECT_FALSE(sessions().touch(t));  // too late: touch cannot revive
}

TEST_P(SessionConformance, AbsoluteLifetimeCannotBeExtended) {
  options_.sessions.max_lifetime = hours(1);
  options_.sessions.touch_policy = TouchPolicy::kEveryAccess;
  Open();
  const std::string t = sessions().create(minutes(20), {{"a", Value(1)}});
  for (int m = 10; m < 60; m += 10) {
    clock_.set(kT0 + minutes(m));
    ASSERT_TRUE(sessions().touch(t));
    ASSERT_TRUE(sessions().set_attribute(t, "a", Value(m)));
  }
  clock_.set(kT0 + minutes(59));
  auto s = sessions().get(t);
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->absolute_expiry, kT0 + hours(1));
  EXPECT_EQ(s->idle_expiry, kT0 + minutes(79));
  EXPECT_EQ(s->expires, kT0 + hours(1));
  clock_.set(kT0 + hours(1));
  EXPECT_FALSE(sessions().exists(t));
  EXPECT_FALSE(sessions().touch(t));
  EXPECT_FALSE(sessions().set_attribute(t, "a", Value(0)));
  EXPECT_EQ(sessions().rotate(t), std::nullopt);  // rotation does not revive either
}

TEST_P(SessionConformance, PerSessionLifetimeAndNoLifetime) {
  NewSession longer;
  longer.idle_ttl = hours(1);
  longer.max_lifetime = hours(48);
  const std::string a = sessions().create(longer);
  EXPECT_EQ(sessions().get(a)->absolute_expiry, kT0 + hours(48));

  options_.sessions.max_lifetime = microseconds(0);
  Open();
  const std::string b = sessions().create(hours(1));
  auto s = sessions().get(b);
  EXPECT_EQ(s->absolute_expiry, Clock::time_point::max());
  EXPECT_EQ(s->expires, kT0 + hours(1));
}

TEST_P(SessionConformance, ClockGoingBackwardsNeverShortensASession) {
  options_.sessions.touch_policy = TouchPolicy::kEveryAccess;
  Open();
  const std::string t = sessions().create(minutes(10));
  clock_.set(kT0 + minutes(5));
  ASSERT_TRUE(sessions().touch(t));
  clock_.set(kT0 + minutes(1));  // another process's clock, behind
  ASSERT_TRUE(sessions().touch(t));
  EXPECT_EQ(sessions().get(t)->last_access, kT0 + minutes(5));
}

TEST_P(SessionConformance, RotateMovesTheSessionToANewToken) {
  options_.sessions.max_lifetime = hours(2);
  Open();
  const std::string old_token =
      sessions().create(minutes(30), {{"cart", Value("3 items")}, {"n", Value(7)}}, "alice");
  clock_.advance(minutes(5));
  const Revision head = Head();
  auto rotated = sessions().rotate(old_token);
  ASSERT_TRUE(rotated.has_value());
  const std::string& new_token = *rotated;
  EXPECT_EQ(Head(), head + 1);  // one transaction
  EXPECT_NE(new_token, old_token);
  EXPECT_TRUE(Sessions::IsWellFormedToken(new_token));

  // The old token is dead for everything.
  EXPECT_FALSE(sessions().exists(old_token));
  EXPECT_FALSE(sessions().get(old_token).has_value());
  EXPECT_FALSE(sessions().set_attribute(old_token, "x", Value(1)));
  EXPECT_FALSE(sessions().update(old_token, [](Attributes&) { ADD_FAILURE(); }));
  EXPECT_FALSE(sessions().touch(old_token));
  EXPECT_EQ(sessions().rotate(old_token), std::nullopt);
  EXPECT_FALSE(sessions().destroy(old_token));

  // Same data and deadlines under the new one, touched now.
  auto s = sessions().get(new_token);
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->attributes, (Attributes{{"cart", Value("3 items")}, {"n", Value(7)}}));
  EXPECT_EQ(s->principal, "alice");
  EXPECT_EQ(s->created, kT0);
  EXPECT_EQ(s->absolute_expiry, kT0 + hours(2));
  EXPECT_EQ(s->last_access, kT0 + minutes(5));
  EXPECT_EQ(s->idle_expiry, kT0 + minutes(35));
  EXPECT_EQ(s->short_id, Sha256Hex(new_token).substr(0, 12));

  auto listed = sessions().list("alice");
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].short_id, s->short_id);
  EXPECT_EQ(sessions().count(), 1u);
  EXPECT_EQ(Keys("s/"), 1u);
  EXPECT_EQ(Keys("x/"), 1u);
  EXPECT_EQ(Keys("p/"), 1u);
}

TEST_P(SessionConformance, ExpiredButUnsweptSessionsAreAbsentAndWritesChangeNothing) {
  const std::string dead = sessions().create(minutes(1), {{"a", Value(1)}}, "alice");
  const std::string live = sessions().create(hours(1), {}, "alice");
  clock_.advance(minutes(2));
  const Revision head = Head();
  EXPECT_FALSE(sessions().exists(dead));
  EXPECT_FALSE(sessions().set_attribute(dead, "a", Value(2)));
  EXPECT_FALSE(sessions().set_many(dead, {{"a", Value(2)}}));
  EXPECT_FALSE(sessions().erase_attribute(dead, "a"));
  EXPECT_FALSE(sessions().update(dead, [](Attributes&) { ADD_FAILURE() << "fn called"; }));
  EXPECT_FALSE(sessions().touch(dead));
  EXPECT_EQ(sessions().rotate(dead), std::nullopt);
  EXPECT_EQ(Head(), head);
  EXPECT_EQ(sessions().count(), 1u);
  ASSERT_EQ(sessions().list("alice").size(), 1u);
  EXPECT_EQ(Keys("s/"), 2u);  // still stored until swept

  EXPECT_EQ(sessions().sweep(), 1u);
  EXPECT_EQ(Keys("s/"), 1u);
  EXPECT_EQ(Keys("x/"), 1u);
  EXPECT_EQ(Keys("p/"), 1u);
  EXPECT_EQ(sessions().count(), 1u);
  EXPECT_TRUE(sessions().exists(live));
  EXPECT_EQ(store()->stats().sweep_runs, 1u);
  EXPECT_EQ(sessions().sweep(), 0u);
  EXPECT_EQ(store()->stats().sweep_runs, 1u);

  // destroy() of an expired session removes it but reports it was not live.
  const std::string dead2 = sessions().create(minutes(1));
  clock_.advance(minutes(2));
  EXPECT_FALSE(sessions().destroy(dead2));
  EXPECT_EQ(Keys("s/"), 1u);
}

TEST_P(SessionConformance, SweepRemovesOnlyExpiredInBoundedBatches) {
  options_.sessions.sweep_batch = 10;
  Open();
  std::vector<std::string> expiring, staying;
  store()->transact([&](Transaction& tx) {
    expiring.clear();
    staying.clear();
    for (int i = 0; i < 95; ++i) {
      expiring.push_back(sessions().create(
          tx, NewSession{minutes(1 + i % 7), {{"i", Value(i)}}, i % 2 ? "p" : "", {}}));
    }
    for (int i = 0; i < 20; ++i) {
      staying.push_back(sessions().create(tx, NewSession{hours(1), {}, i % 2 ? "p" : "", {}}));
    }
  });
  EXPECT_EQ(sessions().count(), 115u);
  clock_.advance(minutes(10));
  EXPECT_EQ(sessions().count(), 20u);  // counter minus the unswept expired ones
  const Revision head = Head();
  EXPECT_EQ(sessions().sweep(/*max_batches=*/2), 20u);
  EXPECT_EQ(Head(), head + 2);
  EXPECT_EQ(sessions().sweep(), 75u);
  EXPECT_EQ(Keys("s/"), 20u);
  EXPECT_EQ(Keys("x/"), 20u);
  EXPECT_EQ(Keys("p/"), 10u);
  EXPECT_EQ(sessions().count(), 20u);
  for (const auto& t : staying) EXPECT_TRUE(sessions().exists(t));
  EXPECT_EQ(sessions().list("p").size(), 10u);
  // Sweep commits are labelled in history.
  HistoryQuery q;
  q.label = "sessions: sweep";
  EXPECT_EQ(store()->history(q).size(), 10u);
}

TEST_P(SessionConformance, ReadOnlyStoreReadsButNeverWrites) {
  const std::string t = sessions().create(minutes(10), {{"a", Value(1)}});
  Close();
  options_.read_only = true;
  options_.sessions.touch_policy = TouchPolicy::kEveryAccess;
  Open();
  clock_.advance(minutes(1));
  auto s = sessions().get(t);  // a touch would be due: skipped quietly
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->last_access, kT0);
  EXPECT_EQ(sessions().count(), 1u);
  for (auto op : std::vector<std::function<void()>>{
           [&] { sessions().set_attribute(t, "a", Value(2)); },
           [&] { sessions().touch(t); },
           [&] { sessions().create(minutes(1)); },
           [&] { sessions().sweep(); },
       }) {
    auto e = test::CatchError(op);
    ASSERT_TRUE(e.has_value());
    EXPECT_EQ(e->code(), ErrorCode::kReadOnly) << e->what();
  }
}

TEST_P(SessionConformance, CallsFromInsideABodyAreRefused) {
  const std::string t = sessions().create(minutes(10));
  auto e = test::CatchError([&] { store()->transact([&](Transaction&) { sessions().get(t); }); });
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->code(), ErrorCode::kInvalidArgument);
  // update's fn is a body too.
  e = test::CatchError([&] { sessions().update(t, [&](Attributes&) { sessions().exists(t); }); });
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->code(), ErrorCode::kInvalidArgument);
}

TEST_P(SessionConformance, DamagedRecordsAreReportedNotMisread) {
  const std::string t = sessions().create(hours(1));
  const std::string key = "s/" + Sha256Hex(t);
  auto expect = [&](ErrorCode code, const Value& stored) {
    store()->put(kSessionsKeyspace, key, stored);  // bypasses the API, as a damaged file would
    for (auto op : std::vector<std::function<void()>>{
             [&] { sessions().get(t); },
             [&] { sessions().exists(t); },
             [&] { sessions().set_attribute(t, "a", Value(1)); },
         }) {
      auto e = test::CatchError(op);
      ASSERT_TRUE(e.has_value());
      EXPECT_EQ(e->code(), code) << e->what();
      EXPECT_FALSE(test::Contains(e->what(), t));
    }
  };
  expect(ErrorCode::kCorruption, Value("not a record"));
  expect(ErrorCode::kCorruption, Value(Bytes{0xff, 0x00}));
  expect(ErrorCode::kCorruption, Value(Bytes{0xa1, 0x61, 0x76, 0x01}));    // {"v": 1}, no fields
  expect(ErrorCode::kSchemaTooNew, Value(Bytes{0xa1, 0x61, 0x76, 0x02}));  // {"v": 2}
  // A newer version's record is kept; a damaged one can be destroyed, and the sweep drops its
  // index entry once it expires.
  auto e = test::CatchError([&] { sessions().destroy(t); });
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->code(), ErrorCode::kSchemaTooNew);
  store()->put(kSessionsKeyspace, key, Value("damaged"));
  EXPECT_FALSE(sessions().destroy(t));
  EXPECT_EQ(Keys("s/"), 0u);
  EXPECT_EQ(sessions().count(), 0u);
  EXPECT_EQ(Keys("x/"), 1u);
  clock_.advance(hours(2));
  EXPECT_EQ(sessions().sweep(), 0u);  // no record left to count
  EXPECT_EQ(Keys(""), 1u);            // only the counter
}

TEST_P(SessionConformance, SessionsSurviveReopen) {
  const std::string t = sessions().create(hours(1), {{"a", Value("persisted")}}, "alice");
  Close();
  Open();
  EXPECT_EQ(sessions().get_attribute(t, "a"), std::optional<Value>(Value("persisted")));
  EXPECT_EQ(sessions().count(), 1u);
}

STATESTORE_CONFORMANCE_SUITE(SessionConformance);

}  // namespace
}  // namespace statestore

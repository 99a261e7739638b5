// Conformance: keys with a time-to-live (issue 16; README "Keys that expire"), on every engine,
// with an injected clock (Options::clock):
//   * a key is present just before its deadline and absent at exactly the deadline to every read
//     (Store get/get_entry/list, reads inside read and write bodies), Entry::expires_at is the
//     deadline, and a key with a deadline is never answered stale from the read cache;
//   * expire/persist set and clear a deadline, keep_ttl keeps it, a plain put clears it; expire,
//     persist and erase of an expired key return false and write nothing;
//   * bad TTLs are refused with kInvalidArgument and change nothing;
//   * the expiry is a change of its own (ChangeKind::kExpiry, the old value and the deadline that
//     passed, no new value): recorded by the first write after the deadline, in that write's
//     revision and before it, or by the background sweep (Options::expiry_sweep_interval; there
//     is no call that forces a sweep) in commits labelled "expired", at most 256 keys each,
//     counted in Stats::keys_expired; history tells it from an erase, revert brings the value
//     back without a deadline, and a config watch delivers it as kExpiry;
//   * a worker process finds a key written here absent at exactly its deadline by its own clock,
//     and this process finds a key the worker wrote absent at its deadline by this clock.
// Engine-specific TTL tests (the sweeper's lock byte, Verify) stay in tests/ttl_test.cc.
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "conformance/conformance_test.h"
#include "manual_clock.h"
#include "put_options_helpers.h"
#include "statestore/statestore.h"
#include "test_util.h"

namespace statestore {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using test::KeepTtl;
using test::ManualClock;
using test::Ttl;
using test::WaitFor;

const Clock::time_point kTtlStart = test::kManualClockStart;
constexpr std::chrono::microseconds kOneMicro{1};
const milliseconds kWait(20'000 * test::kSlowFactor);

class TtlConformance : public test::ConformanceTest {
 protected:
  void SetUp() override {
    ConformanceTest::SetUp();
    if (IsSkipped()) return;
    CONFORMANCE_REQUIRE(test::Capability::kInjectedClock);
  }

  // The test's clock; no expiry sweep unless asked (the tests decide when expiries are
  // recorded), no session reaper.
  Options Opts(milliseconds sweep_interval = milliseconds(0)) {
    Options o;
    o.clock = clock_.function();
    o.expiry_sweep_interval = sweep_interval;
    o.sessions.sweep_interval = milliseconds(0);
    return o;
  }

  std::optional<Value> ReadInBody(const std::string& key) {
    std::optional<Value> v;
    store()->read([&](Transaction& tx) { v = tx.get("app", key); });
    return v;
  }
  std::optional<Entry> ReadEntryInBody(const std::string& key) {
    std::optional<Entry> e;
    store()->read([&](Transaction& tx) { e = tx.get_entry("app", key); });
    return e;
  }
  Revision Head() { return store()->history_bounds().head; }

  ManualClock clock_{kTtlStart};
};

TEST_P(TtlConformance, KeyIsAbsentToEveryReadAtExactlyItsDeadline) {
  Reopen(Opts());
  store()->put("app", "kept", Value(1));
  store()->put("app", "code", Value("123456"), Ttl(seconds(1)));
  const Clock::time_point deadline = kTtlStart + seconds(1);

  auto e = store()->get_entry("app", "code");
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->expires_at, std::optional<Clock::time_point>(deadline));
  EXPECT_EQ(store()->get_entry("app", "kept")->expires_at, std::nullopt);

  clock_.set(deadline - kOneMicro);
  EXPECT_EQ(store()->get("app", "code"), Value("123456"));
  EXPECT_EQ(ReadInBody("code"), Value("123456"));
  ASSERT_TRUE(ReadEntryInBody("code").has_value());
  EXPECT_EQ(ReadEntryInBody("code")->expires_at, std::optional<Clock::time_point>(deadline));
  EXPECT_EQ(store()->list("app").size(), 2u);
  store()->read([&](Transaction& tx) { EXPECT_EQ(tx.list("app", "").size(), 2u); });

  clock_.set(deadline);
  EXPECT_EQ(store()->get("app", "code"), std::nullopt);
  EXPECT_EQ(store()->get_entry("app", "code"), std::nullopt);
  EXPECT_EQ(ReadInBody("code"), std::nullopt);
  EXPECT_EQ(ReadEntryInBody("code"), std::nullopt);
  const std::vector<Entry> left = store()->list("app");
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].key, "kept");
  store()->read([&](Transaction& tx) { EXPECT_EQ(tx.list("app", "").size(), 1u); });
  // Twice: the first miss may have cached "absent"; it must stay absent.
  EXPECT_EQ(store()->get("app", "code"), std::nullopt);
  // Inside a write body too, and a compare-and-set against "no key" succeeds.
  store()->transact([&](Transaction& tx) {
    EXPECT_EQ(tx.get("app", "code"), std::nullopt);
    EXPECT_EQ(tx.get_entry("app", "code"), std::nullopt);
    EXPECT_EQ(tx.list("app", "").size(), 1u);
    tx.put_if_version("app", "code", Value("654321"), 0);
  });
  EXPECT_EQ(store()->get("app", "code"), Value("654321"));
  EXPECT_EQ(store()->get_entry("app", "code")->expires_at, std::nullopt);
}

TEST_P(TtlConformance, KeepTtlExpireAndPersist) {
  Reopen(Opts());
  const Clock::time_point deadline = kTtlStart + seconds(5);
  store()->put("app", "n", Value(1), Ttl(seconds(5)));
  clock_.advance(seconds(1));
  store()->put("app", "n", Value(2), KeepTtl());  // counts within the window
  EXPECT_EQ(store()->get_entry("app", "n")->expires_at, deadline);
  EXPECT_EQ(store()->get("app", "n"), Value(2));
  store()->put("app", "n", Value(3));  // a plain put makes it persistent
  EXPECT_EQ(store()->get_entry("app", "n")->expires_at, std::nullopt);
  store()->put("app", "fresh", Value(1), KeepTtl());  // a new key has no deadline to keep
  EXPECT_EQ(store()->get_entry("app", "fresh")->expires_at, std::nullopt);

  const Revision before_expire = Head();
  const Revision r = store()->expire("app", "n", seconds(2));
  EXPECT_EQ(r, before_expire + 1);
  auto e = store()->get_entry("app", "n");
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->value, Value(3));  // expire keeps the value
  EXPECT_EQ(e->version, r);       // and is a write: the version moves
  EXPECT_EQ(e->expires_at, kTtlStart + seconds(3));
  const std::optional<Commit> c = store()->commit_at(r);
  ASSERT_TRUE(c.has_value());
  ASSERT_EQ(c->changes.size(), 1u);
  EXPECT_EQ(c->changes[0].kind, ChangeKind::kWrite);
  EXPECT_EQ(c->changes[0].old_value, Value(3));
  EXPECT_EQ(c->changes[0].new_value, Value(3));
  EXPECT_EQ(c->changes[0].expires_at, kTtlStart + seconds(3));

  EXPECT_EQ(store()->persist("app", "n"), r + 1);
  EXPECT_EQ(store()->get_entry("app", "n")->expires_at, std::nullopt);
  EXPECT_EQ(store()->commit_at(r + 1)->changes.at(0).expires_at, std::nullopt);
  // Nothing to clear, no key, no keyspace: no write.
  EXPECT_EQ(store()->persist("app", "n"), r + 1);
  EXPECT_EQ(store()->persist("app", "missing"), r + 1);
  EXPECT_EQ(store()->expire("app", "missing", seconds(1)), r + 1);
  EXPECT_EQ(store()->expire("nowhere", "missing", seconds(1)), r + 1);
  EXPECT_EQ(Head(), r + 1);
  store()->transact([&](Transaction& tx) {
    EXPECT_TRUE(tx.persist("app", "n"));
    EXPECT_FALSE(tx.persist("app", "missing"));
    EXPECT_TRUE(tx.expire("app", "n", seconds(1)));
    EXPECT_FALSE(tx.expire("app", "missing", seconds(1)));
    // A body sees its own deadline.
    EXPECT_EQ(tx.get_entry("app", "n")->expires_at, kTtlStart + seconds(2));
  });
  EXPECT_EQ(store()->get_entry("app", "n")->expires_at, kTtlStart + seconds(2));
  EXPECT_EQ(store()->get("app", "missing"), std::nullopt);  // expire created nothing
}

// After its deadline a key is gone for expire, persist and erase as for every read: each returns
// false (Store forms: the head revision) and writes nothing — the stored row is left for the
// expiry, which the next write still records with the old value.
TEST_P(TtlConformance, ExpirePersistAndEraseOfAnExpiredKeyChangeNothing) {
  Reopen(Opts());
  store()->put("app", "n", Value(7), Ttl(seconds(1)));
  clock_.advance(seconds(1));
  const Revision head = Head();
  store()->transact([&](Transaction& tx) {
    EXPECT_FALSE(tx.expire("app", "n", seconds(10)));
    EXPECT_FALSE(tx.persist("app", "n"));
    EXPECT_FALSE(tx.erase("app", "n"));
    EXPECT_EQ(tx.get("app", "n"), std::nullopt);
  });
  EXPECT_EQ(store()->expire("app", "n", seconds(10)), head);
  EXPECT_EQ(store()->persist("app", "n"), head);
  EXPECT_EQ(store()->erase("app", "n"), head);
  EXPECT_EQ(Head(), head);
  EXPECT_EQ(store()->get("app", "n"), std::nullopt);  // not revived by expire or persist

  const Revision r = store()->put("app", "n", Value(8));
  EXPECT_EQ(r, head + 1);
  const std::optional<Commit> c = store()->commit_at(r);
  ASSERT_TRUE(c.has_value());
  ASSERT_EQ(c->changes.size(), 2u);
  EXPECT_EQ(c->changes[0].kind, ChangeKind::kExpiry);
  EXPECT_EQ(c->changes[0].old_value, Value(7));
  EXPECT_EQ(c->changes[0].expires_at, kTtlStart + seconds(1));  // not moved by expire()
}

TEST_P(TtlConformance, BadTimeToLiveIsRefusedAndChangesNothing) {
  Reopen(Opts());
  store()->put("app", "k", Value(1));
  const Revision head = Head();
  PutOptions both = Ttl(seconds(1));
  both.keep_ttl = true;
  const std::vector<PutOptions> bad = {Ttl(milliseconds(0)), Ttl(milliseconds(-5)),
                                       Ttl(PutOptions::kMaxTtl + milliseconds(1)), both};
  for (const PutOptions& o : bad) {
    try {
      store()->put("app", "k", Value(2), o);
      ADD_FAILURE() << "put with a bad TTL was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
      EXPECT_NE(std::string(e.what()).find("app/"), std::string::npos) << e.what();
    }
    try {
      store()->transact([&](Transaction& tx) {
        tx.put("app", "other", Value(1));
        tx.put("app", "k", Value(2), o);
      });
      ADD_FAILURE() << "a body's put with a bad TTL was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    }
  }
  for (milliseconds ttl : {milliseconds(0), milliseconds(-1), PutOptions::kMaxTtl + seconds(1)}) {
    try {
      store()->expire("app", "k", ttl);
      ADD_FAILURE() << "expire with a bad TTL was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    }
    try {
      store()->transact([&](Transaction& tx) {
        tx.put("app", "other", Value(1));
        tx.expire("app", "k", ttl);
      });
      ADD_FAILURE() << "a body's expire with a bad TTL was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    }
  }
  EXPECT_EQ(Head(), head);
  EXPECT_EQ(store()->get("app", "other"), std::nullopt);
  EXPECT_EQ(store()->get("app", "k"), Value(1));
  EXPECT_EQ(store()->get_entry("app", "k")->expires_at, std::nullopt);
  // The longest allowed TTL is fine.
  store()->put("app", "k", Value(3), Ttl(PutOptions::kMaxTtl));
  EXPECT_EQ(store()->get_entry("app", "k")->expires_at, kTtlStart + PutOptions::kMaxTtl);
}

TEST_P(TtlConformance, WriteAfterTheDeadlineRecordsTheExpiryFirstInItsCommit) {
  Reopen(Opts());
  const Revision put = store()->put("app", "k", Value(1), Ttl(seconds(1)));
  EXPECT_EQ(store()->commit_at(put)->changes.at(0).expires_at, kTtlStart + seconds(1));
  clock_.advance(seconds(2));
  const Revision head = Head();
  const Revision r = store()->put("app", "k", Value(2));
  EXPECT_EQ(r, head + 1);  // the expiry and the write: one revision
  EXPECT_EQ(Head(), r);
  const std::optional<Commit> c = store()->commit_at(r);
  ASSERT_TRUE(c.has_value());
  ASSERT_EQ(c->changes.size(), 2u);
  EXPECT_EQ(c->changes[0].key, "k");
  EXPECT_EQ(c->changes[0].kind, ChangeKind::kExpiry);
  EXPECT_EQ(c->changes[0].old_value, Value(1));
  EXPECT_EQ(c->changes[0].new_value, std::nullopt);
  EXPECT_EQ(c->changes[0].expires_at, kTtlStart + seconds(1));
  EXPECT_EQ(c->changes[1].key, "k");
  EXPECT_EQ(c->changes[1].kind, ChangeKind::kWrite);
  EXPECT_EQ(c->changes[1].old_value, std::nullopt);  // the key was absent when written
  EXPECT_EQ(c->changes[1].new_value, Value(2));
  EXPECT_EQ(c->changes[1].expires_at, std::nullopt);
  EXPECT_EQ(store()->get("app", "k"), Value(2));
  EXPECT_EQ(store()->get_entry("app", "k")->expires_at, std::nullopt);

  // Written again with a TTL after a second deadline: the expiry, then the new deadline.
  store()->put("app", "k", Value(3), Ttl(seconds(1)));
  clock_.advance(seconds(1));
  const Revision r2 = store()->put("app", "k", Value(4), Ttl(seconds(5)));
  const std::optional<Commit> c2 = store()->commit_at(r2);
  ASSERT_TRUE(c2.has_value());
  ASSERT_EQ(c2->changes.size(), 2u);
  EXPECT_EQ(c2->changes[0].kind, ChangeKind::kExpiry);
  EXPECT_EQ(c2->changes[0].old_value, Value(3));
  EXPECT_EQ(c2->changes[0].expires_at, kTtlStart + seconds(3));
  EXPECT_EQ(c2->changes[1].kind, ChangeKind::kWrite);
  EXPECT_EQ(c2->changes[1].expires_at, kTtlStart + seconds(8));

  // An erase of a live key is a write with no new value, not an expiry.
  const Revision erased = store()->erase("app", "k");
  const std::optional<Commit> e = store()->commit_at(erased);
  ASSERT_TRUE(e.has_value());
  ASSERT_EQ(e->changes.size(), 1u);
  EXPECT_EQ(e->changes[0].kind, ChangeKind::kWrite);
  EXPECT_EQ(e->changes[0].old_value, Value(4));
  EXPECT_EQ(e->changes[0].new_value, std::nullopt);
}

TEST_P(TtlConformance, SweepRecordsExpiriesThatHistoryTellsFromErases) {
  Reopen(Opts(milliseconds(10)));
  const Revision put_a = store()->put("app", "a", Value("x"), Ttl(seconds(1)));
  store()->put("app", "b", Value("y"));
  const Revision erase_b = store()->erase("app", "b");
  EXPECT_EQ(store()->stats().keys_expired, 0u);
  clock_.advance(seconds(1));
  ASSERT_TRUE(WaitFor([&] { return store()->stats().keys_expired >= 1; }))
      << "the sweep never removed the key";
  EXPECT_EQ(store()->stats().keys_expired, 1u);
  EXPECT_GE(store()->stats().expiry_sweep_batches, 1u);

  const Commit erase = *store()->commit_at(erase_b);
  ASSERT_EQ(erase.changes.size(), 1u);
  EXPECT_EQ(erase.changes[0].kind, ChangeKind::kWrite);
  EXPECT_EQ(erase.changes[0].new_value, std::nullopt);

  const Revision head = Head();
  EXPECT_EQ(head, erase_b + 1);
  const Commit expiry = *store()->commit_at(head);
  EXPECT_EQ(expiry.origin.label, "expired");
  ASSERT_EQ(expiry.changes.size(), 1u);
  EXPECT_EQ(expiry.changes[0].keyspace, "app");
  EXPECT_EQ(expiry.changes[0].key, "a");
  EXPECT_EQ(expiry.changes[0].kind, ChangeKind::kExpiry);
  EXPECT_EQ(expiry.changes[0].old_value, Value("x"));
  EXPECT_EQ(expiry.changes[0].new_value, std::nullopt);
  EXPECT_EQ(expiry.changes[0].expires_at, kTtlStart + seconds(1));
  EXPECT_EQ(store()->commit_at(put_a)->changes.at(0).expires_at, kTtlStart + seconds(1));
  HistoryQuery q;
  q.label = "expired";
  ASSERT_EQ(store()->history(q).size(), 1u);
  EXPECT_EQ(store()->history(q)[0].revision, head);

  // A sweep that finds nothing due makes no commit.
  std::this_thread::sleep_for(milliseconds(50));
  EXPECT_EQ(Head(), head);
  EXPECT_EQ(store()->stats().keys_expired, 1u);

  // An expiry is reverted like any change: the value comes back, without a deadline.
  const Revision back = store()->revert(head);
  EXPECT_EQ(store()->get("app", "a"), Value("x"));
  EXPECT_EQ(store()->get_entry("app", "a")->expires_at, std::nullopt);
  const Commit revert = *store()->commit_at(back);
  ASSERT_EQ(revert.changes.size(), 1u);
  EXPECT_EQ(revert.changes[0].kind, ChangeKind::kWrite);
  EXPECT_EQ(revert.changes[0].old_value, std::nullopt);
  EXPECT_EQ(revert.changes[0].new_value, Value("x"));
  EXPECT_EQ(revert.changes[0].expires_at, std::nullopt);
  // And it stays: a later sweep has nothing to remove.
  clock_.advance(seconds(10));
  std::this_thread::sleep_for(milliseconds(50));
  EXPECT_EQ(store()->get("app", "a"), Value("x"));
  EXPECT_EQ(Head(), back);
}

TEST_P(TtlConformance, SweepGoesInBatchesAndSparesKeysRewrittenBeforeTheirDeadline) {
  constexpr int kKeys = 600;  // three batches of at most 256
  Reopen(Opts());
  store()->transact([&](Transaction& tx) {
    for (int i = 0; i < kKeys; ++i) {
      tx.put("tmp", "k" + std::to_string(i), Value(i), Ttl(seconds(1)));
    }
  });
  store()->put("tmp", "k5", Value(5), Ttl(seconds(60)));  // renewed before its deadline
  clock_.advance(seconds(2));
  EXPECT_EQ(store()->list("tmp").size(), 1u);  // absent at once, swept later
  const Revision head = Head();
  Reopen(Opts(milliseconds(10)));
  ASSERT_TRUE(WaitFor([&] { return store()->stats().keys_expired >= kKeys - 1; }))
      << store()->stats().keys_expired << " keys swept";
  EXPECT_EQ(store()->stats().keys_expired, static_cast<std::uint64_t>(kKeys - 1));
  EXPECT_EQ(store()->list("tmp").size(), 1u);
  EXPECT_EQ(store()->get("tmp", "k5"), Value(5));
  HistoryQuery q;
  q.from_revision = head + 1;
  std::size_t expiries = 0;
  const std::vector<Commit> commits = store()->history(q);
  for (const Commit& c : commits) {
    EXPECT_EQ(c.origin.label, "expired");
    EXPECT_LE(c.changes.size(), 256u);
    for (const Change& ch : c.changes) {
      EXPECT_EQ(ch.kind, ChangeKind::kExpiry);
      EXPECT_NE(ch.key, "k5");
      EXPECT_EQ(ch.expires_at, kTtlStart + seconds(1));
      ++expiries;
    }
  }
  EXPECT_EQ(expiries, static_cast<std::size_t>(kKeys - 1));
  EXPECT_GE(commits.size(), 3u);
  EXPECT_GE(store()->stats().expiry_sweep_batches, commits.size());
}

// In a redacted keyspace the sweep's expiry carries the old value's digest, like every change
// there.
TEST_P(TtlConformance, SweepOfARedactedKeyspaceRecordsDigests) {
  Options o = Opts(milliseconds(10));
  o.redacted_keyspaces = {"secret"};
  Reopen(o);
  store()->put("secret", "s1", Value("pin-1"), Ttl(milliseconds(100)));
  store()->put("app", "a1", Value(1), Ttl(milliseconds(200)));
  store()->put("app", "stays", Value(3), Ttl(seconds(10)));
  clock_.advance(seconds(1));
  ASSERT_TRUE(WaitFor([&] { return store()->stats().keys_expired >= 2; }));
  EXPECT_EQ(store()->stats().keys_expired, 2u);
  HistoryQuery q;
  q.label = "expired";
  int seen = 0;
  for (const Commit& c : store()->history(q)) {
    for (const Change& ch : c.changes) {
      ++seen;
      EXPECT_EQ(ch.kind, ChangeKind::kExpiry);
      EXPECT_EQ(ch.new_value, std::nullopt);
      EXPECT_EQ(ch.redacted, ch.keyspace == "secret") << ch.keyspace;
      if (ch.key == "s1") {
        EXPECT_EQ(ch.old_value, Value(store()->value_digest(Value("pin-1"))));
        EXPECT_EQ(ch.expires_at, kTtlStart + milliseconds(100));
      } else {
        EXPECT_EQ(ch.key, "a1");
        EXPECT_EQ(ch.old_value, Value(1));
        EXPECT_EQ(ch.expires_at, kTtlStart + milliseconds(200));
      }
    }
  }
  EXPECT_EQ(seen, 2);
  EXPECT_EQ(store()->list("app").size(), 1u);
  EXPECT_EQ(store()->list("secret").size(), 0u);
}

// README: a key with a deadline is never held in the read cache (whether it is there depends on
// the reader's clock). The cache is on (WithReadCache) and shown to serve a persistent key, so
// a TTL key's stale value would be served if it were cached.
TEST_P(TtlConformance, KeyWithADeadlineIsNeverServedStaleFromTheReadCache) {
  Reopen(WithReadCache(Opts()));
  store()->put("app", "plain", Value(1));
  store()->get("app", "plain");
  std::uint64_t hits = store()->stats().cache_hits;
  EXPECT_EQ(store()->get("app", "plain"), Value(1));
  ASSERT_EQ(store()->stats().cache_hits, hits + 1) << "the read cache is off: nothing to test";

  // Written with a TTL: read twice, neither from the cache; absent at the deadline.
  store()->put("app", "code", Value(7), Ttl(seconds(1)));
  hits = store()->stats().cache_hits;
  EXPECT_EQ(store()->get("app", "code"), Value(7));
  EXPECT_EQ(store()->get("app", "code"), Value(7));
  EXPECT_EQ(store()->get_entry("app", "code")->value, Value(7));
  EXPECT_EQ(store()->stats().cache_hits, hits) << "a key with a deadline was read from the cache";
  clock_.advance(seconds(1));
  EXPECT_EQ(store()->get("app", "code"), std::nullopt);
  EXPECT_EQ(store()->get_entry("app", "code"), std::nullopt);

  // A cached persistent key that expire() gives a deadline.
  ASSERT_EQ(store()->get("app", "plain"), Value(1));
  store()->expire("app", "plain", seconds(1));
  EXPECT_EQ(store()->get("app", "plain"), Value(1));
  EXPECT_EQ(store()->get_entry("app", "plain")->expires_at, clock_.now() + seconds(1));
  clock_.advance(seconds(1));
  EXPECT_EQ(store()->get("app", "plain"), std::nullopt);
  EXPECT_EQ(store()->get_entry("app", "plain"), std::nullopt);

  // A cached absent key written with a TTL, and one written with keep_ttl over a deadline.
  EXPECT_EQ(store()->get("app", "late"), std::nullopt);
  EXPECT_EQ(store()->get("app", "late"), std::nullopt);
  store()->put("app", "late", Value(1), Ttl(seconds(1)));
  EXPECT_EQ(store()->get("app", "late"), Value(1));
  store()->put("app", "late", Value(2), KeepTtl());
  EXPECT_EQ(store()->get("app", "late"), Value(2));
  clock_.advance(seconds(1));
  EXPECT_EQ(store()->get("app", "late"), std::nullopt);

  // persist() makes a key cacheable again; it then outlives its old deadline.
  store()->put("app", "kept", Value(9), Ttl(seconds(1)));
  EXPECT_EQ(store()->get("app", "kept"), Value(9));
  store()->persist("app", "kept");
  store()->get("app", "kept");
  hits = store()->stats().cache_hits;
  EXPECT_EQ(store()->get("app", "kept"), Value(9));
  EXPECT_EQ(store()->stats().cache_hits, hits + 1);
  clock_.advance(seconds(5));
  EXPECT_EQ(store()->get("app", "kept"), Value(9));
}

// Another process (the worker, its own Store and cache) judges the deadline by its own clock:
// present one microsecond before, absent at exactly the deadline to get, a read body and list,
// although nothing has removed the key. And the other way round: a key the worker writes with a
// TTL is absent here at its deadline by this process's clock.
TEST_P(TtlConformance, AnotherProcessFindsTheKeyAbsentAtTheDeadlineByItsClock) {
  CONFORMANCE_REQUIRE(test::Capability::kMultiProcess);
  Reopen(Opts());
  store()->put("app", "code", Value(7), Ttl(milliseconds(1500)));
  const std::int64_t deadline_us = ManualClock::Micros(kTtlStart + milliseconds(1500));

  auto worker = test::ChildProcess::SpawnWorker(
      {"ttl-serve", locator(), std::to_string(ManualClock::Micros(kTtlStart))});
  ASSERT_EQ(worker.ReadLine(kWait), "ready");
  auto ask = [&](const std::string& command) {
    worker.Write(command + "\n");
    return worker.ReadLine(kWait).value_or("(no answer)");
  };
  EXPECT_EQ(ask("clock " + std::to_string(deadline_us - 1)), "ok");
  EXPECT_EQ(ask("get app code"), "value 7");
  EXPECT_EQ(ask("read app code"), "value 7 " + std::to_string(deadline_us));
  EXPECT_EQ(ask("count app"), "count 1");
  EXPECT_EQ(ask("clock " + std::to_string(deadline_us)), "ok");
  EXPECT_EQ(ask("get app code"), "value none");
  EXPECT_EQ(ask("read app code"), "value none none");
  EXPECT_EQ(ask("count app"), "count 0");
  // This process's clock has not reached the deadline: still there here.
  EXPECT_EQ(store()->get("app", "code"), Value(7));

  // A new TTL written here reaches the other process's reads, cached or not.
  store()->put("app", "code", Value(8), Ttl(seconds(10)));
  EXPECT_EQ(ask("get app code"), "value 8");

  // The worker writes with its clock (now kTtlStart + 1.5 s): the deadline is 2 s later.
  EXPECT_EQ(ask("putttl app theirs 2000").rfind("rev ", 0), 0u);
  const Clock::time_point theirs = kTtlStart + milliseconds(3500);
  EXPECT_EQ(store()->get_entry("app", "theirs")->expires_at, theirs);
  clock_.set(theirs - kOneMicro);
  EXPECT_EQ(store()->get("app", "theirs"), Value(1));
  clock_.set(theirs);
  EXPECT_EQ(store()->get("app", "theirs"), std::nullopt);
  EXPECT_EQ(ReadInBody("theirs"), std::nullopt);
  EXPECT_EQ(ask("quit"), "(no answer)");
}

TEST_P(TtlConformance, ConfigWatchTellsAnExpiryFromAnErase) {
  Reopen(Opts(milliseconds(10)));
  std::mutex mu;
  std::vector<ConfigChange> seen;
  Watch w = store()->config().watch(
      "feature.",
      [&](const WatchEvent& ev) {
        std::lock_guard<std::mutex> lock(mu);
        for (const ConfigChange& c : ev.changes) seen.push_back(c);
      },
      Head() + 1);
  // A temporary override written through the core API with a TTL (config.h's storage layout),
  // and one erased by hand.
  store()->put("config", "override/feature.trial", Value(true), Ttl(seconds(1)));
  EXPECT_EQ(store()->config().get_value("feature.trial"), ConfigValue(true));
  store()->config().set("feature.beta", ConfigValue(true));
  store()->config().erase("feature.beta");
  clock_.advance(seconds(1));
  EXPECT_EQ(store()->config().get_value("feature.trial"), std::nullopt);
  EXPECT_TRUE(WaitFor([&] {
    std::lock_guard<std::mutex> lock(mu);
    return seen.size() >= 4;
  }));
  std::this_thread::sleep_for(milliseconds(50));  // nothing more arrives
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_EQ(seen.size(), 4u);
  EXPECT_EQ(seen[0].key, "feature.trial");
  EXPECT_EQ(seen[0].kind, ChangeKind::kWrite);
  EXPECT_EQ(seen[0].new_value, ConfigValue(true));
  EXPECT_EQ(seen[1].key, "feature.beta");
  EXPECT_EQ(seen[1].kind, ChangeKind::kWrite);
  EXPECT_EQ(seen[2].key, "feature.beta");
  EXPECT_EQ(seen[2].new_value, std::nullopt);
  EXPECT_EQ(seen[2].kind, ChangeKind::kWrite);  // an erase
  EXPECT_EQ(seen[3].key, "feature.trial");
  EXPECT_EQ(seen[3].old_value, ConfigValue(true));
  EXPECT_EQ(seen[3].new_value, std::nullopt);
  EXPECT_EQ(seen[3].kind, ChangeKind::kExpiry);
}

TEST_P(TtlConformance, NegativeSweepIntervalIsRefused) {
  Options o = Opts();
  o.expiry_sweep_interval = milliseconds(-1);
  try {
    Reopen(o);
    ADD_FAILURE() << "a negative expiry_sweep_interval was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
  }
}

STATESTORE_CONFORMANCE_SUITE(TtlConformance);

}  // namespace
}  // namespace statestore

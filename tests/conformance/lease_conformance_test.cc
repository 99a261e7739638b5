// Conformance: leases — keys that live and die together (issue 16; README "Leases", lease.h), on
// every engine, with an injected clock (Options::clock):
//   * an attached key carries its lease's deadline (Entry::expires_at, Entry::lease); keep_alive
//     moves the lease and every attached key to now + the granted TTL with no revision and no
//     version change — also a key attached earlier in the same body; from the deadline on every
//     key of the lease is absent to every read, here and in a worker process, and the lease is
//     gone for keep_alive, revoke, lease(), leases() and attaching;
//   * revoke erases every attached key in one revision (kWrite changes, redacted keyspaces
//     recorded with digests, one change per key);
//   * an expiry records kExpiry for every key of the lease in one commit: by the sweep (never
//     split, even above the 256-row batch; leases without keys end too, counted in
//     Stats::leases_expired, their keys in keys_expired), or by the first write to one of its
//     keys after the deadline (put, put_if_version against "no key"), in that write's revision
//     and before the write, also in a body that writes other keys; a lease a write ended is not
//     ended again by the sweep;
//   * later writes decide whether a key stays attached (keep_ttl keeps it; a plain put,
//     put_if_version, expire, persist detach it; a put with another lease moves it);
//   * a grant in a body (or savepoint) that rolls back never existed; lease ids increase and are
//     never handed out twice (after a revoke, an expiry, a rolled-back grant, a restart);
//   * bad TTLs and lease ids are refused (kInvalidArgument), an unknown lease is kNotFound, a
//     grant in a read body kReadOnly, and none of them changes anything.
// Engine-specific lease tests (Verify of attached deadlines, the SQLite schema-six migration, the
// leases table emptied by every way a lease ends) stay in tests/lease_test.cc.
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "conformance/conformance_test.h"
#include "manual_clock.h"
#include "put_options_helpers.h"
#include "statestore/admin.h"
#include "statestore/statestore.h"
#include "test_util.h"

namespace statestore {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using test::ManualClock;
using test::Ttl;
using test::WaitFor;
using test::WithLease;

const Clock::time_point kLeaseStart = test::kManualClockStart;
constexpr std::chrono::microseconds kLeaseMicro{1};
const milliseconds kLeaseWait(20'000 * test::kSlowFactor);

// "keyspace/key" of a change, to look changes up whatever their order within a commit.
std::string Where(const Change& ch) { return ch.keyspace + "/" + ch.key; }

// The changes of `commit` by "keyspace/key"; a key changed twice fails the test.
std::map<std::string, Change> ByKey(const Commit& commit) {
  std::map<std::string, Change> out;
  for (const Change& ch : commit.changes) {
    EXPECT_TRUE(out.emplace(Where(ch), ch).second)
        << Where(ch) << " changed twice in revision " << commit.revision;
  }
  return out;
}

class LeaseConformance : public test::ConformanceTest {
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

  Revision Head() { return store()->history_bounds().head; }

  ManualClock clock_{kLeaseStart};
};

TEST_P(LeaseConformance, KeysExpireAtTheLeaseDeadlineAndKeepAliveExtendsThemAll) {
  Reopen(Opts());
  const Revision empty_head = Head();
  const LeaseId lease = store()->grant_lease(seconds(10));
  EXPECT_GT(lease, 0);
  EXPECT_EQ(Head(), empty_head);  // a grant uses no revision
  store()->transact([&](Transaction& tx) {
    tx.put("app", "a", Value(1), WithLease(lease));
    tx.put("other", "b", Value(2), WithLease(lease));
  });
  store()->put("app", "plain", Value(3));
  auto a = store()->get_entry("app", "a");
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->lease, lease);
  EXPECT_EQ(a->expires_at, kLeaseStart + seconds(10));
  EXPECT_EQ(store()->get_entry("app", "plain")->lease, std::nullopt);

  clock_.advance(seconds(6));
  const Revision head = Head();
  EXPECT_TRUE(store()->keep_alive(lease));
  EXPECT_EQ(Head(), head);  // no revision, no version change
  const Clock::time_point deadline = kLeaseStart + seconds(16);
  EXPECT_EQ(store()->get_entry("app", "a")->expires_at, deadline);
  EXPECT_EQ(store()->get_entry("app", "a")->version, a->version);
  EXPECT_EQ(store()->get_entry("other", "b")->expires_at, deadline);
  const std::optional<Lease> info = store()->lease(lease);
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->ttl, seconds(10));
  EXPECT_EQ(info->expires_at, deadline);
  EXPECT_EQ(info->keys, (std::vector<LeaseKey>{{"app", "a"}, {"other", "b"}}));
  ASSERT_EQ(store()->leases().size(), 1u);
  EXPECT_EQ(store()->leases()[0].id, lease);

  clock_.set(deadline - kLeaseMicro);
  EXPECT_EQ(store()->get("app", "a"), Value(1));
  EXPECT_EQ(store()->list("other").size(), 1u);
  clock_.set(deadline);
  EXPECT_EQ(store()->get("app", "a"), std::nullopt);
  EXPECT_EQ(store()->get("other", "b"), std::nullopt);
  EXPECT_EQ(store()->list("other").size(), 0u);
  store()->read([&](Transaction& tx) { EXPECT_EQ(tx.get("app", "a"), std::nullopt); });
  EXPECT_EQ(store()->get("app", "plain"), Value(3));
  // An expired lease is gone for every use, before any sweep.
  EXPECT_FALSE(store()->keep_alive(lease));
  EXPECT_FALSE(store()->revoke_lease(lease));
  EXPECT_EQ(store()->lease(lease), std::nullopt);
  EXPECT_TRUE(store()->leases().empty());
  try {
    store()->put("app", "late", Value(1), WithLease(lease));
    ADD_FAILURE() << "a put attached a key to an expired lease";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kNotFound);
    EXPECT_NE(std::string(e.what()).find("lease " + std::to_string(lease)), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(Head(), head);
}

TEST_P(LeaseConformance, AnotherProcessSeesTheRenewedDeadlineAndTheExpiry) {
  CONFORMANCE_REQUIRE(test::Capability::kMultiProcess);
  Reopen(Opts());
  const LeaseId lease = store()->grant_lease(seconds(2));
  store()->put("app", "online", Value(1), WithLease(lease));
  auto worker = test::ChildProcess::SpawnWorker(
      {"ttl-serve", locator(), std::to_string(ManualClock::Micros(kLeaseStart))});
  ASSERT_EQ(worker.ReadLine(kLeaseWait), "ready");
  auto ask = [&](const std::string& command) {
    worker.Write(command + "\n");
    return worker.ReadLine(kLeaseWait).value_or("(no answer)");
  };
  EXPECT_EQ(ask("get app online"), "value 1");
  clock_.advance(seconds(1));
  ASSERT_TRUE(store()->keep_alive(lease));
  const std::int64_t deadline_us = ManualClock::Micros(kLeaseStart + seconds(3));
  EXPECT_EQ(ask("read app online"), "value 1 " + std::to_string(deadline_us));
  // Past the first deadline, before the renewed one: still there.
  EXPECT_EQ(ask("clock " + std::to_string(ManualClock::Micros(kLeaseStart + milliseconds(2500)))),
            "ok");
  EXPECT_EQ(ask("get app online"), "value 1");
  EXPECT_EQ(ask("clock " + std::to_string(deadline_us - 1)), "ok");
  EXPECT_EQ(ask("count app"), "count 1");
  EXPECT_EQ(ask("clock " + std::to_string(deadline_us)), "ok");
  EXPECT_EQ(ask("get app online"), "value none");
  EXPECT_EQ(ask("read app online"), "value none none");
  EXPECT_EQ(ask("count app"), "count 0");
  EXPECT_EQ(ask("quit"), "(no answer)");
}

TEST_P(LeaseConformance, RevokeErasesEveryAttachedKeyInOneRevision) {
  Options o = Opts();
  o.redacted_keyspaces = {"secret"};
  Reopen(o);
  const LeaseId lease = store()->grant_lease(seconds(60));
  const LeaseId other = store()->grant_lease(seconds(60));
  store()->transact([&](Transaction& tx) {
    tx.put("app", "x", Value(1), WithLease(lease));
    tx.put("app", "y", Value(2), WithLease(lease));
    tx.put("secret", "token", Value("t0ken"), WithLease(lease));
    tx.put("app", "z", Value(3), WithLease(other));
  });
  const Revision head = Head();
  EXPECT_TRUE(store()->revoke_lease(lease));
  EXPECT_EQ(Head(), head + 1);
  const Commit c = *store()->commit_at(head + 1);
  ASSERT_EQ(c.changes.size(), 3u);
  for (const Change& ch : c.changes) {
    EXPECT_EQ(ch.kind, ChangeKind::kWrite) << Where(ch);  // the program's erase, not an expiry
    EXPECT_EQ(ch.new_value, std::nullopt) << Where(ch);
  }
  const std::map<std::string, Change> changes = ByKey(c);
  ASSERT_EQ(changes.count("app/x"), 1u);
  EXPECT_EQ(changes.at("app/x").old_value, Value(1));
  EXPECT_FALSE(changes.at("app/x").redacted);
  ASSERT_EQ(changes.count("app/y"), 1u);
  EXPECT_EQ(changes.at("app/y").old_value, Value(2));
  ASSERT_EQ(changes.count("secret/token"), 1u);
  EXPECT_TRUE(changes.at("secret/token").redacted);
  EXPECT_EQ(changes.at("secret/token").old_value, Value(store()->value_digest(Value("t0ken"))));
  EXPECT_EQ(store()->list("app").size(), 1u);
  EXPECT_EQ(store()->get("app", "z"), Value(3));
  EXPECT_EQ(store()->lease(lease), std::nullopt);
  EXPECT_TRUE(store()->lease(other).has_value());
  // Twice: nothing left to revoke, no revision.
  EXPECT_FALSE(store()->revoke_lease(lease));
  EXPECT_FALSE(store()->revoke_lease(987654));
  EXPECT_EQ(Head(), head + 1);
  // Ids are never reused.
  EXPECT_GT(store()->grant_lease(seconds(1)), other);
  ExpectVerified();
}

TEST_P(LeaseConformance, SweepExpiresALeaseWholeInOneRevisionEvenAboveTheBatchSize) {
  constexpr int kLeaseKeys = 300;  // more than one sweep batch (256)
  constexpr int kPlainKeys = 10;
  Reopen(Opts());
  store()->transact([&](Transaction& tx) {
    const LeaseId lease = tx.grant_lease(seconds(1));
    for (int i = 0; i < kLeaseKeys; ++i) {
      tx.put("worker", "job" + std::to_string(i), Value(i), WithLease(lease));
    }
    for (int i = 0; i < kPlainKeys; ++i) {
      tx.put("tmp", "k" + std::to_string(i), Value(i), Ttl(milliseconds(500)));  // due first
    }
  });
  // Leases without keys expire too, with no revision, in batches of at most 256 leases.
  store()->transact([&](Transaction& tx) {
    for (int i = 0; i < 600; ++i) tx.grant_lease(seconds(1));
  });
  const Revision head = Head();
  clock_.advance(seconds(2));
  Reopen(Opts(milliseconds(10)));
  ASSERT_TRUE(WaitFor([&] {
    return store()->stats().keys_expired >= kLeaseKeys + kPlainKeys &&
           store()->stats().leases_expired >= 601;
  })) << store()->stats().keys_expired
      << " keys and " << store()->stats().leases_expired << " leases expired";
  EXPECT_EQ(store()->stats().keys_expired, static_cast<std::uint64_t>(kLeaseKeys + kPlainKeys));
  EXPECT_EQ(store()->stats().leases_expired, 601u);
  EXPECT_GE(store()->stats().expiry_sweep_batches, 3u);
  EXPECT_TRUE(store()->list("worker").empty());
  EXPECT_TRUE(store()->leases().empty());
  HistoryQuery q;
  q.from_revision = head + 1;
  std::size_t lease_commits = 0, worker_expiries = 0, tmp_expiries = 0;
  for (const Commit& c : store()->history(q)) {
    EXPECT_EQ(c.origin.label, "expired");
    std::size_t in_worker = 0;
    for (const Change& ch : c.changes) {
      EXPECT_EQ(ch.kind, ChangeKind::kExpiry);
      EXPECT_EQ(ch.expires_at, ch.keyspace == "worker" ? kLeaseStart + seconds(1)
                                                       : kLeaseStart + milliseconds(500));
      (ch.keyspace == "worker" ? in_worker : tmp_expiries) += 1;
    }
    if (in_worker > 0) {
      ++lease_commits;
      EXPECT_EQ(in_worker, static_cast<std::size_t>(kLeaseKeys));  // never split
    }
    worker_expiries += in_worker;
  }
  EXPECT_EQ(lease_commits, 1u);
  EXPECT_EQ(worker_expiries, static_cast<std::size_t>(kLeaseKeys));
  EXPECT_EQ(tmp_expiries, static_cast<std::size_t>(kPlainKeys));
  ExpectVerified();
}

TEST_P(LeaseConformance, WriteToAKeyOfAnExpiredLeaseRecordsTheWholeLeaseExpiryFirst) {
  Reopen(Opts());
  const LeaseId lease = store()->grant_lease(seconds(1));
  store()->transact([&](Transaction& tx) {
    tx.put("app", "x", Value(1), WithLease(lease));
    tx.put("app", "y", Value(2), WithLease(lease));
  });
  clock_.advance(seconds(1));
  const Revision r = store()->put("app", "x", Value(10));
  const Commit c = *store()->commit_at(r);
  ASSERT_EQ(c.changes.size(), 3u);
  // The two expiries (in either order), then the write.
  for (std::size_t i : {0u, 1u}) {
    EXPECT_EQ(c.changes[i].kind, ChangeKind::kExpiry) << i;
    EXPECT_EQ(c.changes[i].new_value, std::nullopt) << i;
    EXPECT_EQ(c.changes[i].expires_at, kLeaseStart + seconds(1)) << i;
  }
  const std::map<std::string, Change> changes =
      ByKey(Commit{c.revision, c.time, c.origin, {c.changes[0], c.changes[1]}, c.partial});
  ASSERT_EQ(changes.count("app/x"), 1u);
  EXPECT_EQ(changes.at("app/x").old_value, Value(1));
  ASSERT_EQ(changes.count("app/y"), 1u);
  EXPECT_EQ(changes.at("app/y").old_value, Value(2));
  EXPECT_EQ(c.changes[2].key, "x");
  EXPECT_EQ(c.changes[2].kind, ChangeKind::kWrite);
  EXPECT_EQ(c.changes[2].old_value, std::nullopt);
  EXPECT_EQ(c.changes[2].new_value, Value(10));
  EXPECT_EQ(store()->get_entry("app", "x")->lease, std::nullopt);
  EXPECT_EQ(store()->get_entry("app", "x")->expires_at, std::nullopt);
  // A compare-and-set against "no key" on a key of another expired lease does the same.
  const LeaseId second = store()->grant_lease(seconds(1));
  store()->transact([&](Transaction& tx) {
    tx.put("app", "p", Value(1), WithLease(second));
    tx.put("app", "q", Value(2), WithLease(second));
  });
  clock_.advance(seconds(1));
  const Revision cas =
      store()->transact([&](Transaction& tx) { tx.put_if_version("app", "q", Value(3), 0); });
  const Commit c2 = *store()->commit_at(cas);
  ASSERT_EQ(c2.changes.size(), 3u);
  EXPECT_EQ(c2.changes[0].kind, ChangeKind::kExpiry);
  EXPECT_EQ(c2.changes[1].kind, ChangeKind::kExpiry);
  EXPECT_EQ(c2.changes[2].kind, ChangeKind::kWrite);
  EXPECT_EQ(c2.changes[2].key, "q");
  EXPECT_EQ(store()->get("app", "p"), std::nullopt);
  EXPECT_EQ(store()->get("app", "q"), Value(3));
}

TEST_P(LeaseConformance, LaterWritesDecideWhetherAKeyStaysAttached) {
  Reopen(Opts());
  const LeaseId lease = store()->grant_lease(seconds(30));
  store()->transact([&](Transaction& tx) {
    for (const char* k : {"keep", "plain", "cas", "expire", "persist", "erase", "move"})
      tx.put("app", k, Value(1), WithLease(lease));
  });
  const LeaseId second = store()->grant_lease(seconds(90));
  PutOptions keep;
  keep.keep_ttl = true;
  store()->transact([&](Transaction& tx) {
    tx.put("app", "keep", Value(2), keep);
    tx.put("app", "plain", Value(2));
    tx.put_if_version("app", "cas", Value(2), tx.get_entry("app", "cas")->version);
    EXPECT_TRUE(tx.expire("app", "expire", seconds(5)));
    EXPECT_TRUE(tx.persist("app", "persist"));
    EXPECT_TRUE(tx.erase("app", "erase"));
    tx.put("app", "move", Value(2), WithLease(second));
  });
  auto entry = [&](const char* key) { return *store()->get_entry("app", key); };
  EXPECT_EQ(entry("keep").lease, lease);
  EXPECT_EQ(entry("keep").expires_at, kLeaseStart + seconds(30));
  EXPECT_EQ(entry("plain").lease, std::nullopt);
  EXPECT_EQ(entry("plain").expires_at, std::nullopt);
  EXPECT_EQ(entry("cas").lease, std::nullopt);
  EXPECT_EQ(entry("cas").expires_at, std::nullopt);
  EXPECT_EQ(entry("expire").lease, std::nullopt);
  EXPECT_EQ(entry("expire").expires_at, kLeaseStart + seconds(5));
  EXPECT_EQ(entry("persist").lease, std::nullopt);
  EXPECT_EQ(entry("persist").expires_at, std::nullopt);
  EXPECT_EQ(store()->get("app", "erase"), std::nullopt);
  EXPECT_EQ(entry("move").lease, second);
  EXPECT_EQ(entry("move").expires_at, kLeaseStart + seconds(90));
  EXPECT_EQ(store()->lease(lease)->keys, (std::vector<LeaseKey>{{"app", "keep"}}));
  EXPECT_EQ(store()->lease(second)->keys, (std::vector<LeaseKey>{{"app", "move"}}));
  // A renewal reaches only the keys still attached.
  clock_.advance(seconds(10));
  ASSERT_TRUE(store()->keep_alive(lease));
  EXPECT_EQ(entry("keep").expires_at, kLeaseStart + seconds(40));
  EXPECT_EQ(store()->get("app", "expire"), std::nullopt);  // its own 5 s ran out
  EXPECT_EQ(entry("move").expires_at, kLeaseStart + seconds(90));
  EXPECT_EQ(entry("plain").expires_at, std::nullopt);
  const std::vector<Entry> listed = store()->list("app", "keep");
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].lease, lease);
  // Past the first lease's old deadline, before its renewed one: the detached keys stay.
  clock_.set(kLeaseStart + seconds(40));
  EXPECT_EQ(store()->get("app", "keep"), std::nullopt);
  EXPECT_EQ(store()->get("app", "plain"), Value(2));
  EXPECT_EQ(store()->get("app", "cas"), Value(2));
  EXPECT_EQ(store()->get("app", "persist"), Value(1));
  EXPECT_EQ(store()->get("app", "move"), Value(2));
}

TEST_P(LeaseConformance, GrantInABodyThatRollsBackNeverExisted) {
  Reopen(Opts());
  LeaseId granted = 0;
  EXPECT_THROW(store()->transact([&](Transaction& tx) {
    granted = tx.grant_lease(seconds(10));
    tx.put("app", "k", Value(1), WithLease(granted));
    throw std::runtime_error("changed my mind");
  }),
               std::runtime_error);
  ASSERT_GT(granted, 0);
  EXPECT_EQ(store()->lease(granted), std::nullopt);
  EXPECT_FALSE(store()->keep_alive(granted));
  EXPECT_EQ(store()->get("app", "k"), std::nullopt);
  EXPECT_TRUE(store()->leases().empty());
  // Inside a savepoint too; the enclosing body goes on with a lease of its own.
  store()->transact([&](Transaction& tx) {
    EXPECT_THROW(tx.savepoint([&](Transaction& inner) {
      inner.put("app", "s", Value(1), WithLease(inner.grant_lease(seconds(10))));
      throw std::runtime_error("undo");
    }),
                 std::runtime_error);
    tx.put("app", "t", Value(1), WithLease(tx.grant_lease(seconds(10))));
  });
  EXPECT_EQ(store()->get("app", "s"), std::nullopt);
  ASSERT_EQ(store()->leases().size(), 1u);
  EXPECT_EQ(store()->leases()[0].keys, (std::vector<LeaseKey>{{"app", "t"}}));
}

TEST_P(LeaseConformance, BadLeaseArgumentsAreRefusedAndChangeNothing) {
  Reopen(Opts());
  store()->put("app", "k", Value(1));
  const LeaseId lease = store()->grant_lease(seconds(10));
  const Revision head = Head();
  auto code_of = [](const std::function<void()>& f) -> std::optional<ErrorCode> {
    try {
      f();
    } catch (const Error& e) {
      if (e.code() != ErrorCode::kReadOnly) {
        EXPECT_NE(std::string(e.what()).find("lease"), std::string::npos) << e.what();
      }
      return e.code();
    }
    return std::nullopt;
  };
  const auto invalid = std::optional<ErrorCode>(ErrorCode::kInvalidArgument);
  for (milliseconds ttl : {milliseconds(0), milliseconds(-1), PutOptions::kMaxTtl + seconds(1)}) {
    EXPECT_EQ(code_of([&] { store()->grant_lease(ttl); }), invalid) << ttl.count();
  }
  for (LeaseId id : {LeaseId(0), LeaseId(-3)}) {
    EXPECT_EQ(code_of([&] { store()->put("app", "k", Value(2), WithLease(id)); }), invalid);
    EXPECT_EQ(code_of([&] { store()->keep_alive(id); }), invalid);
    EXPECT_EQ(code_of([&] { store()->revoke_lease(id); }), invalid);
    EXPECT_EQ(code_of([&] { store()->lease(id); }), invalid);
  }
  PutOptions both = WithLease(lease);
  both.ttl = seconds(1);
  EXPECT_EQ(code_of([&] { store()->put("app", "k", Value(2), both); }), invalid);
  both = WithLease(lease);
  both.keep_ttl = true;
  EXPECT_EQ(code_of([&] { store()->put("app", "k", Value(2), both); }), invalid);
  // An unknown lease, inside a body that wrote before: the whole body rolls back.
  EXPECT_EQ(code_of([&] {
              store()->transact([&](Transaction& tx) {
                tx.put("app", "other", Value(1));
                tx.put("app", "k", Value(2), WithLease(lease + 100));
              });
            }),
            std::optional<ErrorCode>(ErrorCode::kNotFound));
  EXPECT_EQ(code_of([&] { store()->read([&](Transaction& tx) { tx.grant_lease(seconds(1)); }); }),
            std::optional<ErrorCode>(ErrorCode::kReadOnly));
  EXPECT_EQ(Head(), head);
  EXPECT_EQ(store()->get("app", "k"), Value(1));
  EXPECT_EQ(store()->get_entry("app", "k")->lease, std::nullopt);
  EXPECT_EQ(store()->get("app", "other"), std::nullopt);
  ASSERT_EQ(store()->leases().size(), 1u);
  EXPECT_EQ(store()->leases()[0].id, lease);
  EXPECT_TRUE(store()->leases()[0].keys.empty());
}

// A lease whose keys are in a redacted keyspace (and one that is not): revoke records one
// erase per key in one revision, with digests for the redacted keys, and the keys are gone.
TEST_P(LeaseConformance, RevokeOfALeaseWithRedactedKeysRecordsOneErasePerKey) {
  Options o = Opts();
  o.redacted_keyspaces = {"secret"};
  Reopen(o);
  const LeaseId lease = store()->grant_lease(seconds(60));
  store()->transact([&](Transaction& tx) {
    tx.put("secret", "a", Value("pin-a"), WithLease(lease));
    tx.put("secret", "b", Value("pin-b"), WithLease(lease));
    tx.put("secret", "c", Value(3), WithLease(lease));
    tx.put("app", "side", Value(4), WithLease(lease));
    tx.put("secret", "unattached", Value("stays"));
  });
  const Revision head = Head();
  EXPECT_TRUE(store()->revoke_lease(lease));
  EXPECT_EQ(Head(), head + 1);
  const Commit c = *store()->commit_at(head + 1);
  EXPECT_EQ(c.changes.size(), 4u);
  const std::map<std::string, Change> changes = ByKey(c);
  const std::map<std::string, Value> old_values = {
      {"secret/a", store()->value_digest(Value("pin-a"))},
      {"secret/b", store()->value_digest(Value("pin-b"))},
      {"secret/c", store()->value_digest(Value(3))},
      {"app/side", Value(4)}};
  for (const auto& [where, old_value] : old_values) {
    ASSERT_EQ(changes.count(where), 1u) << where;
    const Change& ch = changes.at(where);
    EXPECT_EQ(ch.kind, ChangeKind::kWrite) << where;
    EXPECT_EQ(ch.old_value, old_value) << where;
    EXPECT_EQ(ch.new_value, std::nullopt) << where;
    EXPECT_EQ(ch.redacted, ch.keyspace == "secret") << where;
    EXPECT_EQ(ch.expires_at, std::nullopt) << where;
  }
  const std::vector<Entry> left = store()->list("secret");
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].key, "unattached");
  EXPECT_EQ(store()->get("secret", "a"), std::nullopt);
  EXPECT_EQ(store()->get("app", "side"), std::nullopt);
  EXPECT_EQ(store()->lease(lease), std::nullopt);
  ExpectVerified();
}

// The same lease shape expired: by the sweep, and by a write to one of its redacted keys —
// each one commit with one kExpiry per key, digests for the redacted keys, the deadline that
// passed; the keys are gone.
TEST_P(LeaseConformance, ExpiryOfALeaseWithRedactedKeysRecordsOneExpiryPerKey) {
  Options o = Opts();
  o.redacted_keyspaces = {"secret"};
  Reopen(o);
  const LeaseId swept = store()->grant_lease(seconds(1));
  const LeaseId written = store()->grant_lease(seconds(2));
  store()->transact([&](Transaction& tx) {
    for (const char* k : {"a", "b", "c"}) {
      tx.put("secret", std::string("swept-") + k, Value(std::string("pin-") + k), WithLease(swept));
      tx.put("secret", std::string("written-") + k, Value(std::string("pin-") + k),
             WithLease(written));
    }
    tx.put("app", "swept-side", Value(1), WithLease(swept));
    tx.put("app", "written-side", Value(2), WithLease(written));
    tx.put("secret", "unattached", Value("stays"));
  });
  // Both ways of recording an expiry must give the same changes.
  auto check = [&](const Commit& c, const std::string& prefix, Value side,
                   Clock::time_point deadline) {
    std::size_t expiries = 0;
    for (const Change& ch : c.changes) expiries += ch.kind == ChangeKind::kExpiry ? 1 : 0;
    EXPECT_EQ(expiries, 4u) << prefix;
    const std::map<std::string, Change> changes = ByKey(c);
    std::map<std::string, Value> old_values = {{"app/" + prefix + "side", side}};
    for (const char* k : {"a", "b", "c"}) {
      old_values.emplace("secret/" + prefix + k,
                         store()->value_digest(Value(std::string("pin-") + k)));
    }
    for (const auto& [where, old_value] : old_values) {
      ASSERT_EQ(changes.count(where), 1u) << where;
      const Change& ch = changes.at(where);
      EXPECT_EQ(ch.kind, ChangeKind::kExpiry) << where;
      EXPECT_EQ(ch.old_value, old_value) << where;
      EXPECT_EQ(ch.new_value, std::nullopt) << where;
      EXPECT_EQ(ch.redacted, ch.keyspace == "secret") << where;
      EXPECT_EQ(ch.expires_at, deadline) << where;
    }
  };

  // By the sweep: the first lease only (the second is not due yet).
  const Revision head = Head();
  clock_.advance(seconds(1));
  Reopen([&] {
    Options sweeping = o;
    sweeping.expiry_sweep_interval = milliseconds(10);
    return sweeping;
  }());
  ASSERT_TRUE(WaitFor([&] { return store()->stats().leases_expired >= 1; }));
  EXPECT_EQ(store()->stats().leases_expired, 1u);
  EXPECT_EQ(store()->stats().keys_expired, 4u);
  EXPECT_EQ(Head(), head + 1);
  const Commit by_sweep = *store()->commit_at(head + 1);
  EXPECT_EQ(by_sweep.origin.label, "expired");
  EXPECT_EQ(by_sweep.changes.size(), 4u);
  check(by_sweep, "swept-", Value(1), kLeaseStart + seconds(1));
  Close();

  // By a write to one of the second lease's redacted keys, with the sweep off.
  Reopen(o);
  clock_.advance(seconds(1));
  const Revision r = store()->put("secret", "written-b", Value("new"));
  EXPECT_EQ(r, head + 2);
  const Commit by_write = *store()->commit_at(r);
  ASSERT_EQ(by_write.changes.size(), 5u);
  std::vector<Change> expiries(by_write.changes.begin(), by_write.changes.end() - 1);
  check(Commit{r, by_write.time, by_write.origin, expiries, false}, "written-", Value(2),
        kLeaseStart + seconds(2));
  const Change& write = by_write.changes.back();
  EXPECT_EQ(Where(write), "secret/written-b");
  EXPECT_EQ(write.kind, ChangeKind::kWrite);
  EXPECT_TRUE(write.redacted);
  EXPECT_EQ(write.old_value, std::nullopt);
  EXPECT_EQ(write.new_value, Value(store()->value_digest(Value("new"))));

  const std::vector<Entry> left = store()->list("secret");
  ASSERT_EQ(left.size(), 2u);
  EXPECT_EQ(left[0].key, "unattached");
  EXPECT_EQ(left[1].key, "written-b");
  EXPECT_EQ(left[1].lease, std::nullopt);
  EXPECT_TRUE(store()->list("app").empty());
  EXPECT_TRUE(store()->leases().empty());
  ExpectVerified();
}

// A plain put (no lease) and a put_if_version(…, 0) to a key of an expired lease, in bodies
// that write other keys too (before and after, and another key of the same lease): each records
// the expiry of every key of the lease — once — in the body's revision, before the write to that
// key. The lease is then over: the sweep finds nothing of it left to end.
TEST_P(LeaseConformance, WriteInALargerBodyRecordsTheWholeLeaseExpiryBeforeIt) {
  Reopen(Opts());
  const LeaseId first = store()->grant_lease(seconds(1));
  const LeaseId second = store()->grant_lease(seconds(1));
  store()->transact([&](Transaction& tx) {
    tx.put("app", "x", Value(1), WithLease(first));
    tx.put("app", "y", Value(2), WithLease(first));
    tx.put("other", "z", Value(3), WithLease(first));
    tx.put("app", "p", Value(4), WithLease(second));
    tx.put("app", "q", Value(5), WithLease(second));
    tx.put("other", "r", Value(6), WithLease(second));
  });
  clock_.advance(seconds(1));
  const Clock::time_point deadline = kLeaseStart + seconds(1);

  // Index of the change to `where` of `kind` in `c`, or -1.
  auto index_of = [](const Commit& c, const std::string& where, ChangeKind kind) {
    for (std::size_t i = 0; i < c.changes.size(); ++i) {
      if (Where(c.changes[i]) == where && c.changes[i].kind == kind) return static_cast<int>(i);
    }
    return -1;
  };
  auto expect_lease_expired_before = [&](const Commit& c, const std::vector<std::string>& keys,
                                         const std::vector<Value>& old_values,
                                         const std::string& written) {
    const int write = index_of(c, written, ChangeKind::kWrite);
    ASSERT_GE(write, 0) << "no write to " << written;
    std::size_t expiries = 0;
    for (const Change& ch : c.changes) expiries += ch.kind == ChangeKind::kExpiry ? 1 : 0;
    EXPECT_EQ(expiries, keys.size());  // each key of the lease once, nothing else
    for (std::size_t i = 0; i < keys.size(); ++i) {
      const int at = index_of(c, keys[i], ChangeKind::kExpiry);
      ASSERT_GE(at, 0) << "no expiry of " << keys[i];
      EXPECT_LT(at, write) << keys[i] << "'s expiry comes after the write to " << written;
      EXPECT_EQ(c.changes[at].old_value, old_values[i]) << keys[i];
      EXPECT_EQ(c.changes[at].new_value, std::nullopt) << keys[i];
      EXPECT_EQ(c.changes[at].expires_at, deadline) << keys[i];
    }
  };

  const Revision head = Head();
  const Revision r = store()->transact([&](Transaction& tx) {
    tx.put("app", "before", Value(10));
    tx.put("app", "x", Value(11));  // no lease: detached, the lease's expiry first
    tx.put("other", "after", Value(12));
  });
  EXPECT_EQ(r, head + 1);
  const Commit c = *store()->commit_at(r);
  EXPECT_EQ(c.changes.size(), 6u);
  expect_lease_expired_before(c, {"app/x", "app/y", "other/z"}, {Value(1), Value(2), Value(3)},
                              "app/x");
  const int x = index_of(c, "app/x", ChangeKind::kWrite);
  ASSERT_GE(x, 0);
  EXPECT_EQ(c.changes[x].old_value, std::nullopt);  // the key was absent when written
  EXPECT_EQ(c.changes[x].new_value, Value(11));
  EXPECT_EQ(c.changes[x].expires_at, std::nullopt);
  EXPECT_GE(index_of(c, "app/before", ChangeKind::kWrite), 0);
  EXPECT_GE(index_of(c, "other/after", ChangeKind::kWrite), 0);
  EXPECT_EQ(store()->get_entry("app", "x")->lease, std::nullopt);
  EXPECT_EQ(store()->get_entry("app", "x")->expires_at, std::nullopt);
  EXPECT_EQ(store()->get("app", "y"), std::nullopt);
  EXPECT_EQ(store()->get("other", "z"), std::nullopt);

  // put_if_version against "no key", then a second key of the same lease in the same body: the
  // lease's expiry is recorded once, before the first write to one of its keys.
  const Revision cas = store()->transact([&](Transaction& tx) {
    tx.put("app", "before2", Value(20));
    tx.put_if_version("app", "q", Value(21), 0);
    tx.put_if_version("app", "p", Value(22), 0);
    tx.put("other", "after2", Value(23));
  });
  EXPECT_EQ(cas, r + 1);
  const Commit c2 = *store()->commit_at(cas);
  EXPECT_EQ(c2.changes.size(), 7u);
  expect_lease_expired_before(c2, {"app/p", "app/q", "other/r"}, {Value(4), Value(5), Value(6)},
                              "app/q");
  for (const char* k : {"app/q", "app/p"}) {
    const int at = index_of(c2, k, ChangeKind::kWrite);
    ASSERT_GE(at, 0) << k;
    EXPECT_EQ(c2.changes[at].old_value, std::nullopt) << k;
  }
  EXPECT_EQ(store()->get("app", "q"), Value(21));
  EXPECT_EQ(store()->get("app", "p"), Value(22));
  EXPECT_EQ(store()->get_entry("app", "p")->lease, std::nullopt);
  EXPECT_EQ(store()->get("other", "r"), std::nullopt);

  // The writes ended both leases: a sweep that ran (it expired the marker) ends no lease and
  // records no other expiry.
  Reopen(Opts(milliseconds(10)));
  store()->put("tmp", "marker", Value(0), Ttl(seconds(1)));
  clock_.advance(seconds(1));
  ASSERT_TRUE(WaitFor([&] { return store()->stats().keys_expired >= 1; }));
  std::this_thread::sleep_for(milliseconds(100));  // more sweeps, nothing more to do
  EXPECT_EQ(store()->stats().keys_expired, 1u);
  EXPECT_EQ(store()->stats().leases_expired, 0u);
  EXPECT_EQ(Head(), cas + 2);  // the marker's put and its expiry
  const Commit expiry = *store()->commit_at(cas + 2);
  ASSERT_EQ(expiry.changes.size(), 1u);
  EXPECT_EQ(Where(expiry.changes[0]), "tmp/marker");
}

// keep_alive in the body that attached a key (the clock moved since the grant): the key gets
// the lease's new deadline, like the keys attached before, inside the body and after it.
TEST_P(LeaseConformance, KeepAliveInTheBodyThatAttachedAKeyGivesItTheNewDeadline) {
  Reopen(Opts());
  const LeaseId lease = store()->grant_lease(seconds(10));
  store()->put("app", "old", Value(1), WithLease(lease));
  clock_.advance(seconds(4));
  const Clock::time_point renewed = kLeaseStart + seconds(14);
  store()->transact([&](Transaction& tx) {
    tx.put("app", "new", Value(2), WithLease(lease));
    EXPECT_EQ(tx.get_entry("app", "new")->expires_at, kLeaseStart + seconds(10));
    EXPECT_TRUE(tx.keep_alive(lease));
    EXPECT_EQ(tx.lease(lease)->expires_at, renewed);
    EXPECT_EQ(tx.get_entry("app", "new")->expires_at, renewed);
    EXPECT_EQ(tx.get_entry("app", "old")->expires_at, renewed);
    tx.put("app", "after", Value(3), WithLease(lease));  // attached at the renewed deadline
    EXPECT_EQ(tx.get_entry("app", "after")->expires_at, renewed);
  });
  const std::optional<Lease> info = store()->lease(lease);
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->expires_at, renewed);
  EXPECT_EQ(info->keys, (std::vector<LeaseKey>{{"app", "after"}, {"app", "new"}, {"app", "old"}}));
  for (const char* k : {"old", "new", "after"}) {
    const std::optional<Entry> e = store()->get_entry("app", k);
    ASSERT_TRUE(e.has_value()) << k;
    EXPECT_EQ(e->lease, lease) << k;
    EXPECT_EQ(e->expires_at, info->expires_at) << k;
  }
  // The old deadline passes; the renewed one ends them all.
  clock_.set(kLeaseStart + seconds(10));
  EXPECT_EQ(store()->get("app", "new"), Value(2));
  EXPECT_EQ(store()->list("app").size(), 3u);
  clock_.set(renewed - kLeaseMicro);
  EXPECT_EQ(store()->get("app", "new"), Value(2));
  clock_.set(renewed);
  EXPECT_EQ(store()->get("app", "new"), std::nullopt);
  EXPECT_TRUE(store()->list("app").empty());
}

// Ids are positive and increase, and the id of a lease that was revoked or that expired is
// never handed out again, not even after a restart: a program holding it cannot renew or revoke
// another lease with it.
TEST_P(LeaseConformance, LeaseIdsIncreaseAndAreNeverReused) {
  Reopen(Opts());
  std::vector<LeaseId> ids;
  auto grant = [&] {
    ids.push_back(store()->grant_lease(seconds(10)));
    return ids.back();
  };
  const LeaseId first = grant();
  EXPECT_GT(first, 0);
  const LeaseId revoked = grant();
  store()->put("app", "k", Value(1), WithLease(revoked));
  EXPECT_TRUE(store()->revoke_lease(revoked));
  grant();
  store()->transact([&](Transaction& tx) {
    ids.push_back(tx.grant_lease(seconds(10)));
    ids.push_back(tx.grant_lease(seconds(10)));
  });
  // One that expires and is swept.
  const LeaseId short_lived = store()->grant_lease(seconds(1));
  ids.push_back(short_lived);
  clock_.advance(seconds(1));
  Reopen(Opts(milliseconds(10)));
  ASSERT_TRUE(WaitFor([&] { return store()->stats().leases_expired >= 1; }));
  grant();
  Reopen(Opts());  // a restart
  grant();

  for (std::size_t i = 1; i < ids.size(); ++i) {
    EXPECT_GT(ids[i], ids[i - 1]) << "grant " << i << " of " << ::testing::PrintToString(ids);
  }
  for (LeaseId gone : {revoked, short_lived}) {
    EXPECT_EQ(store()->lease(gone), std::nullopt) << gone;
    EXPECT_FALSE(store()->keep_alive(gone)) << gone;
    EXPECT_FALSE(store()->revoke_lease(gone)) << gone;
  }
  EXPECT_EQ(store()->leases().size(), ids.size() - 2);
}

// Stats: the sweep counts each lease it ends in leases_expired (with or without keys) and
// their keys in keys_expired, besides keys that expired on their own; a revoked lease, a renewed
// one and one a write ended are not counted.
TEST_P(LeaseConformance, SweepCountsTheLeasesAndKeysItExpires) {
  Reopen(Opts(milliseconds(10)));
  const LeaseId due = store()->grant_lease(seconds(1));
  const LeaseId keyless = store()->grant_lease(seconds(1));
  const LeaseId revoked = store()->grant_lease(seconds(1));
  const LeaseId renewed = store()->grant_lease(seconds(1));
  (void)keyless;
  store()->transact([&](Transaction& tx) {
    for (const char* k : {"a", "b", "c"}) tx.put("due", k, Value(1), WithLease(due));
    tx.put("revoked", "a", Value(1), WithLease(revoked));
    tx.put("renewed", "a", Value(1), WithLease(renewed));
    tx.put("tmp", "own", Value(1), Ttl(seconds(1)));
    tx.put("app", "plain", Value(1));
  });
  EXPECT_TRUE(store()->revoke_lease(revoked));
  clock_.advance(milliseconds(500));
  EXPECT_TRUE(store()->keep_alive(renewed));  // now due at 1.5 s
  std::this_thread::sleep_for(milliseconds(50));
  EXPECT_EQ(store()->stats().leases_expired, 0u);  // nothing is due yet
  EXPECT_EQ(store()->stats().keys_expired, 0u);

  const Revision head = Head();
  clock_.advance(milliseconds(500));
  ASSERT_TRUE(WaitFor([&] {
    return store()->stats().leases_expired >= 2 && store()->stats().keys_expired >= 4;
  })) << store()->stats().leases_expired
      << " leases, " << store()->stats().keys_expired << " keys";
  std::this_thread::sleep_for(milliseconds(100));  // more sweeps, nothing more to do
  EXPECT_EQ(store()->stats().leases_expired, 2u);  // `due` and `keyless`
  EXPECT_EQ(store()->stats().keys_expired, 4u);    // due/a, due/b, due/c and tmp/own
  EXPECT_TRUE(store()->list("due").empty());
  EXPECT_EQ(store()->get("renewed", "a"), Value(1));
  ASSERT_EQ(store()->leases().size(), 1u);
  EXPECT_EQ(store()->leases()[0].id, renewed);
  HistoryQuery q;
  q.from_revision = head + 1;
  std::size_t expiries = 0;
  for (const Commit& c : store()->history(q)) {
    EXPECT_EQ(c.origin.label, "expired");
    for (const Change& ch : c.changes) {
      EXPECT_EQ(ch.kind, ChangeKind::kExpiry);
      EXPECT_NE(ch.keyspace, "renewed");
      ++expiries;
    }
  }
  EXPECT_EQ(expiries, 4u);

  // The renewed lease runs out too; one more lease and key.
  clock_.advance(milliseconds(500));
  ASSERT_TRUE(WaitFor([&] { return store()->stats().leases_expired >= 3; }));
  std::this_thread::sleep_for(milliseconds(50));
  EXPECT_EQ(store()->stats().leases_expired, 3u);
  EXPECT_EQ(store()->stats().keys_expired, 5u);
  EXPECT_TRUE(store()->leases().empty());
  EXPECT_EQ(store()->get("app", "plain"), Value(1));
}

// The id a body saw from a grant that then rolled back (the whole body, or a savepoint) is
// never handed out again: the lease never existed, and a program that kept the id must not renew
// (or revoke) a later lease with it.
TEST_P(LeaseConformance, IdOfARolledBackGrantIsNeverHandedOutAgain) {
  Reopen(Opts());
  const LeaseId before = store()->grant_lease(seconds(10));
  LeaseId rolled_back = 0;
  EXPECT_THROW(store()->transact([&](Transaction& tx) {
    rolled_back = tx.grant_lease(seconds(10));
    throw std::runtime_error("no");
  }),
               std::runtime_error);
  EXPECT_GT(rolled_back, before);
  const LeaseId next = store()->grant_lease(seconds(10));
  EXPECT_GT(next, rolled_back) << "the rolled-back grant's id was handed out again";
  EXPECT_EQ(store()->lease(rolled_back), std::nullopt);
  EXPECT_FALSE(store()->keep_alive(rolled_back)) << "renewed lease " << next << " by mistake";

  LeaseId in_savepoint = 0, after_savepoint = 0;
  store()->transact([&](Transaction& tx) {
    EXPECT_THROW(tx.savepoint([&](Transaction& inner) {
      in_savepoint = inner.grant_lease(seconds(10));
      throw std::runtime_error("undo");
    }),
                 std::runtime_error);
    after_savepoint = tx.grant_lease(seconds(10));
  });
  EXPECT_GT(in_savepoint, next);
  EXPECT_GT(after_savepoint, in_savepoint) << "the savepoint's grant id was handed out again";
  EXPECT_EQ(store()->lease(in_savepoint), std::nullopt);
  EXPECT_FALSE(store()->keep_alive(in_savepoint))
      << "renewed lease " << after_savepoint << " by mistake";
  EXPECT_EQ(store()->leases().size(), 3u);  // before, next, after_savepoint
}

STATESTORE_CONFORMANCE_SUITE(LeaseConformance);

}  // namespace
}  // namespace statestore

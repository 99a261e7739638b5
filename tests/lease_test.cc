// Leases (issue 16, second step; SQLite files): grant, attach keys, keep-alive, revoke, expiry
// of all a lease's keys in one revision (by the sweep, or by the first write after the
// deadline), in this process and in another one, with an injected clock.
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "manual_clock.h"
#include "old_schemas.h"
#include "sqlite_query.h"
#include "statestore/admin.h"
#include "statestore/statestore.h"
#include "test_util.h"

namespace statestore {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using test::ManualClock;

const Clock::time_point kStart = test::kManualClockStart;
constexpr std::chrono::microseconds kOneMicro{1};

PutOptions WithLease(LeaseId lease) {
  PutOptions o;
  o.lease = lease;
  return o;
}

class LeaseTest : public ::testing::Test {
 protected:
  // No sweep unless asked: the tests decide when expiries are recorded.
  Options Opts(milliseconds sweep_interval = milliseconds(0)) {
    Options o;
    o.clock = clock_.function();
    o.expiry_sweep_interval = sweep_interval;
    o.sessions.sweep_interval = milliseconds(0);
    return o;
  }

  // Waits (in real time) until the store's sweep has expired `keys` keys.
  void AwaitExpired(Store& store, std::uint64_t keys) {
    const auto give_up = std::chrono::steady_clock::now() + seconds(30 * test::kSlowFactor);
    while (store.stats().keys_expired < keys && std::chrono::steady_clock::now() < give_up) {
      std::this_thread::sleep_for(milliseconds(5));
    }
    ASSERT_EQ(store.stats().keys_expired, keys);
  }

  test::TempDir dir_;
  const std::string path_ = dir_.path() + "/lease.db";
  ManualClock clock_{kStart};
};

TEST_F(LeaseTest, KeysExpireAtTheLeaseDeadlineAndKeepAliveExtendsThemAll) {
  auto store = Store::open(path_, Opts());
  const Revision empty_head = store->history_bounds().head;
  const LeaseId lease = store->grant_lease(seconds(10));
  EXPECT_GT(lease, 0);
  EXPECT_EQ(store->history_bounds().head, empty_head);  // a grant uses no revision
  store->transact([&](Transaction& tx) {
    tx.put("app", "a", Value(1), WithLease(lease));
    tx.put("other", "b", Value(2), WithLease(lease));
  });
  store->put("app", "plain", Value(3));
  auto a = store->get_entry("app", "a");
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->lease, lease);
  EXPECT_EQ(a->expires_at, kStart + seconds(10));
  EXPECT_EQ(store->get_entry("app", "plain")->lease, std::nullopt);

  clock_.advance(seconds(6));
  const Revision head = store->history_bounds().head;
  EXPECT_TRUE(store->keep_alive(lease));
  EXPECT_EQ(store->history_bounds().head, head);  // no revision, no version change
  const Clock::time_point deadline = kStart + seconds(16);
  EXPECT_EQ(store->get_entry("app", "a")->expires_at, deadline);
  EXPECT_EQ(store->get_entry("app", "a")->version, a->version);
  EXPECT_EQ(store->get_entry("other", "b")->expires_at, deadline);
  const std::optional<Lease> info = store->lease(lease);
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->ttl, seconds(10));
  EXPECT_EQ(info->expires_at, deadline);
  EXPECT_EQ(info->keys, (std::vector<LeaseKey>{{"app", "a"}, {"other", "b"}}));
  ASSERT_EQ(store->leases().size(), 1u);
  EXPECT_EQ(store->leases()[0].id, lease);

  clock_.set(deadline - kOneMicro);
  EXPECT_EQ(store->get("app", "a"), Value(1));
  EXPECT_EQ(store->list("other").size(), 1u);
  clock_.set(deadline);
  EXPECT_EQ(store->get("app", "a"), std::nullopt);
  EXPECT_EQ(store->get("other", "b"), std::nullopt);
  EXPECT_EQ(store->list("other").size(), 0u);
  store->read([&](Transaction& tx) { EXPECT_EQ(tx.get("app", "a"), std::nullopt); });
  EXPECT_EQ(store->get("app", "plain"), Value(3));
  // An expired lease is gone for every use, before any sweep.
  EXPECT_FALSE(store->keep_alive(lease));
  EXPECT_FALSE(store->revoke_lease(lease));
  EXPECT_EQ(store->lease(lease), std::nullopt);
  EXPECT_TRUE(store->leases().empty());
  try {
    store->put("app", "late", Value(1), WithLease(lease));
    ADD_FAILURE() << "a put attached a key to an expired lease";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kNotFound);
    EXPECT_NE(std::string(e.what()).find("lease " + std::to_string(lease)), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(store->history_bounds().head, head);
}

TEST_F(LeaseTest, AnotherProcessSeesTheRenewedDeadlineAndTheExpiry) {
  auto store = Store::open(path_, Opts());
  const LeaseId lease = store->grant_lease(seconds(2));
  store->put("app", "online", Value(1), WithLease(lease));
  auto worker = test::ChildProcess::SpawnWorker(
      {"ttl-serve", path_, std::to_string(ManualClock::Micros(kStart))});
  const auto wait = milliseconds(20000 * test::kSlowFactor);
  ASSERT_EQ(worker.ReadLine(wait), "ready");
  auto ask = [&](const std::string& command) {
    worker.Write(command + "\n");
    return worker.ReadLine(wait).value_or("(no answer)");
  };
  EXPECT_EQ(ask("get app online"), "value 1");
  clock_.advance(seconds(1));
  ASSERT_TRUE(store->keep_alive(lease));
  const std::int64_t deadline_us = ManualClock::Micros(kStart + seconds(3));
  EXPECT_EQ(ask("read app online"), "value 1 " + std::to_string(deadline_us));
  // Past the first deadline, before the renewed one: still there.
  EXPECT_EQ(ask("clock " + std::to_string(ManualClock::Micros(kStart + milliseconds(2500)))), "ok");
  EXPECT_EQ(ask("get app online"), "value 1");
  EXPECT_EQ(ask("clock " + std::to_string(deadline_us)), "ok");
  EXPECT_EQ(ask("get app online"), "value none");
  EXPECT_EQ(ask("count app"), "count 0");
  EXPECT_EQ(ask("quit"), "(no answer)");
}

TEST_F(LeaseTest, RevokeErasesEveryAttachedKeyInOneRevision) {
  Options o = Opts();
  o.redacted_keyspaces = {"secret"};
  auto store = Store::open(path_, o);
  const LeaseId lease = store->grant_lease(seconds(60));
  const LeaseId other = store->grant_lease(seconds(60));
  store->transact([&](Transaction& tx) {
    tx.put("app", "x", Value(1), WithLease(lease));
    tx.put("app", "y", Value(2), WithLease(lease));
    tx.put("secret", "token", Value("t0ken"), WithLease(lease));
    tx.put("app", "z", Value(3), WithLease(other));
  });
  const Revision head = store->history_bounds().head;
  EXPECT_TRUE(store->revoke_lease(lease));
  EXPECT_EQ(store->history_bounds().head, head + 1);
  const Commit c = *store->commit_at(head + 1);
  ASSERT_EQ(c.changes.size(), 3u);
  for (const Change& ch : c.changes) {
    EXPECT_EQ(ch.kind, ChangeKind::kWrite);  // a revoke is the program's erase, not an expiry
    EXPECT_EQ(ch.new_value, std::nullopt);
  }
  EXPECT_EQ(c.changes[0].key, "x");
  EXPECT_EQ(c.changes[0].old_value, Value(1));
  EXPECT_EQ(c.changes[2].keyspace, "secret");
  EXPECT_TRUE(c.changes[2].redacted);
  EXPECT_EQ(c.changes[2].old_value, Value(store->value_digest(Value("t0ken"))));
  EXPECT_EQ(store->list("app").size(), 1u);
  EXPECT_EQ(store->get("app", "z"), Value(3));
  EXPECT_EQ(store->lease(lease), std::nullopt);
  EXPECT_TRUE(store->lease(other).has_value());
  // Twice: nothing left to revoke, no revision.
  EXPECT_FALSE(store->revoke_lease(lease));
  EXPECT_FALSE(store->revoke_lease(987654));
  EXPECT_EQ(store->history_bounds().head, head + 1);
  // Ids are never reused.
  EXPECT_GT(store->grant_lease(seconds(1)), other);
  EXPECT_TRUE(Verify(*store).ok());
}

TEST_F(LeaseTest, SweepExpiresALeaseWholeInOneRevisionEvenAboveTheBatchSize) {
  constexpr int kLeaseKeys = 300;  // more than one sweep batch (256)
  constexpr int kPlainKeys = 10;
  const Revision head = [&] {
    auto store = Store::open(path_, Opts());
    store->transact([&](Transaction& tx) {
      const LeaseId lease = tx.grant_lease(seconds(1));
      for (int i = 0; i < kLeaseKeys; ++i) {
        tx.put("worker", "job" + std::to_string(i), Value(i), WithLease(lease));
      }
      PutOptions ttl;
      ttl.ttl = milliseconds(500);  // due before the lease
      for (int i = 0; i < kPlainKeys; ++i) tx.put("tmp", "k" + std::to_string(i), Value(i), ttl);
    });
    // Leases without keys expire too, with no revision, in batches of at most 256 leases.
    store->transact([&](Transaction& tx) {
      for (int i = 0; i < 600; ++i) tx.grant_lease(seconds(1));
    });
    return store->history_bounds().head;
  }();
  clock_.advance(seconds(2));
  auto store = Store::open(path_, Opts(milliseconds(10)));
  AwaitExpired(*store, kLeaseKeys + kPlainKeys);
  const auto give_up = std::chrono::steady_clock::now() + seconds(30 * test::kSlowFactor);
  while (store->stats().leases_expired < 601 && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(milliseconds(5));
  }
  EXPECT_EQ(store->stats().leases_expired, 601u);
  EXPECT_GE(store->stats().expiry_sweep_batches, 3u);
  EXPECT_TRUE(store->list("worker").empty());
  EXPECT_TRUE(store->leases().empty());
  EXPECT_EQ(test::SqlQueryInt(path_, "SELECT count(*) FROM leases"),
            std::optional<std::int64_t>(0));
  HistoryQuery q;
  q.from_revision = head + 1;
  std::size_t lease_commits = 0, worker_expiries = 0, tmp_expiries = 0;
  for (const Commit& c : store->history(q)) {
    EXPECT_EQ(c.origin.label, "expired");
    std::size_t in_worker = 0;
    for (const Change& ch : c.changes) {
      EXPECT_EQ(ch.kind, ChangeKind::kExpiry);
      EXPECT_EQ(ch.expires_at,
                ch.keyspace == "worker" ? kStart + seconds(1) : kStart + milliseconds(500));
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
  EXPECT_TRUE(Verify(*store).ok());
}

TEST_F(LeaseTest, WriteToAKeyOfAnExpiredLeaseRecordsTheWholeLeaseExpiryFirst) {
  auto store = Store::open(path_, Opts());
  const LeaseId lease = store->grant_lease(seconds(1));
  store->transact([&](Transaction& tx) {
    tx.put("app", "x", Value(1), WithLease(lease));
    tx.put("app", "y", Value(2), WithLease(lease));
  });
  clock_.advance(seconds(1));
  const Revision r = store->put("app", "x", Value(10));
  const Commit c = *store->commit_at(r);
  ASSERT_EQ(c.changes.size(), 3u);
  EXPECT_EQ(c.changes[0].kind, ChangeKind::kExpiry);
  EXPECT_EQ(c.changes[0].key, "x");
  EXPECT_EQ(c.changes[1].kind, ChangeKind::kExpiry);
  EXPECT_EQ(c.changes[1].key, "y");
  EXPECT_EQ(c.changes[1].old_value, Value(2));
  EXPECT_EQ(c.changes[2].kind, ChangeKind::kWrite);
  EXPECT_EQ(c.changes[2].old_value, std::nullopt);
  EXPECT_EQ(store->get_entry("app", "x")->lease, std::nullopt);
  EXPECT_EQ(test::SqlQueryInt(path_, "SELECT count(*) FROM leases"),
            std::optional<std::int64_t>(0));
  // A compare-and-set against "no key" on a key of another expired lease does the same.
  const LeaseId second = store->grant_lease(seconds(1));
  store->transact([&](Transaction& tx) {
    tx.put("app", "p", Value(1), WithLease(second));
    tx.put("app", "q", Value(2), WithLease(second));
  });
  clock_.advance(seconds(1));
  Revision cas = 0;
  cas = store->transact([&](Transaction& tx) { tx.put_if_version("app", "q", Value(3), 0); });
  EXPECT_EQ(store->commit_at(cas)->changes.size(), 3u);
  EXPECT_EQ(store->get("app", "p"), std::nullopt);
  EXPECT_EQ(store->get("app", "q"), Value(3));
}

TEST_F(LeaseTest, LaterWritesDecideWhetherAKeyStaysAttached) {
  auto store = Store::open(path_, Opts());
  const LeaseId lease = store->grant_lease(seconds(30));
  store->transact([&](Transaction& tx) {
    for (const char* k : {"keep", "plain", "cas", "expire", "persist", "erase", "move"})
      tx.put("app", k, Value(1), WithLease(lease));
  });
  const LeaseId second = store->grant_lease(seconds(90));
  PutOptions keep;
  keep.keep_ttl = true;
  store->transact([&](Transaction& tx) {
    tx.put("app", "keep", Value(2), keep);
    tx.put("app", "plain", Value(2));
    tx.put_if_version("app", "cas", Value(2), tx.get_entry("app", "cas")->version);
    EXPECT_TRUE(tx.expire("app", "expire", seconds(5)));
    EXPECT_TRUE(tx.persist("app", "persist"));
    EXPECT_TRUE(tx.erase("app", "erase"));
    tx.put("app", "move", Value(2), WithLease(second));
  });
  auto entry = [&](const char* key) { return *store->get_entry("app", key); };
  EXPECT_EQ(entry("keep").lease, lease);
  EXPECT_EQ(entry("keep").expires_at, kStart + seconds(30));
  EXPECT_EQ(entry("plain").lease, std::nullopt);
  EXPECT_EQ(entry("plain").expires_at, std::nullopt);
  EXPECT_EQ(entry("cas").lease, std::nullopt);
  EXPECT_EQ(entry("expire").lease, std::nullopt);
  EXPECT_EQ(entry("expire").expires_at, kStart + seconds(5));
  EXPECT_EQ(entry("persist").expires_at, std::nullopt);
  EXPECT_EQ(entry("move").lease, second);
  EXPECT_EQ(entry("move").expires_at, kStart + seconds(90));
  EXPECT_EQ(store->lease(lease)->keys, (std::vector<LeaseKey>{{"app", "keep"}}));
  // A renewal reaches only the keys still attached.
  clock_.advance(seconds(10));
  ASSERT_TRUE(store->keep_alive(lease));
  EXPECT_EQ(entry("keep").expires_at, kStart + seconds(40));
  EXPECT_EQ(store->get("app", "expire"), std::nullopt);  // its own 5 s ran out
  EXPECT_EQ(entry("move").expires_at, kStart + seconds(90));
  const std::vector<Entry> listed = store->list("app", "keep");
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].lease, lease);
}

TEST_F(LeaseTest, GrantInABodyThatRollsBackNeverExisted) {
  auto store = Store::open(path_, Opts());
  LeaseId granted = 0;
  EXPECT_THROW(store->transact([&](Transaction& tx) {
    granted = tx.grant_lease(seconds(10));
    tx.put("app", "k", Value(1), WithLease(granted));
    throw std::runtime_error("changed my mind");
  }),
               std::runtime_error);
  EXPECT_EQ(store->lease(granted), std::nullopt);
  EXPECT_EQ(store->get("app", "k"), std::nullopt);
  // Inside a savepoint too; the enclosing body goes on with a lease of its own.
  store->transact([&](Transaction& tx) {
    EXPECT_THROW(tx.savepoint([&](Transaction& inner) {
      inner.put("app", "s", Value(1), WithLease(inner.grant_lease(seconds(10))));
      throw std::runtime_error("undo");
    }),
                 std::runtime_error);
    tx.put("app", "t", Value(1), WithLease(tx.grant_lease(seconds(10))));
  });
  EXPECT_EQ(store->get("app", "s"), std::nullopt);
  ASSERT_EQ(store->leases().size(), 1u);
  EXPECT_EQ(store->leases()[0].keys, (std::vector<LeaseKey>{{"app", "t"}}));
}

TEST_F(LeaseTest, BadLeaseArgumentsAreRefusedAndChangeNothing) {
  auto store = Store::open(path_, Opts());
  store->put("app", "k", Value(1));
  const LeaseId lease = store->grant_lease(seconds(10));
  const Revision head = store->history_bounds().head;
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
    EXPECT_EQ(code_of([&] { store->grant_lease(ttl); }), invalid) << ttl.count();
  }
  for (LeaseId id : {LeaseId(0), LeaseId(-3)}) {
    EXPECT_EQ(code_of([&] { store->put("app", "k", Value(2), WithLease(id)); }), invalid);
    EXPECT_EQ(code_of([&] { store->keep_alive(id); }), invalid);
    EXPECT_EQ(code_of([&] { store->revoke_lease(id); }), invalid);
    EXPECT_EQ(code_of([&] { store->lease(id); }), invalid);
  }
  PutOptions both = WithLease(lease);
  both.ttl = seconds(1);
  EXPECT_EQ(code_of([&] { store->put("app", "k", Value(2), both); }), invalid);
  both = WithLease(lease);
  both.keep_ttl = true;
  EXPECT_EQ(code_of([&] { store->put("app", "k", Value(2), both); }), invalid);
  // An unknown lease, inside a body that wrote before: the whole body rolls back.
  EXPECT_EQ(code_of([&] {
              store->transact([&](Transaction& tx) {
                tx.put("app", "other", Value(1));
                tx.put("app", "k", Value(2), WithLease(lease + 100));
              });
            }),
            std::optional<ErrorCode>(ErrorCode::kNotFound));
  EXPECT_EQ(code_of([&] { store->read([&](Transaction& tx) { tx.grant_lease(seconds(1)); }); }),
            std::optional<ErrorCode>(ErrorCode::kReadOnly));
  EXPECT_EQ(store->history_bounds().head, head);
  EXPECT_EQ(store->get("app", "k"), Value(1));
  EXPECT_EQ(store->get("app", "other"), std::nullopt);
  EXPECT_EQ(store->leases().size(), 1u);
}

TEST_F(LeaseTest, VerifyFindsAKeyWhoseDeadlineLeftItsLease) {
  auto store = Store::open(path_, Opts());
  const LeaseId lease = store->grant_lease(seconds(10));
  store->put("app", "k", Value(1), WithLease(lease));
  store->put("app", "orphan", Value(2), WithLease(lease));
  EXPECT_TRUE(Verify(*store).ok());
  // A file edited outside statestore: one key's deadline moved, another's lease deleted.
  test::SqlExec(path_,
                "UPDATE entries SET expires_us = expires_us + 1 WHERE key = 'k'; "
                "INSERT INTO leases (ttl_ms, expires_us) SELECT ttl_ms, expires_us "
                "FROM leases; UPDATE entries SET lease_id = lease_id + 1 WHERE key = "
                "'orphan'; DELETE FROM leases WHERE id = " +
                    std::to_string(lease + 1));
  const VerifyReport report = Verify(*store);
  EXPECT_FALSE(report.ok());
  ASSERT_EQ(report.problems.size(), 2u);
  EXPECT_EQ(report.problems[0].key, "k");
  EXPECT_NE(report.problems[0].message.find("deadline differs"), std::string::npos);
  EXPECT_EQ(report.problems[1].key, "orphan");
  EXPECT_NE(report.problems[1].message.find("does not exist"), std::string::npos);
}

TEST_F(LeaseTest, FileOfSchemaSixGainsLeasesWhenOpened) {
  {
    auto store = Store::open(path_, Opts());
    PutOptions ttl;
    ttl.ttl = seconds(10);
    store->put("app", "k", Value(1), ttl);
  }
  test::SqlExec(path_,
                std::string(test::kUndoSchema8) + test::kUndoSchema7 + "PRAGMA user_version = 6;");
  ASSERT_EQ(test::SqlQueryInt(path_, "PRAGMA user_version"), std::optional<std::int64_t>(6));
  auto store = Store::open(path_, Opts());
  EXPECT_EQ(test::SqlQueryInt(path_, "PRAGMA user_version"),
            std::optional<std::int64_t>(SchemaVersion()));
  EXPECT_EQ(store->get_entry("app", "k")->expires_at, kStart + seconds(10));
  const LeaseId lease = store->grant_lease(seconds(5));
  store->put("app", "k", Value(2), WithLease(lease));
  EXPECT_EQ(store->get_entry("app", "k")->lease, lease);
  EXPECT_TRUE(Verify(*store).ok());
}

}  // namespace
}  // namespace statestore

// Conformance: transactions: commit, rollback on exception (state, history, cache, stats),
// savepoints, compare-and-set versions, list/erase semantics, read-only bodies and nesting rules.
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "conformance/conformance_test.h"
#include "statestore/admin.h"
#include "statestore/statestore.h"
#include "test_util.h"

namespace statestore {
namespace {

using test::CatchError;

// A distinct exception type, to check that exactly this one propagates out of transact().
struct BodyFailure : std::runtime_error {
  BodyFailure(std::string message, int tag) : std::runtime_error(std::move(message)), tag(tag) {}
  int tag;
};

class TransactionConformance : public test::ConformanceTest {
 protected:
  std::vector<std::string> Keys(std::string_view keyspace, std::string_view prefix = {},
                                std::size_t limit = 0) {
    std::vector<std::string> keys;
    for (const Entry& e : store()->list(keyspace, prefix, limit)) keys.push_back(e.key);
    return keys;
  }
};

TEST_P(TransactionConformance, CommitReturnsNewRevisionAndWritesAreVisible) {
  EXPECT_EQ(store()->history_bounds().head, 0u);
  Revision r1 = store()->transact([](Transaction& tx) {
    EXPECT_FALSE(tx.read_only());
    tx.put("app", "a", Value(1));
    tx.put("app", "b", Value("two"));
    // A body sees its own writes.
    EXPECT_EQ(tx.get("app", "a"), std::optional<Value>(Value(1)));
    EXPECT_EQ(tx.list("app", "").size(), 2u);
  });
  EXPECT_EQ(r1, 1u);
  Revision r2 = store()->transact([](Transaction& tx) { tx.put("app", "a", Value(3)); });
  EXPECT_EQ(r2, 2u);
  EXPECT_EQ(store()->history_bounds().head, 2u);
  EXPECT_EQ(store()->get("app", "a"), std::optional<Value>(Value(3)));
  EXPECT_EQ(store()->get("app", "b"), std::optional<Value>(Value("two")));
  EXPECT_EQ(store()->get("app", "missing"), std::nullopt);
  EXPECT_EQ(store()->get("nokeyspace", "a"), std::nullopt);
}

TEST_P(TransactionConformance, ThrowingBodyRollsBackStateHistoryCacheAndStats) {
  store()->put("app", "a", Value(1));
  store()->put("app", "b", Value(2));
  // Cache the old values (two reads: the second must be a cache hit).
  ASSERT_EQ(store()->get("app", "a"), std::optional<Value>(Value(1)));
  ASSERT_EQ(store()->get("app", "a"), std::optional<Value>(Value(1)));
  ASSERT_EQ(store()->get("app", "b"), std::optional<Value>(Value(2)));
  ASSERT_EQ(store()->get("app", "new"), std::nullopt);  // negative entry, cached too

  const HistoryBounds bounds_before = store()->history_bounds();
  const std::size_t history_before = store()->history().size();
  const Stats stats_before = store()->stats();

  bool caught = false;
  try {
    store()->transact([](Transaction& tx) {
      tx.put("app", "a", Value(100));
      tx.erase("app", "b");
      tx.put("app", "new", Value("created"));
      tx.put("other", "x", Value(true));  // creates a keyspace
      throw BodyFailure("midway failure 42", 42);
    });
  } catch (const BodyFailure& e) {
    caught = true;
    EXPECT_STREQ(e.what(), "midway failure 42");
    EXPECT_EQ(e.tag, 42);
  }
  ASSERT_TRUE(caught) << "the body's exception did not propagate as BodyFailure";

  // State (through the cache).
  EXPECT_EQ(store()->get("app", "a"), std::optional<Value>(Value(1)));
  EXPECT_EQ(store()->get("app", "b"), std::optional<Value>(Value(2)));
  EXPECT_EQ(store()->get("app", "new"), std::nullopt);
  EXPECT_EQ(store()->get("other", "x"), std::nullopt);
  // State (through a read snapshot, not the cache).
  store()->read([](Transaction& tx) {
    EXPECT_EQ(tx.get("app", "a"), std::optional<Value>(Value(1)));
    EXPECT_EQ(tx.get("app", "b"), std::optional<Value>(Value(2)));
    EXPECT_EQ(tx.get("app", "new"), std::nullopt);
  });
  EXPECT_EQ(Keys("app"), (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(Keys("other").empty());

  // History.
  const HistoryBounds bounds_after = store()->history_bounds();
  EXPECT_EQ(bounds_after.head, bounds_before.head);
  EXPECT_EQ(bounds_after.first, bounds_before.first);
  EXPECT_EQ(store()->history().size(), history_before);
  EXPECT_FALSE(store()->commit_at(bounds_before.head + 1).has_value());

  // Stats.
  const Stats stats_after = store()->stats();
  EXPECT_EQ(stats_after.commits, stats_before.commits);
  EXPECT_EQ(stats_after.rollbacks, stats_before.rollbacks + 1);

  // The failed transaction did not use up a revision.
  EXPECT_EQ(store()->put("app", "c", Value(3)), bounds_before.head + 1);
}

TEST_P(TransactionConformance, NonStandardExceptionPropagatesUnchanged) {
  store()->put("app", "a", Value(1));
  const Revision head = store()->history_bounds().head;
  bool caught = false;
  try {
    store()->transact([](Transaction& tx) {
      tx.put("app", "a", Value(2));
      throw 1234;
    });
  } catch (int v) {
    caught = true;
    EXPECT_EQ(v, 1234);
  }
  EXPECT_TRUE(caught);
  EXPECT_EQ(store()->get("app", "a"), std::optional<Value>(Value(1)));
  EXPECT_EQ(store()->history_bounds().head, head);
}

TEST_P(TransactionConformance, StatestoreErrorFromBodyPropagatesUnchanged) {
  auto err = CatchError([&] {
    store()->transact([](Transaction& tx) {
      tx.put("app", "a", Value(2));
      throw Error(ErrorCode::kConflict, "application says conflict", 0);
    });
  });
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ(err->code(), ErrorCode::kConflict);
  EXPECT_STREQ(err->what(), "application says conflict");
  EXPECT_EQ(store()->get("app", "a"), std::nullopt);
}

TEST_P(TransactionConformance, BodyWithoutWritesReturnsHeadAndCreatesNoRevision) {
  store()->put("app", "a", Value(1));
  const Revision head = store()->history_bounds().head;
  const std::size_t history_size = store()->history().size();
  const Stats before = store()->stats();

  EXPECT_EQ(store()->transact([](Transaction&) {}), head);
  EXPECT_EQ(store()->transact([](Transaction& tx) {
    EXPECT_EQ(tx.get("app", "a"), std::optional<Value>(Value(1)));
    (void)tx.list("app", "");
  }),
            head);
  EXPECT_EQ(store()->history_bounds().head, head);
  EXPECT_EQ(store()->history().size(), history_size);
  // "commits: one per revision or no-op".
  EXPECT_EQ(store()->stats().commits, before.commits + 2);
  EXPECT_EQ(store()->put("app", "b", Value(2)), head + 1);
}

TEST_P(TransactionConformance, TransactInsideBodyThrowsInvalidArgument) {
  store()->put("app", "a", Value(1));
  const Revision head = store()->history_bounds().head;
  std::optional<Error> inner;
  auto outer = CatchError([&] {
    store()->transact([&](Transaction& tx) {
      tx.put("app", "a", Value(2));
      inner = CatchError([&] { store()->transact([](Transaction& t) { t.put("app", "x", 1); }); });
      if (inner) throw *inner;
    });
  });
  ASSERT_TRUE(inner.has_value()) << "nested transact() did not throw";
  EXPECT_EQ(inner->code(), ErrorCode::kInvalidArgument);
  ASSERT_TRUE(outer.has_value());
  EXPECT_EQ(outer->code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(store()->get("app", "a"), std::optional<Value>(Value(1)));
  EXPECT_EQ(store()->get("app", "x"), std::nullopt);
  EXPECT_EQ(store()->history_bounds().head, head);
}

TEST_P(TransactionConformance, SingleWriteCallsInsideBodyThrowInvalidArgument) {
  const Revision head = store()->history_bounds().head;
  std::optional<Error> put_err, erase_err;
  store()->transact([&](Transaction& tx) {
    tx.put("app", "outer", Value(1));
    put_err = CatchError([&] { store()->put("app", "inner", Value(1)); });
    erase_err = CatchError([&] { store()->erase("app", "outer"); });
  });
  ASSERT_TRUE(put_err.has_value());
  EXPECT_EQ(put_err->code(), ErrorCode::kInvalidArgument);
  ASSERT_TRUE(erase_err.has_value());
  EXPECT_EQ(erase_err->code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(store()->get("app", "outer"), std::optional<Value>(Value(1)));
  EXPECT_EQ(store()->get("app", "inner"), std::nullopt);
  EXPECT_EQ(store()->history_bounds().head, head + 1);
}

TEST_P(TransactionConformance, TransactInsideReadBodyThrowsInvalidArgument) {
  std::optional<Error> inner;
  store()->read([&](Transaction&) {
    inner = CatchError([&] { store()->transact([](Transaction& t) { t.put("app", "x", 1); }); });
  });
  ASSERT_TRUE(inner.has_value());
  EXPECT_EQ(inner->code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(store()->get("app", "x"), std::nullopt);
  EXPECT_EQ(store()->history_bounds().head, 0u);
}

TEST_P(TransactionConformance, ReadBodyWritesThrowReadOnly) {
  store()->put("app", "a", Value(1));
  const Revision head = store()->history_bounds().head;
  std::optional<Error> put_err, erase_err, cas_err, cae_err;
  store()->read([&](Transaction& tx) {
    EXPECT_TRUE(tx.read_only());
    EXPECT_EQ(tx.get("app", "a"), std::optional<Value>(Value(1)));
    put_err = CatchError([&] { tx.put("app", "a", Value(2)); });
    erase_err = CatchError([&] { tx.erase("app", "a"); });
    cas_err = CatchError([&] { tx.put_if_version("app", "a", Value(2), head); });
    cae_err = CatchError([&] { tx.erase_if_version("app", "a", head); });
  });
  for (const auto* err : {&put_err, &erase_err, &cas_err, &cae_err}) {
    ASSERT_TRUE(err->has_value());
    EXPECT_EQ((*err)->code(), ErrorCode::kReadOnly) << (*err)->what();
  }
  // An uncaught write error propagates out of read().
  auto err = CatchError([&] { store()->read([](Transaction& tx) { tx.put("app", "b", 1); }); });
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ(err->code(), ErrorCode::kReadOnly);
  EXPECT_EQ(store()->get("app", "a"), std::optional<Value>(Value(1)));
  EXPECT_EQ(store()->get("app", "b"), std::nullopt);
  EXPECT_EQ(store()->history_bounds().head, head);
}

TEST_P(TransactionConformance, ReadBodyExceptionPropagates) {
  bool caught = false;
  try {
    store()->read([](Transaction&) { throw BodyFailure("from read", 7); });
  } catch (const BodyFailure& e) {
    caught = true;
    EXPECT_STREQ(e.what(), "from read");
  }
  EXPECT_TRUE(caught);
  // The store still works afterwards (the read snapshot was released).
  EXPECT_EQ(store()->put("app", "a", 1), 1u);
}

TEST_P(TransactionConformance, SavepointRollsBackOnlyInnerWrites) {
  store()->put("app", "shared", Value("before"));
  bool inner_caught = false;
  Revision rev = store()->transact([&](Transaction& tx) {
    tx.put("app", "outer1", Value(1));
    try {
      tx.savepoint([](Transaction& inner) {
        inner.put("app", "inner", Value(2));
        inner.put("app", "shared", Value("inner"));
        inner.erase("app", "outer1");
        throw BodyFailure("inner failed", 3);
      });
    } catch (const BodyFailure& e) {
      inner_caught = true;
      EXPECT_EQ(e.tag, 3);
    }
    // Inner writes are gone inside the transaction already.
    EXPECT_EQ(tx.get("app", "inner"), std::nullopt);
    EXPECT_EQ(tx.get("app", "shared"), std::optional<Value>(Value("before")));
    EXPECT_EQ(tx.get("app", "outer1"), std::optional<Value>(Value(1)));
    tx.put("app", "outer2", Value(3));
  });
  EXPECT_TRUE(inner_caught);
  EXPECT_EQ(store()->get("app", "outer1"), std::optional<Value>(Value(1)));
  EXPECT_EQ(store()->get("app", "outer2"), std::optional<Value>(Value(3)));
  EXPECT_EQ(store()->get("app", "inner"), std::nullopt);
  EXPECT_EQ(store()->get("app", "shared"), std::optional<Value>(Value("before")));

  auto commit = store()->commit_at(rev);
  ASSERT_TRUE(commit.has_value());
  ASSERT_EQ(commit->changes.size(), 2u);
  EXPECT_EQ(commit->changes[0].key, "outer1");
  EXPECT_EQ(commit->changes[0].new_value, std::optional<Value>(Value(1)));
  EXPECT_EQ(commit->changes[1].key, "outer2");
  EXPECT_EQ(commit->changes[1].new_value, std::optional<Value>(Value(3)));
}

TEST_P(TransactionConformance, SuccessfulAndNestedSavepointsKeepWrites) {
  Revision rev = store()->transact([](Transaction& tx) {
    tx.savepoint([](Transaction& s1) {
      s1.put("app", "s1", Value(1));
      try {
        s1.savepoint([](Transaction& s2) {
          s2.put("app", "s2", Value(2));
          throw BodyFailure("s2", 2);
        });
      } catch (const BodyFailure&) {
      }
      s1.savepoint([](Transaction& s3) { s3.put("app", "s3", Value(3)); });
    });
  });
  EXPECT_EQ(store()->get("app", "s1"), std::optional<Value>(Value(1)));
  EXPECT_EQ(store()->get("app", "s2"), std::nullopt);
  EXPECT_EQ(store()->get("app", "s3"), std::optional<Value>(Value(3)));
  auto commit = store()->commit_at(rev);
  ASSERT_TRUE(commit.has_value());
  ASSERT_EQ(commit->changes.size(), 2u);
  EXPECT_EQ(commit->changes[0].key, "s1");
  EXPECT_EQ(commit->changes[1].key, "s3");
}

TEST_P(TransactionConformance, UncaughtSavepointFailureRollsBackEverything) {
  store()->put("app", "a", Value(1));
  const Revision head = store()->history_bounds().head;
  EXPECT_THROW(store()->transact([](Transaction& tx) {
    tx.put("app", "a", Value(2));
    tx.savepoint([](Transaction& s) {
      s.put("app", "b", Value(3));
      throw BodyFailure("x", 1);
    });
  }),
               BodyFailure);
  EXPECT_EQ(store()->get("app", "a"), std::optional<Value>(Value(1)));
  EXPECT_EQ(store()->get("app", "b"), std::nullopt);
  EXPECT_EQ(store()->history_bounds().head, head);
}

TEST_P(TransactionConformance, VersionIsRevisionOfLastWrite) {
  Revision r1 = store()->put("app", "k", Value(1));
  auto e1 = store()->get_entry("app", "k");
  ASSERT_TRUE(e1.has_value());
  EXPECT_EQ(e1->key, "k");
  EXPECT_EQ(e1->value, Value(1));
  EXPECT_EQ(e1->version, r1);

  store()->put("app", "other", Value(0));  // does not change k's version
  EXPECT_EQ(store()->get_entry("app", "k")->version, r1);

  Revision r2 = store()->put("app", "k", Value(2));
  EXPECT_GT(r2, r1);
  EXPECT_EQ(store()->get_entry("app", "k")->version, r2);
  store()->read([&](Transaction& tx) { EXPECT_EQ(tx.get_entry("app", "k")->version, r2); });
  auto listed = store()->list("app", "k");
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].version, r2);
  EXPECT_EQ(store()->get_entry("app", "missing"), std::nullopt);
}

TEST_P(TransactionConformance, PutIfVersionSucceedsAndConflicts) {
  // 0 = must not exist.
  Revision r1 =
      store()->transact([](Transaction& tx) { tx.put_if_version("app", "cas-key", Value(1), 0); });
  EXPECT_EQ(store()->get("app", "cas-key"), std::optional<Value>(Value(1)));
  EXPECT_EQ(store()->get_entry("app", "cas-key")->version, r1);

  // Creating again with 0 conflicts.
  const Revision head = store()->history_bounds().head;
  auto err = CatchError([&] {
    store()->transact([](Transaction& tx) {
      tx.put("app", "side", Value(9));
      tx.put_if_version("app", "cas-key", Value(2), 0);
    });
  });
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ(err->code(), ErrorCode::kConflict);
  EXPECT_TRUE(test::Contains(err->what(), "cas-key")) << err->what();
  EXPECT_TRUE(test::Contains(err->what(), std::to_string(r1))) << err->what();
  // The conflict rolled back the whole transaction.
  EXPECT_EQ(store()->get("app", "side"), std::nullopt);
  EXPECT_EQ(store()->history_bounds().head, head);

  // A stale version conflicts.
  err = CatchError([&] {
    store()->transact([&](Transaction& tx) { tx.put_if_version("app", "cas-key", 5, r1 + 100); });
  });
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ(err->code(), ErrorCode::kConflict);

  // The current version succeeds and moves the version forward.
  Revision r2 = store()->transact(
      [&](Transaction& tx) { tx.put_if_version("app", "cas-key", Value(2), r1); });
  EXPECT_GT(r2, r1);
  EXPECT_EQ(store()->get_entry("app", "cas-key")->version, r2);
  EXPECT_EQ(store()->get("app", "cas-key"), std::optional<Value>(Value(2)));

  // The old version is now stale.
  err = CatchError([&] {
    store()->transact([&](Transaction& tx) { tx.put_if_version("app", "cas-key", 3, r1); });
  });
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ(err->code(), ErrorCode::kConflict);
  EXPECT_EQ(store()->get("app", "cas-key"), std::optional<Value>(Value(2)));

  // A non-zero version for a missing key conflicts.
  err = CatchError([&] {
    store()->transact([&](Transaction& tx) { tx.put_if_version("app", "nope", 1, r2); });
  });
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ(err->code(), ErrorCode::kConflict);
  EXPECT_EQ(store()->get("app", "nope"), std::nullopt);
}

TEST_P(TransactionConformance, CaughtConflictLetsTheTransactionGoOn) {
  Revision r1 = store()->put("app", "k", Value(1));
  Revision rev = store()->transact([&](Transaction& tx) {
    auto err = CatchError([&] { tx.put_if_version("app", "k", Value(99), r1 + 1); });
    ASSERT_TRUE(err.has_value());
    EXPECT_EQ(err->code(), ErrorCode::kConflict);
    tx.put("app", "after", Value(2));
  });
  EXPECT_EQ(store()->get("app", "k"), std::optional<Value>(Value(1)));
  EXPECT_EQ(store()->get("app", "after"), std::optional<Value>(Value(2)));
  auto commit = store()->commit_at(rev);
  ASSERT_TRUE(commit.has_value());
  ASSERT_EQ(commit->changes.size(), 1u);
  EXPECT_EQ(commit->changes[0].key, "after");
}

TEST_P(TransactionConformance, EraseIfVersion) {
  Revision r1 = store()->put("app", "k", Value(1));
  // Wrong version.
  auto err = CatchError([&] {
    store()->transact([&](Transaction& tx) { tx.erase_if_version("app", "k", r1 + 1); });
  });
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ(err->code(), ErrorCode::kConflict);
  EXPECT_EQ(store()->get("app", "k"), std::optional<Value>(Value(1)));
  // Absent key.
  err = CatchError(
      [&] { store()->transact([&](Transaction& tx) { tx.erase_if_version("app", "gone", r1); }); });
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ(err->code(), ErrorCode::kConflict);
  err = CatchError(
      [&] { store()->transact([&](Transaction& tx) { tx.erase_if_version("app", "gone", 0); }); });
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ(err->code(), ErrorCode::kConflict);
  // Right version.
  Revision r2 = store()->transact([&](Transaction& tx) { tx.erase_if_version("app", "k", r1); });
  EXPECT_GT(r2, r1);
  EXPECT_EQ(store()->get("app", "k"), std::nullopt);
}

TEST_P(TransactionConformance, EraseAndRecreateGivesNewVersionNeverReused) {
  Revision r1 = store()->put("app", "k", Value(1));
  ASSERT_EQ(store()->get_entry("app", "k")->version, r1);
  Revision r_erase = store()->erase("app", "k");
  EXPECT_GT(r_erase, r1);
  Revision r3 = store()->put("app", "k", Value(1));  // same value as before
  auto e = store()->get_entry("app", "k");
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->version, r3);
  EXPECT_GT(e->version, r_erase);
  EXPECT_NE(e->version, r1);
  // A CAS holding the pre-erase version must fail (no ABA).
  auto err = CatchError(
      [&] { store()->transact([&](Transaction& tx) { tx.put_if_version("app", "k", 2, r1); }); });
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ(err->code(), ErrorCode::kConflict);

  // Also within one transaction: erase then re-create.
  Revision r4 = store()->transact([](Transaction& tx) {
    EXPECT_TRUE(tx.erase("app", "k"));
    tx.put("app", "k", Value(1));
  });
  EXPECT_EQ(store()->get_entry("app", "k")->version, r4);
  EXPECT_GT(r4, r3);

  // And across a reopen.
  Reopen();
  store()->erase("app", "k");
  Revision r6 = store()->put("app", "k", Value(1));
  EXPECT_GT(r6, r4 + 1);
  EXPECT_EQ(store()->get_entry("app", "k")->version, r6);
}

TEST_P(TransactionConformance, EraseReturnValues) {
  Revision r1 = store()->put("app", "k", Value(1));
  // Store::erase of an existing key: a new revision.
  Revision r2 = store()->erase("app", "k");
  EXPECT_EQ(r2, r1 + 1);
  // Of a missing key: the head revision, no revision used.
  EXPECT_EQ(store()->erase("app", "k"), r2);
  EXPECT_EQ(store()->erase("nokeyspace", "k"), r2);
  EXPECT_EQ(store()->history_bounds().head, r2);
  // Transaction::erase returns whether the key existed.
  store()->put("app", "x", Value(1));
  store()->transact([](Transaction& tx) {
    EXPECT_TRUE(tx.erase("app", "x"));
    EXPECT_FALSE(tx.erase("app", "x"));
    EXPECT_FALSE(tx.erase("app", "never"));
    EXPECT_EQ(tx.get("app", "x"), std::nullopt);
  });
  EXPECT_EQ(store()->get("app", "x"), std::nullopt);
}

TEST_P(TransactionConformance, ListOrderPrefixAndLimit) {
  const std::vector<std::string> keys = {
      "b",   "a",   "abc", "ab", "a\x7f", "a\xc3\xa9",  // "aé" sorts after "a\x7f" by bytes
      "a%b", "a_c", "axc", "B",  "a/b",   "aa",
  };
  store()->transact([&](Transaction& tx) {
    for (const auto& k : keys) tx.put("app", k, Value(k));
    tx.put("zother", "a-other-keyspace", Value(1));
  });

  std::vector<std::string> all = keys;
  std::sort(all.begin(), all.end());  // std::string compares bytes as unsigned char
  EXPECT_EQ(Keys("app"), all);

  EXPECT_EQ(Keys("app", "a"), (std::vector<std::string>{"a", "a%b", "a/b", "a_c", "aa", "ab", "abc",
                                                        "axc", "a\x7f", "a\xc3\xa9"}));
  EXPECT_EQ(Keys("app", "ab"), (std::vector<std::string>{"ab", "abc"}));
  EXPECT_EQ(Keys("app", "abc"), (std::vector<std::string>{"abc"}));
  EXPECT_TRUE(Keys("app", "abcd").empty());
  // Prefixes are bytes, not patterns: '%' and '_' are literal; matching is case-sensitive.
  EXPECT_EQ(Keys("app", "a_"), (std::vector<std::string>{"a_c"}));
  EXPECT_EQ(Keys("app", "a%"), (std::vector<std::string>{"a%b"}));
  EXPECT_EQ(Keys("app", "A"), std::vector<std::string>{});
  EXPECT_EQ(Keys("app", "B"), (std::vector<std::string>{"B"}));

  // Limit.
  EXPECT_EQ(Keys("app", "", 3), (std::vector<std::string>(all.begin(), all.begin() + 3)));
  EXPECT_EQ(Keys("app", "a", 2), (std::vector<std::string>{"a", "a%b"}));
  EXPECT_EQ(Keys("app", "ab", 10), (std::vector<std::string>{"ab", "abc"}));

  // Values and keyspaces are separate.
  auto entries = store()->list("app", "ab");
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].value, Value("ab"));
  EXPECT_TRUE(Keys("nokeyspace").empty());
  EXPECT_EQ(Keys("zother"), (std::vector<std::string>{"a-other-keyspace"}));

  // Transaction::list agrees, and sees uncommitted writes of its own transaction.
  store()->transact([&](Transaction& tx) {
    std::vector<std::string> got;
    for (const auto& e : tx.list("app", "a", 2)) got.push_back(e.key);
    EXPECT_EQ(got, (std::vector<std::string>{"a", "a%b"}));
    tx.put("app", "a$", Value(0));
    tx.erase("app", "a");
    got.clear();
    for (const auto& e : tx.list("app", "a", 2)) got.push_back(e.key);
    EXPECT_EQ(got, (std::vector<std::string>{"a$", "a%b"}));
  });
}

TEST_P(TransactionConformance, KeyspacesAreCreatedOnFirstWriteAndSorted) {
  EXPECT_TRUE(store()->keyspaces().empty());
  store()->put("zeta", "k", 1);
  store()->put("alpha", "k", 1);
  store()->put("m.i-d_1", "k", 1);
  EXPECT_EQ(store()->keyspaces(), (std::vector<std::string>{"alpha", "m.i-d_1", "zeta"}));
  // A rolled-back transaction does not create a keyspace.
  EXPECT_THROW(store()->transact([](Transaction& tx) {
    tx.put("ghost", "k", 1);
    throw BodyFailure("no", 0);
  }),
               BodyFailure);
  EXPECT_EQ(store()->keyspaces(), (std::vector<std::string>{"alpha", "m.i-d_1", "zeta"}));
}

TEST_P(TransactionConformance, SeveralWritesToOneKeyInOneTransaction) {
  Revision rev = store()->transact([](Transaction& tx) {
    tx.put("app", "k", Value(1));
    tx.put("app", "k", Value(2));
    tx.erase("app", "k");
    tx.put("app", "k", Value(3));
  });
  EXPECT_EQ(store()->get("app", "k"), std::optional<Value>(Value(3)));
  auto commit = store()->commit_at(rev);
  ASSERT_TRUE(commit.has_value());
  ASSERT_EQ(commit->changes.size(), 4u);
  EXPECT_EQ(commit->changes[0].old_value, std::nullopt);
  EXPECT_EQ(commit->changes[0].new_value, std::optional<Value>(Value(1)));
  EXPECT_EQ(commit->changes[1].old_value, std::optional<Value>(Value(1)));
  EXPECT_EQ(commit->changes[1].new_value, std::optional<Value>(Value(2)));
  EXPECT_EQ(commit->changes[2].old_value, std::optional<Value>(Value(2)));
  EXPECT_EQ(commit->changes[2].new_value, std::nullopt);
  EXPECT_EQ(commit->changes[3].old_value, std::nullopt);
  EXPECT_EQ(commit->changes[3].new_value, std::optional<Value>(Value(3)));
}

// A put right after a get of the same key reuses what the get found as the history's old value
// (TransactionImpl::LastRead); any write or rolled-back savepoint in between must make it read
// again. History must always hold the value the key really had before each write.
TEST_P(TransactionConformance, ReadModifyWriteRecordsTheTrueOldValue) {
  store()->put("app", "n", 1);
  const Revision r = store()->transact([](Transaction& tx) {
    tx.put("app", "n", tx.get("app", "n")->as_int() + 1);  // old 1
    tx.put("app", "n", tx.get("app", "n")->as_int() + 1);  // old 2
    EXPECT_EQ(tx.get("app", "n"), std::optional<Value>(Value(3)));
    EXPECT_THROW(tx.savepoint([](Transaction& inner) {
      inner.put("app", "n", 100);
      EXPECT_EQ(inner.get("app", "n"), std::optional<Value>(Value(100)));
      throw std::runtime_error("undo");
    }),
                 std::runtime_error);
    tx.put("app", "n", 4);  // old 3: the savepoint's 100 was rolled back
    EXPECT_EQ(tx.get("app", "fresh"), std::nullopt);
    tx.put("app", "other", 0);
    tx.put("app", "fresh", 1);  // old: absent
    EXPECT_EQ(tx.get("app", "other"), std::optional<Value>(Value(0)));
    tx.erase("app", "other");  // old 0
  });
  const std::optional<Commit> c = store()->commit_at(r);
  ASSERT_TRUE(c.has_value());
  std::vector<std::pair<std::optional<Value>, std::optional<Value>>> got;
  for (const Change& ch : c->changes) got.emplace_back(ch.old_value, ch.new_value);
  using V = std::optional<Value>;
  EXPECT_EQ(got, (std::vector<std::pair<V, V>>{{V(Value(1)), V(Value(2))},
                                               {V(Value(2)), V(Value(3))},
                                               {V(Value(3)), V(Value(4))},
                                               {std::nullopt, V(Value(0))},
                                               {std::nullopt, V(Value(1))},
                                               {V(Value(0)), std::nullopt}}));
  if (engine().Supports(test::Capability::kAdminTools)) {
    EXPECT_TRUE(Verify(*store()).ok());
  }
}

STATESTORE_CONFORMANCE_SUITE(TransactionConformance);

}  // namespace
}  // namespace statestore

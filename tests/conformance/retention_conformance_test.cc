// Conformance: per-keyspace history retention (HistoryPolicy) — where the effective policy comes
// from, invalid policies, keep_revisions per keyspace against the store-wide limit, and partial
// commits that revert refuses. What a policy leaves in a SQLite file (change rows, meta, inspect's
// dbstat sizes, upgrades) is checked by history_policy_test.cc.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "conformance/conformance_test.h"
#include "statestore/admin.h"
#include "statestore/statestore.h"
#include "test_util.h"

namespace statestore {
namespace {

using test::CatchError;

HistoryPolicy KeepRevisions(std::uint64_t n) {
  HistoryPolicy p;
  p.keep_revisions = n;
  return p;
}

HistoryPolicy KeepNone() {
  HistoryPolicy p;
  p.keep_none = true;
  return p;
}

class RetentionConformance : public test::ConformanceTest {};

TEST_P(RetentionConformance, EffectivePolicySources) {
  Options options;
  options.history_retention.keep_revisions = 7;
  Reopen(options);
  EffectiveHistoryPolicy s = store()->history_policy("sessions");
  EXPECT_EQ(s.source, HistoryPolicySource::kDefault);
  EXPECT_EQ(s.policy.keep_for, std::chrono::seconds(kSessionsHistoryKeepFor));
  EffectiveHistoryPolicy c = store()->history_policy("config");
  EXPECT_EQ(c.source, HistoryPolicySource::kGlobal);
  EXPECT_EQ(c.policy.keep_revisions, 7u);
  store()->set_history_policy("config", HistoryPolicy{});
  c = store()->history_policy("config");
  EXPECT_EQ(c.source, HistoryPolicySource::kStored);
  EXPECT_TRUE(c.policy.keeps_all());
  store()->set_history_policy("config", std::nullopt);
  EXPECT_EQ(store()->history_policy("config").source, HistoryPolicySource::kGlobal);
}

TEST_P(RetentionConformance, InvalidPoliciesAreRefused) {
  auto e = CatchError([&] { store()->set_history_policy("Bad Name", KeepNone()); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(std::string(e->what()).find("keyspace name"), std::string::npos) << e->what();
  HistoryPolicy bad = KeepNone();
  bad.keep_revisions = 3;
  e = CatchError([&] { store()->set_history_policy("app", bad); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(std::string(e->what()).find("keep_none"), std::string::npos) << e->what();
  e = CatchError([&] { store()->history_bounds(std::string_view("")); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::kInvalidArgument);

  Options options;
  options.history_policies["ok"] = KeepRevisions(1);
  options.history_policies["Not-ok"] = KeepRevisions(1);
  Close();
  e = CatchError([&] { OpenSecond(options); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(std::string(e->what()).find("history_policies"), std::string::npos) << e->what();
}

TEST_P(RetentionConformance, PartialCommitIsMarkedAndNotReverted) {
  const Revision mixed = store()->transact([](Transaction& tx) {
    tx.put("settings", "x", Value(1));
    tx.put("scratch", "k", Value(1));
  });
  const Revision config_only = store()->put("settings", "y", Value(2));
  store()->set_history_policy("scratch", KeepNone());
  store()->put("app", "head", Value(0));
  EXPECT_EQ(store()->compact_history(), 0u);  // nothing removed entirely

  std::optional<Commit> c = store()->commit_at(mixed);
  ASSERT_TRUE(c.has_value());
  EXPECT_TRUE(c->partial);
  ASSERT_EQ(c->changes.size(), 1u);
  EXPECT_EQ(c->changes[0].keyspace, "settings");
  auto all = store()->history();
  ASSERT_FALSE(all.empty());
  EXPECT_TRUE(all[0].partial);
  EXPECT_EQ(store()->history_bounds().first, mixed + 1);

  auto e = CatchError([&] { store()->revert(mixed); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::kNotFound);
  EXPECT_NE(std::string(e->what()).find("only partly in history"), std::string::npos) << e->what();
  EXPECT_EQ(store()->get("settings", "x"), std::optional<Value>(Value(1)));

  ASSERT_FALSE(store()->commit_at(config_only)->partial);
  store()->revert(config_only);
  EXPECT_EQ(store()->get("settings", "y"), std::nullopt);
  if (engine().Supports(test::Capability::kAdminTools)) {
    EXPECT_TRUE(Verify(*store()).ok());
  }
}

TEST_P(RetentionConformance, KeepRevisionsCountsRevisionsOfThatKeyspace) {
  store()->set_history_policy("busy", KeepRevisions(5));
  for (int i = 0; i < 20; ++i) {
    store()->put("busy", "k", Value(i));
    if (i % 5 == 0) store()->put("quiet", "k", Value(i));
  }
  store()->compact_history();
  HistoryQuery q;
  q.keyspace = "busy";
  EXPECT_EQ(store()->history(q).size(), 5u);
  q.keyspace = "quiet";
  EXPECT_EQ(store()->history(q).size(), 4u);
  if (engine().Supports(test::Capability::kAdminTools)) {
    EXPECT_TRUE(Verify(*store()).ok());
  }
}

TEST_P(RetentionConformance, GlobalRetentionKeepsItsStoreWideMeaning) {
  Options options;
  options.history_retention.keep_revisions = 5;
  Reopen(options);
  for (int i = 0; i < 20; ++i) store()->put(i % 2 ? "a" : "b", "k", Value(i));
  store()->compact_history();
  HistoryBounds b = store()->history_bounds();
  EXPECT_EQ(b.head, 20u);
  EXPECT_EQ(b.first, 16u);
  EXPECT_EQ(store()->history().size(), 5u);
}

STATESTORE_CONFORMANCE_SUITE(RetentionConformance);

}  // namespace
}  // namespace statestore

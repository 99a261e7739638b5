// Values the store must refuse, and stored rows it must survive (issue 10).
//
// NaN: SQLite stores a NaN REAL as NULL, so a NaN double is refused (kInvalidArgument) at every
// entry point that takes a Value, and nothing is written. ±infinity round-trips.
//
// Rows already on disk that do not decode are planted with the sqlite3 C API while no Store has
// the file open (plain UPDATEs: a Store refuses files with triggers or views):
//   - type double (3) with a NULL value, what older builds made of a NaN: reads as NaN, can be
//     overwritten and erased, and cannot be written back (revert refuses it);
//   - type int (2) holding TEXT, and an unknown type tag 9: a point read throws kCorruption naming
//     the key, scans skip that one row and count it, put/erase repair the key.
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <cmath>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "statestore/admin.h"
#include "statestore/statestore.h"
#include "test_util.h"

namespace statestore {
namespace {

using test::CatchError;
using test::Contains;
using test::TempDir;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// Runs SQL on the file with a plain SQLite connection (no statestore involved).
void RawSql(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
  char* message = nullptr;
  int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &message);
  std::string why = message != nullptr ? message : "";
  sqlite3_free(message);
  sqlite3_close(db);
  ASSERT_EQ(rc, SQLITE_OK) << sql << ": " << why;
}

std::string KeyspaceId(const std::string& keyspace) {
  return "(SELECT id FROM keyspaces WHERE name = '" + keyspace + "')";
}

std::vector<std::string> Keys(const std::vector<Entry>& entries) {
  std::vector<std::string> out;
  for (const auto& e : entries) out.push_back(e.key);
  return out;
}

class HostileValuesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(log_text_);
    logger_ = std::make_shared<spdlog::logger>("hostile-values", sink);
    logger_->set_level(spdlog::level::warn);
    Open();
  }

  void Open() {
    Options options;
    options.logger = logger_;
    options.redacted_keyspaces = {"vault"};
    store_ = Store::open(db_, options);
  }
  void Close() { store_.reset(); }
  // Closes the store, runs `sql` on the file, reopens (a fresh read cache).
  void Plant(const std::string& sql) {
    Close();
    RawSql(db_, sql);
    Open();
  }

  Revision Head() { return store_->history_bounds().head; }
  // The commit at `revision`, which must exist.
  Commit CommitAt(Revision revision) {
    auto c = store_->commit_at(revision);
    EXPECT_TRUE(c.has_value()) << revision;
    return c ? *c : Commit{};
  }
  // Occurrences of `needle` in everything logged so far.
  std::size_t LogCount(const std::string& needle) {
    std::string text = log_text_.str();
    std::size_t n = 0;
    for (auto pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1)) {
      ++n;
    }
    return n;
  }

  // Asserts that `fn` throws kInvalidArgument about a NaN and that nothing was committed.
  void ExpectNaNRefused(const std::string& what, const std::function<void()>& fn,
                        const std::string& names = "") {
    const Revision head = Head();
    auto e = CatchError(fn);
    ASSERT_TRUE(e.has_value()) << what << ": NaN was accepted";
    EXPECT_EQ(e->code(), ErrorCode::kInvalidArgument) << what << ": " << e->what();
    EXPECT_TRUE(Contains(e->what(), "NaN")) << e->what();
    EXPECT_TRUE(Contains(e->what(), "SQLite stores it as NULL")) << e->what();
    if (!names.empty()) {
      EXPECT_TRUE(Contains(e->what(), names)) << e->what();
    }
    EXPECT_EQ(Head(), head) << what << ": something was committed";
  }

  TempDir dir_;
  std::string db_ = dir_.file("hostile.db");
  std::ostringstream log_text_;
  std::shared_ptr<spdlog::logger> logger_;
  std::shared_ptr<Store> store_;
};

// ---- NaN is refused everywhere; infinities are fine.

TEST_F(HostileValuesTest, StorePutRefusesNaNButKeepsInfinities) {
  store_->put("app", "up", kInf);
  store_->put("app", "down", -kInf);
  ExpectNaNRefused(
      "Store::put", [&] { store_->put("app", "d", kNaN); }, "app/\"d\"");
  ExpectNaNRefused("Store::put of a NaN with a payload",
                   [&] { store_->put("app", "d", -std::nan("0x123")); });
  EXPECT_FALSE(store_->get("app", "d").has_value());
  EXPECT_EQ(store_->history_bounds().head, 2u);

  Close();
  Open();
  ASSERT_TRUE(store_->get("app", "up").has_value());
  EXPECT_EQ(store_->get("app", "up")->as_double(), kInf);
  EXPECT_EQ(store_->get("app", "down")->as_double(), -kInf);
  auto all = store_->list("app");
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].value.as_double(), -kInf);  // "down" < "up"
  auto history = store_->history();
  ASSERT_EQ(history.size(), 2u);
  EXPECT_EQ(history[0].changes.at(0).new_value->as_double(), kInf);
  EXPECT_TRUE(Verify(*store_).problems.empty());
}

TEST_F(HostileValuesTest, TransactionPutRefusesNaNAndTheBodyRollsBack) {
  store_->put("app", "x", 1);
  const Revision head = Head();
  auto e = CatchError([&] {
    store_->transact([](Transaction& tx) {
      tx.put("app", "y", 2);
      tx.put("app", "d", kNaN);
    });
  });
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->code(), ErrorCode::kInvalidArgument) << e->what();
  EXPECT_TRUE(Contains(e->what(), "app/\"d\"")) << e->what();
  EXPECT_EQ(Head(), head);
  EXPECT_FALSE(store_->get("app", "y").has_value());
  EXPECT_FALSE(store_->get("app", "d").has_value());
}

TEST_F(HostileValuesTest, PutIfVersionRefusesNaNBeforeComparingVersions) {
  store_->put("app", "d", 1.5);
  const std::uint64_t version = store_->get_entry("app", "d")->version;
  ExpectNaNRefused(
      "put_if_version",
      [&] {
        store_->transact([&](Transaction& tx) { tx.put_if_version("app", "d", kNaN, version); });
      },
      "app/\"d\"");
  // Even with a stale version the answer is "invalid", not "conflict": nothing was compared.
  ExpectNaNRefused("put_if_version, stale version", [&] {
    store_->transact([&](Transaction& tx) { tx.put_if_version("app", "d", kNaN, version + 7); });
  });
  EXPECT_EQ(store_->get("app", "d")->as_double(), 1.5);
}

TEST_F(HostileValuesTest, NaNInSavepointRollsBackOnlyTheSavepoint) {
  std::optional<Error> inner;
  const Revision rev = store_->transact([&](Transaction& tx) {
    tx.put("app", "a", 1);
    inner = CatchError([&] {
      tx.savepoint([](Transaction& sp) {
        sp.put("app", "b", 2);
        sp.put("app", "d", kNaN);
      });
    });
    tx.put("app", "c", 3);
  });
  ASSERT_TRUE(inner.has_value());
  EXPECT_EQ(inner->code(), ErrorCode::kInvalidArgument) << inner->what();
  EXPECT_EQ(Keys(store_->list("app")), (std::vector<std::string>{"a", "c"}));
  Commit commit = CommitAt(rev);
  ASSERT_EQ(commit.changes.size(), 2u);
  EXPECT_EQ(commit.changes[0].key, "a");
  EXPECT_EQ(commit.changes[1].key, "c");
}

TEST_F(HostileValuesTest, SessionsRefuseNaNAttributes) {
  Sessions& s = store_->sessions();
  const std::uint64_t count = s.count();
  ExpectNaNRefused(
      "Sessions::create",
      [&] {
        s.create(std::chrono::hours(1), {{"x", kNaN}});
      },
      "session attribute \"x\"");
  NewSession ns;
  ns.idle_ttl = std::chrono::hours(1);
  ns.attributes = {{"ok", 1}, {"x", kNaN}};
  ExpectNaNRefused("Sessions::create(NewSession)", [&] { s.create(ns); });
  EXPECT_EQ(s.count(), count);

  const std::string token = s.create(std::chrono::hours(1), {{"ok", 1}});
  ExpectNaNRefused("set_attribute", [&] { s.set_attribute(token, "x", kNaN); });
  ExpectNaNRefused("set_many", [&] { s.set_many(token, {{"y", 2}, {"x", kNaN}}); });
  ExpectNaNRefused("update", [&] { s.update(token, [](Attributes& a) { a["x"] = kNaN; }); });
  auto session = s.get(token);
  ASSERT_TRUE(session.has_value());
  EXPECT_EQ(session->attributes, (Attributes{{"ok", 1}}));
  // Infinity is an ordinary value.
  EXPECT_TRUE(s.set_attribute(token, "x", -kInf));
  EXPECT_EQ(s.get_attribute(token, "x")->as_double(), -kInf);
}

// ---- A NaN already on disk (type double, value NULL): written by a build before the rule.

class LegacyNaNTest : public HostileValuesTest {
 protected:
  void SetUp() override {
    HostileValuesTest::SetUp();
    store_->put("app", "a", 1);        // revision 1
    store_->put("app", "d", 0.5);      // revision 2: becomes the NaN
    store_->put("app", "z", "after");  // revision 3
    // What an older build left: the state row and the history row of revision 2.
    Plant("UPDATE entries SET value = NULL WHERE key = 'd' AND keyspace_id = " + KeyspaceId("app") +
          "; UPDATE changes SET new_value = NULL WHERE revision = 2 AND key = 'd';");
  }
};

TEST_F(LegacyNaNTest, ReadsAsNaNEverywhere) {
  auto v = store_->get("app", "d");
  ASSERT_TRUE(v.has_value());
  ASSERT_EQ(v->type(), ValueType::kDouble);
  EXPECT_TRUE(std::isnan(v->as_double()));
  EXPECT_EQ(store_->get_entry("app", "d")->version, 2u);
  store_->read([](Transaction& tx) {
    auto in_tx = tx.get("app", "d");
    ASSERT_TRUE(in_tx.has_value());
    EXPECT_TRUE(std::isnan(in_tx->as_double()));
  });

  auto all = store_->list("app");
  ASSERT_EQ(Keys(all), (std::vector<std::string>{"a", "d", "z"}));
  EXPECT_TRUE(std::isnan(all[1].value.as_double()));

  auto history = store_->history();
  ASSERT_EQ(history.size(), 3u);
  ASSERT_EQ(history[1].changes.size(), 1u);
  EXPECT_TRUE(std::isnan(history[1].changes[0].new_value->as_double()));
  EXPECT_EQ(store_->stats().damaged_rows_skipped, 0u);

  // Replay compares NaN with NaN bit for bit: the file is consistent.
  auto report = Verify(*store_);
  EXPECT_TRUE(report.problems.empty())
      << (report.problems.empty() ? "" : report.problems[0].message);

  // Writing back what was read is refused like any NaN.
  ExpectNaNRefused("put of a NaN read back", [&] { store_->put("app", "copy", *v); });
}

TEST_F(LegacyNaNTest, CanBeOverwrittenAndErased) {
  const std::uint64_t version = store_->get_entry("app", "d")->version;
  const Revision overwrite =
      store_->transact([&](Transaction& tx) { tx.put_if_version("app", "d", 2.5, version); });
  EXPECT_EQ(store_->get("app", "d")->as_double(), 2.5);
  // History tells the truth: the old value was the NaN.
  Commit commit = CommitAt(overwrite);
  ASSERT_EQ(commit.changes.size(), 1u);
  ASSERT_TRUE(commit.changes[0].old_value.has_value());
  EXPECT_TRUE(std::isnan(commit.changes[0].old_value->as_double()));
  EXPECT_TRUE(Verify(*store_).problems.empty());

  // Plant it again and erase it this time.
  Plant("UPDATE entries SET value = NULL WHERE key = 'd';");
  const Revision erased = store_->erase("app", "d");
  EXPECT_FALSE(store_->get("app", "d").has_value());
  commit = CommitAt(erased);
  ASSERT_EQ(commit.changes.size(), 1u);
  EXPECT_TRUE(std::isnan(commit.changes[0].old_value->as_double()));
  EXPECT_FALSE(commit.changes[0].new_value.has_value());
}

TEST_F(LegacyNaNTest, RevertThatWouldRestoreItIsRefused) {
  const Revision overwrite = store_->put("app", "d", 2.5);
  const Revision head = Head();
  RevertOptions force;
  force.force = true;
  for (const RevertOptions& options : {RevertOptions{}, force}) {
    auto e = CatchError([&] { store_->revert(overwrite, options); });
    ASSERT_TRUE(e.has_value());
    EXPECT_EQ(e->code(), ErrorCode::kInvalidArgument) << e->what();
    EXPECT_TRUE(Contains(e->what(), "cannot revert revision " + std::to_string(overwrite)))
        << e->what();
    EXPECT_TRUE(Contains(e->what(), "NaN")) << e->what();
    EXPECT_TRUE(Contains(e->what(), "app/\"d\"")) << e->what();
  }
  EXPECT_EQ(Head(), head);
  EXPECT_EQ(store_->get("app", "d")->as_double(), 2.5);
}

// ---- Rows damaged another way: the tag and the storage class disagree, or the tag is unknown.

struct Damage {
  const char* name;
  const char* sql;      // applied to entries row app/b (a put of int 2)
  const char* problem;  // expected in the error
};

// Names the parameter in test output.
void PrintTo(const Damage& damage, std::ostream* os) { *os << damage.name; }

const Damage kDamages[] = {
    {"IntHoldingText", "UPDATE entries SET value = 'oops' WHERE key = 'b'",
     "type tag 2 (int) but SQLite holds TEXT"},
    {"UnknownTag",
     "PRAGMA ignore_check_constraints = ON; UPDATE entries SET type = 9 WHERE key = 'b'",
     "unknown type tag 9"},
};

class DamagedRowTest : public HostileValuesTest, public ::testing::WithParamInterface<Damage> {
 protected:
  void SetUp() override {
    HostileValuesTest::SetUp();
    store_->put("app", "a", 1);
    store_->put("app", "b", 2);
    store_->put("app", "c", 3);
    store_->put("other", "k", "v");
    Plant(GetParam().sql);
  }
};

TEST_P(DamagedRowTest, PointReadThrowsCorruptionNamingTheKey) {
  for (int round = 0; round < 2; ++round) {  // the second round: nothing was cached
    auto e = CatchError([&] { store_->get("app", "b"); });
    ASSERT_TRUE(e.has_value()) << "round " << round;
    EXPECT_EQ(e->code(), ErrorCode::kCorruption) << e->what();
    EXPECT_TRUE(Contains(e->what(), "app/\"b\"")) << e->what();
    EXPECT_TRUE(Contains(e->what(), GetParam().problem)) << e->what();
    EXPECT_TRUE(Contains(e->what(), "overwrite or erase")) << e->what();
    EXPECT_TRUE(Contains(e->what(), "statectl verify")) << e->what();
  }
  auto e = CatchError([&] { store_->get_entry("app", "b"); });
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->code(), ErrorCode::kCorruption);
  e = CatchError([&] { store_->read([](Transaction& tx) { tx.get("app", "b"); }); });
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->code(), ErrorCode::kCorruption);
  EXPECT_TRUE(Contains(e->what(), "app/\"b\"")) << e->what();
  // The neighbours are fine.
  EXPECT_EQ(store_->get("app", "a")->as_int(), 1);
  EXPECT_EQ(store_->get("app", "c")->as_int(), 3);
}

TEST_P(DamagedRowTest, ScansSkipTheRowCountItAndWarnOncePerKey) {
  EXPECT_EQ(Keys(store_->list("app")), (std::vector<std::string>{"a", "c"}));
  EXPECT_EQ(store_->stats().damaged_rows_skipped, 1u);
  // A limit counts returned entries, not the skipped row: a full page is still a full page.
  EXPECT_EQ(Keys(store_->list("app", "", 2)), (std::vector<std::string>{"a", "c"}));
  EXPECT_EQ(Keys(store_->list("app", "b", 1)), std::vector<std::string>{});
  std::vector<Entry> in_body;
  store_->transact([&](Transaction& tx) { in_body = tx.list("app", "", 0); });
  EXPECT_EQ(Keys(in_body), (std::vector<std::string>{"a", "c"}));
  EXPECT_EQ(store_->stats().damaged_rows_skipped, 4u);
  // One warning for the key however often it is skipped, naming it but not its value.
  EXPECT_EQ(LogCount("app/\"b\""), 1u) << log_text_.str();
  EXPECT_FALSE(Contains(log_text_.str(), "oops")) << log_text_.str();
  // History and other keyspaces are untouched.
  HistoryQuery q;
  q.keyspace = "app";
  EXPECT_EQ(store_->history(q).size(), 3u);
  EXPECT_EQ(Keys(store_->list("other")), std::vector<std::string>{"k"});
}

TEST_P(DamagedRowTest, PutAndEraseRepairTheKey) {
  // Versions are intact, so compare-and-set still compares.
  auto conflict = CatchError(
      [&] { store_->transact([](Transaction& tx) { tx.put_if_version("app", "b", 5, 1); }); });
  ASSERT_TRUE(conflict.has_value());
  EXPECT_EQ(conflict->code(), ErrorCode::kConflict) << conflict->what();
  const Revision repaired =
      store_->transact([](Transaction& tx) { tx.put_if_version("app", "b", 5, 2); });
  EXPECT_EQ(store_->get("app", "b")->as_int(), 5);
  EXPECT_EQ(store_->get_entry("app", "b")->version, repaired);
  EXPECT_EQ(Keys(store_->list("app")), (std::vector<std::string>{"a", "b", "c"}));

  Plant(GetParam().sql);
  EXPECT_EQ(store_->erase("app", "b"), repaired + 1);
  EXPECT_FALSE(store_->get("app", "b").has_value());
  Plant(GetParam().sql);  // no row: nothing to damage
  EXPECT_FALSE(store_->get("app", "b").has_value());

  // A plain put repairs as well.
  store_->put("app", "b", 6);
  Plant(GetParam().sql);
  store_->put("app", "b", 7);
  EXPECT_EQ(store_->get("app", "b")->as_int(), 7);
}

INSTANTIATE_TEST_SUITE_P(Damage, DamagedRowTest, ::testing::ValuesIn(kDamages),
                         [](const auto& info) { return std::string(info.param.name); });

// In a redacted keyspace history holds digests; writes over a legacy NaN or a damaged row still
// work (the old side is the digest of what SQLite held).
TEST_F(HostileValuesTest, RedactedKeyspaceWritesOverLegacyAndDamagedRows) {
  const Revision put_n = store_->put("vault", "n", 0.5);
  const Revision put_t = store_->put("vault", "t", 1);
  Plant(
      "UPDATE entries SET value = NULL WHERE key = 'n'; UPDATE entries SET value = 'oops' "
      "WHERE key = 't';");
  EXPECT_TRUE(std::isnan(store_->get("vault", "n")->as_double()));
  const Revision rev = store_->transact([](Transaction& tx) {
    tx.put("vault", "n", 1.5);
    tx.put("vault", "t", 2);
  });
  EXPECT_EQ(store_->get("vault", "n")->as_double(), 1.5);
  EXPECT_EQ(store_->get("vault", "t")->as_int(), 2);
  Commit commit = CommitAt(rev);
  ASSERT_EQ(commit.changes.size(), 2u);
  for (const Change& change : commit.changes) {
    EXPECT_TRUE(change.redacted);
    ASSERT_TRUE(change.old_value.has_value());
    EXPECT_EQ(change.old_value->as_bytes().size(), 32u);
  }
  // The old sides are digests of what SQLite held, not of the values written before the damage.
  EXPECT_NE(commit.changes[0].old_value, CommitAt(put_n).changes.at(0).new_value);
  EXPECT_NE(commit.changes[1].old_value, CommitAt(put_t).changes.at(0).new_value);
}

// A damaged history row hides only its own change.
TEST_F(HostileValuesTest, DamagedHistoryChangeIsSkippedAlone) {
  const Revision rev = store_->transact([](Transaction& tx) {
    tx.put("app", "a", 1);
    tx.put("app", "b", 2);
    tx.put("app", "c", 3);
  });
  store_->put("app", "b", 4);
  Plant("UPDATE changes SET new_value = x'00' WHERE revision = " + std::to_string(rev) +
        " AND key = 'b';");
  Commit commit = CommitAt(rev);
  ASSERT_EQ(commit.changes.size(), 2u);
  EXPECT_EQ(commit.changes[0].key, "a");
  EXPECT_EQ(commit.changes[1].key, "c");
  auto history = store_->history();
  ASSERT_EQ(history.size(), 2u);
  EXPECT_EQ(history[0].changes.size(), 2u);
  EXPECT_EQ(history[1].changes.size(), 1u);
  EXPECT_EQ(store_->stats().damaged_rows_skipped, 2u);
  EXPECT_EQ(LogCount("app/\"b\""), 1u) << log_text_.str();
  // State is not affected; a revert of that commit refuses rather than undo it in part.
  EXPECT_EQ(store_->get("app", "b")->as_int(), 4);
  RevertOptions force;
  force.force = true;
  auto e = CatchError([&] { store_->revert(rev, force); });
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->code(), ErrorCode::kCorruption) << e->what();
  EXPECT_TRUE(Contains(e->what(), "app/\"b\"")) << e->what();
}

}  // namespace
}  // namespace statestore

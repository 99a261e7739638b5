// Values the store must refuse (issue 10).
//
// NaN: SQLite stores a NaN REAL as NULL, so a NaN double is refused (kInvalidArgument) at every
// entry point that takes a Value, and nothing is written. ±infinity round-trips.
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
    if (!names.empty()) EXPECT_TRUE(Contains(e->what(), names)) << e->what();
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

}  // namespace
}  // namespace statestore

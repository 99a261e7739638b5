// Conformance: declared settings (issue 11, part 3): declarations are data stored in the database,
// so every process enforces them — including a second process that declared nothing — with one
// message; invalid declarations are refused at declaration time; a declared default answers get.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "conformance/conformance_test.h"
#include "run_util.h"
#include "statestore/statestore.h"
#include "test_util.h"

namespace statestore {
namespace {

using test::CatchError;
using test::Contains;

SettingDeclaration RateLimit() {
  SettingDeclaration d;
  d.key = "http.rate_limit";
  d.type = ConfigType::kInt;
  d.default_value = ConfigValue(100);
  d.min = ConfigValue(1);
  d.max = ConfigValue(10000);
  d.description = "requests per second per client";
  return d;
}

SettingDeclaration Mode() {
  SettingDeclaration d;
  d.key = "log.mode";
  d.type = ConfigType::kString;
  d.one_of = {ConfigValue("json"), ConfigValue("text")};
  d.default_value = ConfigValue("text");
  return d;
}

SettingDeclaration Name() {
  SettingDeclaration d;
  d.key = "site.name";
  d.type = ConfigType::kString;
  d.regex = "[A-Za-z0-9 ]+";
  d.max_length = 8;
  return d;
}

class DeclarationsConformance : public test::ConformanceTest {
 protected:
  std::shared_ptr<Store> Open() {
    Options options;
    options.durability = Durability::kNormal;
    return OpenSecond(options);
  }
  std::string Db() { return locator(); }
};

void ExpectRejected(const std::function<void()>& f, const std::vector<std::string>& parts) {
  auto e = CatchError(f);
  ASSERT_TRUE(e) << "not rejected";
  EXPECT_EQ(e->code(), ErrorCode::kInvalidArgument) << e->what();
  for (const auto& p : parts) EXPECT_TRUE(Contains(e->what(), p)) << e->what() << " lacks " << p;
}

TEST_P(DeclarationsConformance, DeclaredDefaultAnswersGetAndExplainShowsTheDeclaration) {
  auto store = Open();
  auto& config = store->config();
  config.declare({RateLimit(), Mode()});
  EXPECT_EQ(config.get<int>("http.rate_limit"), 100);
  EXPECT_EQ(config.get<std::string>("log.mode"), "text");
  auto e = config.explain("http.rate_limit");
  ASSERT_TRUE(e.declaration);
  EXPECT_EQ(*e.declaration, RateLimit());
  EXPECT_EQ(e.answered_by, ConfigLayer::kDefaults);
  EXPECT_EQ(e.layers.back().name, "declared");
  // An in-process default wins over the declared one (in this process), and must satisfy it.
  config.set_default("http.rate_limit", 200);
  EXPECT_EQ(config.get<int>("http.rate_limit"), 200);
  ExpectRejected([&] { config.set_default("http.rate_limit", 0); },
                 {"http.rate_limit", "below the minimum 1"});
  // A set value wins over both.
  config.set("http.rate_limit", 500);
  EXPECT_EQ(config.get<int>("http.rate_limit"), 500);
  // list shows declared defaults of keys nobody set.
  auto entries = config.list("log.");
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].value, ConfigValue("text"));
  EXPECT_EQ(entries[0].layer, ConfigLayer::kDefaults);
  EXPECT_EQ(config.declarations().size(), 2u);
  EXPECT_EQ(config.declaration("log.mode"), Mode());
  // A view sees the declarations of its revision.
  EXPECT_EQ(config.view().get<std::string>("log.mode"), "text");
  EXPECT_EQ(config.at(0).get_value("log.mode"), std::nullopt);
}

TEST_P(DeclarationsConformance, EveryConstraintRejectsWithKeyDeclarationAndValue) {
  auto store = Open();
  auto& config = store->config();
  config.declare({RateLimit(), Mode(), Name()});
  const Revision head = store->history_bounds().head;
  ExpectRejected([&] { config.set("http.rate_limit", "500"); },
                 {"config key \"http.rate_limit\"", "\"500\" (string)",
                  "rejected by its declaration (int, min 1, max 10000, default 100)",
                  "expected int, got string"});
  ExpectRejected([&] { config.set("http.rate_limit", 0); }, {"0 is below the minimum 1"});
  ExpectRejected([&] { config.set("http.rate_limit", 10001); }, {"above the maximum 10000"});
  ExpectRejected([&] { config.set("log.mode", "xml"); }, {"not one of {\"json\", \"text\"}"});
  ExpectRejected([&] { config.set("site.name", "<script>"); }, {"does not match /[A-Za-z0-9 ]+/"});
  ExpectRejected([&] { config.set("site.name", "abcdefghi"); },
                 {"9 characters long; the maximum length is 8"});
  // The same through transact: the whole edit rolls back.
  ExpectRejected(
      [&] {
        config.transact([](ConfigTransaction& tx) {
          tx.set("log.mode", "json");
          tx.set("http.rate_limit", -5);
        });
      },
      {"-5 is below the minimum 1"});
  ExpectRejected([&] { config.import_json(R"({"log.mode": "yaml"})"); }, {"log.mode"});
  EXPECT_EQ(store->history_bounds().head, head);
  EXPECT_EQ(config.get<std::string>("log.mode"), "text");
  // Values the declaration accepts go through; code validators still run in addition.
  config.add_validator("http.rate_limit", [](std::string_view, const ConfigValue& v) {
    return v.as<std::int64_t>() % 2 == 0 ? std::nullopt : std::optional<std::string>("odd");
  });
  EXPECT_GT(config.set("http.rate_limit", 500), head);
  ExpectRejected([&] { config.set("http.rate_limit", 501); }, {"odd"});
  config.set("site.name", "abc 12");
}

TEST_P(DeclarationsConformance, InvalidDeclarationsAreRefusedWithClearMessages) {
  auto store = Open();
  auto& config = store->config();
  auto with = [](auto change) {
    SettingDeclaration d = RateLimit();
    change(d);
    return d;
  };
  ExpectRejected(
      [&] {
        config.declare({with([](auto& d) {
          d.min = 10;
          d.max = 5;
        })});
      },
      {"declaration of config key \"http.rate_limit\"", "min 10 is above max 5"});
  ExpectRejected([&] { config.declare({with([](auto& d) { d.default_value = 0; })}); },
                 {"default 0 violates the declaration: 0 is below the minimum 1"});
  ExpectRejected([&] { config.declare({with([](auto& d) { d.default_value = "100"; })}); },
                 {"default \"100\" violates the declaration: expected int, got string"});
  ExpectRejected([&] { config.declare({with([](auto& d) { d.regex = "a+"; })}); },
                 {"regex applies to string settings, not int"});
  ExpectRejected(
      [&] { config.declare({with([](auto& d) { d.type = static_cast<ConfigType>(17); })}); },
      {"unknown type 17"});
  ExpectRejected([&] { config.declare({with([](auto& d) { d.min = 1.5; })}); },
                 {"min of an int setting must be an int"});
  SettingDeclaration bad_re = Name();
  bad_re.regex = "([a-z]";
  ExpectRejected([&] { config.declare({bad_re}); }, {"site.name", "not a valid ECMAScript"});
  bad_re.regex = std::string(300, 'a');
  ExpectRejected([&] { config.declare({bad_re}); }, {"regex is 300 bytes; the limit is 256"});
  bad_re.regex = "(a{1,100}){1,100}";
  ExpectRejected([&] { config.declare({bad_re}); }, {"counted repetitions"});
  SettingDeclaration bad_one_of = Mode();
  bad_one_of.one_of.push_back(ConfigValue(3));
  ExpectRejected([&] { config.declare({bad_one_of}); },
                 {"one-of value 3 violates the declaration: expected string, got int"});
  ExpectRejected([&] { config.declare({Mode(), Mode()}); }, {"declared twice"});
  ExpectRejected([] { SettingDeclaration::FromJson("k", R"({"type": "float"})"); },
                 {"unknown type \"float\""});
  ExpectRejected([] { SettingDeclaration::FromJson("k", R"({"type": "int", "minimum": 1})"); },
                 {"unknown member \"minimum\""});
  ExpectRejected([] { SettingDeclaration::FromJson("k", R"({"type": "int", "default": "1"})"); },
                 {"default must be an int64, not \"1\""});
  EXPECT_TRUE(config.declarations().empty());
  EXPECT_EQ(store->history_bounds().head, 0u);
}

TEST_P(DeclarationsConformance, RedeclareReplacesIdenticalIsFreeAndStoredValuesMustFit) {
  auto store = Open();
  auto& config = store->config();
  const Revision r1 = config.declare({RateLimit()});
  EXPECT_EQ(config.declare({RateLimit()}), r1);  // identical: no commit
  SettingDeclaration upgraded = RateLimit();
  upgraded.max = ConfigValue(20000);
  const Revision r2 = config.declare({upgraded});
  EXPECT_GT(r2, r1);
  EXPECT_EQ(config.declaration("http.rate_limit"), upgraded);
  config.set("http.rate_limit", 15000);
  // A declaration the stored value violates is refused, and nothing is declared.
  ExpectRejected(
      [&] {
        config.declare({RateLimit(), Mode()});
      },
      {"holds 15000 (int) in layer overrides", "above the maximum 10000"});
  EXPECT_EQ(config.declaration("http.rate_limit"), upgraded);
  EXPECT_FALSE(config.declaration("log.mode"));
  config.undeclare("http.rate_limit");
  EXPECT_FALSE(config.declaration("http.rate_limit"));
  config.set("http.rate_limit", "anything");  // no longer declared
}

TEST_P(DeclarationsConformance, JsonFormRoundTripsEveryType) {
  std::vector<SettingDeclaration> all = {RateLimit(), Mode(), Name()};
  SettingDeclaration b;
  b.key = "tls.key";
  b.type = ConfigType::kBytes;
  b.max_length = 4;
  b.default_value = ConfigValue(Bytes{1, 2, 0xff});
  all.push_back(b);
  SettingDeclaration j;
  j.key = "feature.flags";
  j.type = ConfigType::kJson;
  j.default_value = ConfigValue(Json::Parse(R"({"b": [1, 2], "a": true})"));
  all.push_back(j);
  SettingDeclaration d;
  d.key = "ratio";
  d.type = ConfigType::kDouble;
  d.min = ConfigValue(0);
  d.max = ConfigValue(1.0);
  d.default_value = ConfigValue(0.25);
  all.push_back(d);
  auto back = ParseDeclarationsJson(DeclarationsToJson(all));
  ASSERT_EQ(back.size(), all.size());
  for (const auto& a : all) {
    auto it = std::find_if(back.begin(), back.end(), [&](auto& x) { return x.key == a.key; });
    ASSERT_NE(it, back.end());
    EXPECT_EQ(*it, a) << a.key << ": " << a.to_json() << " vs " << it->to_json();
  }
  auto store = Open();
  store->config().declare(all);
  EXPECT_EQ(store->config().get<Bytes>("tls.key"), (Bytes{1, 2, 0xff}));
  EXPECT_EQ(store->config().get<double>("ratio"), 0.25);
  ExpectRejected(
      [&] {
        store->config().set("tls.key", Bytes{1, 2, 3, 4, 5});
      },
      {"5 bytes long; the maximum length is 4"});
}

TEST_P(DeclarationsConformance, RevertThatWouldRestoreARejectedValueIsRefused) {
  auto store = Open();
  auto& config = store->config();
  config.set("http.rate_limit", 5000);
  const Revision r2 = config.set("http.rate_limit", 50);
  SettingDeclaration d = RateLimit();
  d.max = ConfigValue(100);
  config.declare({d});
  const Revision head = store->history_bounds().head;
  ExpectRejected([&] { config.revert(r2); }, {"config revert: revision " + std::to_string(r2),
                                              "5000 is above the maximum 100"});
  EXPECT_EQ(store->history_bounds().head, head);
  EXPECT_EQ(config.get<int>("http.rate_limit"), 50);
}

// A read-only Store (what statectl opens first) runs the same checks without writing.
TEST_P(DeclarationsConformance, CheckIsADryRunOfSet) {
  { Open()->config().declare({RateLimit()}); }
  Options options;
  options.read_only = true;
  auto store = OpenSecond(options);
  store->config().check("http.rate_limit", 7);
  ExpectRejected([&] { store->config().check("http.rate_limit", "7"); },
                 {"value \"7\" (string) rejected by its declaration", "expected int, got string"});
  ExpectRejected([&] { store->config().check("Bad Key", 7); }, {"Bad Key"});
}

// The production bug: validators lived only in the process that registered them. A declaration
// stored by this process is enforced in a separate process that declared nothing, and a declared
// default answers there.
TEST_P(DeclarationsConformance, AnotherProcessThatDeclaredNothingEnforcesTheDeclaration) {
  CONFORMANCE_REQUIRE(test::Capability::kMultiProcess);
  {
    auto store = Open();
    store->config().declare({RateLimit()});
  }
  const auto timeout = std::chrono::seconds(30 * test::kSlowFactor);
  auto r = test::RunWorker({"config-put", Db(), "http.rate_limit", "string", "500"}, timeout);
  EXPECT_EQ(r.code, 1) << r.Describe();
  EXPECT_TRUE(Contains(r.out,
                       "invalid_argument: config key \"http.rate_limit\": value "
                       "\"500\" (string) rejected by its declaration"))
      << r.Describe();
  r = test::RunWorker({"config-put", Db(), "http.rate_limit", "int", "0"}, timeout);
  EXPECT_EQ(r.code, 1) << r.Describe();
  EXPECT_TRUE(Contains(r.out, "0 is below the minimum 1")) << r.Describe();
  r = test::RunWorker({"config-get", Db(), "http.rate_limit"}, timeout);
  EXPECT_EQ(r.code, 0) << r.Describe();
  EXPECT_EQ(r.out, "value int 100\n");
  r = test::RunWorker({"config-put", Db(), "http.rate_limit", "int", "500"}, timeout);
  EXPECT_EQ(r.code, 0) << r.Describe();
  // And the other way: this process, open all along, sees a re-declaration made elsewhere (the
  // cached declaration is keyed by the stored version).
  auto store = Open();
  EXPECT_EQ(store->config().get<int>("http.rate_limit"), 500);
  {
    // Simulate a program upgrade by a second Store handle's writer: the raw declaration entry is
    // what another process writes.
    SettingDeclaration tighter = RateLimit();
    tighter.max = ConfigValue(1000);
    store->put("config", "declared/http.rate_limit", Value(tighter.to_json()));
  }
  ExpectRejected([&] { store->config().set("http.rate_limit", 2000); }, {"above the maximum 1000"});
}

STATESTORE_CONFORMANCE_SUITE(DeclarationsConformance);

}  // namespace
}  // namespace statestore

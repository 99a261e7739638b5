// Conformance: Config API, single-threaded behaviour: typed round-trips, wrong-type errors, key
// syntax, defaults and layer resolution with explain, validators and all-or-nothing transactions,
// at()/revert() against history, import/export.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "conformance/conformance_test.h"
#include "statestore/statestore.h"
#include "test_util.h"

namespace statestore {

// Readable gtest output for ConfigValues (found by ADL).
void PrintTo(const ConfigValue& v, std::ostream* os) {
  *os << ToString(v.type()) << " " << v.to_display(200);
}

namespace {

using test::CatchError;
using test::Contains;

class ConfigConformance : public test::ConformanceTest {
 protected:
  std::shared_ptr<Store> Open(const std::string& profile = "production") {
    Options options;
    options.durability = Durability::kNormal;
    options.config.profile = profile;
    return OpenSecond(options);
  }
};

TEST_P(ConfigConformance, TypedRoundTripForEveryType) {
  auto store = Open();
  Config& config = store->config();
  const Bytes blob{0x00, 0x01, 0xfe, 0xff};
  const Json doc = Json::Parse(R"({"b": [1, 2.5, "x"], "a": {"z": null}})");
  config.set("t.bool", true);
  config.set("t.int", std::int64_t{-9007199254740993});
  config.set("t.double", 0.1);
  config.set("t.string", "hello");
  config.set("t.escaped", std::string("\x01json:not json"));
  config.set("t.bytes", blob);
  config.set("t.json", doc);

  EXPECT_EQ(config.get<bool>("t.bool"), true);
  EXPECT_EQ(config.get<std::int64_t>("t.int"), std::int64_t{-9007199254740993});
  EXPECT_EQ(config.get<double>("t.double"), 0.1);
  EXPECT_EQ(config.get<std::string>("t.string"), "hello");
  EXPECT_EQ(config.get<std::string>("t.escaped"), std::string("\x01json:not json"));
  EXPECT_EQ(config.get<Bytes>("t.bytes"), blob);
  ASSERT_TRUE(config.get<Json>("t.json"));
  EXPECT_EQ(config.get<Json>("t.json")->text(), R"({"a":{"z":null},"b":[1,2.5,"x"]})");
  EXPECT_EQ(*config.get<Json>("t.json"), doc);
  EXPECT_EQ(config.get_value("t.json")->type(), ConfigType::kJson);
  EXPECT_EQ(config.get_value("t.escaped")->type(), ConfigType::kString);

  // Narrower integer types are range-checked.
  config.set("t.port", 8080);
  EXPECT_EQ(config.get<int>("t.port"), 8080);
  EXPECT_EQ(config.get<std::uint16_t>("t.port"), 8080);
  auto narrow = CatchError([&] { config.get<std::int8_t>("t.port"); });
  ASSERT_TRUE(narrow);
  EXPECT_EQ(narrow->code(), ErrorCode::kInvalidArgument);
  EXPECT_TRUE(Contains(narrow->what(), "t.port")) << narrow->what();

  config.set("t.size", std::size_t{5});
  EXPECT_EQ(config.get<std::size_t>("t.size"), 5u);
  EXPECT_TRUE(CatchError([] { ConfigValue v(std::numeric_limits<std::uint64_t>::max()); }));
  EXPECT_TRUE(CatchError([] { ConfigView().revision(); }));

  // Survives reopening (durable layers).
  store.reset();
  store = Open();
  EXPECT_EQ(store->config().get<Bytes>("t.bytes"), blob);
  EXPECT_EQ(*store->config().get<Json>("t.json"), doc);
}

TEST_P(ConfigConformance, WrongTypeErrorNamesKeyStoredAndAskedType) {
  auto store = Open();
  store->config().set("net.http.port", 8080);
  auto e = CatchError([&] { store->config().get<std::string>("net.http.port"); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::kInvalidArgument);
  EXPECT_TRUE(Contains(e->what(), "net.http.port")) << e->what();
  EXPECT_TRUE(Contains(e->what(), "int")) << e->what();
  EXPECT_TRUE(Contains(e->what(), "string")) << e->what();
  // No silent int -> double conversion, and a fallback does not hide a wrong type.
  EXPECT_TRUE(CatchError([&] { store->config().get<double>("net.http.port"); }));
  EXPECT_TRUE(CatchError([&] { store->config().get<bool>("net.http.port", false); }));
}

TEST_P(ConfigConformance, FallbacksAndMissingKeys) {
  auto store = Open();
  Config& config = store->config();
  EXPECT_EQ(config.get<int>("missing.key"), std::nullopt);
  EXPECT_EQ(config.get<int>("missing.key", 42), 42);
  EXPECT_EQ(config.get<std::string>("missing.key", "dflt"), "dflt");
  config.set_default("missing.key", 7);
  EXPECT_EQ(config.get<int>("missing.key", 42), 7);
}

TEST_P(ConfigConformance, KeySyntaxErrorsAreClear) {
  auto store = Open();
  Config& config = store->config();
  struct Case {
    std::string key;
    std::string expect;
  };
  for (const Case& c : std::vector<Case>{{"", "empty"},
                                         {"Net.port", "'N'"},
                                         {"net..port", "empty segment"},
                                         {".net", "empty segment"},
                                         {"net.", "empty segment"},
                                         {"net/port", "'/'"},
                                         {"net port", "' '"},
                                         {std::string(300, 'a'), "limit is 256"}}) {
    auto e = CatchError([&] { config.set(c.key, 1); });
    ASSERT_TRUE(e) << c.key;
    EXPECT_EQ(e->code(), ErrorCode::kInvalidArgument);
    EXPECT_TRUE(Contains(e->what(), c.expect)) << c.key << ": " << e->what();
    EXPECT_TRUE(CatchError([&] { config.get_value(c.key); })) << c.key;
  }
  EXPECT_TRUE(CatchError([&] { config.list("Net"); }));
  EXPECT_TRUE(CatchError([&] { config.set("x.nan", std::numeric_limits<double>::quiet_NaN()); }));
  EXPECT_EQ(store->history_bounds().head, 0u);  // nothing was written
  // Good keys.
  config.set("a", 1);
  config.set("feature.dark-mode_v2.x9", true);
  EXPECT_EQ(config.get<int>("a"), 1);
}

TEST_P(ConfigConformance, LayersResolveAndExplain) {
  auto store = Open("production");
  Config& config = store->config();
  EXPECT_EQ(config.profile(), "production");
  config.set_default("db.pool", 4);
  config.set_default("db.host", "localhost");
  config.set_default("db.tls", false);

  auto e = config.explain("db.pool");
  EXPECT_EQ(e.value, ConfigValue(4));
  EXPECT_EQ(e.answered_by, ConfigLayer::kDefaults);
  ASSERT_EQ(e.layers.size(), 3u);
  EXPECT_EQ(e.layers[0].layer, ConfigLayer::kOverrides);
  EXPECT_EQ(e.layers[1].layer, ConfigLayer::kProfile);
  EXPECT_EQ(e.layers[1].name, "profile:production");
  EXPECT_EQ(e.layers[2].layer, ConfigLayer::kDefaults);

  Revision r1 = config.set("db.pool", 32, ConfigLayer::kProfile);
  config.set("db.host", "db.prod", ConfigLayer::kProfile);
  EXPECT_EQ(config.get<int>("db.pool"), 32);
  e = config.explain("db.pool");
  EXPECT_EQ(e.answered_by, ConfigLayer::kProfile);
  EXPECT_EQ(e.layers[1].value, ConfigValue(32));
  EXPECT_EQ(e.layers[1].version, r1);
  EXPECT_EQ(e.layers[2].value, ConfigValue(4));

  Revision r3 = config.set("db.pool", 8);
  EXPECT_EQ(config.get<int>("db.pool"), 8);
  e = config.explain("db.pool");
  EXPECT_EQ(e.answered_by, ConfigLayer::kOverrides);
  EXPECT_EQ(e.layers[0].value, ConfigValue(8));
  EXPECT_EQ(e.layers[0].version, r3);
  EXPECT_EQ(e.layers[1].value, ConfigValue(32));
  EXPECT_EQ(e.layers[2].value, ConfigValue(4));

  // list merges the layers, sorted, saying which layer answered.
  auto entries = config.list("db.");
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[0].key, "db.host");
  EXPECT_EQ(entries[0].layer, ConfigLayer::kProfile);
  EXPECT_EQ(entries[1].key, "db.pool");
  EXPECT_EQ(entries[1].layer, ConfigLayer::kOverrides);
  EXPECT_EQ(entries[2].key, "db.tls");
  EXPECT_EQ(entries[2].layer, ConfigLayer::kDefaults);

  // Erasing the override falls back to the profile, then to the default.
  config.erase("db.pool");
  EXPECT_EQ(config.get<int>("db.pool"), 32);
  config.erase("db.pool", ConfigLayer::kProfile);
  EXPECT_EQ(config.get<int>("db.pool"), 4);

  // A process with another profile sees the shared overrides but not production's profile.
  store.reset();
  auto test_store = Open("test");
  EXPECT_EQ(test_store->config().get<std::string>("db.host"), std::nullopt);
  test_store.reset();
  auto none = Open("");
  e = none->config().explain("db.host");
  EXPECT_EQ(e.layers.size(), 2u);  // no profile layer
  auto err = CatchError([&] { none->config().set("db.host", "x", ConfigLayer::kProfile); });
  ASSERT_TRUE(err);
  EXPECT_TRUE(Contains(err->what(), "profile")) << err->what();
  EXPECT_TRUE(CatchError([&] { none->config().set("db.host", "x", ConfigLayer::kDefaults); }));
}

TEST_P(ConfigConformance, BadProfileNameIsRefusedAtOpen) {
  Options options;
  options.config.profile = "Prod/1";
  auto e = CatchError([&] { OpenSecond(options); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::kInvalidArgument);
  EXPECT_TRUE(Contains(e->what(), "profile")) << e->what();
}

TEST_P(ConfigConformance, DefaultsFromJsonAndFile) {
  test::WriteFile(scratch().file("defaults.json"),
                  R"({"net.http.port": 8080, "net.http.host": "0.0.0.0", "ratio": 0.5,
                      "tls": {"$bytes": "AAEC"}, "limits": {"rps": 100}, "flag": true})");
  Options options;
  options.config.defaults_file = scratch().file("defaults.json");
  auto store = OpenSecond(options);
  Config& config = store->config();
  EXPECT_EQ(config.get<int>("net.http.port"), 8080);
  EXPECT_EQ(config.get<std::string>("net.http.host"), "0.0.0.0");
  EXPECT_EQ(config.get<double>("ratio"), 0.5);
  EXPECT_EQ(config.get<Bytes>("tls"), (Bytes{0, 1, 2}));
  EXPECT_EQ(config.get<Json>("limits")->text(), R"({"rps":100})");
  EXPECT_EQ(config.get<bool>("flag"), true);
  EXPECT_EQ(config.explain("flag").answered_by, ConfigLayer::kDefaults);

  // Bad documents name the problem and change nothing.
  auto e = CatchError([&] { config.load_defaults_json(R"({"ok.key": 1, "Bad": 2})"); });
  ASSERT_TRUE(e);
  EXPECT_TRUE(Contains(e->what(), "Bad")) << e->what();
  EXPECT_EQ(config.get<int>("ok.key"), std::nullopt);
  EXPECT_TRUE(CatchError([&] { config.load_defaults_json("[1,2]"); }));
  EXPECT_TRUE(CatchError([&] { config.load_defaults_json("{oops"); }));
  EXPECT_TRUE(CatchError([&] { config.load_defaults_file(scratch().file("missing.json")); }));
  store.reset();
  options.config.defaults_file = scratch().file("missing.json");
  EXPECT_TRUE(CatchError([&] { OpenSecond(options); }));
}

TEST_P(ConfigConformance, ValidatorsRejectWithKeyAndReason) {
  auto store = Open();
  Config& config = store->config();
  config.add_validator("net.http.port", validators::Range(1, 65535));
  config.add_validator("log.level", validators::OneOf({"debug", "info", "warn", "error"}));
  config.add_validator("net.", validators::OfType(ConfigType::kInt));
  config.add_validator("svc.name", validators::Regex("[a-z][a-z0-9-]*"));
  config.add_validator(
      "", [](std::string_view key, const ConfigValue& v) -> std::optional<std::string> {
        if (key == "custom.even" && v.type() == ConfigType::kInt && v.as<std::int64_t>() % 2 != 0) {
          return "must be even";
        }
        return std::nullopt;
      });

  config.set("net.http.port", 443);
  config.set("log.level", "info");
  config.set("svc.name", "api-1");
  config.set("custom.even", 4);

  struct Case {
    std::string key;
    ConfigValue value;
    std::string reason;
  };
  for (const Case& c : std::vector<Case>{{"net.http.port", 70000, "above the maximum 65535"},
                                         {"net.http.port", 0, "below the minimum 1"},
                                         {"net.http.port", "80", "expected a number"},
                                         {"net.other", 1.5, "expected int"},
                                         {"log.level", "verbose", "not one of"},
                                         {"svc.name", "Api!", "does not match"},
                                         {"custom.even", 3, "must be even"}}) {
    auto e = CatchError([&] { config.set(c.key, c.value); });
    ASSERT_TRUE(e) << c.key;
    EXPECT_EQ(e->code(), ErrorCode::kInvalidArgument);
    EXPECT_TRUE(Contains(e->what(), "\"" + c.key + "\"")) << e->what();
    EXPECT_TRUE(Contains(e->what(), c.reason)) << e->what();
  }
  EXPECT_EQ(config.get<int>("net.http.port"), 443);
  // Defaults are validated too.
  EXPECT_TRUE(CatchError([&] { config.set_default("net.http.port", 0); }));
  EXPECT_TRUE(CatchError([&] { validators::Regex("(unclosed"); }));
}

// Test 2: a transact that sets three keys and fails validation on the third changes nothing.
TEST_P(ConfigConformance, FailedValidationRollsBackTheWholeEdit) {
  auto store = Open();
  Config& config = store->config();
  config.add_validator("app.workers", validators::Range(1, 64));
  config.set("app.name", "before");
  const Revision head = store->history_bounds().head;
  const auto history_before = store->history();

  auto e = CatchError([&] {
    config.transact([](ConfigTransaction& tx) {
      tx.set("app.name", "after");
      tx.set("app.mode", "fast", ConfigLayer::kProfile);
      EXPECT_EQ(tx.get<std::string>("app.name"), "after");  // sees its own writes
      tx.set("app.workers", 1000);                          // rejected
    });
  });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::kInvalidArgument);
  EXPECT_TRUE(Contains(e->what(), "app.workers")) << e->what();
  EXPECT_TRUE(Contains(e->what(), "above the maximum 64")) << e->what();

  EXPECT_EQ(config.get<std::string>("app.name"), "before");
  EXPECT_EQ(config.get_value("app.mode"), std::nullopt);
  EXPECT_EQ(config.get_value("app.workers"), std::nullopt);
  EXPECT_EQ(store->history_bounds().head, head);
  EXPECT_EQ(store->history().size(), history_before.size());

  // The same edit with a valid value commits all three in one revision.
  Revision r = config.transact([](ConfigTransaction& tx) {
    tx.set("app.name", "after");
    tx.set("app.mode", "fast", ConfigLayer::kProfile);
    tx.set("app.workers", 16);
    tx.set_label("deploy 42");
  });
  EXPECT_EQ(r, head + 1);
  auto commit = store->commit_at(r);
  ASSERT_TRUE(commit);
  EXPECT_EQ(commit->changes.size(), 3u);
  EXPECT_EQ(commit->origin.label, "deploy 42");
}

// Test 5: at(R) and revert(R) agree with history; a revert over later changes needs force.
TEST_P(ConfigConformance, AtAndRevertAgreeWithHistory) {
  auto store = Open();
  Config& config = store->config();
  config.set_default("svc.timeout", 30);
  std::vector<Revision> revs;
  revs.push_back(config.set("svc.name", "a"));
  revs.push_back(config.transact([](ConfigTransaction& tx) {
    tx.set("svc.name", "b");
    tx.set("svc.replicas", 3);
    tx.set("svc.region", "eu", ConfigLayer::kProfile);
  }));
  revs.push_back(config.erase("svc.name"));
  store->put("other", "x", 1);  // another keyspace, interleaved
  revs.push_back(config.set("svc.replicas", 5));

  // at(R) reproduces each revision's state, and matches a replay of history up to R.
  EXPECT_EQ(config.at(0).list().size(), 1u);  // only the default
  auto v1 = config.at(revs[0]);
  EXPECT_EQ(v1.revision(), revs[0]);
  EXPECT_EQ(v1.get<std::string>("svc.name"), "a");
  EXPECT_EQ(v1.get_value("svc.replicas"), std::nullopt);
  auto v2 = config.at(revs[1]);
  EXPECT_EQ(v2.get<std::string>("svc.name"), "b");
  EXPECT_EQ(v2.get<int>("svc.replicas"), 3);
  EXPECT_EQ(v2.explain("svc.region").answered_by, ConfigLayer::kProfile);
  EXPECT_EQ(v2.get<int>("svc.timeout"), 30);
  auto v3 = config.at(revs[2]);
  EXPECT_EQ(v3.get_value("svc.name"), std::nullopt);
  EXPECT_EQ(config.at(revs[3]).get<int>("svc.replicas"), 5);
  for (Revision r = 0; r <= store->history_bounds().head; ++r) {
    std::map<std::string, Value> replay;
    HistoryQuery q;
    q.to_revision = r == 0 ? 0 : r;
    q.keyspace = "config";
    if (r > 0) {
      for (const auto& c : store->history(q)) {
        for (const auto& ch : c.changes) {
          if (ch.new_value) {
            replay[ch.key] = *ch.new_value;
          } else {
            replay.erase(ch.key);
          }
        }
      }
    }
    auto view = config.at(r);
    EXPECT_EQ(view.get_value("svc.replicas").has_value(), replay.count("override/svc.replicas") > 0)
        << r;
    if (replay.count("override/svc.replicas")) {
      EXPECT_EQ(view.get<std::int64_t>("svc.replicas"), replay["override/svc.replicas"].as_int());
    }
  }
  auto e = CatchError([&] { config.at(store->history_bounds().head + 1); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::kNotFound);

  // revs[1] changed svc.name and svc.replicas; both were changed later: refused unless forced.
  e = CatchError([&] { config.revert(revs[1]); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::kConflict);
  EXPECT_TRUE(Contains(e->what(), "svc.")) << e->what();
  Revision forced = config.revert(revs[1], RevertOptions{true, "undo deploy"});
  EXPECT_EQ(config.get<std::string>("svc.name"), "a");
  EXPECT_EQ(config.get_value("svc.replicas"), std::nullopt);
  EXPECT_EQ(config.get_value("svc.region"), std::nullopt);
  EXPECT_EQ(store->commit_at(forced)->origin.label, "undo deploy");
  // State after the revert equals at(revs[0]) for the keys revs[1] touched.
  auto before = config.at(revs[0]);
  for (const char* k : {"svc.name", "svc.replicas", "svc.region"}) {
    EXPECT_EQ(config.get_value(k), before.get_value(k)) << k;
  }

  // Reverting the latest revision needs no force.
  Revision last = config.set("svc.replicas", 7);
  config.revert(last);
  EXPECT_EQ(config.get_value("svc.replicas"), std::nullopt);

  // A revision that also touched another keyspace is for Store::revert.
  Revision mixed = store->transact([](Transaction& tx) {
    tx.put("other", "y", 1);
    tx.put("config", "override/svc.x", 1);
  });
  e = CatchError([&] { config.revert(mixed); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(CatchError([&] { config.revert(999999); })->code(), ErrorCode::kNotFound);
}

TEST_P(ConfigConformance, AtRefusesCompactedRevisions) {
  Options options;
  options.durability = Durability::kNormal;
  options.history_retention.keep_revisions = 5;
  auto store = OpenSecond(options);
  for (int i = 0; i < 20; ++i) store->config().set("k", i);
  store->compact_history();
  auto b = store->history_bounds();
  ASSERT_GT(b.compacted_through, 0u);
  auto e = CatchError([&] { store->config().at(b.compacted_through - 1); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::kNotFound);
  EXPECT_TRUE(Contains(e->what(), "compacted")) << e->what();
  EXPECT_EQ(store->config().at(b.compacted_through).get<int>("k"),
            static_cast<int>(b.compacted_through) - 1);
  EXPECT_EQ(store->config().view().get<int>("k"), 19);
  EXPECT_EQ(store->config().view().revision(), b.head);
}

TEST_P(ConfigConformance, ExportAndImport) {
  auto store = Open();
  Config& config = store->config();
  config.set_default("a.default", "d");
  config.set("a.int", 1);
  config.set("a.double", 2.0);
  config.set("a.bytes", Bytes{0xde, 0xad});
  config.set("a.json", Json::Parse(R"({"$x": 1})"));
  config.set("a.list", Json::Parse("[1,2]"));
  config.set("a.prof", true, ConfigLayer::kProfile);

  const std::string all = config.export_json();
  EXPECT_TRUE(Contains(all, R"("a.bytes": {)")) << all;
  EXPECT_TRUE(Contains(all, R"("$bytes": "3q0=")")) << all;
  EXPECT_TRUE(Contains(all, R"("$json")")) << all;
  EXPECT_TRUE(Contains(all, R"("a.double": 2.0)")) << all;
  EXPECT_TRUE(Contains(all, R"("a.default": "d")")) << all;
  const std::string profile = config.export_json(ConfigLayer::kProfile);
  EXPECT_EQ(profile, "{\n  \"a.prof\": true\n}\n");
  EXPECT_TRUE(Contains(config.export_json(ConfigLayer::kDefaults), "a.default"));

  // Round trip through another store: every type comes back identical.
  std::unique_ptr<test::StoreLocation> other_location = engine().NewLocation();
  Options options;
  options.config.profile = "production";
  auto other = other_location->Open(options);
  other->config().import_json(config.export_json(ConfigLayer::kOverrides));
  for (const auto& e : config.list()) {
    if (e.layer != ConfigLayer::kOverrides) continue;
    EXPECT_EQ(other->config().get_value(e.key), e.value) << e.key;
  }

  // Import is one validated transaction: a bad value changes nothing.
  config.add_validator("a.int", validators::Range(0, 10));
  const Revision head = store->history_bounds().head;
  auto err = CatchError([&] { config.import_json(R"({"a.new": 1, "a.int": 11})"); });
  ASSERT_TRUE(err);
  EXPECT_TRUE(Contains(err->what(), "a.int")) << err->what();
  EXPECT_EQ(store->history_bounds().head, head);
  EXPECT_EQ(config.get_value("a.new"), std::nullopt);
  EXPECT_TRUE(CatchError([&] { config.import_json(R"({"Bad Key": 1})"); }));
  EXPECT_TRUE(CatchError([&] { config.import_json(R"({"a.big": 18446744073709551615})"); }));

  // Merge with null = erase; replace drops keys not in the document.
  Revision r = config.import_json(R"({"a.int": 5, "a.double": null})");
  EXPECT_EQ(store->commit_at(r)->origin.label, "config import");
  EXPECT_EQ(config.get<int>("a.int"), 5);
  EXPECT_EQ(config.get_value("a.double"), std::nullopt);
  EXPECT_EQ(config.get<Bytes>("a.bytes"), (Bytes{0xde, 0xad}));
  ConfigImportOptions replace;
  replace.layer = ConfigLayer::kProfile;
  replace.replace = true;
  config.import_json(R"({"b.only": "x"})", replace);
  EXPECT_EQ(config.export_json(ConfigLayer::kProfile), "{\n  \"b.only\": \"x\"\n}\n");
  EXPECT_EQ(config.get<Bytes>("a.bytes"), (Bytes{0xde, 0xad}));  // overrides untouched
}

TEST_P(ConfigConformance, ForeignKeysInTheKeyspaceAreIgnoredAndCorruptValuesReported) {
  auto store = Open();
  store->put("config", "not-a-layer-key", 1);
  store->put("config", "override/bad.value", Value());
  store->config().set("good", 1);
  auto e = CatchError([&] { store->config().get_value("bad.value"); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::kCorruption);
  EXPECT_TRUE(Contains(e->what(), "bad.value")) << e->what();
  EXPECT_EQ(store->config().get<int>("good"), 1);
}

TEST_P(ConfigConformance, ReadOnlyStoreReadsButRefusesWrites) {
  { Open()->config().set("k", 1); }
  Options options;
  options.read_only = true;
  options.config.profile = "production";
  auto store = OpenSecond(options);
  EXPECT_EQ(store->config().get<int>("k"), 1);
  auto e = CatchError([&] { store->config().set("k", 2); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::kReadOnly);
}

STATESTORE_CONFORMANCE_SUITE(ConfigConformance);

}  // namespace
}  // namespace statestore

// statestore_config_demo DB_PATH — a short tour of the Config API.
//
// Opens (or creates) the database at DB_PATH with the "production" profile and:
//   1. registers built-in defaults and validators,
//   2. writes the production profile layer and a local override, and explains where each
//      effective value comes from,
//   3. edits three keys atomically, then shows an edit failing validation on its third key and
//      leaving nothing behind,
//   4. watches "net." on a dispatcher thread while all this happens,
//   5. reverts the last edit and reads the config as of an earlier revision,
// and prints the effective config, the watch events and the config history.
//
// Exit status: 0 on success, 1 with a one-line message on stderr on failure, 2 on bad usage.

#include <statestore/statestore.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <exception>
#include <iostream>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace ss = statestore;

namespace {

std::string Show(const std::optional<ss::ConfigValue>& v) { return v ? v->to_display() : "(none)"; }

std::string Rev(ss::Revision r) { return "r" + std::to_string(r); }

// Prints rows as left-aligned columns separated by two spaces (the last column is not padded).
void PrintTable(const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> width;
  for (const auto& row : rows) {
    width.resize(std::max(width.size(), row.size()));
    for (std::size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  for (const auto& row : rows) {
    std::string line = "  ";
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line.append(width[i] - row[i].size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    std::cout << line << '\n';
  }
}

void Step(const std::string& what, const std::string& text) {
  std::cout << "  " << what << std::string(what.size() < 4 ? 4 - what.size() : 0, ' ') << "  "
            << text << '\n';
}

int Run(const std::string& db_path) {
  ss::Options options;
  options.origin_label = "config-demo";
  options.config.profile = "production";
  const std::shared_ptr<ss::Store> store = ss::Store::open(db_path, options);
  ss::Config& config = store->config();
  std::cout << "statestore " << ss::LibraryVersion() << ", database " << store->path()
            << ", profile \"" << config.profile() << "\"\n\nSteps\n";

  // 1. Defaults live in code (not in the file); validators guard every layer.
  config.add_validator("net.http.port", ss::validators::Range(1, 65535));
  config.add_validator("log.level", ss::validators::OneOf({"debug", "info", "warn", "error"}));
  config.load_defaults_json(R"({"net.http.port": 8080, "net.http.host": "127.0.0.1",
                                "net.http.timeout_s": 30.0, "log.level": "info",
                                "feature.limits": {"rps": 100, "burst": 20}})");
  Step("--", "registered 5 defaults and 2 validators (in memory, this process only)");

  // Watch everything under "net." from the next revision on, on the dispatcher thread.
  std::mutex mu;
  std::vector<std::string> events;
  ss::Watch watch = config.watch("net.", [&](const ss::WatchEvent& ev) {
    std::lock_guard lock(mu);
    if (ev.kind == ss::WatchEvent::Kind::kCompacted) {
      events.push_back("compacted through " + Rev(ev.compacted_through));
      return;
    }
    for (const auto& c : ev.changes) {
      events.push_back(Rev(ev.revision) + "  " + std::string(ss::ToString(c.layer)) + "  " + c.key +
                       ": " + Show(c.old_value) + " -> " + Show(c.new_value));
    }
  });

  // 2. The production profile and a local override. Both are durable and in the history.
  const ss::Revision r1 = config.transact(
      [](ss::ConfigTransaction& tx) {
        tx.set("net.http.host", "0.0.0.0", ss::ConfigLayer::kProfile);
        tx.set("net.http.port", 443, ss::ConfigLayer::kProfile);
        tx.set("log.level", "warn", ss::ConfigLayer::kProfile);
      },
      ss::TransactOptions{.label = "production profile"});
  Step(Rev(r1), "profile production: net.http.host, net.http.port, log.level");
  const ss::Revision r2 = config.set("net.http.port", 8443);
  Step(Rev(r2), "override: net.http.port = 8443");

  std::cout << "\nWhere each value comes from (explain)\n";
  std::vector<std::vector<std::string>> rows{
      {"KEY", "EFFECTIVE", "FROM", "OVERRIDES", "PROFILE", "DEFAULTS"}};
  for (const char* key : {"net.http.port", "net.http.host", "net.http.timeout_s", "log.level"}) {
    const ss::Explanation e = config.explain(key);
    rows.push_back({e.key, Show(e.value),
                    e.answered_by ? std::string(ss::ToString(*e.answered_by)) : "-",
                    Show(e.layers[0].value), Show(e.layers[1].value), Show(e.layers[2].value)});
  }
  PrintTable(rows);
  std::cout << "  typed read: get<int>(\"net.http.port\") = " << config.get<int>("net.http.port", 0)
            << ", get<double>(\"net.http.timeout_s\") = "
            << config.get<double>("net.http.timeout_s", 0.0) << "\n";
  try {
    (void)config.get<std::string>("net.http.port");
  } catch (const ss::Error& e) {
    std::cout << "  wrong type refused: " << e.what() << "\n";
  }

  // 3. An atomic three-key edit; then one whose third key fails validation: nothing lands.
  std::cout << "\nSteps\n";
  const ss::Revision r3 = config.transact(
      [](ss::ConfigTransaction& tx) {
        tx.set("net.http.port", 9443);
        tx.set("net.http.timeout_s", 5.5);
        tx.set("feature.limits", ss::Json::Parse(R"({"rps": 500, "burst": 50})"));
      },
      ss::TransactOptions{.label = "tune"});
  Step(Rev(r3), "one transaction: net.http.port = 9443, net.http.timeout_s = 5.5, feature.limits");
  const ss::Revision head_before = store->history_bounds().head;
  try {
    config.transact([](ss::ConfigTransaction& tx) {
      tx.set("net.http.host", "10.0.0.1");
      tx.set("log.level", "debug");
      tx.set("net.http.port", 70000);  // out of range
    });
    throw std::runtime_error("an invalid edit was accepted");
  } catch (const ss::Error& e) {
    if (e.code() != ss::ErrorCode::kInvalidArgument ||
        store->history_bounds().head != head_before ||
        config.get<std::string>("net.http.host") != "0.0.0.0") {
      throw;
    }
    Step("--", std::string("rejected, nothing changed: ") + e.what());
  }

  // 5. Revert the tuning edit; read the config as it was after r2.
  const ss::Revision r4 = config.revert(r3, ss::RevertOptions{false, "undo tune"});
  Step(Rev(r4), "reverted " + Rev(r3) +
                    ": net.http.port = " + Show(config.get_value("net.http.port")) +
                    ", net.http.timeout_s = " + Show(config.get_value("net.http.timeout_s")));
  const ss::ConfigView then = config.at(r1);
  Step("--", "at(" + Rev(r1) + "): net.http.port = " + Show(then.get_value("net.http.port")) +
                 " (from " + std::string(ss::ToString(*then.explain("net.http.port").answered_by)) +
                 ")");

  // Wait for the watch to catch up with everything committed so far, then stop it.
  const ss::Revision head = store->history_bounds().head;
  for (int i = 0; i < 500 && watch.delivered_through() < head; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  watch.cancel();
  std::cout << "\nWatch on \"net.\" (delivered through " << Rev(watch.delivered_through()) << ")\n";
  {
    std::lock_guard lock(mu);
    for (const auto& line : events) std::cout << "  " << line << '\n';
  }

  std::cout << "\nEffective config (export_json)\n" << config.export_json();

  ss::HistoryQuery q;
  q.keyspace = "config";
  q.from_revision = r1;
  std::cout << "\nConfig history since " << Rev(r1) << "\n";
  rows = {{"REV", "LABEL", "CHANGES"}};
  for (const ss::Commit& c : store->history(q)) {
    bool first = true;
    for (const ss::Change& ch : c.changes) {
      std::string change = ch.key + ": " + (ch.old_value ? ch.old_value->to_display() : "(none)") +
                           " -> " + (ch.new_value ? ch.new_value->to_display() : "(none)");
      rows.push_back({first ? Rev(c.revision) : "", first ? c.origin.label : "", change});
      first = false;
    }
  }
  PrintTable(rows);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2 || std::string_view(argv[1]).empty() || argv[1][0] == '-') {
    std::cerr << "usage: statestore_config_demo DB_PATH\n";
    return 2;
  }
  try {
    return Run(argv[1]);
  } catch (const std::exception& e) {
    std::cerr << "statestore_config_demo: error: " << e.what() << '\n';
    return 1;
  }
}

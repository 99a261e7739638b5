// statectl — inspect, dump and replay the state and history of a statestore database.
//
// A thin main: CLI11 parses, the command groups (commands_*.cc) run library code and format the
// result. Every failure ends as exactly one line "statectl: <message>" on stderr and an exit code:
//   0 ok, 1 runtime error, 2 usage error, 3 not found, 4 verify found a problem.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <iostream>
#include <string>
#include <string_view>

#include "common.h"

namespace {

const char* kFooter =
    R"(Read commands open the file read-only (defensive mode, trusted_schema=OFF) and never
change it; set, rm, restore, revert, compact-history, migrate, sessions sweep and config
set/revert write through the library, labelled "statectl" in history. DB may come from
$STATESTORE_DB when it is not given.

Examples:
  statectl inspect app.db
  statectl set app.db app greeting hello
  statectl get app.db app greeting
  statectl history app.db --since 2h --keyspace app --json
  statectl show app.db 42
  statectl follow app.db --json
  statectl backup app.db /backups/app-2026-01-31.db
  statectl verify app.db

Exit codes: 0 ok, 1 runtime error, 2 usage error, 3 not found (database, key, revision,
session), 4 verify found a problem.)";

// Set when --json was given: errors are then also printed to stdout as
// {"error": {"code": "<ErrorCode name or usage/not_found/runtime>", "message": "..."}}.
bool g_json = false;

int Report(int code, const std::string& message, std::string_view name = {}) {
  if (!message.empty()) std::fprintf(stderr, "statectl: %s\n", message.c_str());
  if (g_json && code != statectl::kExitOk && code != statectl::kExitVerifyFailed) {
    if (name.empty()) {
      name = code == statectl::kExitUsage      ? "usage"
             : code == statectl::kExitNotFound ? "not_found"
                                               : "runtime";
    }
    statectl::PrintJson({{"error", {{"code", std::string(name)}, {"message", message}}}});
  }
  return code;
}

int ExitCodeFor(const statestore::Error& e) {
  return e.code() == statestore::ErrorCode::kNotFound ? statectl::kExitNotFound
                                                      : statectl::kExitRuntime;
}

// One line: SQLite messages can carry newlines.
std::string OneLine(std::string s) {
  for (char& c : s) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]) == "--json") g_json = true;
  }
  try {
    CLI::App app{"statectl — inspect and operate a statestore database", "statectl"};
    app.footer(kFooter);
    app.set_version_flag("--version", std::string("statectl ") + statestore::LibraryVersion() +
                                          " (schema version " +
                                          std::to_string(statestore::SchemaVersion()) + ")");
    app.require_subcommand(1);
    app.fallthrough();
    statectl::Registry registry;
    statectl::RegisterStateCommands(app, registry);
    statectl::RegisterHistoryCommands(app, registry);
    statectl::RegisterSessionCommands(app, registry);
    statectl::RegisterConfigCommands(app, registry);
    statectl::RegisterAdminCommands(app, registry);
    try {
      app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
      return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
      return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
      return app.exit(e);
    } catch (const CLI::ParseError& e) {
      return Report(statectl::kExitUsage,
                    OneLine(e.what()) + " (run 'statectl --help' or 'statectl COMMAND --help')");
    }
    if (!registry.action) return Report(statectl::kExitUsage, "no command given");
    return registry.action();
  } catch (const statectl::Exit& e) {
    return Report(e.code(), OneLine(e.what()));
  } catch (const statestore::Error& e) {
    return Report(ExitCodeFor(e), OneLine(e.what()), statestore::ToString(e.code()));
  } catch (const std::exception& e) {
    return Report(statectl::kExitRuntime, OneLine(e.what()));
  } catch (...) {
    return Report(statectl::kExitRuntime, "unexpected error");
  }
}

// statectl — inspect, dump and replay the state and history of a statestore database.
//
// A thin main: CLI11 parses, the command groups (commands_*.cc) run library code and format the
// result. Every failure ends as exactly one line "statectl: <message>" on stderr (escaped: no
// control character of a key, path or SQLite message reaches the terminal) and an exit code:
//   0 ok, 1 runtime error, 2 usage error, 3 not found, 4 verify found a problem.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "common.h"

namespace {

const char* kFooter =
    R"(Read commands open the file read-only (defensive mode, trusted_schema=OFF) and never
change it; set, rm, restore, revert, compact-history, history-policy set, max-keys N, migrate,
vacuum, sessions sweep, leases grant/keep-alive/revoke and config set/rm/revert write through
the library, labelled "statectl" in history. DB may come from $STATESTORE_DB when it is not given.

DB may also be a PostgreSQL store: a postgresql:// (or postgres://) URI or a libpq key=value
connection string, in every command that takes DB (schema "statestore", or --schema NAME for a
store opened with Options::postgres.schema = NAME). Read commands then
read in REPEATABLE READ, READ ONLY transactions and never create a schema. On PostgreSQL,
inspect shows table sizes, the server it reached (primary, or standby in recovery), its
standbys with sync state and lag, and the durability settings instead of pages and WAL, with a
warning when acknowledged commits could be lost or would wait;
verify checks history against state without integrity_check; vacuum runs VACUUM (ANALYZE);
backup URI FILE writes an SQLite statestore file (and FILE-key when the key is stored in the
schema); restore URI FILE copies such a file into an empty store only.

Values of redacted keyspaces (sessions, and every keyspace whose history holds digests) print
as <redacted: TYPE, N bytes> (JSON: their SHA-256) unless --reveal is given. Tables, lines and
error messages escape control characters, bidi/invisible formatting characters and invalid
UTF-8 (\n, \x1b, \u202e); --json and get --raw give exact values.

Arguments must parse exactly: revisions are decimal digits from 1; --limit and --keep are
whole numbers >= 1 (leave --limit out for no limit; sessions list shows 50 unless --limit or
--no-limit); times are UTC YYYY-MM-DD[THH:MM:SS[.fraction]][Z]; durations are digits and a
unit (ms, s, m, h, d, w); --double takes decimal numbers, inf and -inf (not NaN). set and config
set read VALUE from standard input when it is -, or from --file PATH (at most 4 MiB).

Examples:
  statectl inspect app.db
  statectl set app.db app greeting hello
  statectl set app.db app blob --bytes --file blob.bin
  statectl get app.db app greeting
  statectl history app.db --since 2h --keyspace app --json
  statectl show app.db 42
  statectl follow app.db --json
  statectl backup app.db /backups/app-2026-01-31.db
  statectl verify app.db
  statectl history 'postgresql://app@db.example/app' --keyspace app
  statectl backup 'postgresql://app@db.example/app' /backups/app.db

Exit codes: 0 ok, 1 runtime error (damaged or foreign file, I/O, conflict), 2 usage error (bad
arguments or options, including a key, keyspace or value the library refuses), 3 not found
(database, key, revision, session, config key), 4 verify found a problem.)";

// Set when --json was given: errors are then also printed to stdout as
// {"error": {"code": "<ErrorCode name or usage/not_found/runtime>", "message": "..."}}.
bool g_json = false;

int Report(int code, const std::string& message, std::string_view name = {}) {
  if (!message.empty()) statectl::Warn(message);
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

// The names of `app`'s subcommands, "a, b, c".
std::string CommandNames(CLI::App* app) {
  std::string names;
  for (const CLI::App* sub : app->get_subcommands({})) {
    if (!names.empty()) names += ", ";
    names += sub->get_name();
  }
  return names;
}

// CLI11 says only "A subcommand is required" for a misspelt or missing command: name it.
// Returns the message, empty when the command words are known.
std::string CheckCommandWords(CLI::App& app, int argc, char** argv) {
  CLI::App* level = &app;
  std::string path = "statectl";
  for (int i = 1;; ++i) {
    if (level->get_subcommands({}).empty()) return {};
    if (i >= argc || argv[i][0] == '-') {
      if (i < argc && i == 1) return {};  // --help, --version: CLI11 handles them
      for (int k = i; k < argc; ++k) {
        const std::string_view a = argv[k];
        if (a == "--help" || a == "-h" || a == "--version") return {};
      }
      return "missing command after '" + path + "' (one of: " + CommandNames(level) + ")";
    }
    CLI::App* next = nullptr;
    for (CLI::App* sub : level->get_subcommands({})) {
      if (sub->get_name() == argv[i]) next = sub;
    }
    if (next == nullptr) {
      return "unknown command '" + std::string(argv[i]) + "' after '" + path +
             "' (one of: " + CommandNames(level) + ")";
    }
    path += " " + next->get_name();
    level = next;
  }
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc && std::string_view(argv[i]) != "--"; ++i) {
    if (std::string_view(argv[i]) == "--json") g_json = true;
  }
  try {
    CLI::App app{"statectl — inspect and operate a statestore database", "statectl"};
    app.formatter(statectl::MakeFormatter());
    app.footer(kFooter);
    app.set_version_flag("--version", std::string("statectl ") + statestore::LibraryVersion() +
                                          " (schema version " +
                                          std::to_string(statestore::SchemaVersion()) + ")");
    app.require_subcommand(1);
    app.fallthrough();
    std::string schema = statestore::PostgresOptions{}.schema;
    app.add_option("--schema", schema,
                   "PostgreSQL only: the schema holding the store (Options::postgres.schema; "
                   "default statestore)")
        ->type_name("NAME");
    statectl::Registry registry;
    statectl::RegisterStateCommands(app, registry);
    statectl::RegisterHistoryCommands(app, registry);
    statectl::RegisterSessionCommands(app, registry);
    statectl::RegisterLeaseCommands(app, registry);
    statectl::RegisterBoundCommands(app, registry);
    statectl::RegisterConfigCommands(app, registry);
    statectl::RegisterAdminCommands(app, registry);
    // Everything after the first "--" is positional, whatever it looks like (CLI11 hands such
    // words to the parent command): take it out here, AddArgs appends it to the positionals.
    int parsed_argc = argc;
    for (int i = 1; i < argc; ++i) {
      if (std::string_view(argv[i]) == "--") {
        statectl::SetTrailingArgs(std::vector<std::string>(argv + i + 1, argv + argc));
        parsed_argc = i;
        break;
      }
    }
    if (std::string m = CheckCommandWords(app, parsed_argc, argv); !m.empty()) {
      return Report(statectl::kExitUsage, m + " (run 'statectl --help')");
    }
    try {
      app.parse(parsed_argc, argv);
    } catch (const CLI::CallForHelp& e) {
      return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
      return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
      return app.exit(e);
    } catch (const CLI::ParseError& e) {
      return Report(
          statectl::kExitUsage,
          std::string(e.what()) + " (run 'statectl --help' or 'statectl COMMAND --help')");
    }
    if (!registry.action) return Report(statectl::kExitUsage, "no command given");
    statectl::SetPostgresSchema(schema);
    return registry.action();
  } catch (const statectl::Exit& e) {
    return Report(e.code(), e.what(), e.name());
  } catch (const statestore::Error& e) {
    return Report(statectl::ExitCodeFor(e), e.what(), statestore::ToString(e.code()));
  } catch (const std::exception& e) {
    return Report(statectl::kExitRuntime, e.what());
  } catch (...) {
    return Report(statectl::kExitRuntime, "unexpected error");
  }
}

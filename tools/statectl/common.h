// statectl — shared pieces of the commands: exit codes, opening the database, parsing user input
// (revisions, times, durations, typed values) and output (aligned tables, JSON).
#ifndef STATESTORE_TOOLS_STATECTL_COMMON_H_
#define STATESTORE_TOOLS_STATECTL_COMMON_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "statestore/admin.h"
#include "statestore/statestore.h"

namespace CLI {
class App;
}

namespace statectl {

using nlohmann::json;

// Exit codes (documented in --help and the README).
inline constexpr int kExitOk = 0;
inline constexpr int kExitRuntime = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitNotFound = 3;
inline constexpr int kExitVerifyFailed = 4;

// Thrown by commands to end with a given exit code and a one-line message (empty: no message).
class Exit : public std::runtime_error {
 public:
  Exit(int code, const std::string& message) : std::runtime_error(message), code_(code) {}
  int code() const { return code_; }

 private:
  int code_;
};

[[noreturn]] inline void UsageError(const std::string& message) { throw Exit(kExitUsage, message); }
[[noreturn]] inline void NotFound(const std::string& message) {
  throw Exit(kExitNotFound, message);
}

// The command to run once the command line parsed.
using Action = std::function<int()>;

// Every subcommand registers itself here: `set(action)` is called from the CLI11 callback.
struct Registry {
  Action action;
};

// The positionals of a subcommand: the database first (or $STATESTORE_DB when absent), then
// `min_rest`..`max_rest` more. Throws UsageError naming `usage`.
struct Positionals {
  std::string db;
  std::vector<std::string> rest;
};
Positionals TakeDb(const std::vector<std::string>& args, std::size_t min_rest, std::size_t max_rest,
                   const std::string& usage);

// Opening. Read commands: read-only, never creating. Write commands: read-write, commits labelled
// "statectl", no background reaper.
std::shared_ptr<statestore::Store> OpenRead(const std::string& db, const std::string& profile = {});
std::shared_ptr<statestore::Store> OpenWrite(const std::string& db, bool create = false,
                                             const std::string& profile = {},
                                             statestore::HistoryRetention retention = {});
inline constexpr const char* kOriginLabel = "statectl";

// ---- Parsing user input

std::uint64_t ParseRevision(const std::string& text, const char* what);
// "30s", "10m", "2h", "3d", "1w" (also "500ms"). Throws UsageError.
std::chrono::microseconds ParseDuration(const std::string& text);
// A --since/--until bound: a revision number, an ISO-8601 UTC time ("2026-01-31",
// "2026-01-31T12:00:00Z", with optional fraction), or a duration ago ("10m").
struct Bound {
  std::optional<statestore::Revision> revision;
  std::optional<statestore::Clock::time_point> time;
};
Bound ParseBound(const std::string& text);
// Hex to bytes ("0x" prefix allowed). Throws UsageError.
statestore::Bytes ParseHex(const std::string& text);
// A value of `type` ("string", "int", "double", "bool", "bytes-hex"/"bytes", "null").
statestore::Value ParseValue(const std::string& text, const std::string& type);

// ---- Output

std::string FormatTime(statestore::Clock::time_point t);
std::string Hex(const statestore::Bytes& b);
// A value for a table cell: strings quoted and shortened (~60 chars, "..."), bytes as hex preview.
std::string Cell(const statestore::Value& v);
// Text (a key) for a table cell: at most ~60 characters, "..." when cut.
std::string Short(const std::string& text);
// A value as typed JSON: {"type": "int", "value": 42}; bytes' value is hex; non-finite doubles
// are the strings "nan", "inf", "-inf".
json ValueJson(const statestore::Value& v);
// A history side: null (absent), a typed value, or {"redacted": true, "digest": hex}.
json ChangeSideJson(const std::optional<statestore::Value>& v, bool redacted);
std::string ChangeSideCell(const std::optional<statestore::Value>& v, bool redacted);
json CommitJson(const statestore::Commit& c);
std::string OriginText(const statestore::Origin& o);

// Prints one JSON document (indented) or one JSON line.
void PrintJson(const json& j);
void PrintJsonLine(const json& j);

// An aligned text table: columns separated by two spaces, the last column not padded.
class Table {
 public:
  explicit Table(std::vector<std::string> headers) : headers_(std::move(headers)) {}
  void Add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  bool empty() const { return rows_.empty(); }
  void Print(std::ostream& out) const;

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
};

// Key/value lines ("name:  value"), aligned.
void PrintFields(const std::vector<std::pair<std::string, std::string>>& fields);

// A progress line on stderr, only when stderr is a terminal. Call Done() at the end.
class Progress {
 public:
  explicit Progress(std::string what);
  ~Progress();
  void Update(std::uint64_t done, std::uint64_t total);
  void Done();
  statestore::ProgressCallback Callback();

 private:
  std::string what_;
  bool tty_;
  bool shown_ = false;
  std::chrono::steady_clock::time_point last_{};
};

// ---- Command groups (one file each)

void RegisterStateCommands(CLI::App& app, Registry& registry);    // inspect dump get set rm
void RegisterHistoryCommands(CLI::App& app, Registry& registry);  // history show diff follow
                                                                  // revert compact-history
void RegisterSessionCommands(CLI::App& app, Registry& registry);  // sessions list|show|sweep
void RegisterConfigCommands(CLI::App& app, Registry& registry);   // config ...
void RegisterAdminCommands(CLI::App& app, Registry& registry);    // backup restore verify migrate

// Adds the positional "args" (DB first) that every subcommand takes.
void AddArgs(CLI::App* sub, std::vector<std::string>* args, const std::string& description);

// Adds a `revert DB REV [--force] [--json]` subcommand under `parent`; `revert` does the library
// call (Store::revert or Config::revert). The commit is labelled kOriginLabel.
using RevertFn = std::function<statestore::Revision(statestore::Store&, statestore::Revision,
                                                    const statestore::RevertOptions&)>;
void AddRevertCommand(CLI::App* parent, Registry& registry, const std::string& usage,
                      const std::string& description, const std::string& example, RevertFn revert);

}  // namespace statectl

#endif  // STATESTORE_TOOLS_STATECTL_COMMON_H_

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
#include <string_view>
#include <vector>

#include "statestore/admin.h"
#include "statestore/statestore.h"

namespace CLI {
class App;
class FormatterBase;
}  // namespace CLI

namespace statectl {

using nlohmann::json;

// Exit codes (documented in --help and the README).
inline constexpr int kExitOk = 0;
inline constexpr int kExitRuntime = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitNotFound = 3;
inline constexpr int kExitVerifyFailed = 4;

// Thrown by commands to end with a given exit code and a one-line message (empty: no message).
// `name` is the error code shown in --json error documents ("usage", "not_found", "runtime" when
// empty, else e.g. the statestore::ErrorCode name of the library error it came from).
class Exit : public std::runtime_error {
 public:
  Exit(int code, const std::string& message, std::string name = {})
      : std::runtime_error(message), code_(code), name_(std::move(name)) {}
  int code() const { return code_; }
  const std::string& name() const { return name_; }

 private:
  int code_;
  std::string name_;
};

[[noreturn]] inline void UsageError(const std::string& message) { throw Exit(kExitUsage, message); }
[[noreturn]] inline void NotFound(const std::string& message) {
  throw Exit(kExitNotFound, message);
}

// The exit code for a library error: kNotFound -> 3; kInvalidArgument (the library refused what
// was typed: a key, keyspace, value, short id, config key, destination) -> 2; otherwise 1.
// Errors about the database file itself (opening it) are mapped by OpenRead/OpenWrite/AsFileError
// before they get here: 3 when it is missing, else 1.
int ExitCodeFor(const statestore::Error& e);

// Runs `f`, turning a statestore::Error into Exit with 3 (missing file) or 1 (any other problem
// with the file: not a regular file, not a database, damaged, hostile schema, too new). For
// library calls that open a file by path (Restore, GetMigrationStatus).
[[noreturn]] void ThrowFileError(const statestore::Error& e);
template <class F>
auto AsFileError(F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const statestore::Error& e) {
    ThrowFileError(e);
  }
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

// The PostgreSQL schema of the store DB names (--schema, a global option; default
// "statestore"). Opening a file with any other is refused by the library (kInvalidArgument).
void SetPostgresSchema(const std::string& schema);
const statestore::PostgresOptions& PostgresTarget();

// Opening. Read commands: read-only, never creating. Write commands: read-write, commits labelled
// "statectl", no background reaper. Both open PostgresTarget()'s schema.
std::shared_ptr<statestore::Store> OpenRead(const std::string& db, const std::string& profile = {});
std::shared_ptr<statestore::Store> OpenWrite(const std::string& db, bool create = false,
                                             const std::string& profile = {},
                                             statestore::HistoryRetention retention = {});
inline constexpr const char* kOriginLabel = "statectl";

// ---- Parsing user input
//
// Every number, time and duration on the command line goes through these functions. They accept
// exactly the documented forms (no leading/trailing space, no hex or octal, no digit separators)
// and throw UsageError (exit 2) with a one-line message naming the option otherwise: nothing
// wraps, overflows to infinity or is read as "no limit" by accident.

// A revision number: decimal digits only, at most 18 (revisions are SQLite int64). 0 is refused
// unless `allow_zero` (diff: the empty state before revision 1; history --since).
std::uint64_t ParseRevision(const std::string& text, const char* what, bool allow_zero = false);
// A count such as --limit or --keep: 1..10^18, decimal digits only. 0 is refused (leave the
// option out for "no limit").
std::uint64_t ParseCount(const std::string& text, const char* what);
// A decimal integer in [min, max] (optional leading '-').
std::int64_t ParseIntIn(const std::string& text, const char* what, std::int64_t min,
                        std::int64_t max);
// "30s", "10m", "2h", "3d", "1w" (also "500ms", "10min"): digits then a unit, at most 100 years.
// Throws UsageError.
std::chrono::microseconds ParseDuration(const std::string& text, const char* what);
// A time-to-live (PutOptions::ttl, a lease's): a duration of whole milliseconds, at least 1ms.
std::chrono::milliseconds ParseTtl(const std::string& text, const char* what);
// A lease id: 1..10^18, decimal digits only.
statestore::LeaseId ParseLeaseId(const std::string& text, const char* what);
// A --since/--until bound: a revision number, an ISO-8601 UTC time ("2026-01-31",
// "2026-01-31T12:00:00Z", "2026-01-31 12:00:00", with an optional fraction of up to 9 digits and
// an optional "Z" or "+00:00"; calendar-checked, 1970..2261), or a duration ago ("10m").
struct Bound {
  std::optional<statestore::Revision> revision;
  std::optional<statestore::Clock::time_point> time;
};
Bound ParseBound(const std::string& text, const char* what);
// Sets the revision and time range of `q` from --since/--until texts (empty: not given).
// Throws UsageError (also for --until 0, which matches nothing).
void ApplySinceUntil(const std::string& since, const std::string& until,
                     statestore::HistoryQuery* q);
// Hex to bytes ("0x" prefix allowed). Throws UsageError.
statestore::Bytes ParseHex(const std::string& text);
// A value of `type`:
//   string      the text as is (the library requires valid UTF-8)
//   int         [+-]digits, within int64
//   double      [+-]digits[.digits][e[+-]digits], or inf / -inf; NaN and values that overflow
//               to infinity (1e309) or underflow to zero (1e-400) are refused
//   bool        true, false, 1, 0
//   bytes       the text's bytes as is (raw; useful with --file)
//   bytes-hex   hex digits, optional 0x
//   null        (text ignored)
statestore::Value ParseValue(const std::string& text, const std::string& type);
// The text of a value of `type` given as VALUE, as VALUE "-" (standard input) or with --file
// PATH ("-" is standard input too). Reads at most MaxInputBytes(type); more is a UsageError
// naming the limit, before anything is opened. A missing or unreadable file or a directory is a
// UsageError; a read error is a runtime error. A FIFO or /dev/stdin is read like a file. Input
// read from a file or stdin keeps every byte, except that typed values (int, double, bool,
// bytes-hex) drop one trailing newline.
std::string ReadValueText(const std::optional<std::string>& positional,
                          const std::optional<std::string>& file, const std::string& type);
// The most bytes of input a value of `type` can take (kMaxValueBytes of payload; hex is twice
// that; numbers are short).
std::size_t MaxInputBytes(const std::string& type);

// Library argument checks, run before a file is opened (so a bad key never creates a file).
// Throw UsageError with the library's message.
void CheckKeyspaceArg(const std::string& keyspace);
void CheckKeyArg(const std::string& key);
void CheckPrefixArg(const std::string& prefix);
void CheckValueArg(const std::string& keyspace, const std::string& key,
                   const statestore::Value& value);

// ---- Output
//
// Every human-readable byte statectl prints goes through Escape(): Table::Print escapes each
// cell, PrintFields each name and value, PrintLine/Warn their line, and main() the error message.
// Callers build strings from raw keys, labels, values and paths and never escape themselves
// (Escape is idempotent, so a string escaped twice is harmless). JSON output is escaped by
// nlohmann (ensure_ascii: every non-ASCII character as \uXXXX, invalid UTF-8 replaced by U+FFFD).

// `text` as one line that cannot drive a terminal: C0 controls and DEL as \n, \r, \t or \xNN;
// C1 controls (U+0080..U+009F) and invisible or bidirectional formatting characters (U+061C,
// U+180E, U+200B..U+200F, U+2028..U+202E, U+2060..U+2069, U+FEFF) as \uNNNN; bytes that are not
// valid UTF-8 as \xNN. Backslashes are kept as they are, so Escape(Escape(s)) == Escape(s) (a
// key that literally contains "\x1b" looks like one holding ESC: --json tells them apart).
std::string Escape(std::string_view text);

std::string FormatTime(statestore::Clock::time_point t);
// A history policy for people ("keep 1000 revisions", "keep 24h", "keep none", "keep all"; with
// kGlobal revisions are the store's) and its source ("stored", "default", "global").
std::string PolicyText(const statestore::EffectiveHistoryPolicy& e);
const char* PolicySourceName(statestore::HistoryPolicySource source);
json PolicyJson(const statestore::EffectiveHistoryPolicy& e);
std::string Hex(const statestore::Bytes& b);
// A value for a table cell: strings quoted and shortened (~60 characters, "..."), bytes as a
// hex preview.
std::string Cell(const statestore::Value& v);
// Text (a key) for a table cell: at most ~60 characters (whole UTF-8 sequences), "..." when cut.
std::string Short(const std::string& text);
// A value as typed JSON: {"type": "int", "value": 42}; bytes' value is hex; non-finite doubles
// are the strings "nan", "inf", "-inf".
json ValueJson(const statestore::Value& v);

// Redaction. A keyspace is hidden when the file marks it redacted (its history holds digests)
// or it is "sessions" (session records hold attribute values and token hashes). Values of hidden
// keyspaces are never printed unless the operator passes --reveal: tables show
// "<redacted: string, 17 bytes>" and JSON {"redacted": true, "type", "bytes", "digest"} (the
// keyed digest history records, when the Store has the redaction key).
class Redaction {
 public:
  Redaction() = default;
  // Reads the file's redacted keyspaces (cheap: one small query). `store` must outlive this.
  static Redaction Load(statestore::Store& store, bool reveal);
  bool hides(const std::string& keyspace) const;
  // The keyed digest redacted history records for `v`, as hex; empty without the redaction key
  // (a read-only open without the key file).
  std::string digest(const statestore::Value& v) const;

 private:
  const statestore::Store* store_ = nullptr;
  std::vector<std::string> redacted_;
  bool reveal_ = false;
};
// A current value of `keyspace`: itself, or its hidden form.
std::string ValueCell(const statestore::Value& v, bool hidden);
json ValueSideJson(const statestore::Value& v, const std::string& keyspace,
                   const Redaction& redaction);
// A history side: null (absent), {"redacted": true, "digest": hex} when history holds a digest
// (`digest`), or a value as ValueSideJson shows it.
json ChangeSideJson(const std::optional<statestore::Value>& v, bool digest,
                    const std::string& keyspace, const Redaction& redaction);
std::string ChangeSideCell(const std::optional<statestore::Value>& v, bool digest,
                           bool hidden = false);
// "write", "expiry" or "eviction": a change's kind as --json output names it.
const char* ChangeKindName(statestore::ChangeKind kind);
// The NEW cell of a change: "(expired)" for an expiry (statestore::ChangeKind::kExpiry),
// "(evicted)" for an eviction (kEviction), else
// ChangeSideCell of the new value followed by " until TIME" when the write gave the key a
// time-to-live.
std::string ChangeNewCell(const statestore::Change& ch, bool hidden);
json CommitJson(const statestore::Commit& c, const Redaction& redaction);
std::string OriginText(const statestore::Origin& o);
// The --reveal flag, added to every command that can print a value.
void AddRevealFlag(CLI::App* sub, bool* reveal);

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
  // One row without a table around it (follow): escaped cells separated by two spaces.
  static void PrintRow(std::ostream& out, const std::vector<std::string>& row);

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
};

// Key/value lines ("name:  value"), aligned, escaped.
void PrintFields(const std::vector<std::pair<std::string, std::string>>& fields);
// One escaped line on stdout.
void PrintLine(const std::string& line);
// One escaped line "statectl: <message>" on stderr.
void Warn(const std::string& message);

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
void RegisterLeaseCommands(CLI::App& app, Registry& registry);    // leases list|show|grant|...
void RegisterBoundCommands(CLI::App& app, Registry& registry);    // max-keys
void RegisterConfigCommands(CLI::App& app, Registry& registry);   // config ...
void RegisterAdminCommands(CLI::App& app, Registry& registry);    // backup restore verify migrate

// The positional words of a subcommand (DB first; `words` such as "DB KEYSPACE KEY" is shown on
// its usage line). statectl collects positionals itself rather than through a CLI11 positional,
// so that a value may start with '-': CLI11 leaves every word it does not know (in order) to the
// subcommand, and after parsing `*args` receives them plus every word after "--". A word that
// starts with '-' and is not a negative number, -inf, -nan or a lone "-" is an unknown option
// (UsageError); after "--" every word is a positional.
void AddArgs(CLI::App* sub, std::vector<std::string>* args, const std::string& words);
// The words after the first "--" of the command line (main takes them out before CLI11 parses).
void SetTrailingArgs(std::vector<std::string> words);
// The help formatter: usage lines with the positional words of AddArgs.
std::shared_ptr<CLI::FormatterBase> MakeFormatter();

// Adds a `revert DB REV [--force] [--json]` subcommand under `parent`; `revert` does the library
// call (Store::revert or Config::revert). The commit is labelled kOriginLabel.
using RevertFn = std::function<statestore::Revision(statestore::Store&, statestore::Revision,
                                                    const statestore::RevertOptions&)>;
void AddRevertCommand(CLI::App* parent, Registry& registry, const std::string& usage,
                      const std::string& description, const std::string& example, RevertFn revert);

}  // namespace statectl

#endif  // STATESTORE_TOOLS_STATECTL_COMMON_H_

#include "common.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <iostream>
#include <limits>
#include <map>

namespace statectl {

using statestore::Bytes;
using statestore::Clock;
using statestore::Value;
using statestore::ValueType;

// ---- Positionals and opening

namespace {

bool IsFile(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

std::string EnvDb() {
  const char* env = std::getenv("STATESTORE_DB");
  return env != nullptr ? std::string(env) : std::string();
}

}  // namespace

Positionals TakeDb(const std::vector<std::string>& args, std::size_t min_rest, std::size_t max_rest,
                   const std::string& usage) {
  const std::string env = EnvDb();
  Positionals p;
  bool db_first;
  if (args.size() == max_rest + 1) {
    db_first = true;
  } else if (args.size() < min_rest + 1) {
    db_first = false;
  } else {
    // Optional arguments leave it ambiguous: the first word is the database if $STATESTORE_DB
    // is unset or it names an existing file.
    db_first = env.empty() || IsFile(args[0]);
  }
  if (db_first) {
    p.db = args[0];
    p.rest.assign(args.begin() + 1, args.end());
  } else {
    if (env.empty()) {
      UsageError(args.size() > max_rest + 1 ? "too many arguments; usage: " + usage
                                            : "missing arguments; usage: " + usage +
                                                  " (DB may also come from $STATESTORE_DB)");
    }
    p.db = env;
    p.rest = args;
  }
  if (p.rest.size() < min_rest || p.rest.size() > max_rest) {
    UsageError(std::string(p.rest.size() < min_rest ? "missing" : "too many") +
               " arguments; usage: " + usage);
  }
  if (p.db.empty()) UsageError("the database path is empty");
  return p;
}

int ExitCodeFor(const statestore::Error& e) {
  switch (e.code()) {
    case statestore::ErrorCode::kNotFound:
      return kExitNotFound;
    case statestore::ErrorCode::kInvalidArgument:
      return kExitUsage;
    default:
      return kExitRuntime;
  }
}

void ThrowFileError(const statestore::Error& e) {
  throw Exit(e.code() == statestore::ErrorCode::kNotFound ? kExitNotFound : kExitRuntime, e.what(),
             std::string(statestore::ToString(e.code())));
}

namespace {

// Errors of the first reads of a file (not a database, damaged) do not always name it.
std::shared_ptr<statestore::Store> Open(const std::string& db, const statestore::Options& o) {
  try {
    return statestore::Store::open(db, o);
  } catch (const statestore::Error& e) {
    std::string message = e.what();
    if (message.find(db) == std::string::npos) {
      ThrowFileError(statestore::Error(e.code(), db + ": " + message, e.sqlite_code()));
    }
    ThrowFileError(e);
  }
}

}  // namespace

namespace {

statestore::PostgresOptions& MutablePostgresTarget() {
  static statestore::PostgresOptions target;
  return target;
}

}  // namespace

void SetPostgresSchema(const std::string& schema) { MutablePostgresTarget().schema = schema; }

const statestore::PostgresOptions& PostgresTarget() { return MutablePostgresTarget(); }

std::shared_ptr<statestore::Store> OpenRead(const std::string& db, const std::string& profile) {
  statestore::Options o;
  o.postgres = PostgresTarget();
  o.read_only = true;
  o.create_if_missing = false;
  o.cache_capacity = 0;
  o.sessions.sweep_interval = std::chrono::milliseconds(0);
  o.config.profile = profile;
  return Open(db, o);
}

std::shared_ptr<statestore::Store> OpenWrite(const std::string& db, bool create,
                                             const std::string& profile,
                                             statestore::HistoryRetention retention) {
  statestore::Options o;
  o.postgres = PostgresTarget();
  o.create_if_missing = create;
  o.origin_label = kOriginLabel;
  o.cache_capacity = 0;
  o.sessions.sweep_interval = std::chrono::milliseconds(0);
  o.config.profile = profile;
  o.history_retention = retention;
  return Open(db, o);
}

namespace {

std::vector<std::string>& TrailingArgs() {
  static std::vector<std::string> words;
  return words;
}

std::map<const CLI::App*, std::string>& UsageWords() {
  static std::map<const CLI::App*, std::string> words;
  return words;
}

// "statectl sessions list".
std::string CommandPath(const CLI::App* app) {
  std::string path = app->get_name();
  for (const CLI::App* p = app->get_parent(); p != nullptr; p = p->get_parent()) {
    path = p->get_name() + " " + path;
  }
  return path;
}

// A word that starts with '-' but is a value: "-" (standard input), a negative number, -inf or
// -nan (refused later with a better message than "unknown option").
bool IsDashValue(const std::string& word) {
  if (word.size() < 2 || word[0] != '-') return true;
  if ((word[1] >= '0' && word[1] <= '9') || word[1] == '.') return true;
  std::string lower;
  for (char c : word) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower == "-inf" || lower == "-nan";
}

class Formatter : public CLI::Formatter {
 public:
  std::string make_usage(const CLI::App* app, std::string name) const override {
    std::string usage = CLI::Formatter::make_usage(app, std::move(name));
    auto it = UsageWords().find(app);
    if (it == UsageWords().end()) return usage;
    while (!usage.empty() && usage.back() == '\n') usage.pop_back();
    return usage + " " + it->second +
           "\n(DB may be left out when $STATESTORE_DB is set; put an argument that starts with "
           "'-' after --)\n";
  }
};

}  // namespace

void SetTrailingArgs(std::vector<std::string> words) { TrailingArgs() = std::move(words); }

std::shared_ptr<CLI::FormatterBase> MakeFormatter() { return std::make_shared<Formatter>(); }

void AddArgs(CLI::App* sub, std::vector<std::string>* args, const std::string& words) {
  UsageWords()[sub] = words;
  sub->allow_extras();
  sub->fallthrough(false);
  sub->parse_complete_callback([sub, args] {
    std::vector<std::string> words = sub->remaining(false);
    for (const auto& w : words) {
      if (w == "--schema" || w.rfind("--schema=", 0) == 0) {
        UsageError(
            "--schema is a global option: put it before the command (statectl --schema "
            "NAME " +
            CommandPath(sub).substr(std::string("statectl ").size()) + " ...)");
      }
      if (!IsDashValue(w)) {
        UsageError("unknown option '" + w + "' for '" + CommandPath(sub) +
                   "' (see --help; put an argument that starts with '-' after --)");
      }
    }
    words.insert(words.end(), TrailingArgs().begin(), TrailingArgs().end());
    *args = std::move(words);
  });
}

// ---- Parsing

namespace {

bool AllDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// User text quoted in a message, shortened so that a huge argument does not make a huge line
// (the line is escaped when printed).
std::string Quoted(const std::string& text) { return "'" + Short(text) + "'"; }

[[noreturn]] void Bad(const char* what, const std::string& text, const std::string& why) {
  UsageError(std::string(what) + " " + Quoted(text) + " " + why);
}

}  // namespace

std::uint64_t ParseRevision(const std::string& text, const char* what, bool allow_zero) {
  if (!AllDigits(text)) Bad(what, text, "is not a revision number (decimal digits)");
  if (text.size() > 18) Bad(what, text, "is out of range for a revision");
  const std::uint64_t v = std::stoull(text);
  if (v == 0 && !allow_zero) Bad(what, text, "is not a revision: revisions start at 1");
  return v;
}

std::uint64_t ParseCount(const std::string& text, const char* what) {
  if (!AllDigits(text)) Bad(what, text, "is not a whole number >= 1");
  if (text.size() > 18) Bad(what, text, "is out of range (at most 18 digits)");
  const std::uint64_t v = std::stoull(text);
  if (v == 0) Bad(what, text, "must be at least 1 (leave the option out for no limit)");
  return v;
}

std::chrono::milliseconds ParseTtl(const std::string& text, const char* what) {
  const auto d = ParseDuration(text, what);
  if (d < std::chrono::milliseconds(1) || d % std::chrono::milliseconds(1) != d.zero()) {
    Bad(what, text, "must be at least 1ms, in whole milliseconds");
  }
  return std::chrono::duration_cast<std::chrono::milliseconds>(d);
}

statestore::LeaseId ParseLeaseId(const std::string& text, const char* what) {
  if (!AllDigits(text)) Bad(what, text, "is not a lease id (a whole number >= 1)");
  if (text.size() > 18) Bad(what, text, "is out of range (at most 18 digits)");
  const std::int64_t v = std::stoll(text);
  if (v == 0) Bad(what, text, "is not a lease id (lease ids start at 1)");
  return v;
}

std::int64_t ParseIntIn(const std::string& text, const char* what, std::int64_t min,
                        std::int64_t max) {
  std::string_view digits = text;
  if (!digits.empty() && digits[0] == '-') digits.remove_prefix(1);
  if (!AllDigits(digits)) Bad(what, text, "is not a whole number");
  const std::string range = "must be " + std::to_string(min) + ".." + std::to_string(max);
  if (digits.size() > 18) Bad(what, text, range);
  const std::int64_t v = std::stoll(text);
  if (v < min || v > max) Bad(what, text, range);
  return v;
}

namespace {

std::string SecondsText(std::int64_t s) {
  if (s % 86400 == 0) return std::to_string(s / 86400) + "d";
  if (s % 3600 == 0) return std::to_string(s / 3600) + "h";
  if (s % 60 == 0) return std::to_string(s / 60) + "m";
  return std::to_string(s) + "s";
}

}  // namespace

std::string PolicyText(const statestore::EffectiveHistoryPolicy& e) {
  const statestore::HistoryPolicy& p = e.policy;
  if (p.keep_none) return "keep none";
  if (p.keeps_all()) return "keep all";
  std::string out;
  if (p.keep_revisions > 0) {
    out =
        "keep " + std::to_string(p.keep_revisions) +
        (e.source == statestore::HistoryPolicySource::kGlobal ? " store revisions" : " revisions");
  }
  if (p.keep_for.count() > 0) {
    out += (out.empty() ? "keep " : ", ") + SecondsText(p.keep_for.count());
  }
  return out;
}

const char* PolicySourceName(statestore::HistoryPolicySource source) {
  switch (source) {
    case statestore::HistoryPolicySource::kStored:
      return "stored";
    case statestore::HistoryPolicySource::kDefault:
      return "default";
    case statestore::HistoryPolicySource::kGlobal:
      return "global";
  }
  return "global";
}

json PolicyJson(const statestore::EffectiveHistoryPolicy& e) {
  return {{"keep_revisions", e.policy.keep_revisions},
          {"keep_for_s", e.policy.keep_for.count()},
          {"keep_none", e.policy.keep_none},
          {"source", PolicySourceName(e.source)}};
}

std::chrono::microseconds ParseDuration(const std::string& text, const char* what) {
  std::size_t i = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
  const std::string number = text.substr(0, i);
  const std::string unit = text.substr(i);
  if (number.empty()) {
    Bad(what, text, "is not a duration (digits and a unit: 30s, 10m, 2h, 3d, 1w)");
  }
  std::int64_t unit_us = 0;
  if (unit == "ms") unit_us = 1000;
  if (unit == "s") unit_us = 1000000;
  if (unit == "m" || unit == "min") unit_us = 60ll * 1000000;
  if (unit == "h") unit_us = 3600ll * 1000000;
  if (unit == "d") unit_us = 86400ll * 1000000;
  if (unit == "w") unit_us = 7 * 86400ll * 1000000;
  if (unit_us == 0) Bad(what, text, "is not a duration: the unit must be ms, s, m, h, d or w");
  constexpr std::int64_t kMaxUs = 100ll * 366 * 86400 * 1000000;  // 100 years
  if (number.size() > 12 || std::stoll(number) > kMaxUs / unit_us) {
    Bad(what, text, "is longer than 100 years");
  }
  return std::chrono::microseconds(std::stoll(number) * unit_us);
}

namespace {

int DaysIn(int year, int month) {
  static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return month == 2 && leap ? 29 : kDays[month - 1];
}

// nullopt when `text` does not start like a date (YYYY-); a UsageError when it does but is not
// exactly a valid UTC time.
std::optional<Clock::time_point> ParseIsoTime(const std::string& text, const char* what) {
  if (text.size() < 5 || !AllDigits(std::string_view(text).substr(0, 4)) || text[4] != '-') {
    return std::nullopt;
  }
  auto bad = [&](const std::string& why) {
    Bad(what, text,
        "is not a valid ISO-8601 UTC time (" + why +
            "; the form is YYYY-MM-DD[THH:MM:SS[.fraction][Z]], e.g. 2026-01-31T12:00:00Z)");
  };
  auto at = [&](std::size_t pos) { return pos < text.size() ? text[pos] : '\0'; };
  auto num = [&](std::size_t pos, std::size_t len) {
    if (pos + len > text.size() || !AllDigits(std::string_view(text).substr(pos, len))) {
      bad("expected " + std::to_string(len) + " digits at position " + std::to_string(pos + 1));
    }
    return std::stoi(text.substr(pos, len));
  };
  const int y = num(0, 4);
  const int mo = num(5, 2);
  if (at(7) != '-') bad("expected '-' after the month");
  const int d = num(8, 2);
  int h = 0, mi = 0, s = 0;
  long long nanos = 0;
  std::size_t pos = 10;
  if (pos < text.size()) {
    if (at(pos) != 'T' && at(pos) != ' ') bad("unexpected text after the date");
    h = num(pos + 1, 2);
    if (at(pos + 3) != ':') bad("expected ':' after the hour");
    mi = num(pos + 4, 2);
    if (at(pos + 6) != ':') bad("expected ':' after the minutes");
    s = num(pos + 7, 2);
    pos += 9;
    if (at(pos) == '.') {
      std::size_t digits = 0;
      while (pos + 1 + digits < text.size() &&
             std::isdigit(static_cast<unsigned char>(text[pos + 1 + digits]))) {
        ++digits;
      }
      if (digits == 0 || digits > 9) bad("the fraction of a second must have 1 to 9 digits");
      std::string frac = text.substr(pos + 1, digits);
      frac.resize(9, '0');
      nanos = std::stoll(frac);
      pos += 1 + digits;
    }
    const std::string zone = text.substr(pos);
    if (!zone.empty() && zone != "Z" && zone != "+00:00") {
      bad("unexpected '" + zone + "' after the time (only Z or +00:00: times are UTC)");
    }
  }
  if (y < 1970 || y > 2261) bad("the year must be 1970..2261");
  if (mo < 1 || mo > 12) bad("month " + std::to_string(mo) + " does not exist");
  if (d < 1 || d > DaysIn(y, mo)) {
    bad("day " + std::to_string(d) + " does not exist in " + std::to_string(y) + "-" +
        (mo < 10 ? "0" : "") + std::to_string(mo));
  }
  if (h > 23) bad("hour " + std::to_string(h) + " is out of range 00..23");
  if (mi > 59) bad("minute " + std::to_string(mi) + " is out of range 00..59");
  if (s > 59) bad("second " + std::to_string(s) + " is out of range 00..59");
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  const time_t t = ::timegm(&tm);
  return Clock::from_time_t(t) +
         std::chrono::duration_cast<Clock::duration>(std::chrono::nanoseconds(nanos));
}

}  // namespace

Bound ParseBound(const std::string& text, const char* what) {
  Bound b;
  if (AllDigits(text)) {
    b.revision = ParseRevision(text, what, /*allow_zero=*/true);
    return b;
  }
  if (auto t = ParseIsoTime(text, what)) {
    b.time = *t;
    return b;
  }
  if (!text.empty() && text[0] >= '0' && text[0] <= '9') {
    b.time = Clock::now() - std::chrono::duration_cast<Clock::duration>(ParseDuration(text, what));
    return b;
  }
  Bad(what, text,
      "is neither a revision, an ISO-8601 UTC time (2026-01-31T12:00:00Z) nor a duration ago "
      "(10m, 2h, 3d)");
}

void ApplySinceUntil(const std::string& since, const std::string& until,
                     statestore::HistoryQuery* q) {
  if (!since.empty()) {
    Bound b = ParseBound(since, "--since");
    if (b.revision) q->from_revision = *b.revision;
    if (b.time) q->since = b.time;
  }
  if (!until.empty()) {
    Bound b = ParseBound(until, "--until");
    if (b.revision) {
      if (*b.revision == 0) UsageError("--until 0 matches nothing; revisions start at 1");
      q->to_revision = *b.revision;
    }
    if (b.time) q->until = b.time;
  }
}

Bytes ParseHex(const std::string& text) {
  std::string_view s = text;
  if (s.rfind("0x", 0) == 0 || s.rfind("0X", 0) == 0) s.remove_prefix(2);
  if (s.size() % 2 != 0) Bad("hex value", text, "has an odd number of digits");
  Bytes out;
  out.reserve(s.size() / 2);
  auto nibble = [&](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    Bad("hex value", text, "is not hex digits");
  };
  for (std::size_t i = 0; i < s.size(); i += 2) {
    out.push_back(static_cast<std::uint8_t>(nibble(s[i]) * 16 + nibble(s[i + 1])));
  }
  return out;
}

namespace {

// [+-]? (digits [. digits?] | . digits) ([eE] [+-]? digits)?
bool IsDecimalNumber(std::string_view s) {
  std::size_t i = 0;
  auto digits = [&] {
    std::size_t n = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i, ++n;
    return n;
  };
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
  std::size_t mantissa = digits();
  if (i < s.size() && s[i] == '.') {
    ++i;
    mantissa += digits();
  }
  if (mantissa == 0) return false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    if (digits() == 0) return false;
  }
  return i == s.size();
}

double ParseDouble(const std::string& text) {
  if (text == "inf" || text == "+inf") return std::numeric_limits<double>::infinity();
  if (text == "-inf") return -std::numeric_limits<double>::infinity();
  std::string lower;
  for (char c : text) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower.find("nan") != std::string::npos) {
    Bad("--double", text, "is refused: a double may hold any number, inf or -inf, but not NaN");
  }
  if (!IsDecimalNumber(text)) {
    Bad("--double", text, "is not a decimal number (e.g. 0.25, -3, 1e-9, inf, -inf)");
  }
  errno = 0;
  const double v = std::strtod(text.c_str(), nullptr);
  if (errno == ERANGE && std::isinf(v)) {
    Bad("--double", text, "overflows a double (largest about 1.8e308; write inf to mean infinity)");
  }
  if (errno == ERANGE && v == 0) Bad("--double", text, "underflows a double to 0");
  return v;
}

std::int64_t ParseInt(const std::string& text) {
  std::string_view digits = text;
  if (!digits.empty() && (digits[0] == '-' || digits[0] == '+')) digits.remove_prefix(1);
  if (!AllDigits(digits)) Bad("--int", text, "is not a decimal integer");
  errno = 0;
  const long long v = std::strtoll(text.c_str(), nullptr, 10);
  if (errno == ERANGE) {
    Bad("--int", text,
        "is out of the range of a 64-bit integer (-9223372036854775808..9223372036854775807)");
  }
  return v;
}

}  // namespace

Value ParseValue(const std::string& text, const std::string& type) {
  if (type == "string") return Value(text);
  if (type == "null") return Value();
  if (type == "bool") {
    if (text == "true" || text == "1") return Value(true);
    if (text == "false" || text == "0") return Value(false);
    Bad("--bool", text, "is not a bool (true, false, 1 or 0)");
  }
  if (type == "int") return Value(static_cast<long long>(ParseInt(text)));
  if (type == "double") return Value(ParseDouble(text));
  if (type == "bytes") return Value(Bytes(text.begin(), text.end()));
  if (type == "bytes-hex") return Value(ParseHex(text));
  UsageError("unknown value type " + Quoted(type) +
             " (string, int, double, bool, bytes, bytes-hex, null)");
}

std::size_t MaxInputBytes(const std::string& type) {
  if (type == "string" || type == "bytes" || type == "json") return statestore::kMaxValueBytes;
  if (type == "bytes-hex") return 2 * statestore::kMaxValueBytes + 3;  // "0x" and a newline
  return 64;
}

std::string ReadValueText(const std::optional<std::string>& positional,
                          const std::optional<std::string>& file, const std::string& type) {
  const std::size_t max_bytes = MaxInputBytes(type);
  auto too_big = [&](const std::string& from) {
    UsageError("the value " + from + " is larger than " + std::to_string(max_bytes) +
               " bytes, the most a " + type + " value can take (nothing was written)");
  };
  if (file && positional) UsageError("give the value either as VALUE or with --file, not both");
  if (!file && !positional) UsageError("missing VALUE (or --file PATH, or - for standard input)");
  if (!file && *positional != "-") {
    if (positional->size() > max_bytes) too_big("given as VALUE");
    return *positional;
  }
  const std::string path = file ? *file : "-";
  if (path.empty()) UsageError("--file needs a path (or - for standard input)");
  const bool stdin_input = path == "-";
  const std::string name = stdin_input ? "standard input" : "--file " + Quoted(path);
  int fd = 0;
  if (!stdin_input) {
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) UsageError("cannot open " + name + ": " + std::strerror(errno));
  }
  struct Closer {
    int fd;
    ~Closer() {
      if (fd > 0) ::close(fd);
    }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) UsageError(name + " is a directory");
  std::string text;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Exit(kExitRuntime, "cannot read " + name + ": " + std::strerror(errno));
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
    if (text.size() > max_bytes) too_big("read from " + name);
  }
  // `echo 42 > f` ends a number with a newline: typed values drop one; strings and bytes are
  // taken byte for byte.
  if (type != "string" && type != "bytes" && type != "json" && !text.empty() &&
      text.back() == '\n') {
    text.pop_back();
  }
  return text;
}

void CheckKeyspaceArg(const std::string& keyspace) {
  try {
    statestore::CheckKeyspaceName(keyspace);
  } catch (const statestore::Error& e) {
    UsageError(e.what());
  }
}

void CheckKeyArg(const std::string& key) {
  try {
    statestore::CheckKey(key);
  } catch (const statestore::Error& e) {
    UsageError(e.what());
  }
}

void CheckPrefixArg(const std::string& prefix) {
  try {
    statestore::CheckKeyPrefix(prefix);
  } catch (const statestore::Error& e) {
    UsageError(e.what());
  }
}

void CheckValueArg(const std::string& keyspace, const std::string& key, const Value& value) {
  try {
    statestore::CheckValue(keyspace, key, value);
  } catch (const statestore::Error& e) {
    UsageError(e.what());
  }
}

// ---- Output

namespace {

// Decodes one UTF-8 sequence at s[i] (the rules of the library's IsValidUtf8: no overlong forms,
// surrogates or code points past U+10FFFF). Returns its length, 0 if s[i] starts no valid
// sequence.
std::size_t Utf8At(std::string_view s, std::size_t i, std::uint32_t* cp) {
  const auto c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  std::size_t extra;
  std::uint32_t v;
  if ((c & 0xe0) == 0xc0) {
    extra = 1;
    v = c & 0x1f;
  } else if ((c & 0xf0) == 0xe0) {
    extra = 2;
    v = c & 0x0f;
  } else if ((c & 0xf8) == 0xf0) {
    extra = 3;
    v = c & 0x07;
  } else {
    return 0;
  }
  if (i + extra >= s.size()) return 0;
  for (std::size_t k = 1; k <= extra; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xc0) != 0x80) return 0;
    v = (v << 6) | (b & 0x3f);
  }
  static const std::uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
  if (v < kMin[extra] || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) return 0;
  *cp = v;
  return extra + 1;
}

// Characters that move or hide text on a terminal without being controls.
bool IsInvisibleFormat(std::uint32_t cp) {
  return cp == 0x061c || cp == 0x180e || (cp >= 0x200b && cp <= 0x200f) ||
         (cp >= 0x2028 && cp <= 0x202e) || (cp >= 0x2060 && cp <= 0x2069) || cp == 0xfeff;
}

std::size_t DisplayWidth(std::string_view s) {
  std::size_t n = 0;
  for (unsigned char c : s) {
    if ((c & 0xC0) != 0x80) ++n;
  }
  return n;
}

}  // namespace

std::string Escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  char buf[16];
  for (std::size_t i = 0; i < text.size();) {
    std::uint32_t cp = 0;
    const std::size_t len = Utf8At(text, i, &cp);
    if (len == 0) {  // not UTF-8
      std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned char>(text[i]));
      out += buf;
      ++i;
      continue;
    }
    if (cp == '\n') {
      out += "\\n";
    } else if (cp == '\r') {
      out += "\\r";
    } else if (cp == '\t') {
      out += "\\t";
    } else if (cp < 0x20 || cp == 0x7f) {
      std::snprintf(buf, sizeof buf, "\\x%02x", cp);
      out += buf;
    } else if ((cp >= 0x80 && cp <= 0x9f) || IsInvisibleFormat(cp)) {
      std::snprintf(buf, sizeof buf, "\\u%04x", cp);
      out += buf;
    } else {
      out.append(text.substr(i, len));
    }
    i += len;
  }
  return out;
}

std::string FormatTime(Clock::time_point t) {
  using namespace std::chrono;
  const auto us = duration_cast<microseconds>(t.time_since_epoch()).count();
  if (t == Clock::time_point::max()) return "never";
  time_t secs = static_cast<time_t>(us / 1000000);
  long long frac = us % 1000000;
  if (frac < 0) {
    frac += 1000000;
    --secs;
  }
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
  return buf;
}

std::string Hex(const Bytes& b) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(b.size() * 2);
  for (auto byte : b) {
    out += kHex[byte >> 4];
    out += kHex[byte & 0xf];
  }
  return out;
}

namespace {

constexpr std::size_t kCellChars = 60;

// The first `max_chars` characters of `text` (a character: a valid UTF-8 sequence or one byte
// that is not), with "..." when cut.
std::string Cut(std::string_view text, std::size_t max_chars) {
  std::size_t i = 0;
  std::size_t chars = 0;
  while (i < text.size() && chars < max_chars) {
    std::uint32_t cp = 0;
    const std::size_t len = Utf8At(text, i, &cp);
    i += len == 0 ? 1 : len;
    ++chars;
  }
  if (i >= text.size()) return std::string(text);
  return std::string(text.substr(0, i)) + "...";
}

}  // namespace

std::string Cell(const Value& v) {
  if (v.type() != ValueType::kString) return v.to_display(kCellChars);
  // Quoted like Value::to_display ("..." inside the quotes when cut), but cut on character
  // boundaries.
  std::string quoted = "\"";
  for (char c : Cut(v.as_string(), kCellChars - 5)) {
    if (c == '"' || c == '\\') quoted += '\\';
    quoted += c;
  }
  return Escape(quoted + "\"");
}

std::string Short(const std::string& text) { return Cut(text, kCellChars - 3); }

json ValueJson(const Value& v) {
  json j;
  j["type"] = std::string(statestore::ToString(v.type()));
  switch (v.type()) {
    case ValueType::kNull:
      j["value"] = nullptr;
      break;
    case ValueType::kBool:
      j["value"] = v.as_bool();
      break;
    case ValueType::kInt:
      j["value"] = v.as_int();
      break;
    case ValueType::kDouble: {
      double d = v.as_double();
      if (std::isnan(d)) {
        j["value"] = "nan";
      } else if (std::isinf(d)) {
        j["value"] = d > 0 ? "inf" : "-inf";
      } else {
        j["value"] = d;
      }
      break;
    }
    case ValueType::kString:
      j["value"] = v.as_string();
      break;
    case ValueType::kBytes:
      j["value"] = Hex(v.as_bytes());
      break;
  }
  return j;
}

Redaction Redaction::Load(statestore::Store& store, bool reveal) {
  Redaction r;
  r.store_ = &store;
  r.reveal_ = reveal;
  if (!reveal) r.redacted_ = statestore::RedactedKeyspaces(store);
  return r;
}

bool Redaction::hides(const std::string& keyspace) const {
  if (reveal_) return false;
  return keyspace == statestore::kSessionsKeyspace ||
         std::find(redacted_.begin(), redacted_.end(), keyspace) != redacted_.end();
}

std::string Redaction::digest(const Value& v) const {
  if (store_ == nullptr || !store_->has_redaction_key()) return {};
  return Hex(store_->value_digest(v));
}

std::string ValueCell(const Value& v, bool hidden) {
  if (!hidden) return Cell(v);
  std::string s = "<redacted: " + std::string(statestore::ToString(v.type()));
  if (v.type() == ValueType::kString || v.type() == ValueType::kBytes) {
    s += ", " + std::to_string(v.payload_size()) + " bytes";
  }
  return s + ">";
}

json ValueSideJson(const Value& v, const std::string& keyspace, const Redaction& redaction) {
  if (!redaction.hides(keyspace)) return ValueJson(v);
  json j{{"redacted", true}, {"type", std::string(statestore::ToString(v.type()))}};
  if (v.type() == ValueType::kString || v.type() == ValueType::kBytes) {
    j["bytes"] = v.payload_size();
  }
  if (std::string d = redaction.digest(v); !d.empty()) j["digest"] = d;
  return j;
}

json ChangeSideJson(const std::optional<Value>& v, bool digest, const std::string& keyspace,
                    const Redaction& redaction) {
  if (!v) return nullptr;
  if (digest) {
    json j;
    j["redacted"] = true;
    j["digest"] = v->type() == ValueType::kBytes ? Hex(v->as_bytes()) : std::string();
    return j;
  }
  return ValueSideJson(*v, keyspace, redaction);
}

std::string ChangeSideCell(const std::optional<Value>& v, bool digest, bool hidden) {
  if (!v) return "-";
  if (digest) {
    std::string hex = v->type() == ValueType::kBytes ? Hex(v->as_bytes()) : "";
    return "digest:" + hex.substr(0, 16) + "...";
  }
  return ValueCell(*v, hidden);
}

std::string ChangeNewCell(const statestore::Change& ch, bool hidden) {
  if (ch.kind == statestore::ChangeKind::kExpiry) return "(expired)";
  if (ch.kind == statestore::ChangeKind::kEviction) return "(evicted)";
  std::string cell = ChangeSideCell(ch.new_value, ch.redacted, hidden);
  if (ch.new_value && ch.expires_at) cell += " until " + FormatTime(*ch.expires_at);
  return cell;
}

const char* ChangeKindName(statestore::ChangeKind kind) {
  switch (kind) {
    case statestore::ChangeKind::kExpiry:
      return "expiry";
    case statestore::ChangeKind::kEviction:
      return "eviction";
    case statestore::ChangeKind::kWrite:
      break;
  }
  return "write";
}

std::string OriginText(const statestore::Origin& o) {
  std::string s = o.label.empty() ? "" : o.label + " ";
  s += "pid:" + std::to_string(o.pid);
  return s;
}

json CommitJson(const statestore::Commit& c, const Redaction& redaction) {
  json j;
  j["revision"] = c.revision;
  j["time"] = FormatTime(c.time);
  j["origin"] = {
      {"pid", c.origin.pid}, {"thread_id", c.origin.thread_id}, {"label", c.origin.label}};
  json changes = json::array();
  for (const auto& ch : c.changes) {
    const bool hidden = redaction.hides(ch.keyspace);
    changes.push_back({{"keyspace", ch.keyspace},
                       {"key", ch.key},
                       {"redacted", ch.redacted || hidden},
                       {"old", ChangeSideJson(ch.old_value, ch.redacted, ch.keyspace, redaction)},
                       {"new", ChangeSideJson(ch.new_value, ch.redacted, ch.keyspace, redaction)},
                       {"kind", ChangeKindName(ch.kind)},
                       {"expires_at", ch.expires_at ? json(FormatTime(*ch.expires_at)) : json()}});
  }
  j["changes"] = std::move(changes);
  // Retention removed some keyspaces' changes of this commit (HistoryPolicy): `changes` is not
  // the whole transaction.
  j["partial"] = c.partial;
  return j;
}

void AddRevealFlag(CLI::App* sub, bool* reveal) {
  sub->add_flag("--reveal", *reveal,
                "Print values of redacted keyspaces (sessions and any keyspace whose history "
                "holds digests); without it they show as <redacted: TYPE, N bytes>");
}

// ensure_ascii: JSON on a terminal cannot carry C1 controls or bidi overrides either; invalid
// UTF-8 (a damaged or hand-edited file) becomes U+FFFD instead of an exception.
void PrintJson(const json& j) {
  std::cout << j.dump(2, ' ', true, json::error_handler_t::replace) << "\n";
  std::cout.flush();
}

void PrintJsonLine(const json& j) {
  std::cout << j.dump(-1, ' ', true, json::error_handler_t::replace) << "\n";
  std::cout.flush();
}

void Table::PrintRow(std::ostream& out, const std::vector<std::string>& row) {
  std::string line;
  for (std::size_t i = 0; i < row.size(); ++i) {
    if (i > 0) line += "  ";
    line += Escape(row[i]);
  }
  out << line << "\n";
}

void Table::Print(std::ostream& out) const {
  auto escape_row = [](const std::vector<std::string>& row) {
    std::vector<std::string> cells;
    for (const auto& c : row) cells.push_back(Escape(c));
    return cells;
  };
  std::vector<std::vector<std::string>> rows;
  rows.push_back(escape_row(headers_));
  for (const auto& r : rows_) rows.push_back(escape_row(r));
  std::vector<std::size_t> widths(headers_.size(), 0);
  for (const auto& row : rows) {
    for (std::size_t i = 0; i < row.size() && i < widths.size(); ++i) {
      widths[i] = std::max(widths[i], DisplayWidth(row[i]));
    }
  }
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t i = 0; i < widths.size(); ++i) {
      const std::string& cell = i < row.size() ? row[i] : std::string();
      line += cell;
      if (i + 1 < widths.size()) line += std::string(widths[i] - DisplayWidth(cell) + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out << line << "\n";
  }
  out.flush();
}

void PrintFields(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::size_t w = 0;
  for (const auto& f : fields) w = std::max(w, DisplayWidth(Escape(f.first)));
  for (const auto& [name, value] : fields) {
    const std::string n = Escape(name);
    std::cout << n << ":" << std::string(w - DisplayWidth(n) + 2, ' ') << Escape(value) << "\n";
  }
  std::cout.flush();
}

void PrintLine(const std::string& line) {
  std::cout << Escape(line) << "\n";
  std::cout.flush();
}

void Warn(const std::string& message) {
  std::fprintf(stderr, "statectl: %s\n", Escape(message).c_str());
  std::fflush(stderr);
}

Progress::Progress(std::string what) : what_(std::move(what)), tty_(::isatty(2) == 1) {}

Progress::~Progress() { Done(); }

void Progress::Update(std::uint64_t done, std::uint64_t total) {
  if (!tty_) return;
  auto now = std::chrono::steady_clock::now();
  if (shown_ && now - last_ < std::chrono::milliseconds(100) && done != total) return;
  last_ = now;
  shown_ = true;
  if (total > 0) {
    std::fprintf(stderr, "\r%s: %llu/%llu (%3.0f%%)", what_.c_str(),
                 static_cast<unsigned long long>(done), static_cast<unsigned long long>(total),
                 100.0 * static_cast<double>(done) / static_cast<double>(total));
  } else {
    std::fprintf(stderr, "\r%s: %llu", what_.c_str(), static_cast<unsigned long long>(done));
  }
  std::fflush(stderr);
}

void Progress::Done() {
  if (tty_ && shown_) {
    std::fprintf(stderr, "\n");
    std::fflush(stderr);
  }
  shown_ = false;
}

statestore::ProgressCallback Progress::Callback() {
  return [this](std::uint64_t done, std::uint64_t total) { Update(done, total); };
}

void AddRevertCommand(CLI::App* parent, Registry& registry, const std::string& usage,
                      const std::string& description, const std::string& example, RevertFn revert) {
  struct Opts {
    std::vector<std::string> args;
    bool force = false;
    bool json = false;
  };
  auto o = std::make_shared<Opts>();
  auto* sub = parent->add_subcommand("revert", description);
  AddArgs(sub, &o->args, "DB REV");
  sub->add_flag("--force", o->force, "Revert even over later changes of the same keys");
  sub->add_flag("--json", o->json, "Print the result as JSON");
  sub->footer("Example:\n  " + example);
  sub->callback([&registry, o, revert, usage] {
    registry.action = [o, revert, usage] {
      auto p = TakeDb(o->args, 1, 1, usage);
      statestore::Revision rev = ParseRevision(p.rest[0], "REV");
      auto store = OpenWrite(p.db);
      statestore::RevertOptions ro;
      ro.force = o->force;
      ro.label = kOriginLabel;
      statestore::Revision done = revert(*store, rev, ro);
      if (o->json) {
        PrintJson({{"revision", done}, {"reverted", rev}});
      } else {
        PrintLine("revision " + std::to_string(done) + " (reverts " + std::to_string(rev) + ")");
      }
      return kExitOk;
    };
  });
}

}  // namespace statectl

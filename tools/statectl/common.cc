#include "common.h"

#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <iostream>

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

namespace {

// Errors of the first reads of a file (not a database, damaged) do not always name it.
std::shared_ptr<statestore::Store> Open(const std::string& db, const statestore::Options& o) {
  try {
    return statestore::Store::open(db, o);
  } catch (const statestore::Error& e) {
    std::string message = e.what();
    if (message.find(db) == std::string::npos) {
      throw statestore::Error(e.code(), db + ": " + message, e.sqlite_code());
    }
    throw;
  }
}

}  // namespace

std::shared_ptr<statestore::Store> OpenRead(const std::string& db, const std::string& profile) {
  statestore::Options o;
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
  o.create_if_missing = create;
  o.origin_label = kOriginLabel;
  o.cache_capacity = 0;
  o.sessions.sweep_interval = std::chrono::milliseconds(0);
  o.config.profile = profile;
  o.history_retention = retention;
  return Open(db, o);
}

void AddArgs(CLI::App* sub, std::vector<std::string>* args, const std::string& description) {
  sub->add_option("args", *args,
                  "Positional arguments; DB may be left out when $STATESTORE_DB is set")
      ->type_name(description);
}

// ---- Parsing

std::uint64_t ParseRevision(const std::string& text, const char* what) {
  if (text.empty() || text.size() > 18 ||
      text.find_first_not_of("0123456789") != std::string::npos) {
    UsageError(std::string(what) + " must be a revision number, not '" + text + "'");
  }
  return std::stoull(text);
}

std::chrono::microseconds ParseDuration(const std::string& text) {
  std::size_t i = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
  const std::string number = text.substr(0, i);
  const std::string unit = text.substr(i);
  if (number.empty() || number.size() > 9) {
    UsageError("'" + text + "' is not a duration (examples: 30s, 10m, 2h, 3d, 1w)");
  }
  const std::int64_t n = std::stoll(number);
  std::int64_t unit_us = 0;
  if (unit == "ms") unit_us = 1000;
  if (unit == "s") unit_us = 1000000;
  if (unit == "m" || unit == "min") unit_us = 60ll * 1000000;
  if (unit == "h") unit_us = 3600ll * 1000000;
  if (unit == "d") unit_us = 86400ll * 1000000;
  if (unit == "w") unit_us = 7 * 86400ll * 1000000;
  if (unit_us == 0)
    UsageError("'" + text + "' is not a duration: unit must be ms, s, m, h, d or w");
  constexpr std::int64_t kMaxUs = 100ll * 366 * 86400 * 1000000;  // 100 years
  if (n > kMaxUs / unit_us) UsageError("duration '" + text + "' is longer than 100 years");
  return std::chrono::microseconds(n * unit_us);
}

namespace {

std::optional<Clock::time_point> ParseIsoTime(const std::string& text) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
  int consumed = 0;
  std::tm tm{};
  long long micros = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2d%n", &y, &mo, &d, &consumed) != 3 || consumed != 10) {
    return std::nullopt;
  }
  std::size_t pos = 10;
  if (pos < text.size()) {
    if (text[pos] != 'T' && text[pos] != ' ') return std::nullopt;
    int used = 0;
    if (std::sscanf(text.c_str() + pos + 1, "%2d:%2d:%2d%n", &h, &mi, &s, &used) != 3 ||
        used != 8) {
      return std::nullopt;
    }
    pos += 1 + 8;
    if (pos < text.size() && text[pos] == '.') {
      ++pos;
      std::string frac;
      while (pos < text.size() && std::isdigit(static_cast<unsigned char>(text[pos]))) {
        frac += text[pos++];
      }
      if (frac.empty()) return std::nullopt;
      frac.resize(6, '0');
      micros = std::stoll(frac.substr(0, 6));
    }
    if (pos < text.size() && (text.substr(pos) == "Z" || text.substr(pos) == "+00:00")) {
      pos = text.size();
    }
    if (pos != text.size()) return std::nullopt;
  }
  if (y < 1970 || y > 2261) return std::nullopt;  // system_clock's range
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60) return std::nullopt;
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  const time_t t = ::timegm(&tm);
  return Clock::from_time_t(t) + std::chrono::microseconds(micros);
}

}  // namespace

Bound ParseBound(const std::string& text) {
  Bound b;
  if (!text.empty() && text.find_first_not_of("0123456789") == std::string::npos) {
    b.revision = ParseRevision(text, "--since/--until");
    return b;
  }
  if (auto t = ParseIsoTime(text)) {
    b.time = *t;
    return b;
  }
  if (!text.empty() && std::isdigit(static_cast<unsigned char>(text[0]))) {
    b.time = Clock::now() - std::chrono::duration_cast<Clock::duration>(ParseDuration(text));
    return b;
  }
  UsageError("'" + text +
             "' is neither a revision, an ISO-8601 UTC time (2026-01-31T12:00:00Z) nor a "
             "duration ago (10m, 2h, 3d)");
}

Bytes ParseHex(const std::string& text) {
  std::string s = text;
  if (s.rfind("0x", 0) == 0 || s.rfind("0X", 0) == 0) s = s.substr(2);
  if (s.size() % 2 != 0) UsageError("hex value has an odd number of digits");
  Bytes out;
  for (std::size_t i = 0; i < s.size(); i += 2) {
    auto nibble = [&](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      UsageError("'" + text + "' is not hex");
    };
    out.push_back(static_cast<std::uint8_t>(nibble(s[i]) * 16 + nibble(s[i + 1])));
  }
  return out;
}

Value ParseValue(const std::string& text, const std::string& type) {
  if (type == "string") return Value(text);
  if (type == "null") return Value();
  if (type == "bool") {
    if (text == "true" || text == "1") return Value(true);
    if (text == "false" || text == "0") return Value(false);
    UsageError("'" + text + "' is not a bool (true or false)");
  }
  if (type == "int") {
    errno = 0;
    char* end = nullptr;
    long long v = std::strtoll(text.c_str(), &end, 10);
    if (text.empty() || *end != '\0' || errno == ERANGE) {
      UsageError("'" + text + "' is not a 64-bit integer");
    }
    return Value(v);
  }
  if (type == "double") {
    char* end = nullptr;
    double v = std::strtod(text.c_str(), &end);
    if (text.empty() || *end != '\0') UsageError("'" + text + "' is not a number");
    return Value(v);
  }
  if (type == "bytes" || type == "bytes-hex") return Value(ParseHex(text));
  UsageError("unknown value type '" + type + "' (string, int, double, bool, bytes-hex, null)");
}

// ---- Output

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

std::string Cell(const Value& v) { return v.to_display(60); }

std::string Short(const std::string& text) {
  constexpr std::size_t kMax = 60;
  if (text.size() <= kMax) return text;
  std::size_t cut = kMax - 3;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;  // UTF-8
  return text.substr(0, cut) + "...";
}

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

json ChangeSideJson(const std::optional<Value>& v, bool redacted) {
  if (!v) return nullptr;
  if (redacted) {
    json j;
    j["redacted"] = true;
    j["digest"] = v->type() == ValueType::kBytes ? Hex(v->as_bytes()) : std::string();
    return j;
  }
  return ValueJson(*v);
}

std::string ChangeSideCell(const std::optional<Value>& v, bool redacted) {
  if (!v) return "-";
  if (redacted) {
    std::string hex = v->type() == ValueType::kBytes ? Hex(v->as_bytes()) : "";
    return "digest:" + hex.substr(0, 16) + "...";
  }
  return Cell(*v);
}

std::string OriginText(const statestore::Origin& o) {
  std::string s = o.label.empty() ? "" : o.label + " ";
  s += "pid:" + std::to_string(o.pid);
  return s;
}

json CommitJson(const statestore::Commit& c) {
  json j;
  j["revision"] = c.revision;
  j["time"] = FormatTime(c.time);
  j["origin"] = {
      {"pid", c.origin.pid}, {"thread_id", c.origin.thread_id}, {"label", c.origin.label}};
  json changes = json::array();
  for (const auto& ch : c.changes) {
    changes.push_back({{"keyspace", ch.keyspace},
                       {"key", ch.key},
                       {"redacted", ch.redacted},
                       {"old", ChangeSideJson(ch.old_value, ch.redacted)},
                       {"new", ChangeSideJson(ch.new_value, ch.redacted)}});
  }
  j["changes"] = std::move(changes);
  return j;
}

void PrintJson(const json& j) {
  std::cout << j.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
  std::cout.flush();
}

void PrintJsonLine(const json& j) {
  std::cout << j.dump(-1, ' ', false, json::error_handler_t::replace) << "\n";
  std::cout.flush();
}

namespace {

std::size_t DisplayWidth(const std::string& s) {
  std::size_t n = 0;
  for (unsigned char c : s) {
    if ((c & 0xC0) != 0x80) ++n;
  }
  return n;
}

// Table cells are one line: control characters (from keys or labels) are shown escaped.
std::string OneLine(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

}  // namespace

void Table::Print(std::ostream& out) const {
  std::vector<std::size_t> widths(headers_.size(), 0);
  auto measure = [&](const std::vector<std::string>& row) {
    for (std::size_t i = 0; i < row.size() && i < widths.size(); ++i) {
      widths[i] = std::max(widths[i], DisplayWidth(OneLine(row[i])));
    }
  };
  measure(headers_);
  for (const auto& r : rows_) measure(r);
  auto print = [&](const std::vector<std::string>& row) {
    std::string line;
    for (std::size_t i = 0; i < widths.size(); ++i) {
      std::string cell = i < row.size() ? OneLine(row[i]) : "";
      line += cell;
      if (i + 1 < widths.size()) line += std::string(widths[i] - DisplayWidth(cell) + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out << line << "\n";
  };
  print(headers_);
  for (const auto& r : rows_) print(r);
  out.flush();
}

void PrintFields(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::size_t w = 0;
  for (const auto& f : fields) w = std::max(w, f.first.size());
  for (const auto& [name, value] : fields) {
    std::cout << name << ":" << std::string(w - name.size() + 2, ' ') << OneLine(value) << "\n";
  }
  std::cout.flush();
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
        std::cout << "revision " << done << " (reverts " << rev << ")\n";
      }
      return kExitOk;
    };
  });
}

}  // namespace statectl

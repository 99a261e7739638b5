#include "config/config_declarations.h"

#include <cmath>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>

#include "config/config_layers.h"
#include "config/config_value.h"
#include "statestore/error.h"

namespace statestore {

namespace {

using nlohmann::json;

std::string QuoteKey(std::string_view key) { return "\"" + std::string(key) + "\""; }

[[noreturn]] void Bad(std::string_view key, const std::string& why) {
  throw Error(ErrorCode::kInvalidArgument,
              "declaration of config key " + QuoteKey(key) + ": " + why);
}

bool IsNumberType(ConfigType t) { return t == ConfigType::kInt || t == ConfigType::kDouble; }

bool KnownType(ConfigType t) {
  const int i = static_cast<int>(t);
  return i >= static_cast<int>(ConfigType::kBool) && i <= static_cast<int>(ConfigType::kJson);
}

long double AsNumber(const ConfigValue& v) {
  return v.type() == ConfigType::kInt ? static_cast<long double>(v.as<std::int64_t>())
                                      : static_cast<long double>(v.as<double>());
}

// Code points of valid UTF-8 (the core refuses strings that are not).
std::uint64_t CodePoints(const std::string& s) {
  std::uint64_t n = 0;
  for (unsigned char c : s) {
    if ((c & 0xC0) != 0x80) ++n;
  }
  return n;
}

// Counted repetitions ({m}, {m,}, {m,n}) are expanded into copies of the automaton: the product of
// their counts bounds its size, and with it the cost of every match (polynomial matching is
// O(length x states)). An estimate that over-counts independent repetitions, on purpose.
constexpr std::uint64_t kMaxRepetitionProduct = 1000;

std::optional<std::string> RegexTooComplex(const std::string& re) {
  std::uint64_t product = 1;
  for (std::size_t i = 0; i < re.size(); ++i) {
    if (re[i] == '\\') {
      ++i;
      continue;
    }
    if (re[i] != '{') continue;
    std::uint64_t biggest = 0;
    std::uint64_t cur = 0;
    std::size_t j = i + 1;
    for (; j < re.size() && re[j] != '}'; ++j) {
      if (re[j] >= '0' && re[j] <= '9') {
        cur = std::min<std::uint64_t>(cur * 10 + static_cast<std::uint64_t>(re[j] - '0'), 1000000);
      } else {
        biggest = std::max(biggest, cur);
        cur = 0;
      }
    }
    biggest = std::max(biggest, cur);
    product = std::min<std::uint64_t>(product * std::max<std::uint64_t>(biggest, 1), 1000000000);
    if (product > kMaxRepetitionProduct) {
      return "its counted repetitions ({m,n}) multiply to more than " +
             std::to_string(kMaxRepetitionProduct) + " (the cost of every match grows with them)";
    }
    i = j;
  }
  return std::nullopt;
}

std::shared_ptr<const std::regex> CompileRegex(std::string_view key, const std::string& pattern) {
  if (pattern.size() > kMaxDeclarationRegexBytes) {
    Bad(key, "regex is " + std::to_string(pattern.size()) + " bytes; the limit is " +
                 std::to_string(kMaxDeclarationRegexBytes));
  }
  if (auto why = RegexTooComplex(pattern)) Bad(key, "regex /" + pattern + "/ is refused: " + *why);
  auto flags = std::regex::ECMAScript;
#if defined(__GLIBCXX__)
  // libstdc++'s breadth-first matcher: time linear in the subject for a given pattern and no
  // recursion per character, so nested quantifiers ((a+)+b) cannot backtrack exponentially.
  flags |= std::regex_constants::__polynomial;
#endif
  try {
    return std::make_shared<const std::regex>(pattern, flags);
  } catch (const std::regex_error& e) {
    Bad(key, "regex /" + pattern + "/ is not a valid ECMAScript regular expression: " + e.what());
  }
}

// Why `v` fails the declaration, ignoring one_of when `with_one_of` is false (one-of values are
// checked against the other constraints). `re` is the compiled regex (null: none).
std::optional<std::string> Reason(const SettingDeclaration& d, const std::regex* re,
                                  const ConfigValue& v, bool with_one_of) {
  if (v.type() != d.type) {
    return "expected " + std::string(ToString(d.type)) + ", got " + std::string(ToString(v.type()));
  }
  if (IsNumberType(d.type)) {
    const long double x = AsNumber(v);
    if (d.min && x < AsNumber(*d.min)) {
      return v.to_display() + " is below the minimum " + d.min->to_display();
    }
    if (d.max && x > AsNumber(*d.max)) {
      return v.to_display() + " is above the maximum " + d.max->to_display();
    }
  }
  if (d.max_length) {
    if (d.type == ConfigType::kString) {
      const std::uint64_t n = CodePoints(v.as<std::string>());
      if (n > *d.max_length) {
        return "is " + std::to_string(n) + " characters long; the maximum length is " +
               std::to_string(*d.max_length);
      }
    } else if (d.type == ConfigType::kBytes) {
      const std::uint64_t n = v.as<Bytes>().size();
      if (n > *d.max_length) {
        return "is " + std::to_string(n) + " bytes long; the maximum length is " +
               std::to_string(*d.max_length);
      }
    }
  }
  if (re != nullptr) {
    const std::string s = v.as<std::string>();
    if (s.size() > kMaxRegexSubjectBytes) {
      return "is " + std::to_string(s.size()) +
             " bytes; a value checked against a regex is at most " +
             std::to_string(kMaxRegexSubjectBytes);
    }
    if (!std::regex_match(s, *re)) return "does not match /" + d.regex + "/";
  }
  if (with_one_of && !d.one_of.empty()) {
    for (const auto& a : d.one_of) {
      if (a == v) return std::nullopt;
    }
    std::string list;
    for (const auto& a : d.one_of) list += (list.empty() ? "" : ", ") + a.to_display(40);
    return "not one of {" + list + "}";
  }
  return std::nullopt;
}

void ValidateDeclaration(const SettingDeclaration& d, const std::regex* re) {
  const std::string& key = d.key;
  for (const auto* bound : {&d.min, &d.max}) {
    if (!*bound) continue;
    const char* which = bound == &d.min ? "min" : "max";
    if (!IsNumberType(d.type)) {
      Bad(key, std::string(which) + " applies to int and double settings, not " +
                   std::string(ToString(d.type)));
    }
    const ConfigType bt = (*bound)->type();
    if (bt == ConfigType::kDouble && d.type == ConfigType::kInt) {
      Bad(key, std::string(which) + " of an int setting must be an int, not double " +
                   (*bound)->to_display());
    }
    if (!IsNumberType(bt)) {
      Bad(key, std::string(which) + " must be a number, not " + std::string(ToString(bt)));
    }
    if (bt == ConfigType::kDouble && !std::isfinite((*bound)->as<double>())) {
      Bad(key, std::string(which) + " must be finite");
    }
  }
  if (d.min && d.max && AsNumber(*d.min) > AsNumber(*d.max)) {
    Bad(key, "min " + d.min->to_display() + " is above max " + d.max->to_display());
  }
  if (!d.regex.empty() && d.type != ConfigType::kString) {
    Bad(key, "regex applies to string settings, not " + std::string(ToString(d.type)));
  }
  if (d.max_length && d.type != ConfigType::kString && d.type != ConfigType::kBytes) {
    Bad(key,
        "max_length applies to string and bytes settings, not " + std::string(ToString(d.type)));
  }
  if (d.description.size() > kMaxDeclarationDescriptionBytes) {
    Bad(key, "description is " + std::to_string(d.description.size()) + " bytes; the limit is " +
                 std::to_string(kMaxDeclarationDescriptionBytes));
  }
  if (d.one_of.size() > kMaxDeclarationOneOf) {
    Bad(key, std::to_string(d.one_of.size()) + " one-of values; the limit is " +
                 std::to_string(kMaxDeclarationOneOf));
  }
  for (const auto& a : d.one_of) {
    internal::CheckConfigValue(key, a);
    if (auto why = Reason(d, re, a, /*with_one_of=*/false)) {
      Bad(key, "one-of value " + a.to_display() + " violates the declaration: " + *why);
    }
  }
  if (d.default_value) {
    internal::CheckConfigValue(key, *d.default_value);
    if (auto why = Reason(d, re, *d.default_value, /*with_one_of=*/true)) {
      Bad(key, "default " + d.default_value->to_display() + " violates the declaration: " + *why);
    }
  }
}

// ---- JSON form

// Not config_value.cc's ToJson: that one wraps JSON documents that look like its own {"$bytes"}
// markers, because an export is read back without knowing types. A declaration is read back by
// its declared type (ValueFromJson), so its documents are stored as they are.
json ValueToJson(const ConfigValue& v) {
  switch (v.type()) {
    case ConfigType::kBool:
      return v.as<bool>();
    case ConfigType::kInt:
      return v.as<std::int64_t>();
    case ConfigType::kDouble:
      return v.as<double>();
    case ConfigType::kString:
      return v.as<std::string>();
    case ConfigType::kBytes:
      return json{{"$bytes", internal::Base64Encode(v.as<Bytes>())}};
    case ConfigType::kJson:
      return json::parse(v.as<Json>().text());
  }
  return nullptr;
}

// A value of `type` (the declared type tells how to read it: no guessing).
ConfigValue ValueFromJson(std::string_view key, const char* what, ConfigType type, const json& j) {
  auto bad = [&](const std::string& expected) {
    return Error(ErrorCode::kInvalidArgument, "declaration of config key " + QuoteKey(key) + ": " +
                                                  what + " must be " + expected + ", not " +
                                                  j.dump());
  };
  switch (type) {
    case ConfigType::kBool:
      if (!j.is_boolean()) throw bad("a bool");
      return ConfigValue(j.get<bool>());
    case ConfigType::kInt:
      if (j.is_number_integer() && !j.is_number_unsigned()) {
        return ConfigValue(static_cast<long long>(j.get<std::int64_t>()));
      }
      if (j.is_number_unsigned() &&
          j.get<std::uint64_t>() <= static_cast<std::uint64_t>(INT64_MAX)) {
        return ConfigValue(static_cast<long long>(j.get<std::uint64_t>()));
      }
      throw bad("an int64");
    case ConfigType::kDouble:
      if (j.is_number_float()) return ConfigValue(j.get<double>());
      if (j.is_number_integer()) return ConfigValue(j.get<double>());
      throw bad("a number");
    case ConfigType::kString:
      if (!j.is_string()) throw bad("a string");
      return ConfigValue(j.get<std::string>());
    case ConfigType::kBytes: {
      if (!j.is_object() || j.size() != 1 || !j.contains("$bytes") || !j["$bytes"].is_string()) {
        throw bad("{\"$bytes\": \"<base64>\"}");
      }
      auto b = internal::Base64Decode(j["$bytes"].get<std::string>());
      if (!b) throw bad("valid base64 in \"$bytes\"");
      return ConfigValue(std::move(*b));
    }
    case ConfigType::kJson:
      return ConfigValue(ConfigInternal::TrustedJson(j.dump()));
  }
  Bad(key, "unknown type");
}

// A bound: an int or a double, whatever the setting's type (validate() says what fits).
ConfigValue BoundFromJson(std::string_view key, const char* what, const json& j) {
  if (j.is_number_integer() && !j.is_number_unsigned()) {
    return ConfigValue(static_cast<long long>(j.get<std::int64_t>()));
  }
  if (j.is_number_unsigned() && j.get<std::uint64_t>() <= static_cast<std::uint64_t>(INT64_MAX)) {
    return ConfigValue(static_cast<long long>(j.get<std::uint64_t>()));
  }
  if (j.is_number_float()) return ConfigValue(j.get<double>());
  Bad(key, std::string(what) + " must be a number, not " + j.dump());
}

std::optional<ConfigType> TypeNamed(const std::string& name) {
  for (ConfigType t : {ConfigType::kBool, ConfigType::kInt, ConfigType::kDouble,
                       ConfigType::kString, ConfigType::kBytes, ConfigType::kJson}) {
    if (ToString(t) == name) return t;
  }
  return std::nullopt;
}

json DeclarationToJson(const SettingDeclaration& d) {
  json j = json::object();
  j["type"] = std::string(ToString(d.type));
  if (d.default_value) j["default"] = ValueToJson(*d.default_value);
  if (d.min) j["min"] = ValueToJson(*d.min);
  if (d.max) j["max"] = ValueToJson(*d.max);
  if (!d.one_of.empty()) {
    json arr = json::array();
    for (const auto& a : d.one_of) arr.push_back(ValueToJson(a));
    j["one_of"] = std::move(arr);
  }
  if (!d.regex.empty()) j["regex"] = d.regex;
  if (d.max_length) j["max_length"] = *d.max_length;
  if (!d.description.empty()) j["description"] = d.description;
  return j;
}

SettingDeclaration DeclarationFromJson(std::string_view key, const json& j) {
  SettingDeclaration d;
  d.key = std::string(key);
  internal::ValidateConfigKey(key);
  if (!j.is_object()) Bad(key, "expected a JSON object {\"type\": ..., ...}, not " + j.dump());
  static const std::set<std::string> kMembers = {"type",   "default", "min",        "max",
                                                 "one_of", "regex",   "max_length", "description"};
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (!kMembers.count(it.key())) {
      Bad(key, "unknown member \"" + it.key() +
                   "\" (known: type, default, min, max, one_of, regex, max_length, description)");
    }
  }
  if (!j.contains("type") || !j["type"].is_string()) {
    Bad(key, "\"type\" is required: one of bool, int, double, string, bytes, json");
  }
  auto type = TypeNamed(j["type"].get<std::string>());
  if (!type) {
    Bad(key, "unknown type \"" + j["type"].get<std::string>() +
                 "\" (one of bool, int, double, string, bytes, json)");
  }
  d.type = *type;
  if (j.contains("default")) d.default_value = ValueFromJson(key, "default", d.type, j["default"]);
  if (j.contains("min")) d.min = BoundFromJson(key, "min", j["min"]);
  if (j.contains("max")) d.max = BoundFromJson(key, "max", j["max"]);
  if (j.contains("one_of")) {
    if (!j["one_of"].is_array()) Bad(key, "one_of must be an array");
    for (const auto& a : j["one_of"]) d.one_of.push_back(ValueFromJson(key, "one_of", d.type, a));
  }
  if (j.contains("regex")) {
    if (!j["regex"].is_string()) Bad(key, "regex must be a string");
    d.regex = j["regex"].get<std::string>();
  }
  if (j.contains("max_length")) {
    if (!j["max_length"].is_number_unsigned() &&
        !(j["max_length"].is_number_integer() && j["max_length"].get<std::int64_t>() >= 0)) {
      Bad(key, "max_length must be a whole number >= 0, not " + j["max_length"].dump());
    }
    d.max_length = j["max_length"].get<std::uint64_t>();
  }
  if (j.contains("description")) {
    if (!j["description"].is_string()) Bad(key, "description must be a string");
    d.description = j["description"].get<std::string>();
  }
  d.validate();
  return d;
}

json ParseJsonText(std::string_view text, const std::string& what) {
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    throw Error(ErrorCode::kInvalidArgument, what + ": not a JSON document: " + e.what());
  }
}

}  // namespace

// ---- SettingDeclaration

void SettingDeclaration::validate() const {
  internal::ValidateConfigKey(key);
  if (!KnownType(type)) {
    Bad(key, "unknown type " + std::to_string(static_cast<int>(type)) +
                 " (one of bool, int, double, string, bytes, json)");
  }
  std::shared_ptr<const std::regex> re;
  if (!regex.empty()) re = CompileRegex(key, regex);
  ValidateDeclaration(*this, re.get());
}

std::optional<std::string> SettingDeclaration::check(const ConfigValue& value) const {
  std::shared_ptr<const std::regex> re;
  if (!regex.empty()) {
    try {
      re = CompileRegex(key, regex);
    } catch (const Error& e) {
      return e.what();
    }
  }
  return Reason(*this, re.get(), value, /*with_one_of=*/true);
}

std::string SettingDeclaration::summary() const {
  std::string s(ToString(type));
  if (min) s += ", min " + min->to_display();
  if (max) s += ", max " + max->to_display();
  if (!one_of.empty()) {
    std::string list;
    for (const auto& a : one_of) list += (list.empty() ? "" : ", ") + a.to_display(40);
    s += ", one of {" + list + "}";
  }
  if (!regex.empty()) s += ", regex /" + regex + "/";
  if (max_length) s += ", max length " + std::to_string(*max_length);
  if (default_value) s += ", default " + default_value->to_display(40);
  return s;
}

std::string SettingDeclaration::to_json() const { return DeclarationToJson(*this).dump(); }

SettingDeclaration SettingDeclaration::FromJson(std::string_view key, std::string_view json_text) {
  return DeclarationFromJson(
      key, ParseJsonText(json_text, "declaration of config key " + QuoteKey(key)));
}

bool operator==(const SettingDeclaration& a, const SettingDeclaration& b) {
  return a.key == b.key && a.type == b.type && a.default_value == b.default_value &&
         a.min == b.min && a.max == b.max && a.one_of == b.one_of && a.regex == b.regex &&
         a.max_length == b.max_length && a.description == b.description;
}

std::vector<SettingDeclaration> ParseDeclarationsJson(std::string_view json_text) {
  json doc = ParseJsonText(json_text, "declarations");
  if (!doc.is_object()) {
    throw Error(ErrorCode::kInvalidArgument,
                "declarations: expected a JSON object {\"key\": {\"type\": ...}, ...}");
  }
  std::vector<SettingDeclaration> out;
  for (auto it = doc.begin(); it != doc.end(); ++it) {
    out.push_back(DeclarationFromJson(it.key(), it.value()));
  }
  return out;
}

std::string DeclarationsToJson(const std::vector<SettingDeclaration>& declarations) {
  json doc = json::object();
  for (const auto& d : declarations) doc[d.key] = DeclarationToJson(d);
  return doc.dump(2) + "\n";
}

std::optional<ConfigHistoryChange> DecodeConfigHistoryChange(const Change& change) {
  if (change.keyspace != internal::kConfigKeyspace) return std::nullopt;
  ConfigHistoryChange out;
  out.redacted = change.redacted;
  if (auto key = internal::ParseDeclaredKey(change.key)) {
    out.kind = ConfigHistoryChange::Kind::kDeclaration;
    out.key = *key;
    out.layer = "declared";
    if (change.redacted) return out;
    auto decode = [&](const std::optional<Value>& v) -> std::optional<SettingDeclaration> {
      if (!v) return std::nullopt;
      if (v->type() != ValueType::kString) {
        throw Error(ErrorCode::kCorruption, "config key " + QuoteKey(*key) +
                                                ": stored declaration " + v->to_display() +
                                                " is not a JSON document");
      }
      try {
        return SettingDeclaration::FromJson(*key, v->as_string());
      } catch (const Error& e) {
        throw Error(ErrorCode::kCorruption,
                    std::string("stored declaration is not valid: ") + e.what());
      }
    };
    out.old_declaration = decode(change.old_value);
    out.new_declaration = decode(change.new_value);
    return out;
  }
  auto parsed = internal::ParseStorageKey(change.key);
  if (!parsed) return std::nullopt;
  out.key = parsed->key;
  out.layer = parsed->layer == ConfigLayer::kOverrides ? "overrides" : "profile:" + parsed->profile;
  if (change.redacted) return out;
  if (change.old_value) out.old_value = internal::DecodeConfigValue(out.key, *change.old_value);
  if (change.new_value) out.new_value = internal::DecodeConfigValue(out.key, *change.new_value);
  return out;
}

namespace internal {

std::string DeclaredStorageKey(std::string_view key) {
  return std::string(kDeclaredPrefix) + std::string(key);
}

std::optional<std::string> ParseDeclaredKey(std::string_view sk) {
  if (sk.substr(0, kDeclaredPrefix.size()) != kDeclaredPrefix) return std::nullopt;
  std::string_view key = sk.substr(kDeclaredPrefix.size());
  if (key.empty() || key.find('/') != std::string_view::npos) return std::nullopt;
  return std::string(key);
}

std::shared_ptr<const CompiledDeclaration> CompileDeclaration(SettingDeclaration decl) {
  decl.validate();
  auto c = std::make_shared<CompiledDeclaration>();
  if (!decl.regex.empty()) c->re = CompileRegex(decl.key, decl.regex);
  c->decl = std::move(decl);
  return c;
}

std::optional<std::string> CheckDeclared(const CompiledDeclaration& d, const ConfigValue& value) {
  return Reason(d.decl, d.re.get(), value, /*with_one_of=*/true);
}

void EnforceDeclaration(const CompiledDeclaration& d, const ConfigValue& value) {
  if (auto why = CheckDeclared(d, value)) {
    throw Error(ErrorCode::kInvalidArgument,
                "config key " + QuoteKey(d.decl.key) + ": value " + value.to_display() + " (" +
                    std::string(ToString(value.type())) + ") rejected by its declaration (" +
                    d.decl.summary() + "): " + *why);
  }
}

std::shared_ptr<const CompiledDeclaration> DeclarationCache::Get(std::string_view key,
                                                                 const Entry& stored) {
  {
    MutexLock lock(&mu_);
    auto it = entries_.find(key);
    if (it != entries_.end() && it->second.first == stored.version) return it->second.second;
  }
  // Parse and compile outside the lock (a regex compile is the slow part); two threads may both
  // do it for one version and store equal results.
  if (stored.value.type() != ValueType::kString) {
    throw Error(ErrorCode::kCorruption, "config key " + QuoteKey(key) + ": stored declaration " +
                                            stored.value.to_display() + " is not a JSON document");
  }
  std::shared_ptr<const CompiledDeclaration> compiled;
  try {
    compiled = CompileDeclaration(SettingDeclaration::FromJson(key, stored.value.as_string()));
  } catch (const Error& e) {
    throw Error(ErrorCode::kCorruption,
                std::string("stored declaration is not valid (rewrite it with Config::declare): ") +
                    e.what());
  }
  MutexLock lock(&mu_);
  if (entries_.size() >= kMaxEntries) entries_.clear();
  entries_.insert_or_assign(std::string(key), std::make_pair(stored.version, compiled));
  return compiled;
}

std::shared_ptr<const CompiledDeclaration> DeclarationCache::Read(Transaction& tx,
                                                                  std::string_view key) {
  auto e = tx.get_entry(kConfigKeyspace, DeclaredStorageKey(key));
  if (!e) return nullptr;
  return Get(key, *e);
}

}  // namespace internal
}  // namespace statestore

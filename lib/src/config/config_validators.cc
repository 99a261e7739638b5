#include "config/config_validators.h"

#include <cstdio>
#include <exception>
#include <regex>

#include "config/config_layers.h"
#include "statestore/error.h"

namespace statestore {
namespace internal {

bool PatternMatches(std::string_view pattern, std::string_view key) {
  if (pattern.empty()) return true;
  if (pattern.back() == '.') return key.substr(0, pattern.size()) == pattern;
  if (key == pattern) return true;
  return key.size() > pattern.size() && key.substr(0, pattern.size()) == pattern &&
         key[pattern.size()] == '.';
}

void ValidatorRegistry::Add(std::string_view pattern, Validator validator) {
  ValidateConfigPrefix(pattern);
  if (!validator) throw Error(ErrorCode::kInvalidArgument, "add_validator: validator is empty");
  WriterLock lock(&mu_);
  entries_.push_back(Entry{std::string(pattern), std::move(validator)});
}

void ValidatorRegistry::Check(std::string_view key, const ConfigValue& value) const {
  std::vector<Entry> matching;
  {
    ReaderLock lock(&mu_);
    for (const auto& e : entries_) {
      if (PatternMatches(e.pattern, key)) matching.push_back(e);
    }
  }
  for (const auto& e : matching) {
    std::optional<std::string> reason;
    try {
      reason = e.fn(key, value);
    } catch (const Error&) {
      throw;
    } catch (const std::exception& ex) {
      reason = std::string("validator threw: ") + ex.what();
    }
    if (reason) {
      throw Error(ErrorCode::kInvalidArgument,
                  "config key \"" + std::string(key) + "\": value " + value.to_display() +
                      " rejected by the validator for \"" + e.pattern + "\": " + *reason);
    }
  }
}

}  // namespace internal

namespace validators {

namespace {

std::string Num(double d) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", d);
  return buf;
}

}  // namespace

Validator Range(double min, double max) {
  if (!(min <= max)) {
    throw Error(ErrorCode::kInvalidArgument,
                "validators::Range: min " + Num(min) + " is above max " + Num(max));
  }
  return [min, max](std::string_view, const ConfigValue& v) -> std::optional<std::string> {
    long double x;
    std::string shown;
    if (v.type() == ConfigType::kInt) {
      x = static_cast<long double>(v.as<std::int64_t>());
      shown = std::to_string(v.as<std::int64_t>());
    } else if (v.type() == ConfigType::kDouble) {
      x = v.as<double>();
      shown = Num(v.as<double>());
    } else {
      return "expected a number in [" + Num(min) + ", " + Num(max) + "], got " +
             std::string(ToString(v.type()));
    }
    if (x < min) return shown + " is below the minimum " + Num(min);
    if (x > max) return shown + " is above the maximum " + Num(max);
    return std::nullopt;
  };
}

Validator OneOf(std::vector<ConfigValue> allowed) {
  return [allowed = std::move(allowed)](std::string_view,
                                        const ConfigValue& v) -> std::optional<std::string> {
    for (const auto& a : allowed) {
      if (a == v) return std::nullopt;
    }
    std::string list;
    for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a.to_display(40);
    return "not one of {" + list + "}";
  };
}

Validator Regex(const std::string& pattern) {
  std::shared_ptr<const std::regex> re;
  try {
    re = std::make_shared<const std::regex>(pattern, std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    throw Error(ErrorCode::kInvalidArgument,
                "validators::Regex: bad pattern \"" + pattern + "\": " + e.what());
  }
  return [re, pattern](std::string_view, const ConfigValue& v) -> std::optional<std::string> {
    if (v.type() != ConfigType::kString) {
      return "expected a string matching /" + pattern + "/, got " + std::string(ToString(v.type()));
    }
    if (!std::regex_match(v.as<std::string>(), *re)) return "does not match /" + pattern + "/";
    return std::nullopt;
  };
}

Validator OfType(ConfigType type) {
  return [type](std::string_view, const ConfigValue& v) -> std::optional<std::string> {
    if (v.type() == type) return std::nullopt;
    return "expected " + std::string(ToString(type)) + ", got " + std::string(ToString(v.type()));
  };
}

}  // namespace validators
}  // namespace statestore

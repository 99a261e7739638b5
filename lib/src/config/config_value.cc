#include "config/config_value.h"

#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "config/config_layers.h"
#include "statestore/error.h"

namespace statestore {

namespace {

using nlohmann::json;

constexpr char kEscape = '\x01';
constexpr std::string_view kJsonTag = "\x01json:";
constexpr std::string_view kStringTag = "\x01str:";
// Room for the tags inside the core's value limit.
constexpr std::size_t kMaxConfigPayload = kMaxValueBytes - 16;

std::string Quote(std::string_view key) { return "\"" + std::string(key) + "\""; }

constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

}  // namespace

namespace internal {

std::string Base64Encode(const Bytes& in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    std::uint32_t n = (in[i] << 16) | (in[i + 1] << 8) | in[i + 2];
    out += kB64[(n >> 18) & 63];
    out += kB64[(n >> 12) & 63];
    out += kB64[(n >> 6) & 63];
    out += kB64[n & 63];
  }
  if (i + 1 == in.size()) {
    std::uint32_t n = in[i] << 16;
    out += kB64[(n >> 18) & 63];
    out += kB64[(n >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    std::uint32_t n = (in[i] << 16) | (in[i + 1] << 8);
    out += kB64[(n >> 18) & 63];
    out += kB64[(n >> 12) & 63];
    out += kB64[(n >> 6) & 63];
    out += '=';
  }
  return out;
}

std::optional<Bytes> Base64Decode(std::string_view in) {
  if (in.size() % 4 != 0) return std::nullopt;
  Bytes out;
  out.reserve(in.size() / 4 * 3);
  for (std::size_t i = 0; i < in.size(); i += 4) {
    std::uint32_t n = 0;
    int pad = 0;
    for (int j = 0; j < 4; ++j) {
      char c = in[i + j];
      int v;
      if (c >= 'A' && c <= 'Z') {
        v = c - 'A';
      } else if (c >= 'a' && c <= 'z') {
        v = c - 'a' + 26;
      } else if (c >= '0' && c <= '9') {
        v = c - '0' + 52;
      } else if (c == '+') {
        v = 62;
      } else if (c == '/') {
        v = 63;
      } else if (c == '=' && i + 4 == in.size() && j >= 2) {
        v = 0;
        ++pad;
      } else {
        return std::nullopt;
      }
      if (pad > 0 && c != '=') return std::nullopt;
      n = (n << 6) | static_cast<std::uint32_t>(v);
    }
    out.push_back(static_cast<std::uint8_t>(n >> 16));
    if (pad < 2) out.push_back(static_cast<std::uint8_t>(n >> 8));
    if (pad < 1) out.push_back(static_cast<std::uint8_t>(n));
  }
  return out;
}

}  // namespace internal

namespace {

using internal::Base64Decode;
using internal::Base64Encode;

json ToJson(const ConfigValue& v) {
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
      return json{{"$bytes", Base64Encode(v.as<Bytes>())}};
    case ConfigType::kJson: {
      json doc = json::parse(v.as<Json>().text());
      // A document that looks like one of our wrappers is wrapped itself.
      if (doc.is_object() && doc.size() == 1 && doc.begin().key().rfind('$', 0) == 0) {
        return json{{"$json", std::move(doc)}};
      }
      return doc;
    }
  }
  return nullptr;
}

Json JsonFrom(const json& doc) { return ConfigInternal::TrustedJson(doc.dump()); }

// nullopt = erase (JSON null).
std::optional<ConfigValue> FromJson(std::string_view key, const json& j, std::string_view what) {
  auto bad = [&](const std::string& why) -> Error {
    return Error(ErrorCode::kInvalidArgument,
                 std::string(what) + ": config key " + Quote(key) + ": " + why);
  };
  switch (j.type()) {
    case json::value_t::null:
      return std::nullopt;
    case json::value_t::boolean:
      return ConfigValue(j.get<bool>());
    case json::value_t::number_integer:
      return ConfigValue(static_cast<long long>(j.get<std::int64_t>()));
    case json::value_t::number_unsigned: {
      auto u = j.get<std::uint64_t>();
      if (u > static_cast<std::uint64_t>(INT64_MAX)) {
        throw bad("integer " + std::to_string(u) + " does not fit in int64");
      }
      return ConfigValue(static_cast<long long>(u));
    }
    case json::value_t::number_float:
      return ConfigValue(j.get<double>());
    case json::value_t::string:
      return ConfigValue(j.get<std::string>());
    case json::value_t::object:
      if (j.size() == 1 && j.contains("$bytes")) {
        const json& b = j.at("$bytes");
        if (!b.is_string()) throw bad("\"$bytes\" must be a base64 string");
        auto bytes = Base64Decode(b.get<std::string>());
        if (!bytes) throw bad("\"$bytes\" is not valid base64");
        return ConfigValue(std::move(*bytes));
      }
      if (j.size() == 1 && j.contains("$json")) return ConfigValue(JsonFrom(j.at("$json")));
      return ConfigValue(JsonFrom(j));
    case json::value_t::array:
      return ConfigValue(JsonFrom(j));
    default:
      throw bad("unsupported JSON value");
  }
}

}  // namespace

std::string_view ToString(ConfigType type) {
  switch (type) {
    case ConfigType::kBool:
      return "bool";
    case ConfigType::kInt:
      return "int";
    case ConfigType::kDouble:
      return "double";
    case ConfigType::kString:
      return "string";
    case ConfigType::kBytes:
      return "bytes";
    case ConfigType::kJson:
      return "json";
  }
  return "unknown";
}

std::string_view ToString(ConfigLayer layer) {
  switch (layer) {
    case ConfigLayer::kDefaults:
      return "defaults";
    case ConfigLayer::kProfile:
      return "profile";
    case ConfigLayer::kOverrides:
      return "overrides";
  }
  return "unknown";
}

Json Json::Parse(std::string_view text) {
  try {
    return Json(Trusted{}, json::parse(text).dump());
  } catch (const json::exception& e) {
    throw Error(ErrorCode::kInvalidArgument, std::string("not a JSON document: ") + e.what());
  }
}

std::string Json::pretty(int indent) const { return json::parse(text_).dump(indent); }

std::int64_t ConfigValue::CheckedInt(unsigned long long v) {
  if (v > static_cast<unsigned long long>(INT64_MAX)) {
    throw Error(ErrorCode::kInvalidArgument,
                "config value " + std::to_string(v) + " does not fit in int64");
  }
  return static_cast<std::int64_t>(v);
}

std::string ConfigValue::to_display(std::size_t max_chars) const {
  switch (type()) {
    case ConfigType::kBool:
      return Value(std::get<bool>(data_)).to_display(max_chars);
    case ConfigType::kInt:
      return Value(static_cast<long long>(std::get<std::int64_t>(data_))).to_display(max_chars);
    case ConfigType::kDouble:
      return Value(std::get<double>(data_)).to_display(max_chars);
    case ConfigType::kString:
      return Value(std::get<std::string>(data_)).to_display(max_chars);
    case ConfigType::kBytes:
      return Value(std::get<Bytes>(data_)).to_display(max_chars);
    case ConfigType::kJson: {
      std::string s = std::get<Json>(data_).text();
      if (max_chars < 8) max_chars = 8;
      if (s.size() > max_chars) s = s.substr(0, max_chars - 3) + "...";
      return s;
    }
  }
  return "?";
}

namespace config_detail {

void ThrowWrongType(std::string_view key, ConfigType stored, std::string_view asked) {
  std::string where = key.empty() ? "config value" : "config key " + Quote(key);
  throw Error(ErrorCode::kInvalidArgument,
              where + " holds " + std::string(ToString(stored)) + ", not " + std::string(asked));
}

void ThrowOutOfRange(std::string_view key, std::int64_t value, std::size_t bytes) {
  std::string where = key.empty() ? "config value" : "config key " + Quote(key);
  throw Error(ErrorCode::kInvalidArgument, where + " holds int " + std::to_string(value) +
                                               ", which does not fit the asked " +
                                               std::to_string(bytes * 8) + "-bit integer type");
}

}  // namespace config_detail

namespace internal {

void CheckConfigValue(std::string_view key, const ConfigValue& value) {
  switch (value.type()) {
    case ConfigType::kDouble: {
      double d = value.as<double>();
      if (!std::isfinite(d)) {
        throw Error(ErrorCode::kInvalidArgument,
                    "config key " + Quote(key) +
                        ": double value is not finite (NaN/inf cannot be "
                        "exported or compared)");
      }
      break;
    }
    case ConfigType::kString:
    case ConfigType::kBytes:
    case ConfigType::kJson: {
      std::size_t size = value.type() == ConfigType::kString  ? value.as<std::string>().size()
                         : value.type() == ConfigType::kBytes ? value.as<Bytes>().size()
                                                              : value.as<Json>().text().size();
      if (size > kMaxConfigPayload) {
        throw Error(ErrorCode::kInvalidArgument,
                    "config key " + Quote(key) + ": value is " + std::to_string(size) +
                        " bytes; the limit is " + std::to_string(kMaxConfigPayload));
      }
      break;
    }
    default:
      break;
  }
}

Value EncodeConfigValue(const ConfigValue& value) {
  switch (value.type()) {
    case ConfigType::kBool:
      return Value(value.as<bool>());
    case ConfigType::kInt:
      return Value(static_cast<long long>(value.as<std::int64_t>()));
    case ConfigType::kDouble:
      return Value(value.as<double>());
    case ConfigType::kString: {
      const std::string s = value.as<std::string>();
      if (!s.empty() && s[0] == kEscape) return Value(std::string(kStringTag) + s);
      return Value(s);
    }
    case ConfigType::kBytes:
      return Value(value.as<Bytes>());
    case ConfigType::kJson:
      return Value(std::string(kJsonTag) + value.as<Json>().text());
  }
  throw Error(ErrorCode::kInternal, "unknown config type");
}

ConfigValue DecodeConfigValue(std::string_view key, const Value& stored) {
  switch (stored.type()) {
    case ValueType::kBool:
      return ConfigValue(stored.as_bool());
    case ValueType::kInt:
      return ConfigValue(static_cast<long long>(stored.as_int()));
    case ValueType::kDouble:
      return ConfigValue(stored.as_double());
    case ValueType::kBytes:
      return ConfigValue(stored.as_bytes());
    case ValueType::kString: {
      const std::string& s = stored.as_string();
      if (s.empty() || s[0] != kEscape) return ConfigValue(s);
      std::string_view sv(s);
      if (sv.substr(0, kJsonTag.size()) == kJsonTag) {
        return ConfigValue(ConfigInternal::TrustedJson(std::string(sv.substr(kJsonTag.size()))));
      }
      if (sv.substr(0, kStringTag.size()) == kStringTag) {
        return ConfigValue(std::string(sv.substr(kStringTag.size())));
      }
      break;
    }
    case ValueType::kNull:
      break;
  }
  throw Error(ErrorCode::kCorruption, "config key " + Quote(key) + ": stored value " +
                                          stored.to_display() + " is not a config value");
}

std::string WriteFlatJson(const std::vector<std::pair<std::string, ConfigValue>>& entries) {
  json doc = json::object();
  for (const auto& [key, value] : entries) doc[key] = ToJson(value);
  return doc.dump(2) + "\n";
}

std::vector<std::pair<std::string, std::optional<ConfigValue>>> ParseFlatJson(
    std::string_view text, std::string_view what) {
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::exception& e) {
    throw Error(ErrorCode::kInvalidArgument,
                std::string(what) + ": not a JSON document: " + e.what());
  }
  if (!doc.is_object()) {
    throw Error(ErrorCode::kInvalidArgument,
                std::string(what) + ": expected a JSON object {\"key\": value, ...}");
  }
  std::vector<std::pair<std::string, std::optional<ConfigValue>>> out;
  for (auto it = doc.begin(); it != doc.end(); ++it) {
    try {
      ValidateConfigKey(it.key());
    } catch (const Error& e) {
      throw Error(ErrorCode::kInvalidArgument, std::string(what) + ": " + e.what());
    }
    auto value = FromJson(it.key(), it.value(), what);
    if (value) CheckConfigValue(it.key(), *value);
    out.emplace_back(it.key(), std::move(value));
  }
  return out;
}

}  // namespace internal
}  // namespace statestore

// statestore::ConfigValue — the typed values of statestore::Config (statestore/config.h), with the
// key size limit and the layers a value is read from.
//
// Keys are dotted paths: one or more segments of [a-z0-9_-]+ separated by '.', at most
// kMaxConfigKeyBytes bytes ("net.http.port", "feature.dark-mode"). Values are typed (ConfigType):
// bool, int64, double, string, bytes, or a JSON document. There are no silent conversions: an int
// is not a double, a string holding JSON is not a JSON document.
#ifndef STATESTORE_CONFIG_VALUE_H_
#define STATESTORE_CONFIG_VALUE_H_

#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

#include "statestore/value.h"

namespace statestore {

inline constexpr std::size_t kMaxConfigKeyBytes = 256;

enum class ConfigType { kBool, kInt, kDouble, kString, kBytes, kJson };

// "bool", "int", "double", "string", "bytes", "json".
std::string_view ToString(ConfigType type);

// A JSON document, held as its normalized compact text (object keys sorted, no insignificant
// whitespace), so two documents that mean the same compare equal. Build one with Json::Parse.
class Json {
 public:
  Json() : text_("null") {}
  // Parses and normalizes `text`.
  // Throws: Error(kInvalidArgument) with the parser's message and byte offset if it is not JSON.
  static Json Parse(std::string_view text);

  // The normalized compact text.
  const std::string& text() const noexcept { return text_; }
  // The document indented by `indent` spaces per level.
  std::string pretty(int indent = 2) const;

  friend bool operator==(const Json& a, const Json& b) { return a.text_ == b.text_; }
  friend bool operator!=(const Json& a, const Json& b) { return !(a == b); }

 private:
  struct Trusted {};
  Json(Trusted, std::string text) : text_(std::move(text)) {}
  friend struct ConfigInternal;
  std::string text_;
};

// One typed config value. A plain value type: copyable, comparable.
class ConfigValue {
 public:
  ConfigValue(bool v) : data_(v) {}
  ConfigValue(int v) : data_(static_cast<std::int64_t>(v)) {}
  ConfigValue(long v) : data_(static_cast<std::int64_t>(v)) {}
  ConfigValue(long long v) : data_(static_cast<std::int64_t>(v)) {}
  ConfigValue(unsigned v) : data_(static_cast<std::int64_t>(v)) {}
  // Throws: Error(kInvalidArgument) above INT64_MAX (config ints are int64).
  ConfigValue(unsigned long v) : data_(CheckedInt(v)) {}
  ConfigValue(unsigned long long v) : data_(CheckedInt(v)) {}
  ConfigValue(double v) : data_(v) {}
  ConfigValue(std::string v) : data_(std::move(v)) {}
  ConfigValue(std::string_view v) : data_(std::string(v)) {}
  ConfigValue(const char* v) : data_(std::string(v)) {}
  ConfigValue(Bytes v) : data_(std::move(v)) {}
  ConfigValue(Json v) : data_(std::move(v)) {}

  ConfigType type() const noexcept { return static_cast<ConfigType>(data_.index()); }

  // Typed access. T is bool, any other integral type (range-checked), double, std::string, Bytes
  // or Json. Throws: Error(kInvalidArgument) naming the stored and the asked type (and `key` when
  // given), or saying the int does not fit T.
  template <typename T>
  T as(std::string_view key = {}) const;

  // Short human-readable rendering (strings quoted, bytes as hex preview, JSON as text).
  std::string to_display(std::size_t max_chars = 64) const;

  friend bool operator==(const ConfigValue& a, const ConfigValue& b) { return a.data_ == b.data_; }
  friend bool operator!=(const ConfigValue& a, const ConfigValue& b) { return !(a == b); }

 private:
  static std::int64_t CheckedInt(unsigned long long v);
  // Index order must match ConfigType.
  std::variant<bool, std::int64_t, double, std::string, Bytes, Json> data_;
};

namespace config_detail {
[[noreturn]] void ThrowWrongType(std::string_view key, ConfigType stored, std::string_view asked);
[[noreturn]] void ThrowOutOfRange(std::string_view key, std::int64_t value, std::size_t bytes);
}  // namespace config_detail

template <typename T>
T ConfigValue::as(std::string_view key) const {
  using U = std::remove_cv_t<T>;
  if constexpr (std::is_same_v<U, bool>) {
    if (auto* p = std::get_if<bool>(&data_)) return *p;
    config_detail::ThrowWrongType(key, type(), "bool");
  } else if constexpr (std::is_integral_v<U>) {
    if (auto* p = std::get_if<std::int64_t>(&data_)) {
      const std::int64_t v = *p;
      bool fits = true;
      if constexpr (std::is_unsigned_v<U>) {
        fits = v >= 0 && (sizeof(U) >= sizeof(std::int64_t) ||
                          static_cast<std::uint64_t>(v) <= std::numeric_limits<U>::max());
      } else if constexpr (sizeof(U) < sizeof(std::int64_t)) {
        fits = v >= std::numeric_limits<U>::min() && v <= std::numeric_limits<U>::max();
      }
      if (!fits) config_detail::ThrowOutOfRange(key, v, sizeof(U));
      return static_cast<U>(v);
    }
    config_detail::ThrowWrongType(key, type(), "int");
  } else if constexpr (std::is_same_v<U, double>) {
    if (auto* p = std::get_if<double>(&data_)) return *p;
    config_detail::ThrowWrongType(key, type(), "double");
  } else if constexpr (std::is_same_v<U, std::string>) {
    if (auto* p = std::get_if<std::string>(&data_)) return *p;
    config_detail::ThrowWrongType(key, type(), "string");
  } else if constexpr (std::is_same_v<U, Bytes>) {
    if (auto* p = std::get_if<Bytes>(&data_)) return *p;
    config_detail::ThrowWrongType(key, type(), "bytes");
  } else if constexpr (std::is_same_v<U, Json>) {
    if (auto* p = std::get_if<Json>(&data_)) return *p;
    config_detail::ThrowWrongType(key, type(), "json");
  } else {
    static_assert(sizeof(U) == 0,
                  "ConfigValue::as<T>: T must be bool, an integer, double, std::string, Bytes "
                  "or Json");
  }
}

// The layers a config key is resolved from, lowest precedence first (statestore/config.h).
enum class ConfigLayer { kDefaults, kProfile, kOverrides };

// "defaults", "profile", "overrides".
std::string_view ToString(ConfigLayer layer);

namespace config_detail {
// The one body of the typed reads get<T>(key) and get<T>(key, fallback) of Config,
// ConfigTransaction and ConfigView; `value` is what their get_value(key) returned.
template <typename T>
std::optional<T> GetAs(const std::optional<ConfigValue>& value, std::string_view key) {
  if (!value) return std::nullopt;
  return value->template as<T>(key);
}
template <typename T>
T GetAsOr(const std::optional<ConfigValue>& value, std::string_view key, T fallback) {
  return value ? value->template as<T>(key) : std::move(fallback);
}
}  // namespace config_detail

}  // namespace statestore

#endif  // STATESTORE_CONFIG_VALUE_H_

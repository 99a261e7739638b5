// Config values: validation, the storage encoding into core Values, and the flat JSON format of
// import/export and defaults files. nlohmann-json stays inside config_value.cc and
// config_declarations.cc.
//
// Storage encoding (the file format of keyspace "config"; never change it):
//   bool, int, double, bytes  -> the core Value of the same type
//   string                    -> Value(string), unless it starts with kEscape ('\x01'): then
//                                Value("\x01str:" + s)
//   JSON document             -> Value("\x01json:" + normalized compact text)
// A stored null, or a string starting with '\x01' without one of those tags, is not a config
// value (kCorruption when read).
#ifndef STATESTORE_SRC_CONFIG_VALUE_H_
#define STATESTORE_SRC_CONFIG_VALUE_H_

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "statestore/config.h"
#include "statestore/value.h"

namespace statestore {

// Internal access to Json's trusted constructor (the text is already normalized).
struct ConfigInternal {
  static Json TrustedJson(std::string text) { return Json(Json::Trusted{}, std::move(text)); }
};

namespace internal {

// Throws Error(kInvalidArgument) naming `key` for a non-finite double or an oversize value.
void CheckConfigValue(std::string_view key, const ConfigValue& value);

Value EncodeConfigValue(const ConfigValue& value);

// Standard base64 with padding (the "$bytes" form of the JSON formats).
std::string Base64Encode(const Bytes& in);
std::optional<Bytes> Base64Decode(std::string_view in);
// Throws Error(kCorruption) naming `key` if `stored` is not a config value.
ConfigValue DecodeConfigValue(std::string_view key, const Value& stored);

// A flat JSON object in export order (sorted by key), indented by 2.
std::string WriteFlatJson(const std::vector<std::pair<std::string, ConfigValue>>& entries);

// Parses a flat JSON object; a JSON null becomes nullopt (erase). Keys are validated as config
// keys. `what` names the source in errors ("import", "defaults file x.json").
// Throws: Error(kInvalidArgument) naming the key and the problem.
std::vector<std::pair<std::string, std::optional<ConfigValue>>> ParseFlatJson(
    std::string_view text, std::string_view what);

}  // namespace internal
}  // namespace statestore

#endif  // STATESTORE_SRC_CONFIG_VALUE_H_

#include "sessions/session_record.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <utility>

#include "sessions/session_token.h"
#include "statestore/error.h"
#include "util/text.h"
#include "util/values.h"

namespace statestore::internal {

namespace {

using Json = nlohmann::json;

constexpr std::int64_t kRecordVersion = 1;

[[noreturn]] void InvalidRecord(const std::string& message) {
  throw Error(ErrorCode::kInvalidArgument, message);
}

[[noreturn]] void Corrupt(std::string_view short_id, const std::string& why) {
  throw Error(ErrorCode::kCorruption,
              "session " + std::string(short_id) + ": stored record is damaged (" + why + ")");
}

Json ValueToJson(const Value& v) {
  switch (v.type()) {
    case ValueType::kNull:
      return Json(nullptr);
    case ValueType::kBool:
      return Json(v.as_bool());
    case ValueType::kInt:
      return Json(v.as_int());
    case ValueType::kDouble:
      return Json(v.as_double());
    case ValueType::kString:
      return Json(v.as_string());
    case ValueType::kBytes:
      return Json::binary(v.as_bytes());
  }
  return Json(nullptr);
}

Value JsonToValue(const Json& j, std::string_view short_id) {
  switch (j.type()) {
    case Json::value_t::null:
      return Value();
    case Json::value_t::boolean:
      return Value(j.get<bool>());
    case Json::value_t::number_integer:
      return Value(static_cast<long long>(j.get<std::int64_t>()));
    case Json::value_t::number_unsigned: {
      auto u = j.get<std::uint64_t>();
      if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        Corrupt(short_id, "integer out of range");
      }
      return Value(static_cast<long long>(u));
    }
    case Json::value_t::number_float:
      return Value(j.get<double>());
    case Json::value_t::string:
      return Value(j.get<std::string>());
    case Json::value_t::binary: {
      const auto& b = j.get_binary();
      return Value(Bytes(b.begin(), b.end()));
    }
    default:
      Corrupt(short_id, "attribute of unexpected CBOR type");
  }
}

std::int64_t GetInt(const Json& object, const char* field, std::string_view short_id) {
  auto it = object.find(field);
  if (it == object.end() || !it->is_number_integer()) {
    Corrupt(short_id, std::string("field '") + field + "' is missing or not an integer");
  }
  if (it->is_number_unsigned() &&
      it->get<std::uint64_t>() >
          static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
    Corrupt(short_id, std::string("field '") + field + "' is out of range");
  }
  return it->get<std::int64_t>();
}

}  // namespace

std::int64_t SaturatingAdd(std::int64_t a, std::int64_t b) {
  if (b > 0 && a > std::numeric_limits<std::int64_t>::max() - b) {
    return std::numeric_limits<std::int64_t>::max();
  }
  return a + b;
}

std::int64_t SessionRecord::idle_expiry_us() const {
  return SaturatingAdd(last_access_us, idle_ttl_us);
}

bool operator==(const SessionRecord& a, const SessionRecord& b) {
  return a.principal == b.principal && a.created_us == b.created_us &&
         a.last_access_us == b.last_access_us && a.idle_ttl_us == b.idle_ttl_us &&
         a.deadline_us == b.deadline_us &&
         std::equal(a.attributes.begin(), a.attributes.end(), b.attributes.begin(),
                    b.attributes.end(), [](const auto& x, const auto& y) {
                      return x.first == y.first && IdenticalValues(x.second, y.second);
                    });
}

std::int64_t SessionRecord::expires_us() const { return std::min(idle_expiry_us(), deadline_us); }

Value EncodeSessionRecord(const SessionRecord& record, std::string_view short_id) {
  Json attributes = Json::object();
  for (const auto& [name, value] : record.attributes) attributes[name] = ValueToJson(value);
  Json j = {{"v", kRecordVersion},
            {"c", record.created_us},
            {"a", record.last_access_us},
            {"t", record.idle_ttl_us},
            {"x", std::move(attributes)}};
  if (record.deadline_us != kNoDeadline) j["d"] = record.deadline_us;
  if (!record.principal.empty()) j["p"] = record.principal;
  Bytes encoded = Json::to_cbor(j);
  if (encoded.size() > kMaxValueBytes) {
    InvalidRecord("the attributes of session " + std::string(short_id) + " would take " +
                  std::to_string(encoded.size()) + " bytes encoded; a session holds at most " +
                  std::to_string(kMaxValueBytes) + " bytes");
  }
  return Value(std::move(encoded));
}

SessionRecord DecodeSessionRecord(const Value& value, std::string_view short_id) {
  if (value.type() != ValueType::kBytes) Corrupt(short_id, "not a bytes value");
  Json j;
  try {
    j = Json::from_cbor(value.as_bytes());
  } catch (const Json::exception& e) {
    Corrupt(short_id, std::string("CBOR: ") + e.what());
  }
  if (!j.is_object()) Corrupt(short_id, "not a CBOR map");
  const std::int64_t version = GetInt(j, "v", short_id);
  if (version > kRecordVersion) {
    throw Error(ErrorCode::kSchemaTooNew, "session " + std::string(short_id) +
                                              " was written by a newer statestore (record "
                                              "version " +
                                              std::to_string(version) + ")");
  }
  if (version != kRecordVersion) Corrupt(short_id, "unknown record version");
  SessionRecord r;
  r.created_us = GetInt(j, "c", short_id);
  r.last_access_us = GetInt(j, "a", short_id);
  r.idle_ttl_us = GetInt(j, "t", short_id);
  if (r.idle_ttl_us <= 0) Corrupt(short_id, "idle TTL is not positive");
  if (j.contains("d")) r.deadline_us = GetInt(j, "d", short_id);
  if (auto it = j.find("p"); it != j.end()) {
    if (!it->is_string()) Corrupt(short_id, "principal is not text");
    r.principal = it->get<std::string>();
  }
  auto attrs = j.find("x");
  if (attrs == j.end() || !attrs->is_object()) Corrupt(short_id, "attributes are missing");
  for (const auto& [name, v] : attrs->items()) {
    r.attributes.emplace(name, JsonToValue(v, short_id));
  }
  return r;
}

void ValidateAttributeName(std::string_view name) {
  if (name.empty()) InvalidRecord("session attribute name is empty");
  if (name.size() > Sessions::kMaxAttributeNameBytes) {
    InvalidRecord("session attribute name is " + std::to_string(name.size()) +
                  " bytes; the limit is " + std::to_string(Sessions::kMaxAttributeNameBytes));
  }
  for (char c : name) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == ':' || c == '-';
    if (!ok) {
      // Names are application identifiers, not secrets; printable ones are quoted.
      InvalidRecord("session attribute name " + Value(std::string(name)).to_display(48) +
                    " may contain only A-Z, a-z, 0-9, '_', '.', ':' and '-'");
    }
  }
}

void ValidateAttributeValue(std::string_view name, const Value& value) {
  // The core's check (size, UTF-8 of strings, no NaN); its message names the attribute, never the
  // value. CBOR could hold a NaN, but a Value never carries one into the store (value.h), so
  // sessions follow the same rule as every other write.
  ValidateValueOf("session attribute " + Value(std::string(name)).to_display(48), value);
}

void ValidateAttributes(const Attributes& attributes) {
  for (const auto& [name, value] : attributes) {
    ValidateAttributeName(name);
    ValidateAttributeValue(name, value);
  }
}

namespace {

// C0 controls (NUL, newline, escape ...) and DEL: a principal is an identifier that ends up in
// logs, admin screens and statectl output, where such bytes only ever do harm.
bool HasControlCharacter(std::string_view s) {
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f) return true;
  }
  return false;
}

}  // namespace

void ValidatePrincipal(std::string_view principal, bool allow_empty) {
  if (principal.empty()) {
    if (!allow_empty) InvalidRecord("principal is empty");
    return;
  }
  // Sessions::IsValidPrincipal (below) is this same rule without the messages: keep them equal.
  if (principal.size() > Sessions::kMaxPrincipalBytes) {
    InvalidRecord("principal is " + std::to_string(principal.size()) + " bytes; the limit is " +
                  std::to_string(Sessions::kMaxPrincipalBytes));
  }
  if (HasControlCharacter(principal) || !IsValidUtf8(principal)) {
    InvalidRecord(
        "principal must be UTF-8 text without control characters (NUL, newline, escape, DEL)");
  }
}

namespace {

// Saturates instead of overflowing: a record holds "never" as kNoDeadline (INT64_MAX).
Clock::time_point SaturatingTimePoint(std::int64_t us) {
  using std::chrono::duration_cast;
  using std::chrono::microseconds;
  static const std::int64_t kMaxUs =
      duration_cast<microseconds>(Clock::time_point::max().time_since_epoch()).count();
  if (us >= kMaxUs) return Clock::time_point::max();
  if (us <= -kMaxUs) return Clock::time_point::min();
  return Clock::time_point(duration_cast<Clock::duration>(microseconds(us)));
}

}  // namespace

SessionInfo ToSessionInfo(const std::string& id, const SessionRecord& r) {
  SessionInfo info;
  info.short_id = ShortSessionId(id);
  info.principal = r.principal;
  info.created = SaturatingTimePoint(r.created_us);
  info.last_access = SaturatingTimePoint(r.last_access_us);
  info.idle_ttl = std::chrono::microseconds(r.idle_ttl_us);
  info.idle_expiry = SaturatingTimePoint(r.idle_expiry_us());
  info.absolute_expiry = SaturatingTimePoint(r.deadline_us);
  info.expires = SaturatingTimePoint(r.expires_us());
  return info;
}

}  // namespace statestore::internal

namespace statestore {

bool Sessions::IsValidPrincipal(std::string_view principal) noexcept {
  return !principal.empty() && principal.size() <= kMaxPrincipalBytes &&
         !internal::HasControlCharacter(principal) && internal::IsValidUtf8(principal);
}

}  // namespace statestore

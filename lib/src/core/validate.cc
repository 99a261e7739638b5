#include "core/validate.h"

#include <cmath>
#include <cstdint>
#include <string>

#include "statestore/error.h"

namespace statestore::internal {

namespace {

[[noreturn]] void Invalid(const std::string& message) {
  throw Error(ErrorCode::kInvalidArgument, message);
}

// Shortened, escaped rendering of user text for error messages.
std::string Quote(std::string_view s) { return Value(std::string(s)).to_display(48); }

}  // namespace

bool IsValidUtf8(std::string_view s) {
  const auto* p = reinterpret_cast<const std::uint8_t*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    std::uint8_t c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    int extra;
    std::uint32_t cp;
    if ((c & 0xe0) == 0xc0) {
      extra = 1;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      extra = 2;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      extra = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (end - p <= extra) return false;
    for (int i = 1; i <= extra; ++i) {
      if ((p[i] & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (p[i] & 0x3f);
    }
    // Reject overlong encodings, surrogates and code points past U+10FFFF.
    static const std::uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[extra] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    p += extra + 1;
  }
  return true;
}

void ValidateKeyspace(std::string_view keyspace) {
  if (keyspace.empty()) Invalid("keyspace name is empty");
  if (keyspace.size() > kMaxKeyspaceNameBytes) {
    Invalid("keyspace name " + Quote(keyspace) + " is longer than " +
            std::to_string(kMaxKeyspaceNameBytes) + " characters");
  }
  if (!(keyspace[0] >= 'a' && keyspace[0] <= 'z')) {
    Invalid("keyspace name " + Quote(keyspace) + " must start with a lower-case letter a-z");
  }
  for (char c : keyspace) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
    if (!ok) {
      Invalid("keyspace name " + Quote(keyspace) + " may contain only a-z, 0-9, '_', '.' and '-'");
    }
  }
}

void ValidateKey(std::string_view key) {
  if (key.empty()) Invalid("key is empty");
  if (key.size() > kMaxKeyBytes) {
    Invalid("key " + Quote(key) + " is " + std::to_string(key.size()) + " bytes; the limit is " +
            std::to_string(kMaxKeyBytes));
  }
  if (key.find('\0') != std::string_view::npos) Invalid("key " + Quote(key) + " contains NUL");
  if (!IsValidUtf8(key)) Invalid("key " + Quote(key) + " is not valid UTF-8");
}

void ValidatePrefix(std::string_view prefix) {
  if (prefix.size() > kMaxKeyBytes) {
    Invalid("prefix is " + std::to_string(prefix.size()) + " bytes; the limit is " +
            std::to_string(kMaxKeyBytes));
  }
  if (prefix.find('\0') != std::string_view::npos) {
    Invalid("prefix " + Quote(prefix) + " contains NUL");
  }
}

void ValidateValue(std::string_view keyspace, std::string_view key, const Value& value) {
  ValidateValueOf("value for " + std::string(keyspace) + "/" + Quote(key), value);
}

void ValidateValueOf(const std::string& what, const Value& value) {
  if (value.payload_size() > kMaxValueBytes) {
    Invalid(what + " is " + std::to_string(value.payload_size()) + " bytes; the limit is " +
            std::to_string(kMaxValueBytes) + " bytes");
  }
  if (value.type() == ValueType::kString && !IsValidUtf8(value.as_string())) {
    Invalid(what + " is a string that is not valid UTF-8 (store binary data as bytes)");
  }
  // value.h: a double may be anything but NaN. SQLite stores a NaN REAL as NULL, so the row
  // would read back as "double with no value": refuse it before it reaches SQL.
  if (value.type() == ValueType::kDouble && std::isnan(value.as_double())) {
    Invalid(what + " is NaN; " + std::string(kNanRefusal));
  }
}

void ValidateLabel(std::string_view label) {
  if (label.size() > kMaxLabelBytes) {
    Invalid("origin label is longer than " + std::to_string(kMaxLabelBytes) + " bytes");
  }
  if (!IsValidUtf8(label) || label.find('\0') != std::string_view::npos) {
    Invalid("origin label must be UTF-8 text without NUL");
  }
}

}  // namespace statestore::internal

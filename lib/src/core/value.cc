#include "statestore/value.h"

#include <cstdio>
#include <string>

#include "statestore/error.h"

namespace statestore {

std::string_view ToString(ValueType type) {
  switch (type) {
    case ValueType::kNull:
      return "null";
    case ValueType::kBool:
      return "bool";
    case ValueType::kInt:
      return "int";
    case ValueType::kDouble:
      return "double";
    case ValueType::kString:
      return "string";
    case ValueType::kBytes:
      return "bytes";
  }
  return "unknown";
}

namespace {

[[noreturn]] void ThrowWrongType(ValueType stored, ValueType asked) {
  throw Error(ErrorCode::kInvalidArgument, "value is " + std::string(ToString(stored)) + ", not " +
                                               std::string(ToString(asked)));
}

}  // namespace

bool Value::as_bool() const {
  if (type() != ValueType::kBool) ThrowWrongType(type(), ValueType::kBool);
  return std::get<bool>(data_);
}

std::int64_t Value::as_int() const {
  if (type() != ValueType::kInt) ThrowWrongType(type(), ValueType::kInt);
  return std::get<std::int64_t>(data_);
}

double Value::as_double() const {
  if (type() != ValueType::kDouble) ThrowWrongType(type(), ValueType::kDouble);
  return std::get<double>(data_);
}

const std::string& Value::as_string() const {
  if (type() != ValueType::kString) ThrowWrongType(type(), ValueType::kString);
  return std::get<std::string>(data_);
}

const Bytes& Value::as_bytes() const {
  if (type() != ValueType::kBytes) ThrowWrongType(type(), ValueType::kBytes);
  return std::get<Bytes>(data_);
}

std::size_t Value::payload_size() const noexcept {
  switch (type()) {
    case ValueType::kNull:
      return 0;
    case ValueType::kBool:
      return 1;
    case ValueType::kInt:
    case ValueType::kDouble:
      return 8;
    case ValueType::kString:
      return std::get<std::string>(data_).size();
    case ValueType::kBytes:
      return std::get<Bytes>(data_).size();
  }
  return 0;
}

std::string Value::to_display(std::size_t max_chars) const {
  if (max_chars < 8) max_chars = 8;
  switch (type()) {
    case ValueType::kNull:
      return "null";
    case ValueType::kBool:
      return std::get<bool>(data_) ? "true" : "false";
    case ValueType::kInt:
      return std::to_string(std::get<std::int64_t>(data_));
    case ValueType::kDouble: {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.17g", std::get<double>(data_));
      return buf;
    }
    case ValueType::kString: {
      const std::string& s = std::get<std::string>(data_);
      std::string out = "\"";
      for (unsigned char c : s) {
        if (out.size() + 2 > max_chars) {
          out += "...";
          break;
        }
        if (c == '"' || c == '\\') {
          out += '\\';
          out += static_cast<char>(c);
        } else if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\x%02x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
      }
      out += '"';
      return out;
    }
    case ValueType::kBytes: {
      const Bytes& b = std::get<Bytes>(data_);
      std::string out = "0x";
      static const char kHex[] = "0123456789abcdef";
      for (std::uint8_t byte : b) {
        if (out.size() + 2 > max_chars) {
          out += "...";
          break;
        }
        out += kHex[byte >> 4];
        out += kHex[byte & 0xf];
      }
      out += " (" + std::to_string(b.size()) + " bytes)";
      return out;
    }
  }
  return "?";
}

}  // namespace statestore

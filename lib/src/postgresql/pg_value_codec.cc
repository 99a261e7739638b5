#include "postgresql/pg_value_codec.h"

#include <cmath>
#include <cstring>

#include "statestore/error.h"

namespace statestore::internal {

namespace {

std::string BigEndian(std::uint64_t v) {
  std::string out(8, '\0');
  for (int i = 7; i >= 0; --i) {
    out[static_cast<std::size_t>(i)] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  return out;
}

std::uint64_t FromBigEndian(std::string_view bytes) {
  std::uint64_t v = 0;
  for (char c : bytes) v = (v << 8) | static_cast<unsigned char>(c);
  return v;
}

bool KnownTag(std::int64_t type) { return type >= 0 && type <= 5; }

std::string TagName(std::int64_t type) {
  std::string out = "type tag " + std::to_string(type);
  if (KnownTag(type)) out += " (" + std::string(ToString(static_cast<ValueType>(type))) + ")";
  return out;
}

}  // namespace

void BindPgValue(PgParams& params, const Value& value) {
  params.Int(static_cast<std::int64_t>(value.type()));
  switch (value.type()) {
    case ValueType::kNull:
      params.Null();
      return;
    case ValueType::kBool: {
      const std::uint8_t b = value.as_bool() ? 1 : 0;
      params.Bytes(&b, 1);
      return;
    }
    case ValueType::kInt: {
      const std::string be = BigEndian(static_cast<std::uint64_t>(value.as_int()));
      params.Bytes(reinterpret_cast<const std::uint8_t*>(be.data()), be.size());
      return;
    }
    case ValueType::kDouble: {
      const double d = value.as_double();
      if (std::isnan(d)) {
        throw Error(ErrorCode::kInvalidArgument, "a double value may not be NaN");
      }
      std::uint64_t bits = 0;
      std::memcpy(&bits, &d, sizeof bits);
      const std::string be = BigEndian(bits);
      params.Bytes(reinterpret_cast<const std::uint8_t*>(be.data()), be.size());
      return;
    }
    case ValueType::kString: {
      const std::string& s = value.as_string();
      params.Bytes(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
      return;
    }
    case ValueType::kBytes:
      params.Bytes(value.as_bytes());
      return;
  }
}

void BindOptionalPgValue(PgParams& params, const std::optional<Value>& value) {
  if (value) {
    BindPgValue(params, *value);
  } else {
    params.Null().Null();
  }
}

void BindPgDigest(PgParams& params, ValueType type, const Bytes& digest) {
  params.Int(static_cast<std::int64_t>(type)).Bytes(digest);
}

PgCell ReadPgCell(const PgResult& result, int row, int type_column, int value_column) {
  PgCell cell;
  cell.type = result.Int(row, type_column);
  cell.null = result.IsNull(row, value_column);
  if (!cell.null) cell.bytes = result.Text(row, value_column);
  return cell;
}

void BindPgCell(PgParams& params, const PgCell& cell) {
  params.Int(cell.type);
  if (cell.null) {
    params.Null();
  } else {
    params.Bytes(reinterpret_cast<const std::uint8_t*>(cell.bytes.data()), cell.bytes.size());
  }
}

std::optional<Value> DecodePgCell(const PgCell& cell, std::string* problem) {
  if (!KnownTag(cell.type)) {
    *problem = TagName(cell.type) + " is not a value type";
    return std::nullopt;
  }
  const auto type = static_cast<ValueType>(cell.type);
  if (type == ValueType::kNull) {
    if (!cell.null) {
      *problem = TagName(cell.type) + " but the value column is not NULL";
      return std::nullopt;
    }
    return Value();
  }
  if (cell.null) {
    *problem = TagName(cell.type) + " but the value column is NULL";
    return std::nullopt;
  }
  const std::size_t n = cell.bytes.size();
  auto wrong_length = [&](std::size_t want) {
    *problem = TagName(cell.type) + " but the value holds " + std::to_string(n) + " bytes, not " +
               std::to_string(want);
    return std::nullopt;
  };
  switch (type) {
    case ValueType::kNull:
      break;
    case ValueType::kBool:
      if (n != 1) return wrong_length(1);
      if (cell.bytes[0] != 0 && cell.bytes[0] != 1) {
        *problem = TagName(cell.type) + " but the byte is neither 0 nor 1";
        return std::nullopt;
      }
      return Value(cell.bytes[0] == 1);
    case ValueType::kInt:
      if (n != 8) return wrong_length(8);
      return Value(static_cast<long long>(FromBigEndian(cell.bytes)));
    case ValueType::kDouble: {
      if (n != 8) return wrong_length(8);
      const std::uint64_t bits = FromBigEndian(cell.bytes);
      double d = 0;
      std::memcpy(&d, &bits, sizeof d);
      return Value(d);
    }
    case ValueType::kString:
      if (n > kMaxValueBytes) {
        *problem = TagName(cell.type) + " longer than the value limit";
        return std::nullopt;
      }
      return Value(cell.bytes);
    case ValueType::kBytes:
      if (n > kMaxValueBytes) {
        *problem = TagName(cell.type) + " longer than the value limit";
        return std::nullopt;
      }
      return Value(Bytes(cell.bytes.begin(), cell.bytes.end()));
  }
  *problem = TagName(cell.type) + " is not a value type";
  return std::nullopt;
}

std::optional<Value> DecodePgValue(const PgResult& result, int row, int type_column,
                                   int value_column, std::string* problem) {
  return DecodePgCell(ReadPgCell(result, row, type_column, value_column), problem);
}

bool DecodeOptionalPgValue(const PgResult& result, int row, int type_column, int value_column,
                           std::optional<Value>* out, std::string* problem) {
  if (result.IsNull(row, type_column)) {
    *out = std::nullopt;
    return true;
  }
  *out = DecodePgValue(result, row, type_column, value_column, problem);
  return out->has_value();
}

bool DecodeOptionalPgDigest(const PgResult& result, int row, int type_column, int value_column,
                            std::optional<Value>* out, std::string* problem) {
  if (result.IsNull(row, type_column)) {
    *out = std::nullopt;
    return true;
  }
  if (result.IsNull(row, value_column) || result.View(row, value_column).size() != 32) {
    *problem = "redacted history digest is not 32 bytes";
    return false;
  }
  const std::string_view d = result.View(row, value_column);
  *out = Value(Bytes(d.begin(), d.end()));
  return true;
}

}  // namespace statestore::internal

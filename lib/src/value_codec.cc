#include "value_codec.h"

#include <SQLiteCpp/Column.h>
#include <sodium.h>
#include <sqlite3.h>

#include <cmath>
#include <cstring>
#include <string>

#include "statestore/error.h"
#include "statestore/history.h"
#include "validate.h"

namespace statestore::internal {

void BindValue(SQLite::Statement& statement, int type_index, int value_index, const Value& value) {
  if (value.type() == ValueType::kDouble && std::isnan(value.as_double())) {
    throw Error(ErrorCode::kInvalidArgument, std::string(kNanRefusal));
  }
  statement.bind(type_index, static_cast<int>(value.type()));
  switch (value.type()) {
    case ValueType::kNull:
      statement.bind(value_index);
      break;
    case ValueType::kBool:
      statement.bind(value_index, static_cast<int64_t>(value.as_bool() ? 1 : 0));
      break;
    case ValueType::kInt:
      statement.bind(value_index, static_cast<int64_t>(value.as_int()));
      break;
    case ValueType::kDouble:
      statement.bind(value_index, value.as_double());
      break;
    case ValueType::kString:
      statement.bindNoCopy(value_index, value.as_string());
      break;
    case ValueType::kBytes: {
      // A null pointer would bind SQL NULL; an empty blob needs a non-null pointer.
      static const std::uint8_t kEmpty = 0;
      const Bytes& b = value.as_bytes();
      statement.bindNoCopy(value_index, b.empty() ? &kEmpty : b.data(), static_cast<int>(b.size()));
      break;
    }
  }
}

void BindDigest(SQLite::Statement& statement, int type_index, int value_index, ValueType type,
                const Value& digest) {
  BindValue(statement, type_index, value_index, digest);
  statement.bind(type_index, static_cast<int>(type));
}

void BindOptionalValue(SQLite::Statement& statement, int type_index, int value_index,
                       const std::optional<Value>& value) {
  if (value) {
    BindValue(statement, type_index, value_index, *value);
  } else {
    statement.bind(type_index);
    statement.bind(value_index);
  }
}

namespace {

[[noreturn]] void Mismatch(int type, int storage) {
  throw Error(ErrorCode::kCorruption, "stored value has type tag " + std::to_string(type) +
                                          " but SQLite storage class " + std::to_string(storage) +
                                          " (the file was edited outside statestore?)");
}

}  // namespace

Value ReadValue(const SQLite::Statement& statement, int type_column, int value_column) {
  int type = statement.getColumn(type_column).getInt();
  SQLite::Column column = statement.getColumn(value_column);
  int storage = column.getType();
  switch (static_cast<ValueType>(type)) {
    case ValueType::kNull:
      if (storage != SQLITE_NULL) Mismatch(type, storage);
      return Value();
    case ValueType::kBool:
      if (storage != SQLITE_INTEGER) Mismatch(type, storage);
      return Value(column.getInt64() != 0);
    case ValueType::kInt:
      if (storage != SQLITE_INTEGER) Mismatch(type, storage);
      return Value(static_cast<long long>(column.getInt64()));
    case ValueType::kDouble:
      if (storage != SQLITE_FLOAT) Mismatch(type, storage);
      return Value(column.getDouble());
    case ValueType::kString:
      if (storage != SQLITE_TEXT) Mismatch(type, storage);
      return Value(std::string(column.getText(), static_cast<std::size_t>(column.getBytes())));
    case ValueType::kBytes: {
      if (storage != SQLITE_BLOB) Mismatch(type, storage);
      const auto* data = static_cast<const std::uint8_t*>(column.getBlob());
      std::size_t size = static_cast<std::size_t>(column.getBytes());
      return Value(size == 0 ? Bytes() : Bytes(data, data + size));
    }
  }
  Mismatch(type, storage);
}

std::optional<Value> ReadOptionalDigest(const SQLite::Statement& statement, int type_column,
                                        int value_column) {
  if (statement.isColumnNull(type_column)) return std::nullopt;
  SQLite::Column column = statement.getColumn(value_column);
  if (column.getType() != SQLITE_BLOB || column.getBytes() != 32) {
    throw Error(ErrorCode::kCorruption, "redacted history value is not a 32-byte digest");
  }
  const auto* data = static_cast<const std::uint8_t*>(column.getBlob());
  return Value(Bytes(data, data + 32));
}

std::optional<Value> ReadOptionalValue(const SQLite::Statement& statement, int type_column,
                                       int value_column) {
  if (statement.isColumnNull(type_column)) return std::nullopt;
  return ReadValue(statement, type_column, value_column);
}

}  // namespace statestore::internal

namespace statestore {

Bytes ValueDigest(const Value& value) {
  // Encoding: type tag byte, then the payload (see history.h). Little-endian numbers so the
  // digest is the same on every host.
  Bytes encoded;
  encoded.push_back(static_cast<std::uint8_t>(value.type()));
  auto append_u64 = [&](std::uint64_t v) {
    for (int i = 0; i < 8; ++i) encoded.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
  };
  switch (value.type()) {
    case ValueType::kNull:
      break;
    case ValueType::kBool:
      encoded.push_back(value.as_bool() ? 1 : 0);
      break;
    case ValueType::kInt:
      append_u64(static_cast<std::uint64_t>(value.as_int()));
      break;
    case ValueType::kDouble: {
      double d = value.as_double();
      std::uint64_t bits;
      std::memcpy(&bits, &d, sizeof bits);
      append_u64(bits);
      break;
    }
    case ValueType::kString:
      encoded.insert(encoded.end(), value.as_string().begin(), value.as_string().end());
      break;
    case ValueType::kBytes:
      encoded.insert(encoded.end(), value.as_bytes().begin(), value.as_bytes().end());
      break;
  }
  static const int sodium_ready = sodium_init();  // idempotent and thread-safe; -1 = failed
  if (sodium_ready < 0) throw Error(ErrorCode::kInternal, "libsodium failed to initialize");
  Bytes digest(crypto_hash_sha256_BYTES);
  crypto_hash_sha256(digest.data(), encoded.data(), encoded.size());
  return digest;
}

}  // namespace statestore

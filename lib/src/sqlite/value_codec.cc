#include "sqlite/value_codec.h"

#include <SQLiteCpp/Column.h>
#include <sodium.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <utility>

#include "core/store_counters.h"
#include "core/validate.h"
#include "statestore/history.h"

namespace statestore::internal {

namespace {

// The value column of `value`, by its type (the tag is bound by the caller).
void BindPayload(SQLite::Statement& statement, int value_index, const Value& value) {
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

const char* StorageName(const Value& cell) {
  switch (cell.type()) {
    case ValueType::kNull:
      return "NULL";
    case ValueType::kInt:
      return "INTEGER";
    case ValueType::kDouble:
      return "REAL";
    case ValueType::kString:
      return "TEXT";
    case ValueType::kBytes:
      return "BLOB";
    case ValueType::kBool:  // never a storage class
      break;
  }
  return "?";
}

// The storage class each tag is written with (kBool: INTEGER 0/1).
ValueType StorageFor(ValueType type) { return type == ValueType::kBool ? ValueType::kInt : type; }

std::string TagName(std::int64_t type) {
  std::string out = "type tag " + std::to_string(type);
  if (IsKnownTypeTag(type)) out += " (" + std::string(ToString(static_cast<ValueType>(type))) + ")";
  return out;
}

}  // namespace

void BindValue(SQLite::Statement& statement, int type_index, int value_index, const Value& value) {
  if (value.type() == ValueType::kDouble && std::isnan(value.as_double())) {
    throw Error(ErrorCode::kInvalidArgument, std::string(kNanRefusal));
  }
  statement.bind(type_index, static_cast<int>(value.type()));
  BindPayload(statement, value_index, value);
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

bool IsKnownTypeTag(std::int64_t type) {
  return type >= static_cast<int>(ValueType::kNull) && type <= static_cast<int>(ValueType::kBytes);
}

StoredCell ReadStoredCell(const SQLite::Statement& statement, int type_column, int value_column) {
  StoredCell out;
  out.type = statement.getColumn(type_column).getInt64();
  SQLite::Column column = statement.getColumn(value_column);
  switch (column.getType()) {
    case SQLITE_INTEGER:
      out.cell = Value(static_cast<long long>(column.getInt64()));
      break;
    case SQLITE_FLOAT:
      out.cell = Value(column.getDouble());
      break;
    case SQLITE_TEXT: {
      const char* text = column.getText();  // before getBytes (SQLite's rule for conversions)
      out.cell = Value(std::string(text, static_cast<std::size_t>(column.getBytes())));
      break;
    }
    case SQLITE_BLOB: {
      const auto* data = static_cast<const std::uint8_t*>(column.getBlob());
      const auto size = static_cast<std::size_t>(column.getBytes());
      out.cell = Value(size == 0 ? Bytes() : Bytes(data, data + size));
      break;
    }
    default:  // SQLITE_NULL
      break;
  }
  return out;
}

void BindStoredCell(SQLite::Statement& statement, int type_index, int value_index,
                    const StoredCell& cell) {
  statement.bind(type_index, static_cast<int64_t>(cell.type));
  BindPayload(statement, value_index, cell.cell);
}

std::optional<Value> DecodeCell(StoredCell cell, std::string* problem) {
  if (!IsKnownTypeTag(cell.type)) {
    *problem = "unknown " + TagName(cell.type) + " (SQLite holds " + StorageName(cell.cell) + ")";
    return std::nullopt;
  }
  const auto type = static_cast<ValueType>(cell.type);
  // Note 1: a NaN that SQLite turned into NULL.
  if (type == ValueType::kDouble && cell.cell.is_null()) {
    return Value(std::numeric_limits<double>::quiet_NaN());
  }
  if (cell.cell.type() != StorageFor(type)) {
    *problem = TagName(cell.type) + " but SQLite holds " + StorageName(cell.cell);
    return std::nullopt;
  }
  // The cell is the value, except a bool, which SQLite holds as an INTEGER.
  if (type == ValueType::kBool) return Value(cell.cell.as_int() != 0);
  return std::move(cell.cell);
}

std::optional<Value> DecodeValue(const SQLite::Statement& statement, int type_column,
                                 int value_column, std::string* problem) {
  return DecodeCell(ReadStoredCell(statement, type_column, value_column), problem);
}

bool DecodeOptionalValue(const SQLite::Statement& statement, int type_column, int value_column,
                         std::optional<Value>* out, std::string* problem) {
  out->reset();
  if (statement.isColumnNull(type_column)) return true;
  *out = DecodeValue(statement, type_column, value_column, problem);
  return out->has_value();
}

bool DecodeOptionalDigest(const SQLite::Statement& statement, int type_column, int value_column,
                          std::optional<Value>* out, std::string* problem) {
  out->reset();
  if (statement.isColumnNull(type_column)) return true;
  SQLite::Column column = statement.getColumn(value_column);
  if (column.getType() != SQLITE_BLOB || column.getBytes() != 32) {
    *problem = "redacted history value is not a 32-byte digest";
    return false;
  }
  const auto* data = static_cast<const std::uint8_t*>(column.getBlob());
  *out = Value(Bytes(data, data + 32));
  return true;
}

const Value& DigestSubject(const StoredCell& cell, std::optional<Value>* scratch) {
  const bool as_is =
      IsKnownTypeTag(cell.type) && cell.cell.type() == static_cast<ValueType>(cell.type);
  if (as_is) return cell.cell;
  std::string problem;
  *scratch = DecodeCell(cell, &problem);
  return *scratch ? **scratch : cell.cell;
}

Value ReadValue(const SQLite::Statement& statement, int type_column, int value_column) {
  std::string problem;
  std::optional<Value> value = DecodeValue(statement, type_column, value_column, &problem);
  if (!value) throw Error(ErrorCode::kCorruption, "stored value is damaged: " + problem);
  return std::move(*value);
}

std::optional<Value> ReadOptionalDigest(const SQLite::Statement& statement, int type_column,
                                        int value_column) {
  std::optional<Value> out;
  std::string problem;
  if (!DecodeOptionalDigest(statement, type_column, value_column, &out, &problem)) {
    throw Error(ErrorCode::kCorruption, problem);
  }
  return out;
}

}  // namespace statestore::internal

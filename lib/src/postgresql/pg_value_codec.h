// How a Value is stored on the PostgreSQL engine: `type` smallint (statestore::ValueType) and
// `value` bytea: NULL for null, one byte (0/1) for bool, 8 big-endian bytes for int (two's
// complement) and double (IEEE 754 bits), the bytes themselves for string (UTF-8) and bytes.
// History uses a NULL type for "no value", as on SQLite.
//
// Rows that do not decode (a foreign writer through psql, a damaged restore) follow the SQLite
// engine's rule (sqlite/value_codec.h notes 2 and 3): Decode* report the problem as text that
// never contains the value, point reads throw DamagedRowError, scans skip and report the row, and
// a write over it copies the old cells into history unchanged.
#ifndef STATESTORE_SRC_POSTGRESQL_PG_VALUE_CODEC_H_
#define STATESTORE_SRC_POSTGRESQL_PG_VALUE_CODEC_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "postgresql/pg_connection.h"
#include "statestore/value.h"

namespace statestore::internal {

// Appends two parameters: the type tag and the encoded value. Throws: Error(kInvalidArgument)
// for a NaN double (the last line behind ValidateValue, as on SQLite).
void BindPgValue(PgParams& params, const Value& value);
// History's form: two NULLs for "no value".
void BindOptionalPgValue(PgParams& params, const std::optional<Value>& value);
// Redacted history: the value's type tag and the digest bytes.
void BindPgDigest(PgParams& params, ValueType type, const Bytes& digest);

// The raw cells of a stored value (type column, value column), decoded or not.
struct PgCell {
  std::int64_t type = 0;
  bool null = true;
  std::string bytes;
};
PgCell ReadPgCell(const PgResult& result, int row, int type_column, int value_column);
// Binds the cells back unchanged (a write over a damaged row keeps it in history as it was).
void BindPgCell(PgParams& params, const PgCell& cell);

// Decodes; nullopt with *problem set when the cells are not a value of their type.
std::optional<Value> DecodePgCell(const PgCell& cell, std::string* problem);
std::optional<Value> DecodePgValue(const PgResult& result, int row, int type_column,
                                   int value_column, std::string* problem);
// History columns: a NULL type means "no value" (*out = nullopt). False with *problem on damage.
bool DecodeOptionalPgValue(const PgResult& result, int row, int type_column, int value_column,
                           std::optional<Value>* out, std::string* problem);
// Redacted history: nullopt, or Value(Bytes) of exactly 32 bytes.
bool DecodeOptionalPgDigest(const PgResult& result, int row, int type_column, int value_column,
                            std::optional<Value>* out, std::string* problem);

}  // namespace statestore::internal

#endif  // STATESTORE_SRC_POSTGRESQL_PG_VALUE_CODEC_H_

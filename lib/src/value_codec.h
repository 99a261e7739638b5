// How a Value is stored: two columns, `type` (statestore::ValueType) and `value` (the SQLite
// storage class that matches: NULL, INTEGER 0/1, INTEGER, REAL, TEXT, BLOB). A `type` of NULL in
// history means "no value" (key absent before / erased after).
#ifndef STATESTORE_SRC_VALUE_CODEC_H_
#define STATESTORE_SRC_VALUE_CODEC_H_

#include <SQLiteCpp/Statement.h>

#include <optional>

#include "statestore/value.h"

namespace statestore::internal {

// Binds without copying string/bytes payloads: `value` must stay alive until the statement has
// been stepped (and reset). Throws: Error(kInvalidArgument) for a NaN double — ValidateValue has
// refused it already; this is the last line, so that no path can ever bind one.
void BindValue(SQLite::Statement& statement, int type_index, int value_index, const Value& value);
// Redacted history: the original type tag, and the digest (a bytes Value) as the value.
void BindDigest(SQLite::Statement& statement, int type_index, int value_index, ValueType type,
                const Value& digest);
void BindOptionalValue(SQLite::Statement& statement, int type_index, int value_index,
                       const std::optional<Value>& value);

// Reads a redacted history value: nullopt, or Value(Bytes digest).
std::optional<Value> ReadOptionalDigest(const SQLite::Statement& statement, int type_column,
                                        int value_column);

// Throws: Error(kCorruption) when the stored type tag and storage class disagree.
Value ReadValue(const SQLite::Statement& statement, int type_column, int value_column);
std::optional<Value> ReadOptionalValue(const SQLite::Statement& statement, int type_column,
                                       int value_column);

}  // namespace statestore::internal

#endif  // STATESTORE_SRC_VALUE_CODEC_H_

// How a Value is stored: two columns, `type` (statestore::ValueType) and `value` (the SQLite
// storage class that matches: NULL, INTEGER 0/1, INTEGER, REAL, TEXT, BLOB). A `type` of NULL in
// history means "no value" (key absent before / erased after).
//
// Design note: rows that do not decode. No stored row may make a keyspace unreadable, and a
// damaged key must stay repairable. The file can hold rows this codec would never write: written
// by an older build, or by a foreign writer through the sqlite3 shell.
//   1. Type double (3) with a NULL value is what SQLite makes of a NaN REAL, which builds before
//      value.h's "no NaN" rule let through. It decodes as a quiet NaN: that is truthfully what
//      was written, so get/list/history/dump of old files work. Writing it back is refused like
//      any NaN (ValidateValue, and BindValue as defence in depth).
//   2. Any other disagreement between type tag and storage class, or a tag that is no ValueType,
//      is damage. The Decode* functions report it as a description that never contains the value
//      ("type tag 2 (int) but SQLite holds TEXT") instead of throwing, so each caller applies the
//      policy: a point read of the key throws DamagedRowError (kCorruption naming the key and the
//      remedy); a scan (list, history, session and config scans) skips that one row or Change
//      and reports it to the Store's DamagedRowReporter (a Stats counter, and one warning per key).
//   3. A write over a damaged row never decodes it: the old row is read as a StoredCell (the raw
//      columns) and copied into the history row as it is, so history shows the truth and verify
//      can point at it. The one exception is a tag outside the schema's range (the CHECK on
//      `changes` refuses it; such a row exists only if CHECK constraints were switched off): its
//      history row records the old value as absent.
#ifndef STATESTORE_SRC_VALUE_CODEC_H_
#define STATESTORE_SRC_VALUE_CODEC_H_

#include <SQLiteCpp/Statement.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/damaged_rows.h"
#include "statestore/error.h"
#include "statestore/value.h"
#include "util/values.h"  // IdenticalValues, used with the codec

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

// The two columns of a stored value exactly as SQLite holds them, decoded or not (note 3).
struct StoredCell {
  std::int64_t type = 0;  // the type tag column
  Value cell;             // the value column by storage class: NULL -> null, INTEGER -> int,
                          // REAL -> double, TEXT -> string, BLOB -> bytes
};

// True for the tags the schema's CHECK allows (ValueType 0..5).
bool IsKnownTypeTag(std::int64_t type);

StoredCell ReadStoredCell(const SQLite::Statement& statement, int type_column, int value_column);
// Binds the raw columns back, unchanged (no NaN check: a cell is what SQLite already held).
// REQUIRES: IsKnownTypeTag(cell.type). Binds without copying, like BindValue.
void BindStoredCell(SQLite::Statement& statement, int type_index, int value_index,
                    const StoredCell& cell);
// What redacted history digests for a stored old value: the decoded value, or, for a damaged
// cell, the cell itself (whose digest then matches no real value's). Refers to cell.cell when no
// conversion is needed (the usual case: no copy of the payload), else to *scratch.
const Value& DigestSubject(const StoredCell& cell, std::optional<Value>* scratch);

// Decoding (notes 1 and 2). Each returns nullopt/false and sets *problem when the row is damaged;
// none throws for damage.
std::optional<Value> DecodeCell(StoredCell cell, std::string* problem);
std::optional<Value> DecodeValue(const SQLite::Statement& statement, int type_column,
                                 int value_column, std::string* problem);
// History columns, where a NULL type means "no value": *out is nullopt then.
bool DecodeOptionalValue(const SQLite::Statement& statement, int type_column, int value_column,
                         std::optional<Value>* out, std::string* problem);
// Redacted history: nullopt, or Value(Bytes digest) of exactly 32 bytes.
bool DecodeOptionalDigest(const SQLite::Statement& statement, int type_column, int value_column,
                          std::optional<Value>* out, std::string* problem);

// Throwing forms for callers that report damage themselves (statectl verify).
// Throws: Error(kCorruption) with the problem.
Value ReadValue(const SQLite::Statement& statement, int type_column, int value_column);
std::optional<Value> ReadOptionalDigest(const SQLite::Statement& statement, int type_column,
                                        int value_column);

}  // namespace statestore::internal

#endif  // STATESTORE_SRC_VALUE_CODEC_H_

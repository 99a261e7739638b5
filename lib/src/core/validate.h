// Argument checks shared by every public entry point. Each throws Error(kInvalidArgument) with a
// message naming the offending argument; none touches the database.
#ifndef STATESTORE_SRC_VALIDATE_H_
#define STATESTORE_SRC_VALIDATE_H_

#include <string>
#include <string_view>

#include "statestore/value.h"

namespace statestore::internal {

inline constexpr std::size_t kMaxLabelBytes = 256;

bool IsValidUtf8(std::string_view s);

void ValidateKeyspace(std::string_view keyspace);
void ValidateKey(std::string_view key);
// A list() prefix: may be empty or end inside a UTF-8 sequence; no NUL; at most kMaxKeyBytes.
void ValidatePrefix(std::string_view prefix);
// A value about to be stored under keyspace/key: size limit, UTF-8 of strings, no NaN (value.h).
// The message names keyspace and key, never the value.
void ValidateValue(std::string_view keyspace, std::string_view key, const Value& value);
// The same checks for a value stored inside another one (a session attribute); `what` names it in
// the message ("session attribute 'x'").
void ValidateValueOf(const std::string& what, const Value& value);
// Why a NaN is refused, for every message that refuses one.
inline constexpr std::string_view kNanRefusal =
    "NaN cannot be stored: SQLite stores it as NULL (a double may be any value but NaN)";
void ValidateLabel(std::string_view label);

}  // namespace statestore::internal

#endif  // STATESTORE_SRC_VALIDATE_H_

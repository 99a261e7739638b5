// Value comparisons the public operator== does not make.
#ifndef STATESTORE_SRC_UTIL_VALUES_H_
#define STATESTORE_SRC_UTIL_VALUES_H_

#include <cstring>
#include <string>
#include <string_view>

#include "statestore/value.h"

namespace statestore::internal {

// Value equality with doubles compared bit for bit, so that a NaN equals the same NaN (Value's ==
// follows IEEE and says NaN != NaN). For "did this change?" checks.
inline bool IdenticalValues(const Value& a, const Value& b) {
  if (a.type() == ValueType::kDouble && b.type() == ValueType::kDouble) {
    double x = a.as_double();
    double y = b.as_double();
    return std::memcmp(&x, &y, sizeof x) == 0;
  }
  return a == b;
}

// The rules of value.h for a value stored inside another one (a session attribute) or under a key
// (core/validate.h ValidateValue): size limit, UTF-8 strings, no NaN. `what` names it in the
// message ("session attribute 'x'"). Throws: Error(kInvalidArgument).
void ValidateValueOf(const std::string& what, const Value& value);
// Why a NaN is refused, for every message that refuses one.
inline constexpr std::string_view kNanRefusal =
    "NaN cannot be stored: SQLite stores it as NULL (a double may be any value but NaN)";

}  // namespace statestore::internal

#endif  // STATESTORE_SRC_UTIL_VALUES_H_

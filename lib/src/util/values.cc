#include "util/values.h"

#include <cmath>

#include "statestore/error.h"
#include "util/text.h"

namespace statestore::internal {

namespace {
[[noreturn]] void Refuse(const std::string& message) {
  throw Error(ErrorCode::kInvalidArgument, message);
}
}  // namespace

void ValidateValueOf(const std::string& what, const Value& value) {
  if (value.payload_size() > kMaxValueBytes) {
    Refuse(what + " is " + std::to_string(value.payload_size()) + " bytes; the limit is " +
           std::to_string(kMaxValueBytes) + " bytes");
  }
  if (value.type() == ValueType::kString && !IsValidUtf8(value.as_string())) {
    Refuse(what + " is a string that is not valid UTF-8 (store binary data as bytes)");
  }
  // value.h: a double may be anything but NaN. SQLite stores a NaN REAL as NULL, so the row
  // would read back as "double with no value": refuse it before it reaches SQL.
  if (value.type() == ValueType::kDouble && std::isnan(value.as_double())) {
    Refuse(what + " is NaN; " + std::string(kNanRefusal));
  }
}

}  // namespace statestore::internal

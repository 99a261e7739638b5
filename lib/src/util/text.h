// Text checks on byte strings, shared by the core's argument validation and the layers.
#ifndef STATESTORE_SRC_UTIL_TEXT_H_
#define STATESTORE_SRC_UTIL_TEXT_H_

#include <string_view>

namespace statestore::internal {

bool IsValidUtf8(std::string_view s);

}  // namespace statestore::internal

#endif  // STATESTORE_SRC_UTIL_TEXT_H_

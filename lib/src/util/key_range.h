// Prefix matching on keys as byte strings (SQLite's BINARY collation compares with memcmp).
#ifndef STATESTORE_SRC_KEY_RANGE_H_
#define STATESTORE_SRC_KEY_RANGE_H_

#include <optional>
#include <string>
#include <string_view>

namespace statestore::internal {

// The smallest string greater than every string starting with `prefix`, or nullopt if there is
// none (a prefix of only 0xff bytes): `key >= prefix AND key < PrefixEnd(prefix)` selects exactly
// the keys with that prefix, using the primary-key index.
inline std::optional<std::string> PrefixEnd(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    auto last = static_cast<unsigned char>(end.back());
    if (last < 0xff) {
      end.back() = static_cast<char>(last + 1);
      return end;
    }
    end.pop_back();
  }
  return std::nullopt;
}

}  // namespace statestore::internal

#endif  // STATESTORE_SRC_KEY_RANGE_H_

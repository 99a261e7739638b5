// Session tokens and ids.
//
// A token is 32 bytes from libsodium's randombytes_buf (getrandom(2) on Linux: a CSPRNG that never
// returns before the kernel pool is seeded), encoded as unpadded base64url: 43 characters of
// [A-Za-z0-9_-]. 256 bits is far beyond the 128 the design asks for; guessing a live token is not
// a practical attack.
//
// The session id is the lower-case hex SHA-256 of the token's characters (64 hex digits). Only
// ids are stored: a single unsalted hash is enough because tokens are uniformly random (there is
// nothing to brute-force — DESIGN.md, "SQLite facts"). The id is hashed from the text as given,
// so the non-canonical spellings of the same 32 bytes (the last character carries two spare bits)
// are simply other, unknown tokens.
//
// Nothing here logs, and no function puts a token into an error message.
#ifndef STATESTORE_SRC_SESSION_TOKEN_H_
#define STATESTORE_SRC_SESSION_TOKEN_H_

#include <cstddef>
#include <string>
#include <string_view>

namespace statestore::internal {

inline constexpr std::size_t kTokenBytes = 32;
inline constexpr std::size_t kTokenChars = 43;      // base64url of 32 bytes, no padding
inline constexpr std::size_t kSessionIdChars = 64;  // hex SHA-256
inline constexpr std::size_t kShortIdChars = 12;

// A fresh random token. Throws: Error(kInternal) if libsodium cannot be initialized.
std::string NewSessionToken();

// Length kTokenChars and every character in [A-Za-z0-9_-].
bool IsWellFormedSessionToken(std::string_view token) noexcept;

// Hex SHA-256 of `token`. REQUIRES: IsWellFormedSessionToken(token).
std::string SessionIdForToken(std::string_view token);

// The public short id of a session id: its first kShortIdChars characters.
inline std::string ShortSessionId(std::string_view id) {
  return std::string(id.substr(0, kShortIdChars));
}

// Lower-case hex SHA-256 of `data`, cut to `hex_chars` (<= 64) characters.
std::string Sha256Hex(std::string_view data, std::size_t hex_chars = kSessionIdChars);

}  // namespace statestore::internal

#endif  // STATESTORE_SRC_SESSION_TOKEN_H_

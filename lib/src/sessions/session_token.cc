#include "sessions/session_token.h"

#include <sodium.h>

#include <cstdint>

#include "statestore/error.h"
#include "statestore/session.h"

namespace statestore {

namespace internal {

namespace {

void EnsureSodium() {
  static const int ready = sodium_init();  // idempotent and thread-safe; -1 = failed
  if (ready < 0) throw Error(ErrorCode::kInternal, "libsodium failed to initialize");
}

}  // namespace

std::string NewSessionToken() {
  EnsureSodium();
  unsigned char random[kTokenBytes];
  randombytes_buf(random, sizeof random);
  char encoded[sodium_base64_ENCODED_LEN(kTokenBytes, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
  sodium_bin2base64(encoded, sizeof encoded, random, sizeof random,
                    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  sodium_memzero(random, sizeof random);
  std::string token(encoded);  // NUL-terminated by sodium_bin2base64
  sodium_memzero(encoded, sizeof encoded);
  if (token.size() != kTokenChars) {
    throw Error(ErrorCode::kInternal, "session token has an unexpected length");
  }
  return token;
}

bool IsWellFormedSessionToken(std::string_view token) noexcept {
  if (token.size() != kTokenChars) return false;
  for (char c : token) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

std::string Sha256Hex(std::string_view data, std::size_t hex_chars) {
  EnsureSodium();
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(data.data()), data.size());
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * sizeof digest);
  for (unsigned char b : digest) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 0x0f]);
  }
  if (hex_chars < out.size()) out.resize(hex_chars);
  return out;
}

std::string SessionIdForToken(std::string_view token) { return Sha256Hex(token); }

}  // namespace internal

bool Sessions::IsWellFormedToken(std::string_view token) noexcept {
  return internal::IsWellFormedSessionToken(token);
}

std::optional<std::string> Sessions::IdOf(std::string_view token) {
  if (!internal::IsWellFormedSessionToken(token)) return std::nullopt;
  return internal::SessionIdForToken(token);
}

}  // namespace statestore

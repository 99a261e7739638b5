// The layout of keyspace "sessions" (kSessionsKeyspace).
//
// Data model. Keys (ids are 64 hex digits, SHA-256 of the token; see session_token.h):
//
//   s/<id>                   the session record: principal, created, last access, idle TTL,
//                            absolute deadline and all attributes, one Value(Bytes) in CBOR
//                            (session_record.h)
//   x/<16 hex µs>/<id>       expiry index; value: the principal digest (string) or null
//   p/<32 hex>/<id>          principal index (the hex is a keyed digest of the principal,
//                            RedactionKey::PrincipalDigest); value null
//   count                    int: number of s/ records (live or expired-unswept)
//
// Why one record per session, not one key per attribute plus a meta key (the first sketch):
//   * get(token) is one cached Store::get — no SQLite access on a cache hit — and always returns
//     attributes and metadata of one committed version. With a key per attribute a whole-session
//     read needs a range scan, which the read cache cannot answer, or a consistency protocol
//     across several cached keys.
//   * get_many/set_many/update are atomic by construction, and a write touches 1 key (plus 2
//     index keys when the expiry moves) instead of N.
//   * History shows that a session changed but, redacted (the default), neither attribute values
//     nor attribute names.
//   The cost: every attribute write rewrites the session's record (sessions are small; the
//   header documents that all attributes of a session must fit in one value, 4 MiB).
//
// Why the principal index holds a digest, not the principal: history records keys in clear even
// for a redacted keyspace, and user ids or e-mail addresses should not appear in it; a digest
// also needs no escaping ('/' in a principal). The digest is keyed (redaction_key.h), so a copied
// file does not confirm a guessed user name. 128 bits cannot collide in practice, and
// list()/destroy_all() still compare the principal stored in the record.
//
// Invariants (every write path in sessions_impl.cc keeps them, inside one transaction):
//   1. x/<e>/<id> exists iff s/<id> exists and the record's expiry (min(idle expiry, deadline))
//      is e; so list("x/", n) yields the n soonest-expiring sessions, and a sweep batch is one
//      list plus erases, without reading the records.
//   2. p/<d>/<id> exists iff s/<id> exists with a principal whose digest is d.
//   3. count equals the number of s/ keys.
//   4. An id is never reused: tokens are random, rotate() moves a session to a new id.
//
// Origin labels. History is redacted, so a listener (session_events.h) tells why a record vanished
// by the label of the commit that removed it: the sweep and rotate() label their own commits.
#ifndef STATESTORE_SRC_SESSION_KEYS_H_
#define STATESTORE_SRC_SESSION_KEYS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "statestore/session.h"

namespace statestore::internal::session_keys {

inline constexpr std::string_view kRecordPrefix = kSessionRecordPrefix;  // session.h
inline constexpr std::string_view kExpiryPrefix = "x/";
inline constexpr std::string_view kPrincipalPrefix = "p/";
inline constexpr std::string_view kCount = "count";
inline constexpr std::size_t kExpiryHexChars = 16;
inline constexpr std::size_t kPrincipalDigestChars = 32;
inline constexpr std::string_view kSweepLabel = kSweepOriginLabel;  // session.h
inline constexpr std::string_view kRotateLabel = "sessions: rotate";

inline std::string Record(std::string_view id) {
  std::string key(kRecordPrefix);
  key += id;
  return key;
}

// Expiry in microseconds since the epoch; negative times sort as 0.
inline std::string Expiry(std::int64_t expires_us, std::string_view id) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::uint64_t v = expires_us < 0 ? 0 : static_cast<std::uint64_t>(expires_us);
  std::string key(kExpiryPrefix);
  for (int shift = 60; shift >= 0; shift -= 4) key.push_back(kHex[(v >> shift) & 0xf]);
  key.push_back('/');
  key += id;
  return key;
}

// The principal-index prefix "p/<digest>/" for a principal digest.
inline std::string PrincipalPrefix(std::string_view digest) {
  std::string key(kPrincipalPrefix);
  key += digest;
  key.push_back('/');
  return key;
}

inline std::string Principal(std::string_view digest, std::string_view id) {
  return PrincipalPrefix(digest) + std::string(id);
}

// Parses an expiry-index key into (expires_us, id); nullopt if it is not one.
struct ExpiryKey {
  std::int64_t expires_us = 0;
  std::string id;
};
inline std::optional<ExpiryKey> ParseExpiry(std::string_view key) {
  if (key.size() <= kExpiryPrefix.size() + kExpiryHexChars + 1 ||
      key.substr(0, kExpiryPrefix.size()) != kExpiryPrefix ||
      key[kExpiryPrefix.size() + kExpiryHexChars] != '/') {
    return std::nullopt;
  }
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < kExpiryHexChars; ++i) {
    char c = key[kExpiryPrefix.size() + i];
    int d;
    if (c >= '0' && c <= '9') {
      d = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      d = c - 'a' + 10;
    } else {
      return std::nullopt;
    }
    v = (v << 4) | static_cast<std::uint64_t>(d);
  }
  if (v > static_cast<std::uint64_t>(INT64_MAX)) return std::nullopt;
  return ExpiryKey{static_cast<std::int64_t>(v),
                   std::string(key.substr(kExpiryPrefix.size() + kExpiryHexChars + 1))};
}

}  // namespace statestore::internal::session_keys

#endif  // STATESTORE_SRC_SESSION_KEYS_H_

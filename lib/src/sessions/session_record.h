// SessionRecord — what s/<id> holds (session_keys.h), its encoding, and the rules for what may be
// put into it (attribute names, values, principals).
//
// Encoding: one Value(Bytes) holding a CBOR map (RFC 8949, written and parsed by nlohmann-json):
//   {"v": 1, "c": created, "a": last access, "t": idle TTL, "d": deadline (absent = none),
//    "p": principal (absent = none), "x": {attribute name: value, ...}}
// Times are microseconds since the Unix epoch (UTC), durations microseconds. Values keep their
// statestore type: null, bool, int (CBOR integer), double (CBOR float; infinities included; NaN
// is refused on write like everywhere else, see value.h, but a record written before that rule
// may hold one and decodes it), string (CBOR text), bytes (CBOR byte string). CBOR rather than
// JSON because JSON has no byte strings and no infinities. A record with "v" > 1 was written by a
// newer statestore and is refused with kSchemaTooNew; anything unreadable is kCorruption.
#ifndef STATESTORE_SRC_SESSION_RECORD_H_
#define STATESTORE_SRC_SESSION_RECORD_H_

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "statestore/session.h"
#include "statestore/value.h"

namespace statestore::internal {

inline constexpr std::int64_t kNoDeadline = std::numeric_limits<std::int64_t>::max();

struct SessionRecord {
  std::string principal;  // empty = none
  std::int64_t created_us = 0;
  std::int64_t last_access_us = 0;
  std::int64_t idle_ttl_us = 0;
  std::int64_t deadline_us = kNoDeadline;
  Attributes attributes;

  // last_access + idle TTL, saturating.
  std::int64_t idle_expiry_us() const;
  // min(idle expiry, deadline): the session is live while now < expires_us().
  std::int64_t expires_us() const;
  bool LiveAt(std::int64_t now_us) const { return now_us < expires_us(); }

  // Attribute values compare bit for bit (IdenticalValues): a NaN read from an old record equals
  // itself, so an unchanged record is never rewritten just because it holds one.
  friend bool operator==(const SessionRecord& a, const SessionRecord& b);
  friend bool operator!=(const SessionRecord& a, const SessionRecord& b) { return !(a == b); }
};

// Saturating a + b for b >= 0.
std::int64_t SaturatingAdd(std::int64_t a, std::int64_t b);

// Encodes `record`. Throws: Error(kInvalidArgument) if the encoding exceeds kMaxValueBytes
// (`short_id` names the session in the message).
Value EncodeSessionRecord(const SessionRecord& record, std::string_view short_id);

// Decodes what EncodeSessionRecord wrote. Throws: Error(kCorruption) for anything else,
// kSchemaTooNew for a newer record version.
SessionRecord DecodeSessionRecord(const Value& value, std::string_view short_id);

// The public view of a stored record; `id` is the stored id (hash of the token).
SessionInfo ToSessionInfo(const std::string& id, const SessionRecord& record);

// Throw Error(kInvalidArgument) naming what is wrong; never echo a token.
void ValidateAttributeName(std::string_view name);
void ValidateAttributeValue(std::string_view name, const Value& value);
void ValidateAttributes(const Attributes& attributes);
// Empty is allowed only when `allow_empty`.
void ValidatePrincipal(std::string_view principal, bool allow_empty);

}  // namespace statestore::internal

#endif  // STATESTORE_SRC_SESSION_RECORD_H_

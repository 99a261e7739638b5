// The redaction key: what makes the digests of redacted history and of session principals keyed,
// so that a copied database file (or a backup) does not let anyone recover a guessable value
// (a password, a count, a user name) by hashing guesses.
//
// Design note.
//
// Digests (all with libsodium's crypto_generichash = BLAKE2b, keyed with the 32-byte key K):
//   value digest      = BLAKE2b-256_K( SHA-256( type tag byte || payload ) )        32 bytes
//   principal digest  = hex( BLAKE2b-256_K( first 16 bytes of SHA-256(principal) ) )[0, 32)
//   key fingerprint   = first 8 bytes, big-endian, of BLAKE2b-256_K( kFingerprintContext ),
//                       stored as the INTEGER meta row 'redaction_key_fingerprint' (meta.value
//                       is an INTEGER column; 64 bits only tell keys apart, they protect nothing)
// The keyed hash is applied to the *unkeyed* digest that schema version 2 stored, so a version-2
// file migrates without the plaintext: every stored value digest d becomes BLAKE2b-256_K(d), and
// every principal digest p (32 hex = 16 bytes of SHA-256) becomes the principal digest above,
// computed from p alone — for live sessions and for the p/ keys of history alike. Session ids
// (SHA-256 of 256-bit random tokens) stay unkeyed: nobody can guess a token.
//
// Where the key comes from (ResolveForOpen):
//   1. Options::redaction_key when set (exactly 32 bytes, else kInvalidArgument at open); a key
//      file beside the database is then ignored.
//   2. Else the key file "<db>-key": exactly 32 bytes, a regular file (opened with O_NOFOLLOW and
//      O_NONBLOCK, so a symlink is refused and a FIFO cannot hang the open), owned by the owner of
//      the database file, nlink 1, no group/other permission bits. Anything else is a clear Error.
//   3. Else, only while migration 0003 runs (a new file, or a version-2 file), a new key file is
//      created: 32 bytes from randombytes_buf written to "<db>-key.tmp" (O_CREAT|O_EXCL|
//      O_NOFOLLOW|O_CLOEXEC, mode 0600; a stale one left by a crash is removed first), fsynced,
//      link()ed to "<db>-key" (never replacing an existing key), the tmp name unlinked and the
//      directory fsynced — all before the migration that records its fingerprint commits.
//
// Invariants:
//   1. The key is never stored in the database file; the file records only its fingerprint.
//   2. A writable Store always has the key whose fingerprint the file records: a writable open
//      with a missing or different key is refused with kInvalidArgument before anything is
//      written (the file stays byte-for-byte unchanged). So nothing is ever digested with a
//      second key.
//   3. The key file is created and durable (file and directory fsynced) before any digest made
//      with it, or its fingerprint, can commit. Key creation runs under the write lock of the
//      migration transaction, so concurrent first openers create one key.
//   4. Migration 0003 (the keyed rewrite of every digest, and the fingerprint) runs in the same
//      IMMEDIATE transaction as the schema bump: a crash leaves the old file or the migrated one.
//   5. A read-only open never fails for want of the key: without it (no key file, unreadable,
//      hostile, different key) the Store reports !available() and its unavailable_reason(), and
//      value digests cannot be computed (Verify counts such comparisons as not verifiable).
#ifndef STATESTORE_SRC_REDACTION_KEY_H_
#define STATESTORE_SRC_REDACTION_KEY_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "statestore/options.h"
#include "statestore/value.h"

namespace statestore::internal {

inline constexpr std::size_t kRedactionKeyBytes = 32;
// The schema version (migration number) from which digests are keyed.
inline constexpr int kKeyedDigestsSchemaVersion = 3;
// The meta row holding the fingerprint of the key the file's digests were made with.
inline constexpr const char* kFingerprintMetaName = "redaction_key_fingerprint";

class RedactionKey {
 public:
  // No key; `reason` says why (for messages).
  explicit RedactionKey(std::string reason = "no redaction key") : reason_(std::move(reason)) {}
  // Throws: Error(kInvalidArgument) unless `key` is exactly kRedactionKeyBytes bytes.
  static RedactionKey FromBytes(std::string_view key);

  bool available() const { return key_ != nullptr; }
  const std::string& unavailable_reason() const { return reason_; }

  // The value digest of `value` (design note). Throws: Error(kReadOnly) without a key.
  Bytes ValueDigest(const Value& value) const;
  // Re-keys a schema-2 digest (SHA-256 of the encoding): BLAKE2b-256_K(sha256).
  Bytes Rekey(const Bytes& sha256) const;
  // BLAKE2b-256_K(data): Store::keyed_digest. Throws: as ValueDigest.
  Bytes KeyedDigest(std::string_view data) const;
  // The principal digest for a schema-2 principal digest (32 lowercase hex); nullopt if `old_hex`
  // is not 32 lowercase hex digits.
  std::optional<std::string> RekeyPrincipalDigest(std::string_view old_hex) const;
  std::int64_t Fingerprint() const;

 private:
  struct Secret;
  void Require() const;
  void Keyed(const unsigned char* in, std::size_t in_len, unsigned char out[32]) const;

  std::shared_ptr<const Secret> key_;  // shared: a Store hands copies to its parts
  std::string reason_;
};

// SHA-256 over the type tag byte followed by the payload (bool as one byte, int64 and double as
// 8 little-endian bytes, string and bytes as their bytes): the schema-2 (unkeyed) value digest.
Bytes Sha256ValueDigest(const Value& value);

// "<db>-key".
std::string RedactionKeyFilePath(const std::string& db_path);

// The key for an open of the database `db` (after the file-identity checks), per the design
// note; `recorded` is the fingerprint the database records (the engine reads it).
// Read-only: never throws for a missing/bad key (invariant 5). Writable: the file must record a
// fingerprint and the key must match it (invariant 2); throws Error(kInvalidArgument) with the
// remedy, or Error(kCorruption) if a file at schema >= 3 records no fingerprint.
RedactionKey ResolveForOpen(const std::string& db, const std::optional<std::int64_t>& recorded,
                            const Options& options);

// The key migration 0003 uses: Options::redaction_key, else the key file, else a new key file
// (design note, point 3). REQUIRES: the database's write lock is held. Throws: Error.
RedactionKey KeyForMigration(const std::string& db_path, const Options& options);

}  // namespace statestore::internal

#endif  // STATESTORE_SRC_REDACTION_KEY_H_

// The redaction key and its key file; see the design note in redaction_key.h.
#include "core/redaction_key.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "statestore/error.h"

namespace statestore::internal {

namespace {

constexpr const char kFingerprintContext[] = "statestore redaction key fingerprint v1";
constexpr const char kHex[] = "0123456789abcdef";

void EnsureSodium() {
  static const int ready = sodium_init();  // idempotent and thread-safe; -1 = failed
  if (ready < 0) throw Error(ErrorCode::kInternal, "libsodium failed to initialize");
}

std::string Hex(const unsigned char* data, std::size_t n) {
  std::string out;
  out.reserve(2 * n);
  for (std::size_t i = 0; i < n; ++i) {
    out.push_back(kHex[data[i] >> 4]);
    out.push_back(kHex[data[i] & 0x0f]);
  }
  return out;
}

std::string FingerprintHex(std::int64_t fp) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx",
                static_cast<unsigned long long>(static_cast<std::uint64_t>(fp)));
  return buf;
}

constexpr const char* kKeyFileRules =
    "a redaction key file must be a regular file of exactly 32 bytes, mode 0600, owned by the "
    "database file's owner, with one link";

// Reads the key file. Returns nullopt if it does not exist; throws Error(kInvalidArgument) if it
// exists but is not acceptable (design note, point 2), kIoError if it cannot be read.
std::optional<std::string> LoadKeyFile(const std::string& key_path, const std::string& db_path) {
  struct stat db {};
  if (::stat(db_path.c_str(), &db) != 0) {
    throw Error(ErrorCode::kIoError, "cannot stat " + db_path + ": " + std::strerror(errno));
  }
  // O_NONBLOCK: opening a FIFO must not wait for a writer; O_NOFOLLOW: no symlink.
  int fd = ::open(key_path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::nullopt;
    if (errno == ELOOP) {
      throw Error(ErrorCode::kInvalidArgument,
                  key_path + " is a symbolic link; " + kKeyFileRules + ". Nothing was changed");
    }
    throw Error(ErrorCode::kIoError, "cannot open the redaction key file " + key_path + ": " +
                                         std::strerror(errno) + ". Nothing was changed");
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    throw Error(ErrorCode::kIoError, "cannot stat " + key_path + ": " + std::strerror(errno));
  }
  std::string problem;
  if (!S_ISREG(st.st_mode)) {
    problem = "is not a regular file";
  } else if (st.st_uid != db.st_uid) {
    problem = "is owned by uid " + std::to_string(st.st_uid) +
              ", not by the database's owner (uid " + std::to_string(db.st_uid) + ")";
  } else if (st.st_nlink != 1) {
    problem = "has " + std::to_string(st.st_nlink) + " links";
  } else if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    problem = std::string("is accessible by group or others (mode ") + mode + ")";
  } else if (st.st_size != static_cast<off_t>(kRedactionKeyBytes)) {
    problem = "is " + std::to_string(st.st_size) + " bytes, not 32";
  }
  if (!problem.empty()) {
    throw Error(ErrorCode::kInvalidArgument,
                key_path + " " + problem + "; " + kKeyFileRules + ". Nothing was changed");
  }
  std::string key(kRedactionKeyBytes + 1, '\0');
  std::size_t got = 0;
  while (got < key.size()) {
    ssize_t n = ::pread(fd, key.data() + got, key.size() - got, static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      throw Error(ErrorCode::kIoError, "cannot read " + key_path + ": " + std::strerror(errno));
    }
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  if (got != kRedactionKeyBytes) {
    sodium_memzero(key.data(), key.size());
    throw Error(ErrorCode::kInvalidArgument,
                key_path + " changed size while read; " + kKeyFileRules + ". Nothing was changed");
  }
  key.resize(kRedactionKeyBytes);
  return key;
}

void FsyncDirectoryOf(const std::string& path) {
  std::string dir = path.substr(0, path.find_last_of('/'));
  if (dir.empty()) dir = "/";
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0 || ::fsync(fd) != 0) {
    std::string why = std::strerror(errno);
    if (fd >= 0) ::close(fd);
    throw Error(ErrorCode::kIoError, "cannot fsync the directory of " + path + ": " + why);
  }
  ::close(fd);
}

// Creates the key file (design note, point 3). REQUIRES: the caller holds the database's write
// lock (so no other statestore process creates one at the same time) and the file is missing.
std::string CreateKeyFile(const std::string& key_path) {
  EnsureSodium();
  const std::string tmp = key_path + ".tmp";
  ::unlink(tmp.c_str());  // a crash between create and link left it; it never held a used key
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    throw Error(ErrorCode::kIoError,
                "cannot create the redaction key file " + tmp + ": " + std::strerror(errno));
  }
  std::string key(kRedactionKeyBytes, '\0');
  randombytes_buf(key.data(), key.size());
  auto fail = [&](const char* what) {
    const int err = errno;
    std::string why = std::strerror(err);
    ::close(fd);
    ::unlink(tmp.c_str());
    sodium_memzero(key.data(), key.size());
    throw Error(err == ENOSPC ? ErrorCode::kFull : ErrorCode::kIoError,
                std::string("cannot ") + what + " the redaction key file " + tmp + ": " + why);
  };
  std::size_t done = 0;
  while (done < key.size()) {
    ssize_t n = ::write(fd, key.data() + done, key.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail("write");
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) fail("fsync");
  ::close(fd);
  if (::link(tmp.c_str(), key_path.c_str()) != 0) {
    std::string why = std::strerror(errno);
    ::unlink(tmp.c_str());
    sodium_memzero(key.data(), key.size());
    throw Error(ErrorCode::kIoError,
                "cannot create the redaction key file " + key_path + ": " + why);
  }
  ::unlink(tmp.c_str());
  FsyncDirectoryOf(key_path);
  return key;
}

std::string RefusalMessage(const std::string& db_path, std::int64_t recorded,
                           const std::string& detail) {
  const std::string key_path = RedactionKeyFilePath(db_path);
  return db_path +
         ": the redacted history and session principal index of this database were made with "
         "another redaction key (fingerprint " +
         FingerprintHex(recorded) + ") than the one available: " + detail +
         ". The key file is expected at " + key_path + ": restore `" + key_path +
         "` (backups do not include it) or pass Options::redaction_key. The file was not changed";
}

}  // namespace

struct RedactionKey::Secret {
  unsigned char bytes[kRedactionKeyBytes];
  ~Secret() { sodium_memzero(bytes, sizeof bytes); }
};

RedactionKey RedactionKey::FromBytes(std::string_view key) {
  if (key.size() != kRedactionKeyBytes) {
    throw Error(ErrorCode::kInvalidArgument,
                "a redaction key is exactly 32 bytes, not " + std::to_string(key.size()));
  }
  EnsureSodium();
  auto secret = std::make_shared<Secret>();
  std::memcpy(secret->bytes, key.data(), kRedactionKeyBytes);
  RedactionKey k;
  k.key_ = std::move(secret);
  k.reason_.clear();
  return k;
}

void RedactionKey::Require() const {
  if (!key_) {
    throw Error(
        ErrorCode::kReadOnly,
        "value digests need the redaction key, which this Store does not have (" + reason_ + ")");
  }
}

void RedactionKey::Keyed(const unsigned char* in, std::size_t in_len, unsigned char out[32]) const {
  Require();
  crypto_generichash(out, 32, in, in_len, key_->bytes, kRedactionKeyBytes);
}

Bytes RedactionKey::ValueDigest(const Value& value) const {
  Require();
  return Rekey(Sha256ValueDigest(value));
}

Bytes RedactionKey::KeyedDigest(std::string_view data) const {
  Bytes out(32);
  Keyed(reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data());
  return out;
}

Bytes RedactionKey::Rekey(const Bytes& sha256) const {
  Bytes out(32);
  Keyed(sha256.data(), sha256.size(), out.data());
  return out;
}

std::optional<std::string> RedactionKey::RekeyPrincipalDigest(std::string_view old_hex) const {
  if (old_hex.size() != 32) return std::nullopt;
  unsigned char raw[16];
  for (std::size_t i = 0; i < 16; ++i) {
    int v = 0;
    for (char ch : {old_hex[2 * i], old_hex[2 * i + 1]}) {
      int d;
      if (ch >= '0' && ch <= '9') {
        d = ch - '0';
      } else if (ch >= 'a' && ch <= 'f') {
        d = ch - 'a' + 10;
      } else {
        return std::nullopt;
      }
      v = v * 16 + d;
    }
    raw[i] = static_cast<unsigned char>(v);
  }
  unsigned char out[32];
  Keyed(raw, sizeof raw, out);
  return Hex(out, 16);
}

std::int64_t RedactionKey::Fingerprint() const {
  unsigned char out[32];
  Keyed(reinterpret_cast<const unsigned char*>(kFingerprintContext), sizeof kFingerprintContext - 1,
        out);
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | out[i];
  return static_cast<std::int64_t>(v);
}

Bytes Sha256ValueDigest(const Value& value) {
  // Encoding: type tag byte, then the payload. Little-endian numbers so the digest is the same on
  // every host.
  Bytes encoded;
  encoded.push_back(static_cast<std::uint8_t>(value.type()));
  auto append_u64 = [&](std::uint64_t v) {
    for (int i = 0; i < 8; ++i) encoded.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
  };
  switch (value.type()) {
    case ValueType::kNull:
      break;
    case ValueType::kBool:
      encoded.push_back(value.as_bool() ? 1 : 0);
      break;
    case ValueType::kInt:
      append_u64(static_cast<std::uint64_t>(value.as_int()));
      break;
    case ValueType::kDouble: {
      double d = value.as_double();
      std::uint64_t bits;
      std::memcpy(&bits, &d, sizeof bits);
      append_u64(bits);
      break;
    }
    case ValueType::kString:
      encoded.insert(encoded.end(), value.as_string().begin(), value.as_string().end());
      break;
    case ValueType::kBytes:
      encoded.insert(encoded.end(), value.as_bytes().begin(), value.as_bytes().end());
      break;
  }
  EnsureSodium();
  Bytes digest(crypto_hash_sha256_BYTES);
  crypto_hash_sha256(digest.data(), encoded.data(), encoded.size());
  return digest;
}

std::string RedactionKeyFilePath(const std::string& db_path) { return db_path + "-key"; }

RedactionKey ResolveForOpen(const std::string& db, const std::optional<std::int64_t>& recorded,
                            const Options& options) {
  const std::string key_path = RedactionKeyFilePath(db);
  if (options.read_only) {
    // Invariant 5: never fail; say why there is no key.
    try {
      std::optional<std::string> bytes;
      std::string source;
      if (!options.redaction_key.empty()) {
        bytes = options.redaction_key;
        source = "Options::redaction_key";
      } else {
        bytes = LoadKeyFile(key_path, db);
        source = key_path;
        if (!bytes) return RedactionKey("no key file " + key_path);
      }
      RedactionKey key = RedactionKey::FromBytes(*bytes);
      sodium_memzero(bytes->data(), bytes->size());
      if (!recorded) return RedactionKey(db + " records no redaction key fingerprint");
      if (key.Fingerprint() != *recorded) {
        return RedactionKey("the key from " + source + " is not the one " + db + " was made with");
      }
      return key;
    } catch (const Error& e) {
      return RedactionKey(e.what());
    }
  }
  if (!recorded) {
    throw Error(ErrorCode::kCorruption,
                db + ": schema version " + std::to_string(kKeyedDigestsSchemaVersion) +
                    " or later but the meta table records no redaction key fingerprint; the file "
                    "is damaged");
  }
  std::optional<std::string> bytes;
  std::string what;
  if (!options.redaction_key.empty()) {
    bytes = options.redaction_key;
    what = "Options::redaction_key";
  } else {
    bytes = LoadKeyFile(key_path, db);
    if (!bytes) {
      throw Error(
          ErrorCode::kInvalidArgument,
          RefusalMessage(db, *recorded,
                         "there is no key file " + key_path + " and no Options::redaction_key"));
    }
    what = "the key in " + key_path;
  }
  RedactionKey key = RedactionKey::FromBytes(*bytes);
  sodium_memzero(bytes->data(), bytes->size());
  if (key.Fingerprint() != *recorded) {
    throw Error(ErrorCode::kInvalidArgument,
                RefusalMessage(db, *recorded,
                               what + " has fingerprint " + FingerprintHex(key.Fingerprint())));
  }
  return key;
}

// Used by MigrateToKeyedDigests (redaction_migration.cc).
RedactionKey KeyForMigration(const std::string& db_path, const Options& options) {
  if (!options.redaction_key.empty()) return RedactionKey::FromBytes(options.redaction_key);
  const std::string key_path = RedactionKeyFilePath(db_path);
  std::optional<std::string> bytes = LoadKeyFile(key_path, db_path);
  if (!bytes) bytes = CreateKeyFile(key_path);
  RedactionKey key = RedactionKey::FromBytes(*bytes);
  sodium_memzero(bytes->data(), bytes->size());
  return key;
}

}  // namespace statestore::internal

#include "core/validate.h"

#include <cmath>
#include <cstdint>
#include <string>

#include "statestore/error.h"

namespace statestore::internal {

namespace {

[[noreturn]] void Invalid(const std::string& message) {
  throw Error(ErrorCode::kInvalidArgument, message);
}

// Shortened, escaped rendering of user text for error messages.
std::string Quote(std::string_view s) { return Value(std::string(s)).to_display(48); }

}  // namespace

void ValidateKeyspace(std::string_view keyspace) {
  if (keyspace.empty()) Invalid("keyspace name is empty");
  if (keyspace.size() > kMaxKeyspaceNameBytes) {
    Invalid("keyspace name " + Quote(keyspace) + " is longer than " +
            std::to_string(kMaxKeyspaceNameBytes) + " characters");
  }
  if (!(keyspace[0] >= 'a' && keyspace[0] <= 'z')) {
    Invalid("keyspace name " + Quote(keyspace) + " must start with a lower-case letter a-z");
  }
  for (char c : keyspace) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
    if (!ok) {
      Invalid("keyspace name " + Quote(keyspace) + " may contain only a-z, 0-9, '_', '.' and '-'");
    }
  }
}

void ValidateKey(std::string_view key) {
  if (key.empty()) Invalid("key is empty");
  if (key.size() > kMaxKeyBytes) {
    Invalid("key " + Quote(key) + " is " + std::to_string(key.size()) + " bytes; the limit is " +
            std::to_string(kMaxKeyBytes));
  }
  if (key.find('\0') != std::string_view::npos) Invalid("key " + Quote(key) + " contains NUL");
  if (!IsValidUtf8(key)) Invalid("key " + Quote(key) + " is not valid UTF-8");
}

void ValidatePrefix(std::string_view prefix) {
  if (prefix.size() > kMaxKeyBytes) {
    Invalid("prefix is " + std::to_string(prefix.size()) + " bytes; the limit is " +
            std::to_string(kMaxKeyBytes));
  }
  if (prefix.find('\0') != std::string_view::npos) {
    Invalid("prefix " + Quote(prefix) + " contains NUL");
  }
}

void ValidateValue(std::string_view keyspace, std::string_view key, const Value& value) {
  ValidateValueOf("value for " + std::string(keyspace) + "/" + Quote(key), value);
}

void ValidateLabel(std::string_view label) {
  if (label.size() > kMaxLabelBytes) {
    Invalid("origin label is longer than " + std::to_string(kMaxLabelBytes) + " bytes");
  }
  if (!IsValidUtf8(label) || label.find('\0') != std::string_view::npos) {
    Invalid("origin label must be UTF-8 text without NUL");
  }
}

void ValidateTtl(std::string_view keyspace, std::string_view key, std::chrono::milliseconds ttl) {
  if (ttl.count() <= 0 || ttl > PutOptions::kMaxTtl) {
    Invalid("time-to-live for " + DescribeKey(keyspace, key) + " is " +
            std::to_string(ttl.count()) + " ms; it must be positive and at most " +
            std::to_string(PutOptions::kMaxTtl.count()) + " ms (100 years)");
  }
}

void ValidatePutOptions(std::string_view keyspace, std::string_view key,
                        const PutOptions& options) {
  if (options.lease) {
    if (options.ttl || options.keep_ttl) {
      Invalid("put of " + DescribeKey(keyspace, key) +
              ": PutOptions::lease excludes ttl and keep_ttl (the key takes the lease's deadline)");
    }
    ValidateLeaseId(*options.lease);
    return;
  }
  if (!options.ttl) return;
  if (options.keep_ttl) {
    Invalid("put of " + DescribeKey(keyspace, key) +
            ": PutOptions::ttl and keep_ttl exclude each other (keep_ttl keeps the deadline the "
            "key has; ttl sets a new one)");
  }
  ValidateTtl(keyspace, key, *options.ttl);
}

void ValidateLeaseTtl(std::chrono::milliseconds ttl) {
  if (ttl.count() <= 0 || ttl > PutOptions::kMaxTtl) {
    Invalid("lease time-to-live is " + std::to_string(ttl.count()) +
            " ms; it must be positive and at most " + std::to_string(PutOptions::kMaxTtl.count()) +
            " ms (100 years)");
  }
}

void ValidateLeaseId(LeaseId lease) {
  if (lease <= 0) {
    Invalid("lease id " + std::to_string(lease) + " is not one: lease ids are positive");
  }
}

void ValidateMaxKeys(std::string_view keyspace, std::optional<std::uint64_t> max_keys) {
  ValidateKeyspace(keyspace);
  if (!max_keys) return;
  if (*max_keys == 0) {
    Invalid("keyspace " + std::string(keyspace) +
            ": a maximum of 0 keys would evict every key as it is written; pass a positive "
            "maximum, or no maximum (nullopt) to remove the bound");
  }
  if (*max_keys > static_cast<std::uint64_t>(INT64_MAX)) {
    Invalid("keyspace " + std::string(keyspace) + ": maximum " + std::to_string(*max_keys) +
            " keys is above the largest one stored (" + std::to_string(INT64_MAX) + ")");
  }
}

std::string DescribeKey(std::string_view keyspace, std::string_view key) {
  return std::string(keyspace) + "/" + Value(std::string(key)).to_display(80);
}

}  // namespace statestore::internal

// Argument checks shared by every public entry point. Each throws Error(kInvalidArgument) with a
// message naming the offending argument; none touches the database.
#ifndef STATESTORE_SRC_VALIDATE_H_
#define STATESTORE_SRC_VALIDATE_H_

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "statestore/transaction.h"
#include "statestore/value.h"
#include "util/text.h"    // IsValidUtf8
#include "util/values.h"  // ValidateValueOf, kNanRefusal

namespace statestore::internal {

inline constexpr std::size_t kMaxLabelBytes = 256;

void ValidateKeyspace(std::string_view keyspace);
void ValidateKey(std::string_view key);
// A list() prefix: may be empty or end inside a UTF-8 sequence; no NUL; at most kMaxKeyBytes.
void ValidatePrefix(std::string_view prefix);
// A value about to be stored under keyspace/key: size limit, UTF-8 of strings, no NaN (value.h).
// The message names keyspace and key, never the value.
void ValidateValue(std::string_view keyspace, std::string_view key, const Value& value);
void ValidateLabel(std::string_view label);
// A time-to-live: positive and at most PutOptions::kMaxTtl. Throws: Error(kInvalidArgument).
void ValidateTtl(std::string_view keyspace, std::string_view key, std::chrono::milliseconds ttl);
// ttl valid if set, and not together with keep_ttl. Throws: Error(kInvalidArgument).
void ValidatePutOptions(std::string_view keyspace, std::string_view key, const PutOptions& options);
// A lease's TTL (grant_lease): positive and at most PutOptions::kMaxTtl.
void ValidateLeaseTtl(std::chrono::milliseconds ttl);
// A lease id as a caller passes it: positive.
void ValidateLeaseId(LeaseId lease);
// A keyspace bound (set_max_keys): a valid keyspace name, and a maximum of 1 .. INT64_MAX or none.
void ValidateMaxKeys(std::string_view keyspace, std::optional<std::uint64_t> max_keys);
// "keyspace/key" for messages, the key quoted and cut (Value::to_display): never the value.
std::string DescribeKey(std::string_view keyspace, std::string_view key);

}  // namespace statestore::internal

#endif  // STATESTORE_SRC_VALIDATE_H_

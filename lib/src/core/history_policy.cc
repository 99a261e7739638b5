#include "core/history_policy.h"

#include <chrono>
#include <cstdint>
#include <string>

#include "core/validate.h"
#include "statestore/error.h"
#include "statestore/session.h"

namespace statestore::internal {

void ValidateHistoryPolicy(std::string_view keyspace, const HistoryPolicy& policy) {
  ValidateKeyspace(keyspace);
  const std::string what = "history policy of keyspace '" + std::string(keyspace) + "': ";
  if (policy.keep_none && (policy.keep_revisions != 0 || policy.keep_for.count() != 0)) {
    throw Error(ErrorCode::kInvalidArgument,
                what + "keep_none keeps no history, so keep_revisions and keep_for must be 0");
  }
  if (policy.keep_for.count() < 0) {
    throw Error(ErrorCode::kInvalidArgument, what + "keep_for must not be negative");
  }
  if (policy.keep_revisions > static_cast<std::uint64_t>(INT64_MAX)) {
    throw Error(ErrorCode::kInvalidArgument, what + "keep_revisions is too large");
  }
  // Microseconds since the epoch must not overflow when the cutoff time is computed.
  if (policy.keep_for > std::chrono::hours(24 * 365 * 10000)) {
    throw Error(ErrorCode::kInvalidArgument,
                what + "keep_for is longer than 10000 years; use keep-all (all fields 0)");
  }
}

EffectiveHistoryPolicy ResolveHistoryPolicy(std::string_view keyspace,
                                            const std::optional<HistoryPolicy>& stored,
                                            const HistoryRetention& global) {
  EffectiveHistoryPolicy e;
  if (stored) {
    e.policy = *stored;
    e.source = HistoryPolicySource::kStored;
  } else if (keyspace == kSessionsKeyspace) {
    e.policy.keep_for = kSessionsHistoryKeepFor;
    e.source = HistoryPolicySource::kDefault;
  } else {
    e.policy.keep_revisions = global.keep_revisions;
    e.policy.keep_for = global.keep_for;
    e.source = HistoryPolicySource::kGlobal;
  }
  return e;
}

}  // namespace statestore::internal

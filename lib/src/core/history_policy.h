// History retention policy per keyspace (statestore/history.h): which policies are valid and which
// one applies. Engine-neutral: every engine stores policies in its own schema and applies them
// with its own retention batches, but decides them here.
#ifndef STATESTORE_SRC_CORE_HISTORY_POLICY_H_
#define STATESTORE_SRC_CORE_HISTORY_POLICY_H_

#include <optional>
#include <string_view>

#include "statestore/history.h"
#include "statestore/options.h"

namespace statestore::internal {

// Throws kInvalidArgument unless `policy` is valid for `keyspace` (a valid name; keep_none with
// no limit; limits whose cutoff times cannot overflow).
void ValidateHistoryPolicy(std::string_view keyspace, const HistoryPolicy& policy);

// The policy retention applies to a keyspace: `stored` if any, else the built-in default of
// "sessions", else `global` (Options::history_retention of this process).
EffectiveHistoryPolicy ResolveHistoryPolicy(std::string_view keyspace,
                                            const std::optional<HistoryPolicy>& stored,
                                            const HistoryRetention& global);

}  // namespace statestore::internal

#endif  // STATESTORE_SRC_CORE_HISTORY_POLICY_H_

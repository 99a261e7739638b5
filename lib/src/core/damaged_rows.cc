#include "core/damaged_rows.h"

#include <spdlog/spdlog.h>

#include <utility>

#include "core/store_counters.h"
#include "statestore/value.h"

namespace statestore::internal {

Error DamagedRowError(std::string_view keyspace, std::string_view key, const std::string& problem) {
  return Error(ErrorCode::kCorruption,
               "stored value of " + std::string(keyspace) + "/" +
                   Value(std::string(key)).to_display(80) + " is damaged (" + problem +
                   "; the file was edited outside statestore?); overwrite or erase the key to "
                   "repair it; `statectl verify` lists damaged keys");
}

void DamagedRowReporter::Skipped(std::string_view keyspace, std::string_view key,
                                 std::string_view where, const std::string& problem) {
  if (counters_ != nullptr) Bump(counters_->damaged_rows_skipped);
  if (log_ == nullptr) return;
  std::string id;
  id.reserve(keyspace.size() + 1 + key.size());
  id.append(keyspace).push_back('\0');  // keyspace names hold no NUL
  id.append(key);
  {
    MutexLock lock(&mu_);
    if (warned_.size() >= kMaxWarnedKeys || !warned_.insert(std::move(id)).second) return;
  }
  log_->warn(
      "statestore: skipped a damaged row of {}/{} ({}: {}); overwrite or erase the key to repair "
      "it, `statectl verify` lists damaged keys (further skips of this key are only counted, in "
      "Stats::damaged_rows_skipped)",
      keyspace, Value(std::string(key)).to_display(80), where, problem);
}

}  // namespace statestore::internal

// Rows that do not decode (sqlite/value_codec.h, design note): what a point read of one throws,
// and what a scan does with one. Engine-neutral: every engine's codec reports damage as a
// description, and the Store applies this one policy.
#ifndef STATESTORE_SRC_CORE_DAMAGED_ROWS_H_
#define STATESTORE_SRC_CORE_DAMAGED_ROWS_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_set>

#include "statestore/error.h"
#include "util/mutex.h"

namespace spdlog {
class logger;
}

namespace statestore::internal {

struct StoreCounters;

// The error of a point read of a damaged key: kCorruption naming keyspace and key, what is wrong
// and the remedy.
Error DamagedRowError(std::string_view keyspace, std::string_view key, const std::string& problem);

// What a scan does with a row it cannot decode (value_codec.h note 2): counts it in
// Stats::damaged_rows_skipped and logs a warning naming keyspace and key — never the value — at
// most once per key for the life of the Store, so a damaged row read in a loop cannot flood the
// log. One per Store; thread-safe.
class DamagedRowReporter {
 public:
  // Either may be null (then nothing is counted / logged). Both must outlive the reporter.
  DamagedRowReporter(StoreCounters* counters, spdlog::logger* log)
      : counters_(counters), log_(log) {}
  DamagedRowReporter(const DamagedRowReporter&) = delete;
  DamagedRowReporter& operator=(const DamagedRowReporter&) = delete;

  // `where` says which row ("current value", "history revision 7"); `problem` what is wrong.
  void Skipped(std::string_view keyspace, std::string_view key, std::string_view where,
               const std::string& problem);

 private:
  // Keys remembered for "once per key"; past this many, further keys are counted, not logged.
  static constexpr std::size_t kMaxWarnedKeys = 1000;

  StoreCounters* const counters_;
  spdlog::logger* const log_;
  Mutex mu_;
  std::unordered_set<std::string> warned_ GUARDED_BY(mu_);
};

}  // namespace statestore::internal

#endif  // STATESTORE_SRC_CORE_DAMAGED_ROWS_H_

// ValidatorRegistry — the validators registered with Config::add_validator, and the checks run on
// every config write before it reaches the store.
//
// Validators are user code: they are copied out under the registry lock and run without it, so a
// validator may itself read config (or be slow) without blocking registration or other writers'
// validation.
#ifndef STATESTORE_SRC_CONFIG_VALIDATORS_H_
#define STATESTORE_SRC_CONFIG_VALIDATORS_H_

#include <string>
#include <string_view>
#include <vector>

#include "statestore/config.h"
#include "util/mutex.h"

namespace statestore::internal {

// Whether `pattern` (see Config::add_validator) applies to `key`.
bool PatternMatches(std::string_view pattern, std::string_view key);

class ValidatorRegistry {
 public:
  // Throws: Error(kInvalidArgument) for a bad pattern or an empty validator.
  void Add(std::string_view pattern, Validator validator);
  // Runs every validator matching `key`. Throws: Error(kInvalidArgument) "config key "k": rejected
  // (validator for "pattern"): reason" on the first rejection.
  void Check(std::string_view key, const ConfigValue& value) const;

 private:
  struct Entry {
    std::string pattern;
    Validator fn;
  };
  mutable SharedMutex mu_;
  std::vector<Entry> entries_ GUARDED_BY(mu_);
};

}  // namespace statestore::internal

#endif  // STATESTORE_SRC_CONFIG_VALIDATORS_H_

// Declared settings (see "Declared settings" in statestore/config.h): where declarations live in
// keyspace "config", how a value is checked against one, and the per-Config cache of parsed
// declarations.
//
// A declaration is stored as a string Value holding its JSON document (SettingDeclaration::to_json)
// under "declared/<key>". Config keys never contain '/', and "declared" is neither "override" nor
// "profile", so ParseStorageKey never mistakes a declaration for a layer value (and watches and
// views built from layer keys ignore declarations unless they ask for them).
//
// Invariants:
//   1. Every write of a config value checks the declaration read in the same transaction as the
//      write (same snapshot), so a value that commits satisfied the declaration stored at its
//      revision — whatever process, statectl included, made it.
//   2. A cached declaration is keyed by (key, version of the stored entry): a version is the
//      revision that wrote it, so a cache hit is the stored document itself, never an older one,
//      and nothing needs invalidating when another process re-declares.
#ifndef STATESTORE_SRC_CONFIG_DECLARATIONS_H_
#define STATESTORE_SRC_CONFIG_DECLARATIONS_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <string_view>

#include "statestore/config.h"
#include "statestore/transaction.h"
#include "util/mutex.h"

namespace statestore::internal {

inline constexpr std::string_view kDeclaredPrefix = "declared/";

std::string DeclaredStorageKey(std::string_view key);
// The config key of a "declared/<key>" storage key; nullopt for any other key.
std::optional<std::string> ParseDeclaredKey(std::string_view storage_key);

// A validated declaration with its regex compiled once.
struct CompiledDeclaration {
  SettingDeclaration decl;
  std::shared_ptr<const std::regex> re;  // null when decl.regex is empty
};

// Validates `decl` and compiles its regex. Throws: as SettingDeclaration::validate.
std::shared_ptr<const CompiledDeclaration> CompileDeclaration(SettingDeclaration decl);

// nullopt if `value` satisfies `d`, else the reason.
std::optional<std::string> CheckDeclared(const CompiledDeclaration& d, const ConfigValue& value);

// Throws Error(kInvalidArgument) "config key "k": value V (type) rejected by its declaration
// (summary): reason" when `d` rejects `value`. The one message of the library and statectl.
void EnforceDeclaration(const CompiledDeclaration& d, const ConfigValue& value);

// Parsed declarations of one Config. Thread-safe.
class DeclarationCache {
 public:
  // The declaration of `key` stored in `stored` (the entry under DeclaredStorageKey(key)).
  // Throws: Error(kCorruption) naming the key if the stored value is not a valid declaration.
  std::shared_ptr<const CompiledDeclaration> Get(std::string_view key, const Entry& stored);
  // The stored declaration of `key` read through `tx`; null when there is none.
  std::shared_ptr<const CompiledDeclaration> Read(Transaction& tx, std::string_view key);

 private:
  static constexpr std::size_t kMaxEntries = 4096;  // dropped wholesale past this (rare: churn)
  Mutex mu_;
  // key -> (version, declaration)
  std::map<std::string, std::pair<std::uint64_t, std::shared_ptr<const CompiledDeclaration>>,
           std::less<>>
      entries_ GUARDED_BY(mu_);
};

}  // namespace statestore::internal

#endif  // STATESTORE_SRC_CONFIG_DECLARATIONS_H_

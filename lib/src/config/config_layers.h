// Config layers: key syntax, where each layer lives in keyspace "config", the in-memory defaults,
// and resolution (overrides > profile > defaults).
//
// Layout of keyspace "config" (see config.h):
//   "override/<key>"            ConfigLayer::kOverrides
//   "profile/<name>/<key>"      ConfigLayer::kProfile of profile <name>
// Config keys never contain '/', so a storage key names its layer without ambiguity. Keys of
// keyspace "config" that do not parse are not config entries and are ignored.
//
// Invariants:
//   1. Every config key passed to the store went through ValidateConfigKey.
//   2. A resolution reads all layers of a key from one snapshot (a read transaction, a write
//      body, or a ConfigViewData), so an answer never mixes two revisions.
#ifndef STATESTORE_SRC_CONFIG_LAYERS_H_
#define STATESTORE_SRC_CONFIG_LAYERS_H_

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "statestore/config.h"
#include "util/mutex.h"

namespace statestore::internal {

inline constexpr std::string_view kConfigKeyspace = "config";
inline constexpr std::string_view kOverridePrefix = "override/";
inline constexpr std::string_view kProfilePrefix = "profile/";
inline constexpr std::size_t kMaxProfileNameBytes = 64;

// Throw Error(kInvalidArgument) with a message naming the key and what is wrong.
void ValidateConfigKey(std::string_view key);
// A list/watch prefix: empty, or characters of keys ([a-z0-9_.-]), at most kMaxConfigKeyBytes.
void ValidateConfigPrefix(std::string_view prefix);
// Empty (no profile) or 1..64 characters of [a-z0-9_-].
void ValidateProfileName(std::string_view profile);

// Where a layer's keys live. REQUIRES: layer != kDefaults; profile non-empty for kProfile.
std::string LayerPrefix(ConfigLayer layer, std::string_view profile);
std::string StorageKey(ConfigLayer layer, std::string_view profile, std::string_view key);

struct ParsedStorageKey {
  ConfigLayer layer;
  std::string profile;  // kProfile only
  std::string key;
};
std::optional<ParsedStorageKey> ParseStorageKey(std::string_view storage_key);

// What the layers hold for one key.
struct LayerSlots {
  std::optional<SettingDeclaration> declaration;  // the stored declaration (its default is the
  std::uint64_t declaration_version = 0;          // lowest layer: below in-process defaults)
  std::optional<ConfigValue> defaults;
  std::optional<ConfigValue> profile;
  std::uint64_t profile_version = 0;
  std::optional<ConfigValue> overrides;
  std::uint64_t override_version = 0;
};

Explanation Resolve(std::string_view key, const LayerSlots& slots, std::string_view profile);
std::optional<ConfigValue> Effective(const LayerSlots& slots);

using LayerMap = std::map<std::string, ConfigValue, std::less<>>;

// Effective entries of the layers whose key starts with `prefix`, sorted. `declared` holds the
// declared defaults (reported as layer kDefaults, below the in-process `defaults`).
std::vector<ConfigEntry> MergeLayers(const LayerMap& declared, const LayerMap& defaults,
                                     const LayerMap& profile, const LayerMap& overrides,
                                     std::string_view prefix);

// The in-memory defaults layer. Thread-safe.
class Defaults {
 public:
  void Set(const std::string& key, const ConfigValue& value);
  void SetAll(const std::vector<std::pair<std::string, ConfigValue>>& values);
  std::optional<ConfigValue> Get(std::string_view key) const;
  LayerMap Snapshot() const;

 private:
  mutable SharedMutex mu_;
  LayerMap values_ GUARDED_BY(mu_);
};

}  // namespace statestore::internal

namespace statestore::internal {

// The data behind a ConfigView: immutable once built.
struct ConfigViewData {
  Revision revision = 0;
  std::string profile;
  LayerMap defaults;
  LayerMap profile_layer;
  LayerMap overrides;
  // The declarations stored at `revision`.
  std::map<std::string, SettingDeclaration, std::less<>> declarations;
};

}  // namespace statestore::internal

#endif  // STATESTORE_SRC_CONFIG_LAYERS_H_

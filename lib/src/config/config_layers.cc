#include "config/config_layers.h"

#include <cstdio>
#include <string>

#include "config/config_value.h"
#include "statestore/error.h"

namespace statestore {
namespace internal {

namespace {

bool IsKeyChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

std::string Printable(std::string_view s) {
  std::string out;
  for (unsigned char c : s.substr(0, 80)) {
    if (c < 0x20 || c >= 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  if (s.size() > 80) out += "...";
  return out;
}

std::string DescribeChar(char c) {
  auto u = static_cast<unsigned char>(c);
  if (u < 0x20 || u >= 0x7f) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "\\x%02x", u);
    return buf;
  }
  return std::string("'") + c + "'";
}

}  // namespace

void ValidateConfigKey(std::string_view key) {
  const std::string shown = "config key \"" + Printable(key) + "\"";
  if (key.empty()) throw Error(ErrorCode::kInvalidArgument, "config key is empty");
  if (key.size() > kMaxConfigKeyBytes) {
    throw Error(ErrorCode::kInvalidArgument, shown + " is " + std::to_string(key.size()) +
                                                 " bytes; the limit is " +
                                                 std::to_string(kMaxConfigKeyBytes));
  }
  std::size_t segment_start = 0;
  for (std::size_t i = 0; i <= key.size(); ++i) {
    if (i == key.size() || key[i] == '.') {
      if (i == segment_start) {
        throw Error(ErrorCode::kInvalidArgument,
                    shown + " has an empty segment at offset " + std::to_string(i) +
                        " (keys are segments of [a-z0-9_-] separated by '.', like net.http.port)");
      }
      segment_start = i + 1;
    } else if (!IsKeyChar(key[i])) {
      throw Error(ErrorCode::kInvalidArgument,
                  shown + ": character " + DescribeChar(key[i]) + " at offset " +
                      std::to_string(i) +
                      " is not allowed (keys are segments of [a-z0-9_-] separated by '.')");
    }
  }
}

void ValidateConfigPrefix(std::string_view prefix) {
  if (prefix.size() > kMaxConfigKeyBytes) {
    throw Error(ErrorCode::kInvalidArgument, "config prefix is " + std::to_string(prefix.size()) +
                                                 " bytes; the limit is " +
                                                 std::to_string(kMaxConfigKeyBytes));
  }
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (!IsKeyChar(prefix[i]) && prefix[i] != '.') {
      throw Error(ErrorCode::kInvalidArgument, "config prefix \"" + Printable(prefix) +
                                                   "\": character " + DescribeChar(prefix[i]) +
                                                   " at offset " + std::to_string(i) +
                                                   " is not allowed (keys use [a-z0-9_-] and '.')");
    }
  }
}

void ValidateProfileName(std::string_view profile) {
  if (profile.size() > kMaxProfileNameBytes) {
    throw Error(ErrorCode::kInvalidArgument,
                "ConfigOptions::profile is " + std::to_string(profile.size()) +
                    " bytes; the limit is " + std::to_string(kMaxProfileNameBytes));
  }
  for (char c : profile) {
    if (!IsKeyChar(c)) {
      throw Error(ErrorCode::kInvalidArgument, "ConfigOptions::profile \"" + Printable(profile) +
                                                   "\": character " + DescribeChar(c) +
                                                   " is not allowed (use [a-z0-9_-])");
    }
  }
}

std::string LayerPrefix(ConfigLayer layer, std::string_view profile) {
  if (layer == ConfigLayer::kOverrides) return std::string(kOverridePrefix);
  return std::string(kProfilePrefix) + std::string(profile) + "/";
}

std::string StorageKey(ConfigLayer layer, std::string_view profile, std::string_view key) {
  return LayerPrefix(layer, profile) + std::string(key);
}

std::optional<ParsedStorageKey> ParseStorageKey(std::string_view sk) {
  if (sk.substr(0, kOverridePrefix.size()) == kOverridePrefix) {
    std::string_view key = sk.substr(kOverridePrefix.size());
    if (key.empty() || key.find('/') != std::string_view::npos) return std::nullopt;
    return ParsedStorageKey{ConfigLayer::kOverrides, {}, std::string(key)};
  }
  if (sk.substr(0, kProfilePrefix.size()) == kProfilePrefix) {
    std::string_view rest = sk.substr(kProfilePrefix.size());
    auto slash = rest.find('/');
    if (slash == std::string_view::npos || slash == 0) return std::nullopt;
    std::string_view key = rest.substr(slash + 1);
    if (key.empty() || key.find('/') != std::string_view::npos) return std::nullopt;
    return ParsedStorageKey{ConfigLayer::kProfile, std::string(rest.substr(0, slash)),
                            std::string(key)};
  }
  return std::nullopt;
}

std::optional<ConfigValue> Effective(const LayerSlots& s) {
  if (s.overrides) return s.overrides;
  if (s.profile) return s.profile;
  if (s.defaults) return s.defaults;
  if (s.declaration) return s.declaration->default_value;
  return std::nullopt;
}

Explanation Resolve(std::string_view key, const LayerSlots& s, std::string_view profile) {
  Explanation e;
  e.key = std::string(key);
  e.layers.push_back(
      LayerValue{ConfigLayer::kOverrides, "overrides", s.overrides, s.override_version});
  if (!profile.empty()) {
    e.layers.push_back(LayerValue{ConfigLayer::kProfile, "profile:" + std::string(profile),
                                  s.profile, s.profile_version});
  }
  e.layers.push_back(LayerValue{ConfigLayer::kDefaults, "defaults", s.defaults, 0});
  if (s.declaration) {
    e.layers.push_back(LayerValue{ConfigLayer::kDefaults, "declared", s.declaration->default_value,
                                  s.declaration->default_value ? s.declaration_version : 0});
    e.declaration = s.declaration;
  }
  for (const auto& l : e.layers) {
    if (l.value) {
      e.value = l.value;
      e.answered_by = l.layer;
      break;
    }
  }
  return e;
}

std::vector<ConfigEntry> MergeLayers(const LayerMap& declared, const LayerMap& defaults,
                                     const LayerMap& profile, const LayerMap& overrides,
                                     std::string_view prefix) {
  std::map<std::string, ConfigEntry, std::less<>> merged;
  auto add = [&](const LayerMap& layer, ConfigLayer which) {
    for (auto it = layer.lower_bound(prefix);
         it != layer.end() && std::string_view(it->first).substr(0, prefix.size()) == prefix;
         ++it) {
      merged.insert_or_assign(it->first, ConfigEntry{it->first, it->second, which});
    }
  };
  add(declared, ConfigLayer::kDefaults);
  add(defaults, ConfigLayer::kDefaults);
  add(profile, ConfigLayer::kProfile);
  add(overrides, ConfigLayer::kOverrides);
  std::vector<ConfigEntry> out;
  out.reserve(merged.size());
  for (auto& [k, e] : merged) out.push_back(std::move(e));
  return out;
}

void Defaults::Set(const std::string& key, const ConfigValue& value) {
  WriterLock lock(&mu_);
  values_.insert_or_assign(key, value);
}

void Defaults::SetAll(const std::vector<std::pair<std::string, ConfigValue>>& values) {
  WriterLock lock(&mu_);
  for (const auto& [k, v] : values) values_.insert_or_assign(k, v);
}

std::optional<ConfigValue> Defaults::Get(std::string_view key) const {
  ReaderLock lock(&mu_);
  auto it = values_.find(key);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

LayerMap Defaults::Snapshot() const {
  ReaderLock lock(&mu_);
  return values_;
}

}  // namespace internal

// ---- ConfigView ---------------------------------------------------------------------------------

namespace {

internal::LayerSlots SlotsOf(const internal::ConfigViewData& d, std::string_view key) {
  internal::LayerSlots s;
  if (auto it = d.defaults.find(key); it != d.defaults.end()) s.defaults = it->second;
  if (auto it = d.profile_layer.find(key); it != d.profile_layer.end()) s.profile = it->second;
  if (auto it = d.overrides.find(key); it != d.overrides.end()) s.overrides = it->second;
  if (auto it = d.declarations.find(key); it != d.declarations.end()) s.declaration = it->second;
  return s;
}

const internal::ConfigViewData& Data(const std::shared_ptr<const internal::ConfigViewData>& d) {
  if (!d) throw Error(ErrorCode::kInvalidArgument, "ConfigView is empty");
  return *d;
}

}  // namespace

Revision ConfigView::revision() const { return Data(data_).revision; }

std::optional<ConfigValue> ConfigView::get_value(std::string_view key) const {
  internal::ValidateConfigKey(key);
  return internal::Effective(SlotsOf(Data(data_), key));
}

Explanation ConfigView::explain(std::string_view key) const {
  internal::ValidateConfigKey(key);
  const auto& d = Data(data_);
  return internal::Resolve(key, SlotsOf(d, key), d.profile);
}

std::vector<ConfigEntry> ConfigView::list(std::string_view prefix) const {
  internal::ValidateConfigPrefix(prefix);
  const auto& d = Data(data_);
  internal::LayerMap declared;
  for (const auto& [key, decl] : d.declarations) {
    if (decl.default_value) declared.emplace(key, *decl.default_value);
  }
  return internal::MergeLayers(declared, d.defaults, d.profile_layer, d.overrides, prefix);
}

std::string ConfigView::export_json() const {
  std::vector<std::pair<std::string, ConfigValue>> entries;
  for (auto& e : list()) entries.emplace_back(std::move(e.key), std::move(e.value));
  return internal::WriteFlatJson(entries);
}

}  // namespace statestore

#include "config_impl.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <utility>

#include "config_value.h"
#include "statestore/error.h"

namespace statestore::internal {

namespace {

const std::string kKeyspace(kConfigKeyspace);

void CheckWritableLayer(ConfigLayer layer, const std::string& profile, std::string_view key) {
  if (layer == ConfigLayer::kDefaults) {
    throw Error(ErrorCode::kInvalidArgument,
                "config key \"" + std::string(key) +
                    "\": the defaults layer is not stored; use Config::set_default");
  }
  if (layer == ConfigLayer::kProfile && profile.empty()) {
    throw Error(ErrorCode::kInvalidArgument,
                "config key \"" + std::string(key) +
                    "\": no profile layer (ConfigOptions::profile is empty)");
  }
}

// Raw (storage key -> stored value) of the durable layers this process reads.
using RawState = std::map<std::string, Value>;

void ReadRaw(Transaction& tx, const std::string& prefix, RawState* out) {
  for (auto& e : tx.list(kKeyspace, prefix)) out->insert_or_assign(e.key, std::move(e.value));
}

LayerMap ReadLayerEntries(Transaction& tx, ConfigLayer layer, const std::string& profile,
                          std::string_view prefix) {
  LayerMap out;
  const std::string layer_prefix = LayerPrefix(layer, profile);
  for (auto& e : tx.list(kKeyspace, layer_prefix + std::string(prefix))) {
    auto parsed = ParseStorageKey(e.key);
    if (!parsed || parsed->layer != layer) continue;
    out.emplace(parsed->key, DecodeConfigValue(parsed->key, e.value));
  }
  return out;
}

class ConfigTransactionImpl final : public ConfigTransaction {
 public:
  ConfigTransactionImpl(Transaction& tx, const ConfigImpl& config) : tx_(tx), config_(config) {}

  std::optional<ConfigValue> get_value(std::string_view key) override {
    return Effective(Slots(key));
  }
  Explanation explain(std::string_view key) override {
    return Resolve(key, Slots(key), config_.profile());
  }
  std::vector<ConfigEntry> list(std::string_view prefix) override {
    ValidateConfigPrefix(prefix);
    LayerMap profile;
    if (!config_.profile().empty()) {
      profile = ReadLayerEntries(tx_, ConfigLayer::kProfile, config_.profile(), prefix);
    }
    LayerMap overrides = ReadLayerEntries(tx_, ConfigLayer::kOverrides, {}, prefix);
    return MergeLayers(config_.defaults().Snapshot(), profile, overrides, prefix);
  }
  void set(std::string_view key, const ConfigValue& value, ConfigLayer layer) override {
    ValidateConfigKey(key);
    CheckWritableLayer(layer, config_.profile(), key);
    CheckConfigValue(key, value);
    config_.validators().Check(key, value);
    tx_.put(kKeyspace, StorageKey(layer, config_.profile(), key), EncodeConfigValue(value));
  }
  bool erase(std::string_view key, ConfigLayer layer) override {
    ValidateConfigKey(key);
    CheckWritableLayer(layer, config_.profile(), key);
    return tx_.erase(kKeyspace, StorageKey(layer, config_.profile(), key));
  }
  void set_label(std::string_view label) override { tx_.set_label(label); }

  LayerMap ListLayer(ConfigLayer layer) {
    return ReadLayerEntries(tx_, layer, config_.profile(), {});
  }

  LayerSlots Slots(std::string_view key) {
    ValidateConfigKey(key);
    LayerSlots s;
    if (auto e = tx_.get_entry(kKeyspace, StorageKey(ConfigLayer::kOverrides, {}, key))) {
      s.overrides = DecodeConfigValue(key, e->value);
      s.override_version = e->version;
    }
    if (!config_.profile().empty()) {
      if (auto e =
              tx_.get_entry(kKeyspace, StorageKey(ConfigLayer::kProfile, config_.profile(), key))) {
        s.profile = DecodeConfigValue(key, e->value);
        s.profile_version = e->version;
      }
    }
    s.defaults = config_.defaults().Get(key);
    return s;
  }

 private:
  Transaction& tx_;
  const ConfigImpl& config_;
};

}  // namespace

void ValidateConfigOptions(const ConfigOptions& options) {
  ValidateProfileName(options.profile);
  if (options.watch_poll_interval.count() <= 0) {
    throw Error(ErrorCode::kInvalidArgument, "ConfigOptions::watch_poll_interval must be positive");
  }
  if (options.watch_batch == 0) {
    throw Error(ErrorCode::kInvalidArgument, "ConfigOptions::watch_batch must be positive");
  }
}

ConfigImpl::ConfigImpl(Store& store, const ConfigOptions& options,
                       std::function<std::uint64_t()> change_counter, spdlog::logger* log)
    : store_(store),
      options_(options),
      log_(log),
      hub_(WatchHub::Source{&store, std::move(change_counter), options.profile,
                            options.watch_poll_interval, options.watch_batch, log}) {
  ValidateConfigOptions(options_);
  if (!options_.defaults_file.empty()) load_defaults_file(options_.defaults_file);
}

ConfigImpl::~ConfigImpl() { Shutdown(); }

void ConfigImpl::Shutdown() noexcept { hub_.Shutdown(); }

// ---- Defaults -----------------------------------------------------------------------------------

void ConfigImpl::set_default(std::string_view key, const ConfigValue& value) {
  ValidateConfigKey(key);
  CheckConfigValue(key, value);
  validators_.Check(key, value);
  defaults_.Set(std::string(key), value);
}

void ConfigImpl::load_defaults_json(std::string_view json_text) {
  auto parsed = ParseFlatJson(json_text, "defaults");
  std::vector<std::pair<std::string, ConfigValue>> values;
  for (auto& [key, value] : parsed) {
    if (!value) {
      throw Error(ErrorCode::kInvalidArgument,
                  "defaults: config key \"" + key + "\": null is not a value");
    }
    validators_.Check(key, *value);
    values.emplace_back(std::move(key), std::move(*value));
  }
  defaults_.SetAll(values);
}

void ConfigImpl::load_defaults_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw Error(ErrorCode::kInvalidArgument,
                "cannot read config defaults file " + path + ": " + std::strerror(errno));
  }
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  try {
    load_defaults_json(text);
  } catch (const Error& e) {
    throw Error(ErrorCode::kInvalidArgument, "config defaults file " + path + ": " + e.what());
  }
}

// ---- Reads --------------------------------------------------------------------------------------

std::optional<ConfigValue> ConfigImpl::get_value(std::string_view key) {
  ValidateConfigKey(key);
  LayerSlots slots;
  store_.read([&](Transaction& tx) { slots = ConfigTransactionImpl(tx, *this).Slots(key); });
  return Effective(slots);
}

Explanation ConfigImpl::explain(std::string_view key) {
  ValidateConfigKey(key);
  LayerSlots slots;
  store_.read([&](Transaction& tx) { slots = ConfigTransactionImpl(tx, *this).Slots(key); });
  return Resolve(key, slots, options_.profile);
}

std::vector<ConfigEntry> ConfigImpl::list(std::string_view prefix) {
  ValidateConfigPrefix(prefix);
  std::vector<ConfigEntry> out;
  store_.read([&](Transaction& tx) { out = ConfigTransactionImpl(tx, *this).list(prefix); });
  return out;
}

// ---- Writes -------------------------------------------------------------------------------------

Revision ConfigImpl::set(std::string_view key, const ConfigValue& value, ConfigLayer layer) {
  // Validate before queueing so bad input never reaches the writer.
  ValidateConfigKey(key);
  CheckWritableLayer(layer, options_.profile, key);
  CheckConfigValue(key, value);
  return transact([&](ConfigTransaction& tx) { tx.set(key, value, layer); }, {});
}

Revision ConfigImpl::erase(std::string_view key, ConfigLayer layer) {
  ValidateConfigKey(key);
  CheckWritableLayer(layer, options_.profile, key);
  return transact([&](ConfigTransaction& tx) { tx.erase(key, layer); }, {});
}

Revision ConfigImpl::transact(const Body& body, const TransactOptions& options) {
  if (!body) throw Error(ErrorCode::kInvalidArgument, "config transact: body is empty");
  Revision rev = store_.transact(
      [&](Transaction& tx) {
        ConfigTransactionImpl ctx(tx, *this);
        body(ctx);
      },
      options);
  hub_.Nudge(rev);
  return rev;
}

void ConfigImpl::add_validator(std::string_view key_or_prefix, Validator validator) {
  validators_.Add(key_or_prefix, std::move(validator));
}

// ---- Watches ------------------------------------------------------------------------------------

Watch ConfigImpl::watch(std::string_view prefix, WatchCallback callback, Revision from_revision) {
  ValidateConfigPrefix(prefix);
  if (!callback) throw Error(ErrorCode::kInvalidArgument, "watch: callback is empty");
  return Watch(hub_.Add(std::string(prefix), std::move(callback), from_revision));
}

// ---- Time travel --------------------------------------------------------------------------------

std::optional<ConfigView> ConfigImpl::BuildView(Revision revision, bool strict) {
  const std::string override_prefix = LayerPrefix(ConfigLayer::kOverrides, {});
  const std::string profile_prefix = options_.profile.empty()
                                         ? std::string()
                                         : LayerPrefix(ConfigLayer::kProfile, options_.profile);
  auto relevant = [&](std::string_view sk) {
    return sk.substr(0, override_prefix.size()) == override_prefix ||
           (!profile_prefix.empty() && sk.substr(0, profile_prefix.size()) == profile_prefix);
  };

  // 1. The current state (at some head H >= revision).
  RawState raw;
  store_.read([&](Transaction& tx) {
    ReadRaw(tx, override_prefix, &raw);
    if (!profile_prefix.empty()) ReadRaw(tx, profile_prefix, &raw);
  });
  // 2. Every later change, read after the state: it covers (revision, H] and possibly more, and
  //    undoing changes newer than H is harmless (each key ends at the old value of its first
  //    change after `revision`, or at its current value if it has none).
  HistoryQuery q;
  q.from_revision = revision + 1;
  q.keyspace = kKeyspace;
  std::vector<Commit> later = store_.history(q);
  // 3. That history is complete only if no config change after `revision` was compacted
  //    meanwhile (the config keyspace's bounds: other keyspaces' retention does not matter).
  HistoryBounds bounds = store_.history_bounds(kKeyspace);
  if (bounds.compacted_through > revision) {
    if (!strict) return std::nullopt;
    throw Error(ErrorCode::kNotFound, "config at revision " + std::to_string(revision) +
                                          ": history is compacted through revision " +
                                          std::to_string(bounds.compacted_through));
  }
  for (auto c = later.rbegin(); c != later.rend(); ++c) {
    for (auto ch = c->changes.rbegin(); ch != c->changes.rend(); ++ch) {
      if (ch->keyspace != kKeyspace || !relevant(ch->key)) continue;
      if (ch->redacted) {
        throw Error(ErrorCode::kInvalidArgument,
                    "keyspace config is redacted: its history holds digests, not values");
      }
      if (ch->old_value) {
        raw.insert_or_assign(ch->key, *ch->old_value);
      } else {
        raw.erase(ch->key);
      }
    }
  }
  auto data = std::make_shared<ConfigViewData>();
  data->revision = revision;
  data->profile = options_.profile;
  data->defaults = defaults_.Snapshot();
  for (const auto& [sk, value] : raw) {
    auto parsed = ParseStorageKey(sk);
    if (!parsed) continue;
    LayerMap& layer =
        parsed->layer == ConfigLayer::kOverrides ? data->overrides : data->profile_layer;
    layer.emplace(parsed->key, DecodeConfigValue(parsed->key, value));
  }
  return ConfigView(std::move(data));
}

ConfigView ConfigImpl::view() {
  for (;;) {
    Revision head = store_.history_bounds().head;
    if (auto v = BuildView(head, /*strict=*/false)) return *v;
    // Compaction passed `head` while we read (many commits meanwhile): take the new head.
  }
}

ConfigView ConfigImpl::at(Revision revision) {
  HistoryBounds b = store_.history_bounds(kKeyspace);
  if (revision > b.head) {
    throw Error(ErrorCode::kNotFound, "config at revision " + std::to_string(revision) +
                                          ": no such revision yet (head is " +
                                          std::to_string(b.head) + ")");
  }
  if (revision < b.compacted_through) {
    throw Error(ErrorCode::kNotFound, "config at revision " + std::to_string(revision) +
                                          ": history is compacted through revision " +
                                          std::to_string(b.compacted_through));
  }
  return *BuildView(revision, /*strict=*/true);
}

Revision ConfigImpl::revert(Revision revision, const RevertOptions& options) {
  auto commit = store_.commit_at(revision);
  if (!commit) {
    throw Error(ErrorCode::kNotFound,
                "config revert: revision " + std::to_string(revision) + " is not in history");
  }
  for (const auto& c : commit->changes) {
    if (c.keyspace != kKeyspace) {
      throw Error(ErrorCode::kInvalidArgument,
                  "config revert: revision " + std::to_string(revision) +
                      " also changed keyspace \"" + c.keyspace + "\"; use Store::revert");
    }
  }
  Revision rev = store_.revert(revision, options);
  hub_.Nudge(rev);
  return rev;
}

// ---- Import / export ----------------------------------------------------------------------------

std::string ConfigImpl::export_json() { return view().export_json(); }

std::string ConfigImpl::export_json(ConfigLayer layer) {
  LayerMap values;
  if (layer == ConfigLayer::kDefaults) {
    values = defaults_.Snapshot();
  } else {
    CheckWritableLayer(layer, options_.profile, "*");
    store_.read(
        [&](Transaction& tx) { values = ReadLayerEntries(tx, layer, options_.profile, {}); });
  }
  std::vector<std::pair<std::string, ConfigValue>> entries(values.begin(), values.end());
  return WriteFlatJson(entries);
}

Revision ConfigImpl::import_json(std::string_view json_text, const ConfigImportOptions& options) {
  CheckWritableLayer(options.layer, options_.profile, "*");
  auto parsed = ParseFlatJson(json_text, "config import");
  TransactOptions topts;
  topts.label = options.label.empty() ? "config import" : options.label;
  return transact(
      [&](ConfigTransaction& tx) {
        std::set<std::string, std::less<>> in_doc;
        for (const auto& [key, value] : parsed) {
          in_doc.insert(key);
          if (value) {
            tx.set(key, *value, options.layer);
          } else {
            tx.erase(key, options.layer);
          }
        }
        if (options.replace) {
          // Keys of this layer (not of the merged view) that the document does not name.
          auto& impl = static_cast<ConfigTransactionImpl&>(tx);
          for (const auto& [key, value] : impl.ListLayer(options.layer)) {
            if (!in_doc.count(key)) tx.erase(key, options.layer);
          }
        }
      },
      topts);
}

}  // namespace statestore::internal

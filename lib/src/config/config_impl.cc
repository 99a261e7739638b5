#include "config/config_impl.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <utility>

#include "config/config_value.h"
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

// Declared defaults of the declarations whose key starts with `prefix`.
LayerMap ReadDeclaredDefaults(Transaction& tx, DeclarationCache& cache, std::string_view prefix) {
  LayerMap out;
  for (auto& e : tx.list(kKeyspace, std::string(kDeclaredPrefix) + std::string(prefix))) {
    auto key = ParseDeclaredKey(e.key);
    if (!key) continue;
    auto d = cache.Get(*key, e);
    if (d->decl.default_value) out.emplace(*key, *d->decl.default_value);
  }
  return out;
}

class ConfigTransactionImpl final : public ConfigTransaction {
 public:
  ConfigTransactionImpl(Transaction& tx, const ConfigImpl& config) : tx_(tx), config_(config) {}

  std::optional<ConfigValue> get_value(std::string_view key) override {
    return Effective(Slots(key, Declaration::kIfUnanswered));
  }
  Explanation explain(std::string_view key) override {
    return Resolve(key, Slots(key, Declaration::kAlways), config_.profile());
  }
  std::vector<ConfigEntry> list(std::string_view prefix) override {
    ValidateConfigPrefix(prefix);
    LayerMap profile;
    if (!config_.profile().empty()) {
      profile = ReadLayerEntries(tx_, ConfigLayer::kProfile, config_.profile(), prefix);
    }
    LayerMap overrides = ReadLayerEntries(tx_, ConfigLayer::kOverrides, {}, prefix);
    LayerMap declared = ReadDeclaredDefaults(tx_, config_.declaration_cache(), prefix);
    return MergeLayers(declared, config_.defaults().Snapshot(), profile, overrides, prefix);
  }
  void set(std::string_view key, const ConfigValue& value, ConfigLayer layer) override {
    ValidateConfigKey(key);
    CheckWritableLayer(layer, config_.profile(), key);
    CheckConfigValue(key, value);
    // Invariant 1 of config_declarations.h: the declaration of this snapshot, whoever stored it.
    if (auto d = config_.declaration_cache().Read(tx_, key)) EnforceDeclaration(*d, value);
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

  // kIfUnanswered: read the declaration only when no other layer holds the key (get's fast path:
  // a value set in a layer costs no extra read).
  enum class Declaration { kAlways, kIfUnanswered };

  LayerSlots Slots(std::string_view key, Declaration declaration) {
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
    if (declaration == Declaration::kAlways || !Effective(s)) {
      if (auto e = tx_.get_entry(kKeyspace, DeclaredStorageKey(key))) {
        s.declaration = config_.declaration_cache().Get(key, *e)->decl;
        s.declaration_version = e->version;
      }
    }
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
  EnforceStoredDeclarations({{std::string(key), value}});
  validators_.Check(key, value);
  defaults_.Set(std::string(key), value);
}

void ConfigImpl::EnforceStoredDeclarations(
    const std::vector<std::pair<std::string, ConfigValue>>& values) {
  store_.read([&](Transaction& tx) {
    for (const auto& [key, value] : values) {
      if (auto d = declaration_cache_.Read(tx, key)) EnforceDeclaration(*d, value);
    }
  });
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
  EnforceStoredDeclarations(values);
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
  store_.read([&](Transaction& tx) {
    slots = ConfigTransactionImpl(tx, *this).Slots(
        key, ConfigTransactionImpl::Declaration::kIfUnanswered);
  });
  return Effective(slots);
}

Explanation ConfigImpl::explain(std::string_view key) {
  ValidateConfigKey(key);
  LayerSlots slots;
  store_.read([&](Transaction& tx) {
    slots =
        ConfigTransactionImpl(tx, *this).Slots(key, ConfigTransactionImpl::Declaration::kAlways);
  });
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

// ---- Declared settings --------------------------------------------------------------------------

namespace {

// Every value stored for a key in a durable layer: overrides and every profile (not only this
// process's: another process may use any of them). Read once per declare.
std::multimap<std::string, std::pair<std::string, Value>, std::less<>> StoredLayerValues(
    Transaction& tx) {
  std::multimap<std::string, std::pair<std::string, Value>, std::less<>> out;
  auto add = [&](const std::string& prefix) {
    for (auto& e : tx.list(kKeyspace, prefix)) {
      auto parsed = ParseStorageKey(e.key);
      if (!parsed) continue;
      std::string layer =
          parsed->layer == ConfigLayer::kOverrides ? "overrides" : "profile:" + parsed->profile;
      out.emplace(parsed->key, std::make_pair(std::move(layer), std::move(e.value)));
    }
  };
  add(std::string(kOverridePrefix));
  add(std::string(kProfilePrefix));
  return out;
}

}  // namespace

Revision ConfigImpl::declare(const std::vector<SettingDeclaration>& declarations) {
  // Validate (and compile) everything before the transaction: bad input never reaches the writer.
  std::vector<std::shared_ptr<const CompiledDeclaration>> compiled;
  std::set<std::string, std::less<>> keys;
  for (const auto& d : declarations) {
    compiled.push_back(CompileDeclaration(d));
    if (!keys.insert(d.key).second) {
      throw Error(ErrorCode::kInvalidArgument,
                  "declare: config key \"" + d.key + "\" is declared twice in one call");
    }
  }
  std::vector<std::pair<SettingDeclaration, SettingDeclaration>> replaced;  // (old, new)
  TransactOptions topts;
  topts.label = "config declare";
  Revision rev = store_.transact(
      [&](Transaction& tx) {
        replaced.clear();  // the body may run more than once
        std::optional<std::multimap<std::string, std::pair<std::string, Value>, std::less<>>>
            stored;
        for (const auto& c : compiled) {
          const std::string& key = c->decl.key;
          const std::string sk = DeclaredStorageKey(key);
          std::optional<SettingDeclaration> old;
          if (auto e = tx.get_entry(kKeyspace, sk)) {
            try {
              old = declaration_cache_.Get(key, *e)->decl;
            } catch (const Error&) {
              // A damaged stored declaration is what declare repairs: replace it.
            }
            if (old && *old == c->decl) continue;  // declared identically: no write
          }
          if (!stored) stored = StoredLayerValues(tx);
          auto [lo, hi] = stored->equal_range(key);
          for (auto it = lo; it != hi; ++it) {
            const ConfigValue v = DecodeConfigValue(key, it->second.second);
            if (auto why = CheckDeclared(*c, v)) {
              throw Error(ErrorCode::kInvalidArgument,
                          "declare: config key \"" + key + "\" holds " + v.to_display() + " (" +
                              std::string(ToString(v.type())) + ") in layer " + it->second.first +
                              ", which the new declaration (" + c->decl.summary() +
                              ") rejects: " + *why +
                              "; set a value it accepts or erase it (statectl config set/rm), "
                              "then declare again");
            }
          }
          if (auto v = defaults_.Get(key)) {
            if (auto why = CheckDeclared(*c, *v)) {
              throw Error(ErrorCode::kInvalidArgument,
                          "declare: this process's default of config key \"" + key + "\" (" +
                              v->to_display() + ") violates the new declaration (" +
                              c->decl.summary() + "): " + *why);
            }
          }
          if (old) replaced.emplace_back(*old, c->decl);
          tx.put(kKeyspace, sk, Value(c->decl.to_json()));
        }
      },
      topts);
  for (const auto& [old, now] : replaced) {
    // Two programs that declare one key differently replace each other's declaration at every
    // start (last writer wins): say so, with both, so that operators can see the disagreement.
    log_->warn("statestore: config key \"{}\": declaration replaced at r{} (was: {}; now: {})",
               now.key, rev, old.summary(), now.summary());
  }
  hub_.Nudge(rev);
  return rev;
}

void ConfigImpl::check(std::string_view key, const ConfigValue& value) {
  ValidateConfigKey(key);
  CheckConfigValue(key, value);
  store_.read([&](Transaction& tx) {
    if (auto d = declaration_cache_.Read(tx, key)) EnforceDeclaration(*d, value);
  });
  validators_.Check(key, value);
}

Revision ConfigImpl::undeclare(std::string_view key) {
  ValidateConfigKey(key);
  TransactOptions topts;
  topts.label = "config undeclare";
  Revision rev = store_.transact(
      [&](Transaction& tx) { tx.erase(kKeyspace, DeclaredStorageKey(key)); }, topts);
  hub_.Nudge(rev);
  return rev;
}

std::optional<SettingDeclaration> ConfigImpl::declaration(std::string_view key) {
  ValidateConfigKey(key);
  std::optional<SettingDeclaration> out;
  store_.read([&](Transaction& tx) {
    out.reset();
    if (auto d = declaration_cache_.Read(tx, key)) out = d->decl;
  });
  return out;
}

std::vector<SettingDeclaration> ConfigImpl::declarations(std::string_view prefix) {
  ValidateConfigPrefix(prefix);
  std::vector<SettingDeclaration> out;
  store_.read([&](Transaction& tx) {
    out.clear();
    for (auto& e : tx.list(kKeyspace, std::string(kDeclaredPrefix) + std::string(prefix))) {
      auto key = ParseDeclaredKey(e.key);
      if (!key) continue;
      out.push_back(declaration_cache_.Get(*key, e)->decl);
    }
  });
  return out;
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
  const std::string declared_prefix(kDeclaredPrefix);
  auto relevant = [&](std::string_view sk) {
    return sk.substr(0, override_prefix.size()) == override_prefix ||
           sk.substr(0, declared_prefix.size()) == declared_prefix ||
           (!profile_prefix.empty() && sk.substr(0, profile_prefix.size()) == profile_prefix);
  };

  // 1. The current state (at some head H >= revision).
  RawState raw;
  store_.read([&](Transaction& tx) {
    ReadRaw(tx, override_prefix, &raw);
    ReadRaw(tx, declared_prefix, &raw);
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
    if (auto key = ParseDeclaredKey(sk)) {
      if (value.type() != ValueType::kString) {
        throw Error(ErrorCode::kCorruption, "config key \"" + *key + "\": stored declaration " +
                                                value.to_display() + " is not a JSON document");
      }
      try {
        data->declarations.emplace(*key, SettingDeclaration::FromJson(*key, value.as_string()));
      } catch (const Error& e) {
        throw Error(ErrorCode::kCorruption,
                    std::string("stored declaration is not valid: ") + e.what());
      }
      continue;
    }
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
  // Store::revert writes stored values back without the config write path: check the values it
  // restores against today's declarations first (invariant 1 of config_declarations.h; a
  // declaration committed between this check and the revert is not seen — a narrow window, since
  // declarations change at program upgrades).
  store_.read([&](Transaction& tx) {
    for (const auto& c : commit->changes) {
      auto parsed = ParseStorageKey(c.key);
      if (!parsed || !c.old_value || c.redacted) continue;
      if (auto d = declaration_cache_.Read(tx, parsed->key)) {
        try {
          EnforceDeclaration(*d, DecodeConfigValue(parsed->key, *c.old_value));
        } catch (const Error& e) {
          throw Error(ErrorCode::kInvalidArgument, "config revert: revision " +
                                                       std::to_string(revision) +
                                                       " would restore a value its declaration "
                                                       "rejects: " +
                                                       e.what());
        }
      }
    }
  });
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

// ConfigImpl — the Config of one Store (see statestore/config.h).
//
// Every durable operation is a core transaction on keyspace "config" (layout in
// config_layers.h); reads are read transactions, so each answer comes from one snapshot. The
// in-process defaults and the validators are in memory; declarations are stored (under
// "declared/<key>", config_declarations.h) and checked inside every write body. Watches are
// delivered by the WatchHub, whose threads StoreImpl stops (Shutdown) before anything they use is
// destroyed.
#ifndef STATESTORE_SRC_CONFIG_IMPL_H_
#define STATESTORE_SRC_CONFIG_IMPL_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "config/config_declarations.h"
#include "config/config_layers.h"
#include "config/config_validators.h"
#include "config/config_watch_dispatcher.h"
#include "statestore/config.h"
#include "statestore/store.h"

namespace spdlog {
class logger;
}

namespace statestore::internal {

// Throws Error(kInvalidArgument) for a bad ConfigOptions (called by Store::open before anything).
void ValidateConfigOptions(const ConfigOptions& options);

class ConfigImpl final : public Config {
 public:
  // `store` must outlive this object; `change_counter` loads the shared change counter (any
  // cheap value that changes on every commit of any process). Loads options.defaults_file.
  ConfigImpl(Store& store, const ConfigOptions& options,
             std::function<std::uint64_t()> change_counter, spdlog::logger* log);
  ~ConfigImpl() override;

  // Stops and joins the watch threads. Idempotent; never throws.
  void Shutdown() noexcept;

  const std::string& profile() const override { return options_.profile; }
  void set_default(std::string_view key, const ConfigValue& value) override;
  void load_defaults_json(std::string_view json_text) override;
  void load_defaults_file(const std::string& path) override;
  std::optional<ConfigValue> get_value(std::string_view key) override;
  Explanation explain(std::string_view key) override;
  std::vector<ConfigEntry> list(std::string_view prefix) override;
  Revision set(std::string_view key, const ConfigValue& value, ConfigLayer layer) override;
  Revision erase(std::string_view key, ConfigLayer layer) override;
  Revision transact(const Body& body, const TransactOptions& options) override;
  void add_validator(std::string_view key_or_prefix, Validator validator) override;
  Revision declare(const std::vector<SettingDeclaration>& declarations) override;
  Revision undeclare(std::string_view key) override;
  void check(std::string_view key, const ConfigValue& value) override;
  std::optional<SettingDeclaration> declaration(std::string_view key) override;
  std::vector<SettingDeclaration> declarations(std::string_view prefix) override;
  Watch watch(std::string_view prefix, WatchCallback callback, Revision from_revision) override;
  ConfigView view() override;
  ConfigView at(Revision revision) override;
  Revision revert(Revision revision, const RevertOptions& options) override;
  std::string export_json() override;
  std::string export_json(ConfigLayer layer) override;
  Revision import_json(std::string_view json_text, const ConfigImportOptions& options) override;

  // Used by ConfigTransactionImpl.
  const Defaults& defaults() const { return defaults_; }
  const ValidatorRegistry& validators() const { return validators_; }
  // The cache is internally synchronized; reading through it does not change what Config means.
  DeclarationCache& declaration_cache() const { return declaration_cache_; }

 private:
  // Throws Error(kInvalidArgument) if a stored declaration rejects one of `values` (defaults).
  void EnforceStoredDeclarations(const std::vector<std::pair<std::string, ConfigValue>>& values);
  // State as of `revision`; nullopt if compaction overtook it while reading (view() retries).
  std::optional<ConfigView> BuildView(Revision revision, bool strict);

  Store& store_;
  const ConfigOptions options_;
  spdlog::logger* log_;
  Defaults defaults_;
  ValidatorRegistry validators_;
  mutable DeclarationCache declaration_cache_;
  WatchHub hub_;
};

}  // namespace statestore::internal

#endif  // STATESTORE_SRC_CONFIG_IMPL_H_

// statestore::Config — typed, layered application settings on the durable core.
//
// Reached as `store->config()`. Every durable change is an ordinary core transaction, so it is in
// the history (who changed what, when), can be reverted, and is seen by every process sharing the
// file.
//
// Keys and typed values: statestore/config_value.h. Watches: statestore/config_watch.h.
//
// Layers, lowest to highest precedence:
//   kDefaults   (a) the default of the key's declaration (see "Declared settings" below): stored,
//               so every process and statectl see it; (b) above it, built-in defaults registered
//               by this process (set_default, load_defaults_json, or ConfigOptions::defaults_file),
//               in memory only: they are the program's code, not data, so they are not in the
//               history and not watched. An in-process default wins over the declared default in
//               that process only; explain(key) shows both ("defaults" and "declared").
//   kProfile    the named profile chosen at open (ConfigOptions::profile: "production", "test").
//               Durable.
//   kOverrides  local overrides. Durable. Writes go here unless another layer is named.
// A read answers with the highest layer that holds the key; explain(key) shows every layer.
//
// Declared settings. A program declares its settings as data (SettingDeclaration: type, default,
// range, one-of, regex, max length, description) with Config::declare. Declarations are stored in
// the database, so every write path of every process enforces them — Config::set/transact/
// import_json/set_default here, in a process that never declared anything, and in statectl —
// with the same Error(kInvalidArgument) message. Validators (add_validator) are code, live only in
// the process that registered them, and run in addition, for what data cannot express.
//
// Storage layout (documented because statectl and history show it): keyspace "config", keys
// "override/<key>" for overrides, "profile/<name>/<key>" for each profile and "declared/<key>" for
// declarations (a JSON document, see SettingDeclaration::to_json). bool, int, double,
// string and bytes values are stored as the matching core Value; a JSON document is stored as a
// string "\x01json:<compact text>" (and a string value that itself starts with "\x01" is stored as
// "\x01str:<value>"). Other keys in keyspace "config" are ignored by this API.
//
// Thread safety: Config is safe for concurrent use from any number of threads, like its Store.
// It lives as long as the Store; do not use it (or a Watch callback) after the last shared_ptr to
// the Store is released.
#ifndef STATESTORE_CONFIG_H_
#define STATESTORE_CONFIG_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "statestore/config_options.h"
#include "statestore/config_value.h"
#include "statestore/config_watch.h"
#include "statestore/error.h"
#include "statestore/history.h"
#include "statestore/revision.h"
#include "statestore/transaction.h"
#include "statestore/value.h"

namespace statestore {

// An effective (resolved) key: its value and the layer that answered.
struct ConfigEntry {
  std::string key;
  ConfigValue value;
  ConfigLayer layer;
};

// What one layer holds for a key.
struct LayerValue {
  ConfigLayer layer;
  std::string name;  // "defaults", "profile:<name>", "overrides"
  std::optional<ConfigValue> value;
  // The revision that last wrote it (durable layers; 0 for defaults, absent values and views).
  std::uint64_t version = 0;
};

// ---- Declared settings ----------------------------------------------------------------------

// Bounds on a declaration, so that a stored declaration is cheap to read and check.
inline constexpr std::size_t kMaxDeclarationRegexBytes = 256;
inline constexpr std::size_t kMaxDeclarationDescriptionBytes = 1024;
inline constexpr std::size_t kMaxDeclarationOneOf = 256;
// std::regex matching recurses per character: a string checked against a declared regex is at most
// this long (a longer one is rejected, never matched), so no input can exhaust the stack.
inline constexpr std::size_t kMaxRegexSubjectBytes = 4096;

// What a program declares about one setting. Every constraint that is set must hold for a value to
// be written (and for the default); unset constraints are not checked.
struct SettingDeclaration {
  std::string key;                           // a config key (no prefixes or patterns)
  ConfigType type = ConfigType::kString;     // values must have exactly this type
  std::optional<ConfigValue> default_value;  // what get() answers when no layer holds the key
  std::optional<ConfigValue> min;            // int/double: inclusive bounds. An int setting
  std::optional<ConfigValue> max;            //   takes int bounds; a double one int or double.
  std::vector<ConfigValue> one_of;           // non-empty: the allowed values (of `type`)
  std::string regex;                         // string: ECMAScript, must match the whole value
  std::optional<std::uint64_t> max_length;   // string: code points; bytes: bytes
  std::string description;                   // for people (statectl config explain)

  // Throws Error(kInvalidArgument) "declaration of config key "k": <what is wrong>" for a bad key,
  // an unknown type, a constraint that does not fit the type (range on a string, regex on an int),
  // min > max, a non-finite bound, a regex that does not compile or is longer than
  // kMaxDeclarationRegexBytes, one-of values of another type or outside the other constraints,
  // more than kMaxDeclarationOneOf of them, a description over kMaxDeclarationDescriptionBytes,
  // or a default that violates the declaration.
  void validate() const;
  // nullopt if `value` satisfies the declaration, else why not ("500 is above the maximum 100").
  // REQUIRES: validate() passed (a bad regex is reported, not thrown).
  std::optional<std::string> check(const ConfigValue& value) const;
  // One line: "int, min 1, max 10000, default 100".
  std::string summary() const;
  // The stored form: a JSON object {"type": "int", "default": 100, "min": 1, ...} without the key.
  // Values are written as their type reads them (bytes as {"$bytes": "<base64>"}).
  std::string to_json() const;
  // Parses to_json's form for `key` and validates it. Throws: Error(kInvalidArgument) naming the
  // key and the problem (not JSON, unknown member, unknown type, bad value, as validate()).
  static SettingDeclaration FromJson(std::string_view key, std::string_view json_text);

  friend bool operator==(const SettingDeclaration& a, const SettingDeclaration& b);
  friend bool operator!=(const SettingDeclaration& a, const SettingDeclaration& b) {
    return !(a == b);
  }
};

// A declarations document {"key": {declaration}, ...} (the format of statectl config declare and
// `config declarations --json`). Throws: Error(kInvalidArgument) naming the key and the problem.
std::vector<SettingDeclaration> ParseDeclarationsJson(std::string_view json_text);
std::string DeclarationsToJson(const std::vector<SettingDeclaration>& declarations);

// One change of keyspace "config" from the history, as the config API sees it: the setting key,
// its layer and decoded typed values (or declarations), not storage keys and encodings.
struct ConfigHistoryChange {
  enum class Kind { kValue, kDeclaration };
  Kind kind = Kind::kValue;
  std::string key;        // the setting key
  std::string layer;      // "overrides", "profile:<name>" or "declared"
  bool redacted = false;  // history holds digests: the values below are absent
  std::optional<ConfigValue> old_value, new_value;                     // kValue
  std::optional<SettingDeclaration> old_declaration, new_declaration;  // kDeclaration
};

// Decodes `change`; nullopt for another keyspace or a key of keyspace "config" that is neither a
// layer value nor a declaration. Throws: Error(kCorruption) naming the key when a stored side is
// not a config value or not a valid declaration.
std::optional<ConfigHistoryChange> DecodeConfigHistoryChange(const Change& change);

// The answer of explain(key).
struct Explanation {
  std::string key;
  std::optional<ConfigValue> value;        // the effective value (nullopt: no layer has it)
  std::optional<ConfigLayer> answered_by;  // the layer it came from
  std::vector<LayerValue> layers;          // highest precedence first; the profile layer only
                                           // when a profile is configured; last, a "declared"
                                           // entry (layer kDefaults) when the key is declared
  std::optional<SettingDeclaration> declaration;  // the key's stored declaration, if any
};

// A validator: returns nullopt to accept `value` for `key`, or the reason it is rejected
// ("70000 is above the maximum 65535"). It must be a pure function of its arguments: it may run
// more than once per edit and on any thread. It may throw statestore::Error (passed through).
using Validator =
    std::function<std::optional<std::string>(std::string_view key, const ConfigValue& value)>;

// Validators that ship with the library. Each describes itself in its rejection reason.
namespace validators {
// Numbers (int or double) in [min, max]; rejects other types.
Validator Range(double min, double max);
// Values equal to one of `allowed` (same type and value).
Validator OneOf(std::vector<ConfigValue> allowed);
// Strings matching `pattern` entirely (ECMAScript syntax). Rejects other types.
// Throws: Error(kInvalidArgument) if `pattern` is not a valid regular expression.
Validator Regex(const std::string& pattern);
// Values of type `type`.
Validator OfType(ConfigType type);
}  // namespace validators

namespace internal {
class ConfigImpl;
struct ConfigViewData;
}  // namespace internal

// A read-only, immutable view of the whole config as of one revision (Config::view, Config::at).
// Copyable (shares its data), safe to use from any thread, valid after the Store is closed.
// Defaults are the process's current defaults (they are not in the history).
//
// Every method throws Error(kInvalidArgument) for a bad key or prefix, or when called on a
// default-constructed (empty) view; get<T> also for a wrong type, as Config::get<T>.
class ConfigView {
 public:
  ConfigView() = default;  // empty
  // The revision the view shows: every commit <= revision and none after.
  Revision revision() const;
  std::optional<ConfigValue> get_value(std::string_view key) const;
  template <typename T>
  std::optional<T> get(std::string_view key) const {
    return config_detail::GetAs<T>(get_value(key), key);
  }
  template <typename T>
  T get(std::string_view key, T fallback) const {
    return config_detail::GetAsOr<T>(get_value(key), key, std::move(fallback));
  }
  Explanation explain(std::string_view key) const;
  // Effective entries whose key starts with `prefix`, sorted by key.
  std::vector<ConfigEntry> list(std::string_view prefix = {}) const;
  // Flat JSON object of the effective config (see Config::export_json).
  std::string export_json() const;

 private:
  friend class internal::ConfigImpl;
  explicit ConfigView(std::shared_ptr<const internal::ConfigViewData> data)
      : data_(std::move(data)) {}
  std::shared_ptr<const internal::ConfigViewData> data_;
};

// What a Config::transact body reads and writes through. Valid only during the body, on its
// thread. Reads see the body's own writes and one consistent snapshot of everything else.
class ConfigTransaction {
 public:
  ConfigTransaction() = default;
  ConfigTransaction(const ConfigTransaction&) = delete;
  ConfigTransaction& operator=(const ConfigTransaction&) = delete;
  virtual ~ConfigTransaction() = default;

  // The effective value. Throws: Error(kInvalidArgument) for a bad key.
  virtual std::optional<ConfigValue> get_value(std::string_view key) = 0;
  template <typename T>
  std::optional<T> get(std::string_view key) {
    return config_detail::GetAs<T>(get_value(key), key);
  }
  template <typename T>
  T get(std::string_view key, T fallback) {
    return config_detail::GetAsOr<T>(get_value(key), key, std::move(fallback));
  }
  virtual Explanation explain(std::string_view key) = 0;
  virtual std::vector<ConfigEntry> list(std::string_view prefix = {}) = 0;

  // Writes `value` to `layer` (kOverrides or kProfile) after checking it against the key's stored
  // declaration (read in this transaction's snapshot) and running the validators registered for
  // `key`. Throws: Error(kInvalidArgument) naming the key and the reason for a bad key, a
  // non-finite double, an oversize value, a value the declaration rejects ("config key "k": value
  // "500" (string) rejected by its declaration (int, min 1): expected int, got string"), a
  // validator's rejection, layer kDefaults, or kProfile
  // without a configured profile. The Store then rolls back the whole transaction (unless the
  // body catches the error).
  virtual void set(std::string_view key, const ConfigValue& value,
                   ConfigLayer layer = ConfigLayer::kOverrides) = 0;
  // Removes `key` from `layer`; returns whether it was there. Throws: as set() (no validators).
  virtual bool erase(std::string_view key, ConfigLayer layer = ConfigLayer::kOverrides) = 0;
  // History label of this commit. Throws: Error(kInvalidArgument) if longer than 256 bytes.
  virtual void set_label(std::string_view label) = 0;
};

struct ConfigImportOptions {
  // The durable layer the document is written to (kOverrides or kProfile).
  ConfigLayer layer = ConfigLayer::kOverrides;
  // false: keys not in the document are left alone (merge). true: the layer ends up holding
  // exactly the document (keys not in it are erased).
  bool replace = false;
  // History label of the import commit; empty = "config import".
  std::string label;
};

class Config {
 public:
  using Body = std::function<void(ConfigTransaction&)>;

  Config(const Config&) = delete;
  Config& operator=(const Config&) = delete;
  virtual ~Config() = default;

  // The profile layer's name (ConfigOptions::profile), possibly empty.
  virtual const std::string& profile() const = 0;

  // ---- Defaults (in memory, this process only) ----------------------------------------------

  // Registers a built-in default. The key's stored declaration and the validators registered so
  // far are applied. Throws: Error(kInvalidArgument) for a bad key or value, a rejection by the
  // declaration or a validator; store errors (reading the declaration).
  virtual void set_default(std::string_view key, const ConfigValue& value) = 0;
  // Registers every key of a flat JSON object {"net.http.port": 8080, ...} as a default (format:
  // export_json). All or nothing. Throws: Error(kInvalidArgument) naming the problem.
  virtual void load_defaults_json(std::string_view json_text) = 0;
  // The same from a file. Throws: Error(kInvalidArgument) for a missing or malformed file.
  virtual void load_defaults_file(const std::string& path) = 0;

  // ---- Reads ---------------------------------------------------------------------------------

  // The effective value (overrides > profile > defaults), read from one consistent snapshot.
  // Throws: Error(kInvalidArgument) for a bad key; kCorruption if the stored value is not a
  // config value; kBusy/kIoError from the store.
  virtual std::optional<ConfigValue> get_value(std::string_view key) = 0;
  // Typed reads. Throws: as get_value, and Error(kInvalidArgument) naming the key, the stored
  // type and the asked type when they differ.
  template <typename T>
  std::optional<T> get(std::string_view key) {
    return config_detail::GetAs<T>(get_value(key), key);
  }
  // `fallback` when no layer has the key. Throws: as get<T>(key).
  template <typename T>
  T get(std::string_view key, T fallback) {
    return config_detail::GetAsOr<T>(get_value(key), key, std::move(fallback));
  }
  // Which layer answers `key` and what every layer holds. Throws: as get_value.
  virtual Explanation explain(std::string_view key) = 0;
  // Effective entries whose key starts with `prefix` (a plain string prefix: "net." for the
  // subtree), sorted by key, from one snapshot. Throws: kInvalidArgument for a bad prefix.
  virtual std::vector<ConfigEntry> list(std::string_view prefix = {}) = 0;

  // ---- Writes (each one core transaction; returns its revision, or the head revision if nothing
  // changed) ---------------------------------------------------------------------------------

  // Throws: as ConfigTransaction::set, plus the store's kBusy, kReadOnly, kIoError, kFull.
  virtual Revision set(std::string_view key, const ConfigValue& value,
                       ConfigLayer layer = ConfigLayer::kOverrides) = 0;
  // Throws: as set.
  virtual Revision erase(std::string_view key, ConfigLayer layer = ConfigLayer::kOverrides) = 0;
  // Runs `body` in one core transaction: all its edits commit together or none does. Validators
  // run at each set(); a rejection (or any exception) rolls back every edit of the body and
  // propagates. The body may run more than once (see Store::transact).
  // Throws: what the body throws; the store's errors; kInvalidArgument inside another body.
  virtual Revision transact(const Body& body, const TransactOptions& options = {}) = 0;

  // Registers `validator` for `key_or_prefix`: a key pattern matches the key itself and every
  // key below it ("net.http" matches "net.http" and "net.http.port"); a pattern ending in '.'
  // matches keys starting with it; "" matches every key. All matching validators must accept.
  // In memory, this process only. Throws: kInvalidArgument for a bad pattern or empty validator.
  virtual void add_validator(std::string_view key_or_prefix, Validator validator) = 0;

  // ---- Declared settings (stored; enforced by every process and statectl) --------------------

  // Stores `declarations` in one transaction (all or nothing) and returns its revision. A key
  // declared identically already is left alone (declaring at every start costs no commit; the head
  // revision is returned when nothing changed). A different declaration replaces the stored one (a
  // program upgrade); when two programs sharing a file declare one key differently, the last to
  // declare wins, and the replacement is logged at warn naming both. Values already stored for a
  // key in any layer (overrides, every profile) and this process's in-memory default must satisfy
  // its new declaration, or nothing is declared: fix or erase them first.
  // Throws: Error(kInvalidArgument) for an invalid declaration (see SettingDeclaration::validate),
  // a key declared twice in `declarations`, or a stored value the declaration rejects (naming key,
  // layer and value); the store's kReadOnly, kBusy, kIoError, kFull.
  virtual Revision declare(const std::vector<SettingDeclaration>& declarations) = 0;
  // Checks `value` for `key` exactly as set() does — key syntax, value limits, the stored
  // declaration, this process's validators — without writing: a dry run with set()'s message
  // (statectl runs it through a read-only open, so that a refused value never opens the file for
  // writing). set() checks again inside its transaction, so a declaration stored in between is
  // still enforced. Works on a read-only Store. Throws: as set() minus the write errors.
  virtual void check(std::string_view key, const ConfigValue& value) = 0;
  // Removes the declaration of `key`; returns the revision (head if there was none).
  // Throws: kInvalidArgument for a bad key; store errors.
  virtual Revision undeclare(std::string_view key) = 0;
  // The stored declaration of `key`. Throws: kInvalidArgument for a bad key; kCorruption if the
  // stored document is not a valid declaration; store errors.
  virtual std::optional<SettingDeclaration> declaration(std::string_view key) = 0;
  // Stored declarations whose key starts with `prefix`, sorted by key. Throws: as declaration().
  virtual std::vector<SettingDeclaration> declarations(std::string_view prefix = {}) = 0;

  // ---- Watches -------------------------------------------------------------------------------

  // Calls `callback` on a dispatcher thread once per committed revision that changed a key
  // starting with `prefix` in the overrides or this process's profile layer, with every such
  // change of that revision; in revision order, each exactly once, including commits by other
  // threads and processes. `from_revision` is the first revision to deliver (inclusive, as in
  // etcd); 0 means "commits after this call". If from_revision <= the compacted revision of the
  // config keyspace (Store::history_bounds("config"): other keyspaces' history retention does
  // not count), the callback gets one kCompacted event and the watch stops. Changes of defaults are
  // not watched. Throws: Error(kInvalidArgument) for a bad prefix or empty callback.
  virtual Watch watch(std::string_view prefix, WatchCallback callback,
                      Revision from_revision = 0) = 0;

  // ---- Time travel ---------------------------------------------------------------------------

  // The whole config as of the current head revision, from one snapshot. Throws: store errors.
  virtual ConfigView view() = 0;
  // The whole config as it was right after `revision` committed (0 = before any commit).
  // Throws: Error(kNotFound) if `revision` is newer than the head or older than the retained
  // config history (history_bounds("config").compacted_through); kInvalidArgument if keyspace
  // "config" is redacted.
  virtual ConfigView at(Revision revision) = 0;
  // Reverts a config revision through Store::revert (a new commit writing the old values back).
  // Throws: Error(kNotFound) for a revision not in retained history; kConflict naming the key if
  // a later commit changed one of its keys and !options.force; kInvalidArgument if the revision
  // also changed other keyspaces (use Store::revert for those).
  virtual Revision revert(Revision revision, const RevertOptions& options = {}) = 0;

  // ---- Import / export -----------------------------------------------------------------------

  // A flat JSON object {"key": value, ...} sorted by key, indented by 2: bool, int, double and
  // string as JSON scalars, bytes as {"$bytes": "<base64>"}, a JSON document as itself (or as
  // {"$json": doc} when it is an object with one "$..." member). export_json() is the effective
  // config; export_json(layer) one layer. Throws: store errors.
  virtual std::string export_json() = 0;
  virtual std::string export_json(ConfigLayer layer) = 0;
  // Writes a document in export_json's format (a JSON null erases the key) as one transaction,
  // with validation: all or nothing. Throws: Error(kInvalidArgument) naming the key and the
  // problem; as transact.
  virtual Revision import_json(std::string_view json_text,
                               const ConfigImportOptions& options = {}) = 0;

 protected:
  Config() = default;
};

}  // namespace statestore

#endif  // STATESTORE_CONFIG_H_

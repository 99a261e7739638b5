// statestore::Config — typed, layered application settings on the durable core.
//
// Reached as `store->config()`. Every durable change is an ordinary core transaction, so it is in
// the history (who changed what, when), can be reverted, and is seen by every process sharing the
// file.
//
// Keys are dotted paths: one or more segments of [a-z0-9_-]+ separated by '.', at most
// kMaxConfigKeyBytes bytes ("net.http.port", "feature.dark-mode"). Values are typed (ConfigType):
// bool, int64, double, string, bytes, or a JSON document. There are no silent conversions: an int
// is not a double, a string holding JSON is not a JSON document.
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
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "statestore/config_options.h"
#include "statestore/error.h"
#include "statestore/history.h"
#include "statestore/revision.h"
#include "statestore/transaction.h"
#include "statestore/value.h"

namespace statestore {

inline constexpr std::size_t kMaxConfigKeyBytes = 256;

enum class ConfigType { kBool, kInt, kDouble, kString, kBytes, kJson };

// "bool", "int", "double", "string", "bytes", "json".
std::string_view ToString(ConfigType type);

// A JSON document, held as its normalized compact text (object keys sorted, no insignificant
// whitespace), so two documents that mean the same compare equal. Build one with Json::Parse.
class Json {
 public:
  Json() : text_("null") {}
  // Parses and normalizes `text`.
  // Throws: Error(kInvalidArgument) with the parser's message and byte offset if it is not JSON.
  static Json Parse(std::string_view text);

  // The normalized compact text.
  const std::string& text() const noexcept { return text_; }
  // The document indented by `indent` spaces per level.
  std::string pretty(int indent = 2) const;

  friend bool operator==(const Json& a, const Json& b) { return a.text_ == b.text_; }
  friend bool operator!=(const Json& a, const Json& b) { return !(a == b); }

 private:
  struct Trusted {};
  Json(Trusted, std::string text) : text_(std::move(text)) {}
  friend struct ConfigInternal;
  std::string text_;
};

// One typed config value. A plain value type: copyable, comparable.
class ConfigValue {
 public:
  ConfigValue(bool v) : data_(v) {}
  ConfigValue(int v) : data_(static_cast<std::int64_t>(v)) {}
  ConfigValue(long v) : data_(static_cast<std::int64_t>(v)) {}
  ConfigValue(long long v) : data_(static_cast<std::int64_t>(v)) {}
  ConfigValue(unsigned v) : data_(static_cast<std::int64_t>(v)) {}
  // Throws: Error(kInvalidArgument) above INT64_MAX (config ints are int64).
  ConfigValue(unsigned long v) : data_(CheckedInt(v)) {}
  ConfigValue(unsigned long long v) : data_(CheckedInt(v)) {}
  ConfigValue(double v) : data_(v) {}
  ConfigValue(std::string v) : data_(std::move(v)) {}
  ConfigValue(std::string_view v) : data_(std::string(v)) {}
  ConfigValue(const char* v) : data_(std::string(v)) {}
  ConfigValue(Bytes v) : data_(std::move(v)) {}
  ConfigValue(Json v) : data_(std::move(v)) {}

  ConfigType type() const noexcept { return static_cast<ConfigType>(data_.index()); }

  // Typed access. T is bool, any other integral type (range-checked), double, std::string, Bytes
  // or Json. Throws: Error(kInvalidArgument) naming the stored and the asked type (and `key` when
  // given), or saying the int does not fit T.
  template <typename T>
  T as(std::string_view key = {}) const;

  // Short human-readable rendering (strings quoted, bytes as hex preview, JSON as text).
  std::string to_display(std::size_t max_chars = 64) const;

  friend bool operator==(const ConfigValue& a, const ConfigValue& b) { return a.data_ == b.data_; }
  friend bool operator!=(const ConfigValue& a, const ConfigValue& b) { return !(a == b); }

 private:
  static std::int64_t CheckedInt(unsigned long long v);
  // Index order must match ConfigType.
  std::variant<bool, std::int64_t, double, std::string, Bytes, Json> data_;
};

namespace config_detail {
[[noreturn]] void ThrowWrongType(std::string_view key, ConfigType stored, std::string_view asked);
[[noreturn]] void ThrowOutOfRange(std::string_view key, std::int64_t value, std::size_t bytes);
}  // namespace config_detail

template <typename T>
T ConfigValue::as(std::string_view key) const {
  using U = std::remove_cv_t<T>;
  if constexpr (std::is_same_v<U, bool>) {
    if (auto* p = std::get_if<bool>(&data_)) return *p;
    config_detail::ThrowWrongType(key, type(), "bool");
  } else if constexpr (std::is_integral_v<U>) {
    if (auto* p = std::get_if<std::int64_t>(&data_)) {
      const std::int64_t v = *p;
      bool fits = true;
      if constexpr (std::is_unsigned_v<U>) {
        fits = v >= 0 && (sizeof(U) >= sizeof(std::int64_t) ||
                          static_cast<std::uint64_t>(v) <= std::numeric_limits<U>::max());
      } else if constexpr (sizeof(U) < sizeof(std::int64_t)) {
        fits = v >= std::numeric_limits<U>::min() && v <= std::numeric_limits<U>::max();
      }
      if (!fits) config_detail::ThrowOutOfRange(key, v, sizeof(U));
      return static_cast<U>(v);
    }
    config_detail::ThrowWrongType(key, type(), "int");
  } else if constexpr (std::is_same_v<U, double>) {
    if (auto* p = std::get_if<double>(&data_)) return *p;
    config_detail::ThrowWrongType(key, type(), "double");
  } else if constexpr (std::is_same_v<U, std::string>) {
    if (auto* p = std::get_if<std::string>(&data_)) return *p;
    config_detail::ThrowWrongType(key, type(), "string");
  } else if constexpr (std::is_same_v<U, Bytes>) {
    if (auto* p = std::get_if<Bytes>(&data_)) return *p;
    config_detail::ThrowWrongType(key, type(), "bytes");
  } else if constexpr (std::is_same_v<U, Json>) {
    if (auto* p = std::get_if<Json>(&data_)) return *p;
    config_detail::ThrowWrongType(key, type(), "json");
  } else {
    static_assert(sizeof(U) == 0,
                  "ConfigValue::as<T>: T must be bool, an integer, double, std::string, Bytes "
                  "or Json");
  }
}

enum class ConfigLayer { kDefaults, kProfile, kOverrides };

// "defaults", "profile", "overrides".
std::string_view ToString(ConfigLayer layer);

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

// One change of one key in one layer, as delivered to watches.
struct ConfigChange {
  std::string key;
  ConfigLayer layer;                     // kProfile or kOverrides
  std::optional<ConfigValue> old_value;  // nullopt: the key did not exist in that layer
  std::optional<ConfigValue> new_value;  // nullopt: the key was erased from that layer
};

struct WatchEvent {
  enum class Kind {
    // `changes` holds every change under the watched prefix that `revision` committed.
    kChanges,
    // History the watch needed was compacted away (like etcd's "compacted" answer): the watch
    // could not deliver `revision` and later, and it has stopped. History is retained from
    // compacted_through + 1; reload the state (Config::view()) and watch again from
    // view.revision() + 1.
    kCompacted,
  };
  Kind kind = Kind::kChanges;
  Revision revision = 0;
  Revision compacted_through = 0;  // kCompacted only
  Clock::time_point time;          // kChanges: commit time
  Origin origin;                   // kChanges: who committed
  std::vector<ConfigChange> changes;
};

using WatchCallback = std::function<void(const WatchEvent&)>;

namespace internal {
class ConfigImpl;
class WatchState;
struct ConfigViewData;
}  // namespace internal

// A watch subscription (RAII): cancelled when destroyed. Move-only.
//
// Each watch has its own delivery thread that reads the history, so a callback that is slow or
// throws delays only its own watch: never writers, readers or other watches. The callback runs
// with no statestore lock held and may call any Store or Config method.
class Watch {
 public:
  Watch() = default;  // inactive
  Watch(Watch&& other) noexcept = default;
  Watch& operator=(Watch&& other) noexcept;
  Watch(const Watch&) = delete;
  Watch& operator=(const Watch&) = delete;
  // Cancels; see cancel().
  ~Watch();

  // Stops deliveries. When it returns, the callback is not running and will not be called again
  // — except when called from inside this watch's own callback, where it returns at once and the
  // callback is not called again after the current call returns. Never throws.
  void cancel() noexcept;

  // False after cancel(), after a kCompacted event, after the Store closed, and for a
  // default-constructed Watch.
  bool active() const noexcept;

  // Every change under the prefix with a revision <= this has been delivered (its callback
  // returned). To resume after a restart, watch again from delivered_through() + 1.
  Revision delivered_through() const noexcept;

  // How many callback calls threw (the exception is logged and the event counts as delivered).
  std::uint64_t callback_failures() const noexcept;

 private:
  friend class internal::ConfigImpl;
  explicit Watch(std::shared_ptr<internal::WatchState> state) : state_(std::move(state)) {}
  std::shared_ptr<internal::WatchState> state_;
};

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
    auto v = get_value(key);
    if (!v) return std::nullopt;
    return v->template as<T>(key);
  }
  template <typename T>
  T get(std::string_view key, T fallback) const {
    auto v = get_value(key);
    return v ? v->template as<T>(key) : std::move(fallback);
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
    auto v = get_value(key);
    if (!v) return std::nullopt;
    return v->template as<T>(key);
  }
  template <typename T>
  T get(std::string_view key, T fallback) {
    auto v = get_value(key);
    return v ? v->template as<T>(key) : std::move(fallback);
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
    auto v = get_value(key);
    if (!v) return std::nullopt;
    return v->template as<T>(key);
  }
  // `fallback` when no layer has the key. Throws: as get<T>(key).
  template <typename T>
  T get(std::string_view key, T fallback) {
    auto v = get_value(key);
    return v ? v->template as<T>(key) : std::move(fallback);
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

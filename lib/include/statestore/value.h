// statestore::Value — the typed value stored under a key, and the limits on keys and values.
//
// A Value is one of: null, bool, int64, double, string (UTF-8 text), bytes (opaque binary).
// It is a plain value type: copyable, comparable, safe to share read-only between threads.
//
// A double may be any IEEE value except NaN: ±infinity round-trip, NaN is refused
// (kInvalidArgument) by every write, because SQLite stores a NaN REAL as NULL and the row would no
// longer match its type. A NaN can still come *out* of a read: a file written before this rule
// holds such rows (type double, value NULL), and they read back as a quiet NaN. Writing that value
// back is refused like any NaN. Note that operator== compares doubles with ==, so a NaN Value is
// not equal to itself.
#ifndef STATESTORE_VALUE_H_
#define STATESTORE_VALUE_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace statestore {

// Limits, checked by every entry point that takes a key, keyspace or value (InvalidArgument).
//
// Keyspace names: 1..64 characters from [a-z0-9_.-], starting with a letter ("app", "sessions").
// Keys: 1..kMaxKeyBytes bytes of valid UTF-8 without NUL. Keys sort by their bytes (memcmp),
//   which is also how list(prefix) matches.
// Values: a string or bytes value holds at most kMaxValueBytes bytes; a double is not NaN.
inline constexpr std::size_t kMaxKeyspaceNameBytes = 64;
inline constexpr std::size_t kMaxKeyBytes = 1024;
inline constexpr std::size_t kMaxValueBytes = 4 * 1024 * 1024;

using Bytes = std::vector<std::uint8_t>;

// The stored type tags are part of the file format (column `type` in the schema): never renumber.
enum class ValueType : int {
  kNull = 0,
  kBool = 1,
  kInt = 2,
  kDouble = 3,
  kString = 4,
  kBytes = 5,
};

// "null", "bool", "int", "double", "string", "bytes".
std::string_view ToString(ValueType type);

class Value {
 public:
  Value() = default;  // null
  Value(std::nullptr_t) {}
  Value(bool v) : data_(v) {}
  Value(int v) : data_(static_cast<std::int64_t>(v)) {}
  Value(long v) : data_(static_cast<std::int64_t>(v)) {}
  Value(long long v) : data_(static_cast<std::int64_t>(v)) {}
  Value(double v) : data_(v) {}
  Value(std::string v) : data_(std::move(v)) {}
  Value(std::string_view v) : data_(std::string(v)) {}
  Value(const char* v) : data_(std::string(v)) {}
  Value(Bytes v) : data_(std::move(v)) {}

  ValueType type() const noexcept { return static_cast<ValueType>(data_.index()); }
  bool is_null() const noexcept { return type() == ValueType::kNull; }

  // Typed accessors. Throws: Error(kInvalidArgument) naming both types when the type differs.
  // No silent conversions: an int is not a double, a string is not bytes.
  bool as_bool() const;
  std::int64_t as_int() const;
  double as_double() const;
  const std::string& as_string() const;
  const Bytes& as_bytes() const;

  // A short human-readable rendering for logs and tools: strings quoted and cut to `max_chars`,
  // bytes as a hex preview. Not a serialization format.
  std::string to_display(std::size_t max_chars = 64) const;

  // Byte size of the payload for limit checks (string/bytes length; 8 for numbers; 0 for null).
  std::size_t payload_size() const noexcept;

  friend bool operator==(const Value& a, const Value& b) { return a.data_ == b.data_; }
  friend bool operator!=(const Value& a, const Value& b) { return !(a == b); }

 private:
  // Index order must match ValueType.
  std::variant<std::monostate, bool, std::int64_t, double, std::string, Bytes> data_;
};

}  // namespace statestore

#endif  // STATESTORE_VALUE_H_

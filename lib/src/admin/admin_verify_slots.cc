// Verify's comparisons and problem wording (admin_verify_slots.h).
#include "admin/admin_verify_slots.h"

#include <cstdio>
#include <cstring>

namespace statestore::internal {

bool SameValue(const Value& a, const Value& b) {
  if (a.type() == ValueType::kDouble && b.type() == ValueType::kDouble) {
    double x = a.as_double();
    double y = b.as_double();
    return std::memcmp(&x, &y, sizeof x) == 0;
  }
  return a == b;
}

// `unverifiable` counts plain-vs-digest comparisons made without a key (assumed equal).
bool SameSlot(const Slot& a, const Slot& b, const Store& store, VerifyReport& report) {
  if (a.present != b.present) return false;
  if (!a.present) return true;
  if (a.type != b.type) return false;
  if (a.digest == b.digest) return SameValue(a.value, b.value);
  const Slot& plain = a.digest ? b : a;
  const Slot& hashed = a.digest ? a : b;
  if (!store.has_redaction_key()) {
    ++report.unverifiable;
    return true;
  }
  return Value(store.value_digest(plain.value)) == hashed.value;
}

// `text` with every byte outside printable ASCII (and the backslash) as \xNN, cut after
// `max_bytes` bytes ("...").
std::string Printable(std::string_view text, std::size_t max_bytes) {
  std::string out;
  for (std::size_t i = 0; i < text.size() && i < max_bytes; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c >= 0x7f || c == '\\') {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  if (text.size() > max_bytes) out += "...";
  return out;
}

// "keyspace/key" for a message.
std::string Name(const std::string& ks, const std::string& key) {
  return Printable(ks, 64) + "/" + Printable(key, 64);
}

std::string DigestPreview(const Bytes& digest) {
  static const char kHex[] = "0123456789abcdef";
  std::string out = "digest:";
  for (std::size_t i = 0; i < digest.size() && i < 8; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 0xf];
  }
  return out + "...";
}

// A slot for a problem message. `hidden`: the keyspace is redacted, so a plain value is described
// (type, size, and its digest when `store` has the redaction key), never quoted.
std::string Show(const Slot& s, bool hidden, const Store& store) {
  if (!s.present) return "(absent)";
  if (s.digest) return "digest " + DigestPreview(s.value.as_bytes());
  const Value& v = s.value;
  if (hidden) {
    std::string out = "<redacted " + std::string(ToString(v.type()));
    if (v.type() == ValueType::kString || v.type() == ValueType::kBytes) {
      out += ", " + std::to_string(v.payload_size()) + " bytes";
    }
    if (store.has_redaction_key()) out += ", " + DigestPreview(store.value_digest(v));
    return out + ">";
  }
  if (v.type() == ValueType::kString) return "\"" + Printable(v.as_string(), 24) + "\"";
  return v.to_display(24);
}

}  // namespace statestore::internal

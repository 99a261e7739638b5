// What Verify (admin_verify.cc on SQLite, admin_pg_verify.cc on PostgreSQL) compares and how it
// words a problem: one side of a change or the current state (a Slot), compared exactly (doubles
// bit for bit) or by keyed digest in redacted keyspaces, and shown without ever quoting a value
// of a redacted keyspace (type, size and digest prefix instead), with every byte outside
// printable ASCII as \xNN so that a message is one line that cannot drive a terminal.
#ifndef STATESTORE_SRC_ADMIN_VERIFY_SLOTS_H_
#define STATESTORE_SRC_ADMIN_VERIFY_SLOTS_H_

#include <cstddef>
#include <string>
#include <string_view>

#include "statestore/admin.h"
#include "statestore/store.h"
#include "statestore/value.h"

namespace statestore::internal {

// At most this many problems are reported by one Verify.
inline constexpr std::size_t kMaxVerifyProblems = 1000;

// One side of a change (or the current state): absent, a plain value, or a digest.
struct Slot {
  bool present = false;
  int type = 0;
  bool digest = false;
  Value value;  // the value, or Value(Bytes) holding the digest
};

bool SameValue(const Value& a, const Value& b);
// `unverifiable` counts plain-vs-digest comparisons made without a key (assumed equal).
bool SameSlot(const Slot& a, const Slot& b, const Store& store, VerifyReport& report);
// `text` with every byte outside printable ASCII (and the backslash) as \xNN, cut after
// `max_bytes` bytes ("...").
std::string Printable(std::string_view text, std::size_t max_bytes);
// "keyspace/key" for a message.
std::string Name(const std::string& ks, const std::string& key);
std::string DigestPreview(const Bytes& digest);
// A slot for a problem message. `hidden`: the keyspace is redacted, so a plain value is described
// (type, size, and its digest when `store` has the redaction key), never quoted.
std::string Show(const Slot& s, bool hidden, const Store& store);

}  // namespace statestore::internal

#endif  // STATESTORE_SRC_ADMIN_VERIFY_SLOTS_H_

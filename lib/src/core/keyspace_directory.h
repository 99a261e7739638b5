// KeyspaceDirectory — this process's map of committed keyspace names to ids.
//
// Invariant: only ids that are committed enter the map (ids are never deleted or reused, so a
// committed id stays valid forever). A keyspace created inside a transaction is added by the
// writer after COMMIT; until then the transaction resolves it from its own SQLite view.
#ifndef STATESTORE_SRC_KEYSPACE_DIRECTORY_H_
#define STATESTORE_SRC_KEYSPACE_DIRECTORY_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "util/mutex.h"

namespace statestore::internal {

struct KeyspaceRef {
  std::int64_t id = 0;
  bool redacted = false;  // history records digests (Options::redacted_keyspaces)
};

class KeyspaceDirectory {
 public:
  std::optional<KeyspaceRef> Find(std::string_view name) const {
    ReaderLock lock(&mu_);
    auto it = ids_.find(name);
    if (it == ids_.end()) return std::nullopt;
    return it->second;
  }
  // REQUIRES: `ref` is committed. The redacted flag only ever goes from false to true.
  void Add(std::string_view name, KeyspaceRef ref) {
    WriterLock lock(&mu_);
    auto [it, inserted] = ids_.emplace(std::string(name), ref);
    if (!inserted && ref.redacted) it->second.redacted = true;
  }

 private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  mutable SharedMutex mu_;
  std::unordered_map<std::string, KeyspaceRef, Hash, std::equal_to<>> ids_ GUARDED_BY(mu_);
};

}  // namespace statestore::internal

#endif  // STATESTORE_SRC_KEYSPACE_DIRECTORY_H_

// statestore::Watch — Config::watch subscriptions (statestore/config.h): the events a watch
// delivers and the handle that keeps it running.
#ifndef STATESTORE_CONFIG_WATCH_H_
#define STATESTORE_CONFIG_WATCH_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "statestore/config_value.h"
#include "statestore/history.h"
#include "statestore/revision.h"

namespace statestore {

// One change of one key in one layer, as delivered to watches.
struct ConfigChange {
  std::string key;
  ConfigLayer layer;                     // kProfile or kOverrides
  std::optional<ConfigValue> old_value;  // nullopt: the key did not exist in that layer
  std::optional<ConfigValue> new_value;  // nullopt: the key was erased from that layer
  // kExpiry: the key's time-to-live ran out (Config never sets one; a program that wrote the
  // config keyspace through Store::put with PutOptions::ttl did), new_value is nullopt.
  ChangeKind kind = ChangeKind::kWrite;
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

}  // namespace statestore

#endif  // STATESTORE_CONFIG_WATCH_H_

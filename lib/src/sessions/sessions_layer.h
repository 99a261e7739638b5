// The Sessions layer: how statestore::Sessions hangs off a Store (statestore/store_layer.h).
//
// Store::open (lib/src/store_open.cc) attaches it to every Store it opens, whatever the engine:
// it owns the SessionsImpl facade (public Store API only) and, for a writable Store with a
// positive SessionOptions::sweep_interval, the SessionReaper thread. Store::sessions() finds it
// by kSessionsLayerName.
#ifndef STATESTORE_SRC_SESSIONS_SESSIONS_LAYER_H_
#define STATESTORE_SRC_SESSIONS_SESSIONS_LAYER_H_

#include <functional>
#include <memory>
#include <string_view>

#include "statestore/options.h"
#include "statestore/store.h"

namespace statestore::internal {

inline constexpr std::string_view kSessionsLayerName = "sessions";

// The Options an engine must open the file with for this layer: `options` with kSessionsKeyspace
// added to redacted_keyspaces unless options.sessions.record_values_in_history.
// Throws: Error(kInvalidArgument) for SessionOptions that make no sense.
Options SessionsLayerOptions(const Options& options);

// Asked by the reaper before each sweep: whether this process sweeps now. Engines whose stores
// many machines share give one (PostgreSQL: an advisory lock), so that the fleet runs one sweep
// per interval, not one per process; empty: always. May throw (the sweep is then skipped).
using SweepTurn = std::function<bool()>;

// REQUIRES: `store` was opened with SessionsLayerOptions and outlives the layer (it owns it),
// and so does whatever `sweep_turn` uses (the layer is stopped before the engine goes).
// Starts the reaper thread. Throws: Error(kInternal) if the thread cannot be started.
std::unique_ptr<StoreLayer> MakeSessionsLayer(Store& store, SweepTurn sweep_turn = {});

}  // namespace statestore::internal

#endif  // STATESTORE_SRC_SESSIONS_SESSIONS_LAYER_H_

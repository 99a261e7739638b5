// The Config layer: how statestore::Config hangs off a Store (statestore/store_layer.h).
//
// Store::open (lib/src/store_open.cc) attaches it to every Store it opens, whatever the engine:
// it owns the ConfigImpl facade (public Store API only) and its watch threads. Store::config()
// finds it by kConfigLayerName.
#ifndef STATESTORE_SRC_CONFIG_CONFIG_LAYER_H_
#define STATESTORE_SRC_CONFIG_CONFIG_LAYER_H_

#include <memory>
#include <string_view>

#include "statestore/options.h"
#include "statestore/store.h"

namespace statestore::internal {

inline constexpr std::string_view kConfigLayerName = "config";

// Throws: Error(kInvalidArgument) for ConfigOptions that make no sense.
void CheckConfigLayerOptions(const Options& options);

// REQUIRES: `store` outlives the layer (it owns it). Loads ConfigOptions::defaults_file.
// Throws: as Config::load_defaults_file.
std::unique_ptr<StoreLayer> MakeConfigLayer(Store& store);

}  // namespace statestore::internal

#endif  // STATESTORE_SRC_CONFIG_CONFIG_LAYER_H_

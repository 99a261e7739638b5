// Opening a Store on the SQLite engine: the entry point store_open.cc calls.
#ifndef STATESTORE_SRC_SQLITE_SQLITE_STORE_H_
#define STATESTORE_SRC_SQLITE_SQLITE_STORE_H_

#include <functional>
#include <memory>
#include <string>

#include "statestore/options.h"
#include "statestore/store.h"

namespace statestore::internal {

// Makes the layers a new Store carries (statestore/store_layer.h). Called once per new Store,
// after the file is open and migrated and before the Store is shared with anyone.
using LayerFactory = std::function<Store::Layers(Store& store)>;

// Store::open on SQLite: one Store per file per process (a second open returns the first, after
// checking that `options` agree), else opens, checks and migrates the file, builds the Store and
// attaches `make_layers(store)`. Throws: as Store::open.
std::shared_ptr<Store> OpenSqliteStore(const std::string& path, const Options& options,
                                       const LayerFactory& make_layers);

}  // namespace statestore::internal

#endif  // STATESTORE_SRC_SQLITE_SQLITE_STORE_H_

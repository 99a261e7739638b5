// Opening a Store on the SQLite engine: the entry point store_open.cc calls.
#ifndef STATESTORE_SRC_SQLITE_SQLITE_STORE_H_
#define STATESTORE_SRC_SQLITE_SQLITE_STORE_H_

#include <functional>
#include <memory>
#include <string>

#include "core/engine_store.h"  // LayerFactory
#include "statestore/options.h"
#include "statestore/store.h"

namespace statestore::internal {

// Store::open on SQLite: one Store per file per process (a second open returns the first, after
// checking that `options` agree), else opens, checks and migrates the file, builds the Store and
// attaches `make_layers(store)`. Throws: as Store::open.
std::shared_ptr<Store> OpenSqliteStore(const std::string& path, const Options& options,
                                       const LayerFactory& make_layers);

}  // namespace statestore::internal

#endif  // STATESTORE_SRC_SQLITE_SQLITE_STORE_H_

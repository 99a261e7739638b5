// statestore::StoreLayer — an object built on a Store's public API that lives as long as it.
//
// Sessions (statestore/session.h) and Config (statestore/config.h) are layers: they use only the
// public Store API (transact, get, history, change_counter...), so they work unchanged on every
// engine, and the engine knows them only as StoreLayers. Store::open attaches them while it opens
// the file, before the Store is returned to anyone; Store::find_layer looks one up by name.
//
// Lifetime. The Store owns its layers. When the Store closes it stops them, in the reverse order
// of attachment, before it stops anything of its own (its writer, its connections, its threads),
// and destroys them right after: a layer's threads may use the Store until stop() returns, never
// after. In a child process after fork() (statestore/store.h) the Store instead calls
// abandon_after_fork() and leaks the layer: its threads are the parent's and do not exist here.
#ifndef STATESTORE_STORE_LAYER_H_
#define STATESTORE_STORE_LAYER_H_

#include "statestore/stats.h"

namespace statestore {

class StoreLayer {
 public:
  StoreLayer() = default;
  StoreLayer(const StoreLayer&) = delete;
  StoreLayer& operator=(const StoreLayer&) = delete;
  virtual ~StoreLayer() = default;

  // Stops and joins the layer's threads; afterwards the layer makes no call into the Store.
  // Called once, from the thread that releases the Store. Must not throw.
  virtual void stop() noexcept {}
  // In a fork()ed child: forget threads and locks that belong to the parent (the layer is leaked
  // afterwards, never destroyed). Must not throw.
  virtual void abandon_after_fork() noexcept {}
  // Adds this layer's counters to a Store::stats() snapshot (e.g. Stats::sweep_runs).
  virtual void add_stats(Stats& stats) const { static_cast<void>(stats); }
};

}  // namespace statestore

#endif  // STATESTORE_STORE_LAYER_H_

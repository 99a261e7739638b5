// Store::open — where an engine and the layers are put together.
//
// The engine (lib/src/sqlite/ for a file, lib/src/postgresql/ for a connection string) opens it and
// knows nothing of sessions or config; the layers (lib/src/sessions/, lib/src/config/) use only the
// public Store API. This is the one place that names both: it checks the layers' options, lets them
// adjust what the engine opens with, and hands the engine the list of layers to attach before the
// Store is shared.
#include <memory>
#include <string>
#include <utility>

#include "config/config_layer.h"
#include "postgresql/pg_connection.h"
#include "postgresql/pg_store.h"
#include "sessions/sessions_layer.h"
#include "sqlite/sqlite_store.h"
#include "statestore/store.h"

namespace statestore {

std::shared_ptr<Store> Store::open(const std::string& path, const Options& options) {
  internal::CheckConfigLayerOptions(options);
  const Options effective = internal::SessionsLayerOptions(options);
  const internal::LayerFactory layers = [](Store& store) {
    Store::Layers layers;
    // Config first: loading its defaults file may fail, and then no thread has started yet.
    layers.emplace_back(internal::kConfigLayerName, internal::MakeConfigLayer(store));
    // A PostgreSQL store is shared by many machines: their reapers take turns (one sweep per
    // interval for the fleet, PgStore::TakeSweepTurn). A file's processes each sweep.
    internal::SweepTurn turn;
    if (auto* pg = dynamic_cast<internal::PgStore*>(&store)) {
      turn = [pg] { return pg->TakeSweepTurn(); };
    }
    layers.emplace_back(internal::kSessionsLayerName,
                        internal::MakeSessionsLayer(store, std::move(turn)));
    return layers;
  };
  if (internal::IsPostgresConninfo(path)) {
    return internal::OpenPostgresStore(path, effective, layers);
  }
  return internal::OpenSqliteStore(path, effective, layers);
}

}  // namespace statestore

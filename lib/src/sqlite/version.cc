#include "statestore/version.h"

#include "sqlite/migrations.h"

namespace statestore {

const char* LibraryVersion() { return STATESTORE_VERSION_STRING; }

int SchemaVersion() { return internal::kMigrationCount; }

}  // namespace statestore

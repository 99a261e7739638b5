// C++ steps of migrations: work a migration needs beyond its SQL (data rewritten with a key the
// SQL cannot see). Database_file.cc runs RunMigrationStep right after each migration's SQL, in the
// same IMMEDIATE transaction as the SQL and the user_version update (database_file.h invariant 2),
// so a step is all-or-nothing with its migration.
#ifndef STATESTORE_SRC_MIGRATION_STEPS_H_
#define STATESTORE_SRC_MIGRATION_STEPS_H_

#include "core/redaction_key.h"
#include "sqlite/connection.h"
#include "statestore/options.h"

namespace statestore::internal {

struct MigrationContext {
  const Options& options;
  // Set by migration 0003 (the key it used and recorded); otherwise left as it is.
  RedactionKey* redaction_key;
};

// Runs the C++ step of migration `number`, if it has one. Throws: Error (the caller rolls back).
void RunMigrationStep(int number, Connection& c, MigrationContext& context);

// The C++ step of migration 0003 (redaction_migration.cc), inside the migration's IMMEDIATE
// transaction on `c`: loads or creates the key (Options::redaction_key, the key file, or a new key
// file), rewrites every digest to its keyed form, records the fingerprint and returns the key.
// Throws: Error.
RedactionKey MigrateToKeyedDigests(Connection& c, const Options& options);

}  // namespace statestore::internal

#endif  // STATESTORE_SRC_MIGRATION_STEPS_H_

#include "sqlite/migration_steps.h"

namespace statestore::internal {

void RunMigrationStep(int number, Connection& c, MigrationContext& context) {
  switch (number) {
    case kKeyedDigestsSchemaVersion:
      *context.redaction_key = MigrateToKeyedDigests(c, context.options);
      break;
    default:
      break;
  }
}

}  // namespace statestore::internal

#include "sqlite/sql_transaction.h"

namespace statestore::internal {

SqlTransaction::SqlTransaction(Connection& c, const char* begin) : c_(c) { c_.Run(begin); }

void SqlTransaction::Commit() { c_.Run("COMMIT"); }

void SqlTransaction::Rollback() noexcept {
  if (!c_.InTransaction()) return;
  try {
    c_.Run("ROLLBACK");
  } catch (...) {
    // Invariant 1: the error being reported is the original one; closing the connection ends
    // the transaction anyway.
  }
}

}  // namespace statestore::internal

#include "core/body_scope.h"

#include <string>

#include "statestore/error.h"

namespace statestore::internal {

thread_local int BodyScope::depth_ = 0;

void RefuseInsideBody(const char* what) {
  if (BodyScope::Active()) {
    throw Error(ErrorCode::kInvalidArgument,
                std::string("Store::") + what +
                    " called inside a transaction body; use the Transaction passed to the body "
                    "(and Transaction::savepoint for nested scopes)");
  }
}

}  // namespace statestore::internal

// Template part of connection.h.
#ifndef STATESTORE_SRC_CONNECTION_INL_H_
#define STATESTORE_SRC_CONNECTION_INL_H_

#include <SQLiteCpp/Exception.h>

#include "sqlite/sqlite_error.h"

namespace statestore::internal {

template <typename F>
auto CallSqlite(const char* context, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const SQLite::Exception& e) {
    throw ErrorFromSqlite(e, context);
  }
}

}  // namespace statestore::internal

#endif  // STATESTORE_SRC_CONNECTION_INL_H_

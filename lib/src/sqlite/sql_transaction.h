// ReadTransaction and WriteTransaction — one SQLite transaction on a connection as an RAII scope.
//
// The constructor begins it (BEGIN, or BEGIN IMMEDIATE: the write lock is taken at once, so a
// transaction that will write never fails halfway for want of it); Commit() ends it; the
// destructor rolls back one that is still open. Every BEGIN in lib/src goes through these two
// types, so no path can leave a connection inside a transaction (connection.h invariant 4).
//
// Invariants:
//   1. After the destructor the connection is outside any transaction, or the rollback failed
//      and SQLite will roll back when the connection closes; the destructor never throws and
//      never hides the error that is propagating (a failed ROLLBACK is swallowed).
//   2. Commit() either commits or throws. COMMIT can fail and leave the transaction open
//      (SQLITE_BUSY while readers finish); the destructor, or Rollback(), then rolls it back.
#ifndef STATESTORE_SRC_SQLITE_SQL_TRANSACTION_H_
#define STATESTORE_SRC_SQLITE_SQL_TRANSACTION_H_

#include "sqlite/connection.h"

namespace statestore::internal {

class SqlTransaction {
 public:
  SqlTransaction(const SqlTransaction&) = delete;
  SqlTransaction& operator=(const SqlTransaction&) = delete;
  ~SqlTransaction() { Rollback(); }

  // COMMIT. Throws: Error (the transaction is then rolled back by the destructor).
  void Commit();
  // ROLLBACK now, if the transaction is still open; errors are swallowed (invariant 1).
  void Rollback() noexcept;

  Connection& connection() const { return c_; }

 protected:
  // Runs `begin` (constant SQL). Throws: Error; nothing is open then.
  SqlTransaction(Connection& c, const char* begin);

 private:
  Connection& c_;
};

// BEGIN (deferred): the first read pins one snapshot; writes are possible but not the intent.
class ReadTransaction : public SqlTransaction {
 public:
  explicit ReadTransaction(Connection& c) : SqlTransaction(c, "BEGIN") {}
};

// BEGIN IMMEDIATE: holds SQLite's write lock from the start (kBusy after busy_timeout).
class WriteTransaction : public SqlTransaction {
 public:
  explicit WriteTransaction(Connection& c) : SqlTransaction(c, "BEGIN IMMEDIATE") {}
};

}  // namespace statestore::internal

#endif  // STATESTORE_SRC_SQLITE_SQL_TRANSACTION_H_

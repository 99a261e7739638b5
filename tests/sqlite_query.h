// Reading and editing a database file with a plain SQLite connection of its own, for tests that
// look under the library (schema, meta rows) or make a file look older or damaged. Link
// SQLite::SQLite3.
#ifndef STATESTORE_TESTS_SQLITE_QUERY_H_
#define STATESTORE_TESTS_SQLITE_QUERY_H_

#include <sqlite3.h>

#include <cstdint>
#include <optional>
#include <string>

#include <gtest/gtest.h>

namespace statestore::test {

// The first column of the first row of `sql`, read-only; nullopt if there is no row or it is
// NULL, or the file cannot be opened.
inline std::optional<std::int64_t> SqlQueryInt(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  std::optional<std::int64_t> out;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_stmt* q = nullptr;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &q, nullptr) == SQLITE_OK &&
        sqlite3_step(q) == SQLITE_ROW && sqlite3_column_type(q, 0) != SQLITE_NULL) {
      out = sqlite3_column_int64(q, 0);
    }
    sqlite3_finalize(q);
  }
  sqlite3_close(db);
  return out;
}

// Runs `sql` (any number of statements) read-write; a failure fails the test with SQLite's message.
inline void SqlExec(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* err = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  const std::string message = err ? err : "";
  sqlite3_free(err);
  sqlite3_close(db);
  ASSERT_EQ(rc, SQLITE_OK) << sql << ": " << message;
}

}  // namespace statestore::test

#endif  // STATESTORE_TESTS_SQLITE_QUERY_H_

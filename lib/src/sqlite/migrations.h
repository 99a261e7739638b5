// Schema migrations embedded from migrations/sqlite/NNNN_name.sql at build time
// (cmake/EmbedMigrations.cmake). Numbers run 1..kMigrationCount without gaps; the schema version
// of a database (PRAGMA user_version) is the number of the last migration applied to it.
#ifndef STATESTORE_SRC_MIGRATIONS_H_
#define STATESTORE_SRC_MIGRATIONS_H_

namespace statestore::internal {

struct Migration {
  int number;
  const char* name;
  const char* sql;
};

extern const Migration kMigrations[];
extern const int kMigrationCount;

}  // namespace statestore::internal

#endif  // STATESTORE_SRC_MIGRATIONS_H_

// The PostgreSQL engine's schema migrations, embedded from migrations/postgresql/NNNN_name.sql at
// build time (cmake/EmbedMigrations.cmake). Numbers run 1..kPgMigrationCount without gaps; meta
// 'schema_version' holds the number of the last one applied (postgresql/pg_schema.h).
#ifndef STATESTORE_SRC_POSTGRESQL_PG_MIGRATIONS_H_
#define STATESTORE_SRC_POSTGRESQL_PG_MIGRATIONS_H_

namespace statestore::internal::pg {

struct Migration {
  int number;
  const char* name;
  const char* sql;
};

extern const Migration kPgMigrations[];
extern const int kPgMigrationCount;

}  // namespace statestore::internal::pg

#endif  // STATESTORE_SRC_POSTGRESQL_PG_MIGRATIONS_H_

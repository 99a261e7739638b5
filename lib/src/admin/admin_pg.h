// The admin functions of statestore/admin.h on a PostgreSQL store (lib/src/postgresql/). Each
// public admin function that takes a Store& asks AsPgStore first and hands a PostgreSQL store to
// the function here; the SQLite code paths never see one.
//
// Every read runs in one REPEATABLE READ, READ ONLY transaction (PgStore::ReadForAdmin), so a
// report is one snapshot, exactly as the SQLite functions' single read transaction. Every input
// is bound as a parameter; the only identifier in the SQL is the store's schema, which is on
// the search_path (pg_schema.h invariant 1) and never spliced here.
#ifndef STATESTORE_SRC_ADMIN_PG_H_
#define STATESTORE_SRC_ADMIN_PG_H_

#include <functional>
#include <string>
#include <vector>

#include "postgresql/pg_store.h"
#include "statestore/admin.h"

namespace statestore::internal {

// The PgStore behind `store`, or null for any other engine.
PgStore* AsPgStore(Store& store);

// Runs `sql` through a cursor named `cursor` (a fixed identifier of ours) and calls `row(result,
// i)` for every row, in order, a few thousand rows per round trip, so that a large table never
// sits in memory whole. REQUIRES: a transaction is open on `c`.
void PgForEachRow(PgConnection& c, const char* cursor, const std::string& sql,
                  const std::function<void(const PgResult&, int)>& row);

std::vector<KeyspaceInfo> PgListKeyspaces(PgStore& store);
std::vector<std::string> PgRedactedKeyspaces(PgStore& store);
InspectReport PgInspect(PgStore& store);
// `conninfo`: a PostgreSQL connection string; reads the store in `postgres.schema` without
// migrating it.
MigrationStatus PgGetMigrationStatus(const std::string& conninfo, const PostgresOptions& postgres);
VerifyReport PgVerify(PgStore& store, const ProgressCallback& progress);
VacuumResult PgVacuum(PgStore& store);
// Backup of a PostgreSQL store into a new SQLite statestore file; Restore of such a file (or any
// SQLite statestore file at this library's schema version) into an empty PostgreSQL store.
BackupResult PgBackupToSqlite(PgStore& store, const std::string& dest_path,
                              const ProgressCallback& progress);
BackupResult PgRestoreFromSqlite(const std::string& source_path, const std::string& target_conninfo,
                                 const ProgressCallback& progress, const PostgresOptions& postgres);

}  // namespace statestore::internal

#endif  // STATESTORE_SRC_ADMIN_PG_H_

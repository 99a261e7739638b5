// statestore/admin.h: Vacuum on a PostgreSQL store (admin/admin_pg.h).
//
// Decision: run plain `VACUUM (ANALYZE)` on the store's tables, not VACUUM FULL. Plain VACUUM
// takes a lock that conflicts with neither readers nor writers (SHARE UPDATE EXCLUSIVE), makes
// the space of rows that retention and session sweeps deleted reusable by later writes, truncates
// empty pages at the end of each table, and refreshes the planner's statistics; autovacuum does
// the same on its own schedule, so this is "now, and tell me the sizes". VACUUM FULL (or
// pg_repack) is what gives a bloated table's space back to the operating system, but it holds an
// ACCESS EXCLUSIVE lock for the whole rewrite — every reader and writer of the store waits — so
// it is left to the database administrator; the Error text and README say so.
//
// VacuumResult on PostgreSQL: page_size is the server's block_size, pages_* the main-fork pages
// of the store's tables (pg_relation_size / block_size), bytes_* their pg_total_relation_size
// (with indexes and TOAST), free_pages_* 0 (PostgreSQL's free space map is not a page count a
// client can read cheaply), auto_vacuum_* "n/a (postgresql autovacuum)".
#include <string>

#include "admin/admin_pg.h"
#include "postgresql/pg_connection.h"
#include "statestore/error.h"

namespace statestore::internal {

namespace {

// The tables of migrations/postgresql/0001_initial.sql; names are ours (constant SQL), found
// through the connection's search_path (the store's schema).
constexpr char kVacuumSql[] =
    "VACUUM (ANALYZE) meta, keyspaces, entries, commits, changes, keyspace_history";

struct Sizes {
  std::uint64_t block_size = 0;
  std::uint64_t pages = 0;
  std::uint64_t bytes = 0;
};

Sizes ReadSizes(PgConnection& c) {
  PgResult r = c.Exec("cannot measure the store's tables",
                      "SELECT current_setting('block_size')::bigint, "
                      "coalesce(sum(pg_relation_size(c.oid)), 0)::bigint, "
                      "coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c "
                      "WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r'");
  Sizes s;
  s.block_size = static_cast<std::uint64_t>(r.Int(0, 0));
  s.pages = s.block_size == 0 ? 0 : static_cast<std::uint64_t>(r.Int(0, 1)) / s.block_size;
  s.bytes = static_cast<std::uint64_t>(r.Int(0, 2));
  return s;
}

}  // namespace

VacuumResult PgVacuum(PgStore& store) {
  if (store.options().read_only) {
    throw Error(ErrorCode::kReadOnly, store.path() +
                                          " was opened read-only; vacuum writes (VACUUM (ANALYZE) "
                                          "of the store's tables) — open it read-write (statectl "
                                          "vacuum does)");
  }
  std::unique_ptr<PgConnection> c = store.ConnectForAdmin();
  VacuumResult r;
  const Sizes before = ReadSizes(*c);
  r.page_size = before.block_size;
  r.pages_before = before.pages;
  r.bytes_before = before.bytes;
  r.auto_vacuum_before = "n/a (postgresql autovacuum)";
  try {
    c->ExecScript("cannot vacuum the store's tables", kVacuumSql);  // never inside a transaction
  } catch (const Error& e) {
    throw Error(e.code(),
                std::string(e.what()) +
                    ". VACUUM needs the table owner's (or a superuser's) rights; to give space "
                    "back to the operating system run VACUUM FULL or pg_repack on the schema's "
                    "tables as the database administrator (VACUUM FULL locks out every reader "
                    "and writer while it runs)",
                e.sqlite_code());
  }
  const Sizes after = ReadSizes(*c);
  r.pages_after = after.pages;
  r.bytes_after = after.bytes;
  r.auto_vacuum_after = r.auto_vacuum_before;
  return r;
}

}  // namespace statestore::internal

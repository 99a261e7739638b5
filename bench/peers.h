// The engines of statestore_durability_bench, each opened on a fresh file or directory at
// `path` (peers_statestore.cc, peers_sqlite.cc, peers_sqlite_kv.cc, peers_lmdb.cc,
// peers_rocksdb.cc).
#ifndef STATESTORE_BENCH_PEERS_H_
#define STATESTORE_BENCH_PEERS_H_

#include <filesystem>
#include <memory>
#include <string>

#include "bench_common.h"

namespace statestore {
class Store;
}

namespace statestore::bench {

// statestore, Durability::kFull (full = true) or kNormal, one Store shared by all threads.
std::unique_ptr<WriteEngine> MakeStatestoreWriteEngine(const std::filesystem::path& path,
                                                       bool full);
// statestore with its read cache (cached = true: default capacity, warm) or with
// cache_capacity = 0 (every get() reads SQLite). The background writer is the same Store,
// Durability::kNormal.
std::unique_ptr<ReadEngine> MakeStatestoreReadEngine(const std::filesystem::path& path,
                                                     bool cached);

// The same engines on an opened Store of any engine (the PostgreSQL section's statestore rows).
std::unique_ptr<WriteEngine> MakeStoreWriteEngine(std::shared_ptr<Store> store);
std::unique_ptr<ReadEngine> MakeStoreReadEngine(std::shared_ptr<Store> store);

// Raw SQLite on statestore's schema (migrations/sqlite/*.sql), WAL, synchronous=FULL or
// NORMAL, one connection per thread, BEGIN IMMEDIATE, statestore's pragmas and busy policy (a
// busy handler polling every 100 us up to 5 s, and a retry if BEGIN/COMMIT still reports BUSY).
// Each transaction does what statestore does for it: old value, upsert, one `changes` row per
// write, a `commits` row and the head revision in `meta`.
std::unique_ptr<WriteEngine> MakeSqliteWriteEngine(const std::filesystem::path& path, bool full);
// "SQLite kv": what a user writes without statestore (peers_sqlite_kv.cc). One table
// kv(key TEXT PRIMARY KEY, value BLOB) WITHOUT ROWID, WAL, synchronous=FULL or NORMAL, a
// connection per thread, BEGIN IMMEDIATE, sqlite3_busy_timeout(5000); no history.
std::unique_ptr<WriteEngine> MakeSqliteKvWriteEngine(const std::filesystem::path& path, bool full);
// Prepared-statement point reads (SELECT from entries) on a connection per thread; the
// background writer commits with synchronous=NORMAL.
std::unique_ptr<ReadEngine> MakeSqliteReadEngine(const std::filesystem::path& path);

// LMDB with default (durable) commits; write transactions are serialized by LMDB's writer lock.
std::unique_ptr<WriteEngine> MakeLmdbWriteEngine(const std::filesystem::path& path);
// One read transaction per read (renew/get/reset); the background writer uses MDB_NOSYNC.
std::unique_ptr<ReadEngine> MakeLmdbReadEngine(const std::filesystem::path& path);

// RocksDB, WriteOptions::sync = true or false; a transaction is a Get of the counter and one
// WriteBatch (value + counter) (each thread owns its counter, so no lock is needed).
std::unique_ptr<WriteEngine> MakeRocksdbWriteEngine(const std::filesystem::path& path, bool sync);
// "RocksDB+history": sync = true, and the same WriteBatch also holds what statestore keeps for a
// commit: a commit record, a change record per write (old and new value, so the old value is
// read first) and a per-key history index entry. Revisions from an atomic counter (weaker than
// statestore's gap-free commit-order revisions; see peers_rocksdb.cc).
std::unique_ptr<WriteEngine> MakeRocksdbHistoryWriteEngine(const std::filesystem::path& path);

// PostgreSQL (peers_postgres.cc, issue 14). Each round runs in a fresh schema of the database
// `conninfo` names; `create`: make the schema and tables (the parent), or attach to them (a
// writer child process of the two-process rows).
struct PgTarget {
  std::string conninfo;
  std::string schema;
  bool create = true;
};
// statestore on PostgreSQL, Durability::kFull (synchronous_commit=on), one Store for all threads.
std::unique_ptr<WriteEngine> MakeStatestorePgWriteEngine(const PgTarget& target);
// "libpq upsert": one table kv(key text PRIMARY KEY, value bytea, n bigint), a connection per
// thread, prepared statements; per commit BEGIN, upsert the value, `n = n + 1` on the counter
// row, COMMIT. No history.
std::unique_ptr<WriteEngine> MakeLibpqUpsertWriteEngine(const PgTarget& target);
// "libpq+history": statestore's tables (migrations/postgresql) written statement by statement,
// with the head row locked for gapless revisions (peers_postgres.cc).
std::unique_ptr<WriteEngine> MakeLibpqHistoryWriteEngine(const PgTarget& target);
// statestore on PostgreSQL with its read cache (cached) or cache_capacity = 0.
std::unique_ptr<ReadEngine> MakeStatestorePgReadEngine(const PgTarget& target, bool cached);
// Prepared point reads on the kv table, a connection per thread.
std::unique_ptr<ReadEngine> MakeLibpqReadEngine(const PgTarget& target);
// Drops the round's schema and everything in it.
void DropPgSchema(const PgTarget& target);
// "PostgreSQL 15.x".
std::string PostgresServerVersion(const std::string& conninfo);

// "LMDB 0.9.24", "RocksDB 7.8.3".
std::string LmdbVersion();
std::string RocksdbVersion();

}  // namespace statestore::bench

#endif  // STATESTORE_BENCH_PEERS_H_

// Connection — one SQLite connection, used by one thread at a time.
//
// Invariants:
//   1. Opened with SQLITE_OPEN_NOMUTEX: a Connection is used by one thread at a time — the
//      ConnectionPool hands each pooled one to exactly one thread, and the GroupCommitter's writer
//      connection passes from leader to leader under the committer's mutex — so SQLite's
//      per-connection mutex would be pure overhead.
//   2. Configured before first use: extended result codes, defensive mode, trusted_schema=OFF,
//      foreign_keys=ON, mmap_size=0 (an I/O error under mmap is a SIGBUS the process cannot
//      survive), synchronous per Durability, and one busy handler chosen here (never
//      sqlite3_busy_timeout, which would silently replace it).
//   3. Every cached statement is reset when its StatementUse goes out of scope: a statement left
//      mid-step keeps a read transaction open, which means stale reads, SQLITE_BUSY_SNAPSHOT on the
//      next write, and a WAL that can never be checkpointed.
//   4. Between public API calls the connection is in autocommit mode with no busy statement
//      (checked by AssertIdle in debug builds).
#ifndef STATESTORE_SRC_CONNECTION_H_
#define STATESTORE_SRC_CONNECTION_H_

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>

#include "statestore/options.h"

struct sqlite3;

namespace statestore::internal {

struct StoreCounters;

// Told the WAL's size after each commit of a writable connection (sqlite3_wal_hook). Setting one
// switches SQLite's automatic checkpoint off for the connection: the observer checkpoints instead
// (BackgroundMaintenance). Called on the committing thread after the write lock is released.
class WalCommitObserver {
 public:
  virtual void OnWalCommit(int wal_frames) = 0;

 protected:
  ~WalCommitObserver() = default;
};

class WriterTurns;

struct ConnectionConfig {
  std::string path;
  bool read_only = false;
  bool create = false;
  // Read-only media (database_file.h invariant 8): open with SQLite's immutable=1 — no locks, no
  // -shm, no -wal; the main file must hold every commit. Only with read_only.
  bool immutable = false;
  Durability durability = Durability::kFull;
  std::chrono::milliseconds busy_timeout{5000};
  StoreCounters* counters = nullptr;  // may be null (bootstrap, tools)
  // Null: SQLite checkpoints automatically inside COMMIT (bootstrap and tool connections).
  WalCommitObserver* wal_observer = nullptr;
  // A -wal file longer than this is truncated back to it when the WAL is rewound.
  std::uint64_t journal_size_limit = 64ull << 20;
  // Null: wait for the write lock by polling (tools). Else the busy handler sleeps until another
  // connection releases it, and commits wake the waiters (writer_turns.h). Only together with
  // wal_observer (the hook that reports commits is the WAL hook).
  WriterTurns* turns = nullptr;
  // The SQLite VFS to open through (Options::vfs); empty: SQLite's default.
  std::string vfs;
};

class Connection {
 public:
  // Opens and configures; does not check the journal mode (see VerifyWal).
  // Throws: Error (kNotFound/kIoError/kCorruption ...).
  explicit Connection(const ConnectionConfig& config);
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection();

  // Refuses to run in any journal mode but WAL. Throws: Error(kInvalidArgument). An immutable
  // connection passes: it reads the main file only (SQLite reports journal_mode 'delete').
  void VerifyWal();

  sqlite3* handle() const { return db_.getHandle(); }
  // For statements whose text varies (history filters); prefer Prepare() for constant SQL.
  SQLite::Database& database() { return db_; }
  const std::string& path() const { return config_.path; }

  // Runs SQL without results (BEGIN, SAVEPOINT, PRAGMA ...). `sql` is always a constant or built
  // from integers, never from user text. Throws: Error.
  void Exec(const char* sql);
  // Like Exec for one statement of constant text (BEGIN, COMMIT, SAVEPOINT x ...), through the
  // prepared-statement cache: no parse per call on the commit path.
  void Run(const char* constant_sql);

  // The first column of the first row of `constant_sql` (a PRAGMA or count), or 0 when there is
  // no row or it is NULL. Errors are reported as "`what`: ..." (default: the SQL). Throws: Error.
  std::int64_t QueryInt(const char* constant_sql, const char* what = nullptr);

  // Returns the cached prepared statement for `sql` (a string constant), preparing it once.
  SQLite::Statement& Prepare(const char* sql);

  // The group-commit writer announces its lock waits to other processes (writer_turns.h
  // invariant 2); it calls EndLockWait() when its BEGIN returns.
  void set_announces_lock_waits(bool on) { announces_lock_waits_ = on; }
  void EndLockWait();
  // Before such a writer's BEGIN: gives the turn to a waiting process (bounded; writer_turns.h).
  void YieldToWaitingWriters();

  // The busy handler's budget; the maintenance thread shortens it around a RESTART checkpoint.
  std::chrono::milliseconds busy_timeout() const { return config_.busy_timeout; }
  void set_busy_timeout(std::chrono::milliseconds timeout) { config_.busy_timeout = timeout; }

  bool InTransaction() const;
  // Debug-build check of invariant 4.
  void AssertIdle() const;

 private:
  static int BusyHandler(void* self, int count);
  static int WalHook(void* self, sqlite3* db, const char* schema, int wal_frames);

  ConnectionConfig config_;
  SQLite::Database db_;
  std::unordered_map<const char*, std::unique_ptr<SQLite::Statement>> statements_;
  std::chrono::steady_clock::time_point busy_since_{};
  bool announces_lock_waits_ = false;
  std::uint32_t release_seen_ = 0;  // WriterTurns::ReleaseSeq() at the busy handler's last look
};

// RAII use of a cached statement: resets it and drops its bindings on scope exit, whatever
// happens (invariant 3). Never throws from its destructor.
class StatementUse {
 public:
  StatementUse(Connection& connection, const char* sql) : statement_(connection.Prepare(sql)) {}
  StatementUse(const StatementUse&) = delete;
  StatementUse& operator=(const StatementUse&) = delete;
  ~StatementUse();

  SQLite::Statement* operator->() { return &statement_; }
  SQLite::Statement& operator*() { return statement_; }

 private:
  SQLite::Statement& statement_;
};

// Wraps a call into SQLiteCpp, turning SQLite::Exception into statestore::Error with `context`.
template <typename F>
auto CallSqlite(const char* context, F&& f) -> decltype(f());

}  // namespace statestore::internal

#include "sqlite/connection_inl.h"

#endif  // STATESTORE_SRC_CONNECTION_H_

#include "sqlite/connection.h"

#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <string>
#include <thread>

#include "core/store_counters.h"
#include "sqlite/sqlite_error.h"
#include "sqlite/wal_write_buffer.h"
#include "sqlite/writer_turns.h"

namespace statestore::internal {

namespace {

int OpenFlags(const ConnectionConfig& config) {
  int flags = SQLITE_OPEN_NOMUTEX;
  if (config.immutable) flags |= SQLITE_OPEN_URI;
  if (config.read_only) {
    flags |= SQLITE_OPEN_READONLY;
  } else {
    flags |= SQLITE_OPEN_READWRITE;
    if (config.create) flags |= SQLITE_OPEN_CREATE;
  }
  return flags;
}

// "file:PATH?immutable=1", with the characters a URI path cannot hold escaped.
std::string ImmutableUri(const std::string& path) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string uri = "file:";
  for (unsigned char ch : path) {
    if (ch == '%' || ch == '?' || ch == '#' || ch <= 0x20 || ch >= 0x7F) {
      uri += '%';
      uri += kHex[ch >> 4];
      uri += kHex[ch & 0xF];
    } else {
      uri += static_cast<char>(ch);
    }
  }
  return uri + "?immutable=1";
}

SQLite::Database OpenDatabase(const ConnectionConfig& config) {
  const std::string name =
      config.immutable && config.read_only ? ImmutableUri(config.path) : config.path;
  return CallSqlite(("cannot open " + config.path).c_str(), [&] {
    // Through the WAL write buffer (wal_write_buffer.h) over the VFS asked for.
    return SQLite::Database(name, OpenFlags(config), 0, ShimVfsName(config.vfs));
  });
}

void DbConfig(sqlite3* db, int op, int value, const char* what) {
  int rc = sqlite3_db_config(db, op, value, nullptr);
  if (rc != SQLITE_OK) throw ErrorFromSqlite(rc, what, sqlite3_errmsg(db));
}

}  // namespace

Connection::Connection(const ConnectionConfig& config)
    : config_(config), db_(OpenDatabase(config)) {
  sqlite3* db = handle();
  sqlite3_extended_result_codes(db, 1);
  // Defensive mode: no writable_schema, no direct shadow-table writes — a connection cannot be
  // talked into corrupting the file. trusted_schema=OFF: SQL functions with side effects cannot be
  // reached from a (possibly hostile) schema's views or triggers.
  try {
    DbConfig(db, SQLITE_DBCONFIG_DEFENSIVE, 1, "cannot enable SQLite defensive mode");
    DbConfig(db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, "cannot disable trusted_schema");
    DbConfig(db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, "cannot disable extension loading");
    sqlite3_busy_handler(db, &Connection::BusyHandler, this);
    Exec("PRAGMA foreign_keys = ON");
    Exec("PRAGMA mmap_size = 0");
    if (!config.read_only) {
      Exec(config.durability == Durability::kFull ? "PRAGMA synchronous = FULL"
                                                  : "PRAGMA synchronous = NORMAL");
      // PRAGMA takes no bound parameters; the number is an integer from Options.
      Exec(("PRAGMA journal_size_limit = " + std::to_string(config.journal_size_limit)).c_str());
      if (config.wal_observer != nullptr) {
        sqlite3_wal_hook(db, &Connection::WalHook, this);
      }
    }
  } catch (const Error& e) {
    // The pragmas above are the first reads of the file; say which file and what it means
    // rather than which pragma happened to notice.
    throw ErrorFromSqlite(e.sqlite_code() != 0 ? e.sqlite_code() : SQLITE_ERROR,
                          "cannot use " + config.path,
                          e.sqlite_code() != 0 ? sqlite3_errstr(e.sqlite_code()) : e.what());
  }
}

Connection::~Connection() {
  // Statements must be finalized before the database handle closes; SQLite::Database's
  // destructor would otherwise fail to close the connection (SQLITE_BUSY) and leak it.
  statements_.clear();
}

void Connection::VerifyWal() {
  if (config_.immutable) return;
  std::string mode = CallSqlite("cannot read journal mode",
                                [&] { return db_.execAndGet("PRAGMA journal_mode").getString(); });
  if (mode != "wal") {
    throw Error(ErrorCode::kInvalidArgument,
                config_.path + ": journal mode is '" + mode +
                    "', but statestore runs only in WAL mode (open it read-write once to convert "
                    "it, and keep it on a local file system)");
  }
}

int Connection::BusyHandler(void* self, int count) {
  auto* c = static_cast<Connection*>(self);
  auto now = std::chrono::steady_clock::now();
  if (count == 0) {
    c->busy_since_ = now;
    if (c->config_.counters != nullptr) Bump(c->config_.counters->busy_retries);
  }
  if (now - c->busy_since_ >= c->config_.busy_timeout) return 0;  // give up: SQLITE_BUSY
  const auto left = std::chrono::duration_cast<std::chrono::microseconds>(c->config_.busy_timeout -
                                                                          (now - c->busy_since_));
  if (WriterTurns* turns = c->config_.turns) {
    // Sleep until the holder releases (writer_turns.h): no polling delay, no spinning. The wait
    // is capped, because a release between SQLite's failed attempt and our first look, a
    // rollback (it wakes nobody) or a holder that does not take part would otherwise be missed.
    if (c->announces_lock_waits_) turns->BeginWait();
    const std::uint32_t seq = turns->ReleaseSeq();
    if (count == 0 || seq != c->release_seen_) {
      c->release_seen_ = seq;
      if (count == 0) return 1;  // retry once at once: the lock is often free again already
    }
    turns->WaitForRelease(seq, std::min(left, std::chrono::microseconds(1000)));
    c->release_seen_ = turns->ReleaseSeq();
    return 1;
  }
  // Short sleeps first so a briefly held lock costs little, capped at 2 ms so a waiter notices a
  // released lock quickly. (SQLite's default handler backs off to 100 ms sleeps, which lets one
  // process starve another past the busy timeout under steady contention.)
  int shift = std::min(count, 5);
  auto sleep = std::chrono::microseconds(std::min(50 << shift, 2000));
  std::this_thread::sleep_for(std::min<std::chrono::microseconds>(sleep, left));
  return 1;
}

void Connection::YieldToWaitingWriters() {
  if (config_.turns != nullptr && announces_lock_waits_) config_.turns->YieldToWaiters();
}

void Connection::EndLockWait() {
  if (config_.turns != nullptr && announces_lock_waits_) config_.turns->EndWait();
}

int Connection::WalHook(void* self, sqlite3* /*db*/, const char* /*schema*/, int wal_frames) {
  auto* c = static_cast<Connection*>(self);
  // The write lock is released by now: let waiting processes try at once (writer_turns.h).
  if (c->config_.turns != nullptr) c->config_.turns->Released();
  try {
    c->config_.wal_observer->OnWalCommit(wal_frames);
  } catch (...) {
    // Called from inside sqlite3_step: nothing may unwind through SQLite. A missed signal only
    // delays a checkpoint until the next commit.
  }
  return SQLITE_OK;
}

void Connection::Exec(const char* sql) {
  CallSqlite(sql, [&] { db_.exec(sql); });
}

void Connection::Run(const char* constant_sql) {
  CallSqlite(constant_sql, [&] {
    StatementUse statement(*this, constant_sql);
    statement->exec();
  });
}

std::int64_t Connection::QueryInt(const char* constant_sql, const char* what) {
  return CallSqlite(what != nullptr ? what : constant_sql, [&] {
    StatementUse q(*this, constant_sql);
    if (!q->executeStep() || q->isColumnNull(0)) return std::int64_t{0};
    return static_cast<std::int64_t>(q->getColumn(0).getInt64());
  });
}

SQLite::Statement& Connection::Prepare(const char* sql) {
  auto it = statements_.find(sql);
  if (it != statements_.end()) return *it->second;
  auto statement = CallSqlite("cannot prepare statement",
                              [&] { return std::make_unique<SQLite::Statement>(db_, sql); });
  return *statements_.emplace(sql, std::move(statement)).first->second;
}

bool Connection::InTransaction() const { return sqlite3_get_autocommit(handle()) == 0; }

void Connection::AssertIdle() const {
  assert(sqlite3_get_autocommit(handle()) == 1 && "connection left inside a transaction");
  assert((sqlite3_next_stmt(handle(), nullptr) == nullptr ||
          [&] {
            for (sqlite3_stmt* s = sqlite3_next_stmt(handle(), nullptr); s != nullptr;
                 s = sqlite3_next_stmt(handle(), s)) {
              if (sqlite3_stmt_busy(s)) return false;
            }
            return true;
          }()) &&
         "a statement was left busy");
}

StatementUse::~StatementUse() {
  statement_.tryReset();
  try {
    statement_.clearBindings();
  } catch (...) {
    // sqlite3_clear_bindings cannot fail; and a destructor never throws.
  }
}

}  // namespace statestore::internal

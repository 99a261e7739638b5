// "SQLite kv": what a user writes without statestore, as an engine of
// statestore_durability_bench. One table kv(key TEXT PRIMARY KEY, value BLOB) WITHOUT ROWID, WAL,
// synchronous=FULL or NORMAL, SQLite's defaults otherwise (automatic checkpoints every 1000
// pages by the committing connection), one connection per writer thread, BEGIN IMMEDIATE and
// sqlite3_busy_timeout(5000). No history, no revisions, no commit records: this is the floor a
// statestore commit is compared with, so it must not carry any of statestore's work.
#include <sqlite3.h>

#include <atomic>
#include <cstdio>
#include <memory>
#include <string>

#include "peers.h"

namespace statestore::bench {
namespace {

void Check(sqlite3* db, int rc, const char* what) {
  if (rc != SQLITE_OK && rc != SQLITE_ROW && rc != SQLITE_DONE) {
    Fail(std::string("sqlite kv: ") + what + ": " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc)));
  }
}

class Db {
 public:
  Db(const std::filesystem::path& path, bool full) {
    const int rc =
        sqlite3_open_v2(path.c_str(), &db_,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
    if (rc != SQLITE_OK) {
      const std::string msg = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
      sqlite3_close_v2(db_);
      Fail("sqlite kv: open " + path.string() + ": " + msg);
    }
    sqlite3_busy_timeout(db_, 5000);
    Exec(std::string("PRAGMA journal_mode=WAL; PRAGMA synchronous=") + (full ? "FULL" : "NORMAL"));
  }
  ~Db() { sqlite3_close_v2(db_); }
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  sqlite3* get() const { return db_; }

  void Exec(const std::string& sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
      const std::string msg = err ? err : "?";
      sqlite3_free(err);
      Fail("sqlite kv: " + sql.substr(0, 60) + ": " + msg);
    }
  }

 private:
  sqlite3* db_ = nullptr;
};

class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) : db_(db) {
    Check(db, sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s_, nullptr), sql);
  }
  ~Stmt() { sqlite3_finalize(s_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  sqlite3_stmt* get() const { return s_; }

  // Steps once and resets; returns SQLITE_ROW/SQLITE_DONE/SQLITE_BUSY, throws on other errors.
  int StepReset() {
    const int rc = sqlite3_step(s_);
    sqlite3_reset(s_);
    if (rc != SQLITE_BUSY) Check(db_, rc, sqlite3_sql(s_));
    return rc;
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* s_ = nullptr;
};

// One writer thread's connection and statements.
class Writer {
 public:
  Writer(const std::filesystem::path& path, bool full, std::atomic<std::uint64_t>& busy)
      : db_(path, full),
        begin_(db_.get(), "BEGIN IMMEDIATE"),
        commit_(db_.get(), "COMMIT"),
        rollback_(db_.get(), "ROLLBACK"),
        get_(db_.get(), "SELECT value FROM kv WHERE key = ?1"),
        put_(db_.get(),
             "INSERT INTO kv (key, value) VALUES (?1, ?2) "
             "ON CONFLICT (key) DO UPDATE SET value = excluded.value"),
        busy_(busy) {}

  void Transact(const std::string& key, const std::string& value, const std::string& counter) {
    // BEGIN IMMEDIATE reports BUSY only once the 5 s busy timeout ran out (many writers queued
    // behind a slow disk). A user's program would retry the transaction; so do we, and count it.
    while (begin_.StepReset() == SQLITE_BUSY) busy_.fetch_add(1, std::memory_order_relaxed);
    try {
      Put(key, value);
      sqlite3_bind_text(get_.get(), 1, counter.data(), static_cast<int>(counter.size()),
                        SQLITE_STATIC);
      std::uint64_t n = 0;
      const int rc = sqlite3_step(get_.get());
      if (rc == SQLITE_ROW) {
        n = DecodeCounter(static_cast<const char*>(sqlite3_column_blob(get_.get(), 0)),
                          static_cast<std::size_t>(sqlite3_column_bytes(get_.get(), 0)));
      }
      sqlite3_reset(get_.get());
      if (rc != SQLITE_ROW) Check(db_.get(), rc, "counter read");
      Put(counter, EncodeCounter(n + 1));
      // The write lock is held since BEGIN IMMEDIATE, so COMMIT does not wait for other writers.
      if (commit_.StepReset() == SQLITE_BUSY) Fail("sqlite kv: COMMIT: database is locked");
    } catch (...) {
      sqlite3_step(rollback_.get());
      sqlite3_reset(rollback_.get());
      throw;
    }
  }

  sqlite3* db() const { return db_.get(); }

 private:
  void Put(const std::string& key, const std::string& value) {
    sqlite3_bind_text(put_.get(), 1, key.data(), static_cast<int>(key.size()), SQLITE_STATIC);
    sqlite3_bind_blob(put_.get(), 2, value.data(), static_cast<int>(value.size()), SQLITE_STATIC);
    put_.StepReset();
  }

  Db db_;
  Stmt begin_, commit_, rollback_, get_, put_;
  std::atomic<std::uint64_t>& busy_;
};

class SqliteKvWrites : public WriteEngine {
 public:
  SqliteKvWrites(const std::filesystem::path& path, bool full) : path_(path), full_(full) {
    Db db(path_, full_);
    db.Exec("CREATE TABLE kv (key TEXT PRIMARY KEY, value BLOB) WITHOUT ROWID");
  }

  CommitFn NewWriter(int thread) override {
    auto w = std::make_shared<Writer>(path_, full_, busy_);
    return [w, thread, counter = CounterKey(thread)](std::uint64_t seq) {
      w->Transact(WriteKey(thread, seq), MakeValue(seq), counter);
    };
  }

  std::string Notes() override {
    const std::uint64_t busy = busy_.load();
    if (busy == 0) return {};
    return "BEGIN retried after busy timeout " + std::to_string(busy) + "x";
  }

  std::string Verify(int threads, const std::vector<std::uint64_t>& commits) override {
    Db db(path_, full_);
    Stmt get(db.get(), "SELECT value FROM kv WHERE key = ?1");
    for (int t = 0; t < threads; ++t) {
      const std::string key = CounterKey(t);
      sqlite3_bind_text(get.get(), 1, key.data(), static_cast<int>(key.size()), SQLITE_STATIC);
      std::uint64_t got = 0;
      if (sqlite3_step(get.get()) == SQLITE_ROW) {
        got = DecodeCounter(static_cast<const char*>(sqlite3_column_blob(get.get(), 0)),
                            static_cast<std::size_t>(sqlite3_column_bytes(get.get(), 0)));
      }
      sqlite3_reset(get.get());
      if (got != commits[static_cast<std::size_t>(t)]) {
        return "SQLite kv: counter of thread " + std::to_string(t) + " is " + std::to_string(got) +
               ", expected " + std::to_string(commits[static_cast<std::size_t>(t)]);
      }
    }
    return {};
  }

 private:
  std::filesystem::path path_;
  bool full_;
  std::atomic<std::uint64_t> busy_{0};
};

}  // namespace

std::unique_ptr<WriteEngine> MakeSqliteKvWriteEngine(const std::filesystem::path& path, bool full) {
  return std::make_unique<SqliteKvWrites>(path, full);
}

}  // namespace statestore::bench

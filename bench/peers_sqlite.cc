// Raw SQLite as an engine of statestore_durability_bench: statestore's schema and pragmas,
// without statestore (no group commit, no read cache).
#include <sqlite3.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "bench_schema.h"  // kBenchSchemaSql, generated from migrations/sqlite/*.sql
#include "peers.h"

namespace statestore::bench {
namespace {

constexpr sqlite3_int64 kKeyspaceId = 1;
constexpr int kStringType = 4;  // statestore::ValueType::kString
constexpr int kIntType = 2;     // statestore::ValueType::kInt

void Check(sqlite3* db, int rc, const char* what) {
  if (rc != SQLITE_OK && rc != SQLITE_ROW && rc != SQLITE_DONE) {
    Fail(std::string("sqlite: ") + what + ": " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc)));
  }
}

void Exec(sqlite3* db, const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "?";
    sqlite3_free(err);
    Fail("sqlite: " + sql.substr(0, 60) + ": " + msg);
  }
}

// statestore's busy policy: poll with short sleeps up to the busy timeout (5 s).
int BusyHandler(void*, int attempts) {
  if (attempts >= 50'000) return 0;
  std::this_thread::sleep_for(std::chrono::microseconds(100));
  return 1;
}

struct Stmt {
  sqlite3_stmt* s = nullptr;
  Stmt(sqlite3* db, const char* sql) {
    Check(db, sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr), sql);
  }
  ~Stmt() { sqlite3_finalize(s); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  operator sqlite3_stmt*() const { return s; }
};

// One connection with statestore's pragmas and the statements of one write transaction.
class Connection {
 public:
  Connection(const std::filesystem::path& path, bool full)
      : db_(OpenDb(path, full)),
        begin_(db_, "BEGIN IMMEDIATE"),
        commit_(db_, "COMMIT"),
        rollback_(db_, "ROLLBACK"),
        head_(db_, "SELECT value FROM meta WHERE name = 'head_revision'"),
        set_head_(db_, "UPDATE meta SET value = ?1 WHERE name = 'head_revision'"),
        select_old_(db_, "SELECT type, value FROM entries WHERE keyspace_id = ?1 AND key = ?2"),
        upsert_(db_,
                "INSERT INTO entries (keyspace_id, key, type, value, version) "
                "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (keyspace_id, key) DO UPDATE SET "
                "type = excluded.type, value = excluded.value, version = excluded.version"),
        insert_commit_(db_,
                       "INSERT INTO commits (revision, time_us, pid, thread_id, label) "
                       "VALUES (?1, ?2, ?3, ?4, 'bench')"),
        insert_change_(db_,
                       "INSERT INTO changes (revision, seq, keyspace_id, key, old_type, "
                       "old_value, new_type, new_value) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"),
        get_(db_, "SELECT type, value, version FROM entries WHERE keyspace_id = ?1 AND key = ?2") {}
  ~Connection() {
    // Statements are finalized by their destructors (members declared after db_ go first).
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  sqlite3* db() const { return db_; }

  // Creates the schema (once per file, before the other connections).
  static void CreateSchema(const std::filesystem::path& path) {
    sqlite3* db = OpenDb(path, true);
    try {
      Exec(db, std::string("BEGIN IMMEDIATE;") + kBenchSchemaSql +
                   ";INSERT INTO keyspaces (id, name) VALUES (1, 'bench');COMMIT;");
    } catch (...) {
      sqlite3_close_v2(db);
      throw;
    }
    sqlite3_close_v2(db);
  }

  // One transaction: writes `value` under `key`, then reads `counter_key` (an int) and writes
  // it back incremented; a `changes` row per write, a `commits` row, the head revision. Retries
  // the whole transaction if SQLite still reports BUSY after the busy handler gave up.
  void Transact(const std::string& key, const std::string& value, const std::string& counter) {
    for (int attempt = 0;; ++attempt) {
      const int rc = sqlite3_step(begin_);
      sqlite3_reset(begin_);
      if (rc == SQLITE_BUSY && attempt < 100) continue;
      Check(db_, rc, "BEGIN IMMEDIATE");
      try {
        Body(key, value, counter);
      } catch (...) {
        sqlite3_step(rollback_);
        sqlite3_reset(rollback_);
        throw;
      }
      int crc;
      while ((crc = sqlite3_step(commit_)) == SQLITE_BUSY) sqlite3_reset(commit_);
      sqlite3_reset(commit_);
      if (crc != SQLITE_DONE) {
        sqlite3_step(rollback_);
        sqlite3_reset(rollback_);
        Check(db_, crc, "COMMIT");
      }
      return;
    }
  }

  // Point read of `key`; copies the row out.
  bool Get(const std::string& key) {
    sqlite3_bind_int64(get_, 1, kKeyspaceId);
    sqlite3_bind_text(get_, 2, key.data(), static_cast<int>(key.size()), SQLITE_STATIC);
    const int rc = sqlite3_step(get_);
    bool found = false;
    if (rc == SQLITE_ROW) {
      found = true;
      type_ = sqlite3_column_int(get_, 0);
      const auto* p = static_cast<const char*>(sqlite3_column_blob(get_, 1));
      value_.assign(p ? p : "", static_cast<std::size_t>(sqlite3_column_bytes(get_, 1)));
      version_ = sqlite3_column_int64(get_, 2);
    }
    sqlite3_reset(get_);
    if (rc != SQLITE_ROW) Check(db_, rc, "point read");
    return found;
  }

 private:
  static sqlite3* OpenDb(const std::filesystem::path& path, bool full) {
    sqlite3* db = nullptr;
    const int rc =
        sqlite3_open_v2(path.c_str(), &db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
    if (rc != SQLITE_OK) {
      std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
      sqlite3_close_v2(db);
      Fail("sqlite: open " + path.string() + ": " + msg);
    }
    sqlite3_busy_handler(db, BusyHandler, nullptr);
    Exec(db, std::string("PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON; "
                         "PRAGMA trusted_schema=OFF; PRAGMA mmap_size=0; PRAGMA synchronous=") +
                 (full ? "FULL" : "NORMAL"));
    return db;
  }

  void Step(sqlite3_stmt* s) {
    const int rc = sqlite3_step(s);
    sqlite3_reset(s);
    Check(db_, rc, sqlite3_sql(s));
  }

  void Write(sqlite3_int64 revision, int seq, const std::string& key, int type,
             const std::function<void(sqlite3_stmt*, int)>& bind_value) {
    sqlite3_bind_int64(select_old_, 1, kKeyspaceId);
    sqlite3_bind_text(select_old_, 2, key.data(), static_cast<int>(key.size()), SQLITE_STATIC);
    const int rc = sqlite3_step(select_old_);
    if (rc == SQLITE_ROW) {
      sqlite3_bind_int64(insert_change_, 5, sqlite3_column_int64(select_old_, 0));
      sqlite3_bind_value(insert_change_, 6, sqlite3_column_value(select_old_, 1));  // copies
    } else {
      sqlite3_bind_null(insert_change_, 5);
      sqlite3_bind_null(insert_change_, 6);
    }
    sqlite3_reset(select_old_);
    if (rc != SQLITE_ROW) Check(db_, rc, "select old");

    sqlite3_bind_int64(upsert_, 1, kKeyspaceId);
    sqlite3_bind_text(upsert_, 2, key.data(), static_cast<int>(key.size()), SQLITE_STATIC);
    sqlite3_bind_int(upsert_, 3, type);
    bind_value(upsert_, 4);
    sqlite3_bind_int64(upsert_, 5, revision);
    Step(upsert_);

    sqlite3_bind_int64(insert_change_, 1, revision);
    sqlite3_bind_int(insert_change_, 2, seq);
    sqlite3_bind_int64(insert_change_, 3, kKeyspaceId);
    sqlite3_bind_text(insert_change_, 4, key.data(), static_cast<int>(key.size()), SQLITE_STATIC);
    sqlite3_bind_int(insert_change_, 7, type);
    bind_value(insert_change_, 8);
    Step(insert_change_);
  }

  void Body(const std::string& key, const std::string& value, const std::string& counter) {
    if (sqlite3_step(head_) != SQLITE_ROW) {
      sqlite3_reset(head_);
      Fail("sqlite: meta head_revision missing");
    }
    const sqlite3_int64 revision = sqlite3_column_int64(head_, 0) + 1;
    sqlite3_reset(head_);

    Write(revision, 0, key, kStringType, [&](sqlite3_stmt* s, int i) {
      sqlite3_bind_text(s, i, value.data(), static_cast<int>(value.size()), SQLITE_STATIC);
    });
    // Read-modify-write of the counter.
    sqlite3_bind_int64(get_, 1, kKeyspaceId);
    sqlite3_bind_text(get_, 2, counter.data(), static_cast<int>(counter.size()), SQLITE_STATIC);
    const int rc = sqlite3_step(get_);
    const sqlite3_int64 old = rc == SQLITE_ROW ? sqlite3_column_int64(get_, 1) : 0;
    sqlite3_reset(get_);
    if (rc != SQLITE_ROW) Check(db_, rc, "counter read");
    Write(revision, 1, counter, kIntType,
          [&](sqlite3_stmt* s, int i) { sqlite3_bind_int64(s, i, old + 1); });

    sqlite3_bind_int64(insert_commit_, 1, revision);
    sqlite3_bind_int64(insert_commit_, 2,
                       std::chrono::duration_cast<std::chrono::microseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count());
    sqlite3_bind_int64(insert_commit_, 3, getpid());
    sqlite3_bind_int64(insert_commit_, 4, gettid());
    Step(insert_commit_);
    sqlite3_bind_int64(set_head_, 1, revision);
    Step(set_head_);
  }

  struct Db {
    sqlite3* db;
    Db(sqlite3* d) : db(d) {}  // NOLINT: implicit on purpose
    ~Db() { sqlite3_close_v2(db); }
    operator sqlite3*() const { return db; }
  };
  Db db_;
  Stmt begin_, commit_, rollback_, head_, set_head_, select_old_, upsert_, insert_commit_,
      insert_change_, get_;
  int type_ = 0;
  std::string value_;
  sqlite3_int64 version_ = 0;
};

class SqliteWrites : public WriteEngine {
 public:
  SqliteWrites(const std::filesystem::path& path, bool full) : path_(path), full_(full) {
    Connection::CreateSchema(path_);
  }

  CommitFn NewWriter(int thread) override {
    auto c = std::make_shared<Connection>(path_, full_);
    return [c, thread, counter = CounterKey(thread)](std::uint64_t seq) {
      c->Transact(WriteKey(thread, seq), MakeValue(seq), counter);
    };
  }

  std::string Verify(int threads, const std::vector<std::uint64_t>& commits) override {
    Connection c(path_, full_);
    for (int t = 0; t < threads; ++t) {
      sqlite3_stmt* s = nullptr;
      Check(
          c.db(),
          sqlite3_prepare_v2(c.db(), "SELECT value FROM entries WHERE keyspace_id = 1 AND key = ?1",
                             -1, &s, nullptr),
          "prepare");
      const std::string key = CounterKey(t);
      sqlite3_bind_text(s, 1, key.c_str(), -1, SQLITE_TRANSIENT);
      const std::uint64_t got = sqlite3_step(s) == SQLITE_ROW
                                    ? static_cast<std::uint64_t>(sqlite3_column_int64(s, 0))
                                    : 0;
      sqlite3_finalize(s);
      if (got != commits[static_cast<std::size_t>(t)]) {
        return "raw SQLite: counter of thread " + std::to_string(t) + " is " + std::to_string(got) +
               ", expected " + std::to_string(commits[static_cast<std::size_t>(t)]);
      }
    }
    return {};
  }

 private:
  std::filesystem::path path_;
  bool full_;
};

class SqliteReads : public ReadEngine {
 public:
  explicit SqliteReads(const std::filesystem::path& path) : path_(path) {
    Connection::CreateSchema(path_);
    Connection c(path_, false);
    Exec(c.db(), "BEGIN IMMEDIATE");
    sqlite3_stmt* s = nullptr;
    Check(c.db(),
          sqlite3_prepare_v2(c.db(),
                             "INSERT INTO entries (keyspace_id, key, type, value, version) "
                             "VALUES (1, ?1, 4, ?2, 1)",
                             -1, &s, nullptr),
          "prepare");
    for (int i = 0; i < kReadKeys; ++i) {
      const std::string k = ReadKey(i), v = MakeValue(static_cast<std::uint64_t>(i));
      sqlite3_bind_text(s, 1, k.data(), static_cast<int>(k.size()), SQLITE_TRANSIENT);
      sqlite3_bind_text(s, 2, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
      const int rc = sqlite3_step(s);
      sqlite3_reset(s);
      Check(c.db(), rc, "populate");
    }
    sqlite3_finalize(s);
    Exec(c.db(), "COMMIT");
  }

  ReadFn NewReader() override {
    auto c = std::make_shared<Connection>(path_, false);
    return [c](const std::string& key) { return c->Get(key); };
  }

  BackgroundCommitFn NewWriter() override {
    auto c = std::make_shared<Connection>(path_, false);
    return [c](std::uint64_t, const std::string& key, const std::string& value) {
      c->Transact(key, value, "c/bg");
    };
  }

 private:
  std::filesystem::path path_;
};

}  // namespace

std::unique_ptr<WriteEngine> MakeSqliteWriteEngine(const std::filesystem::path& path, bool full) {
  return std::make_unique<SqliteWrites>(path, full);
}

std::unique_ptr<ReadEngine> MakeSqliteReadEngine(const std::filesystem::path& path) {
  return std::make_unique<SqliteReads>(path);
}

}  // namespace statestore::bench

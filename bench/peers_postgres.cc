// The PostgreSQL engines of statestore_durability_bench (issue 14): statestore on PostgreSQL, and
// what a user writes with raw libpq instead — a plain upsert table, or statestore's own tables
// and history rows written statement by statement. Every round gets a fresh schema, dropped
// afterwards (DropPgSchema).
//
// The raw peers are written as a careful libpq/libpqxx user writes them: one connection per
// thread, prepared statements, binary values, synchronous_commit=on, one round trip per
// statement (a libpqxx `work` with exec_prepared calls and commit()). The per-thread counter is
// a server-side increment (`n = n + 1`), cheaper than statestore's get + put.
#include <libpq-fe.h>
#include <statestore/statestore.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "bench_pg_schema.h"
#include "peers.h"

namespace statestore::bench {
namespace {

// One libpq connection; every failure throws (Fail) with the server's message.
class RawPg {
 public:
  explicit RawPg(const PgTarget& target) : conn_(PQconnectdb(target.conninfo.c_str())) {
    if (PQstatus(conn_) != CONNECTION_OK) {
      const std::string m = PQerrorMessage(conn_);
      PQfinish(conn_);
      Fail("cannot connect to PostgreSQL: " + m);
    }
    // The schema name is the bench's own (bench_w<N>), never user text.
    Exec("SET synchronous_commit TO on; SET client_min_messages TO warning; SET search_path TO " +
         target.schema);
  }
  ~RawPg() { PQfinish(conn_); }
  RawPg(const RawPg&) = delete;
  RawPg& operator=(const RawPg&) = delete;

  using Result = std::unique_ptr<PGresult, decltype(&PQclear)>;

  Result Exec(const std::string& sql) { return Check(PQexec(conn_, sql.c_str()), sql.c_str()); }

  void Prepare(const char* name, const char* sql) {
    Check(PQprepare(conn_, name, sql, 0, nullptr), sql);
  }

  // Binds text parameters (nullptr: NULL) except those whose length is given (binary).
  Result Run(const char* name, const std::vector<const char*>& values,
             const std::vector<int>& lengths = {}, const std::vector<int>& formats = {}) {
    return Check(PQexecPrepared(conn_, name, static_cast<int>(values.size()), values.data(),
                                lengths.empty() ? nullptr : lengths.data(),
                                formats.empty() ? nullptr : formats.data(), /*resultFormat=*/0),
                 name);
  }

 private:
  Result Check(PGresult* r, const char* what) {
    Result owned(r, &PQclear);
    const ExecStatusType s = PQresultStatus(r);
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
      Fail(std::string("PostgreSQL: ") + what + ": " + PQresultErrorMessage(r));
    }
    return owned;
  }

  PGconn* conn_;
};

std::int64_t ParseInt(const char* s) { return std::strtoll(s, nullptr, 10); }

// ------------------------------------------------------------------------------------------
// statestore on PostgreSQL

std::shared_ptr<Store> OpenStatestore(const PgTarget& target, std::size_t cache_capacity,
                                      Durability durability) {
  Options o;
  o.durability = durability;
  o.cache_capacity = cache_capacity;
  o.origin_label = "bench";
  o.postgres.schema = target.schema;
  // The read cache serves get() only with bounded staleness on this engine (store.h); the
  // uncached engine has no cache at all.
  o.postgres.cache_reads_with_bounded_staleness = cache_capacity > 0;
  return Store::open(target.conninfo, o);
}

// ------------------------------------------------------------------------------------------
// libpq upsert: kv(key text PRIMARY KEY, value bytea, n bigint)

constexpr const char* kKvSchema =
    "CREATE TABLE kv (key text COLLATE \"C\" PRIMARY KEY, value bytea, n bigint)";
constexpr const char* kKvPut =
    "INSERT INTO kv (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = "
    "excluded.value";
constexpr const char* kKvBump =
    "INSERT INTO kv (key, n) VALUES ($1, 1) ON CONFLICT (key) DO UPDATE SET n = kv.n + 1";
constexpr const char* kKvGet = "SELECT value FROM kv WHERE key = $1";

void CreateSchema(const PgTarget& target, const char* tables) {
  if (!target.create) return;
  PgTarget bare = target;
  bare.schema = "public";
  RawPg c(bare);
  c.Exec("CREATE SCHEMA " + target.schema + "; SET search_path TO " + target.schema + "; " +
         tables);
}

class LibpqUpsertWrites : public WriteEngine {
 public:
  explicit LibpqUpsertWrites(const PgTarget& target) : target_(target) {
    CreateSchema(target, kKvSchema);
  }

  CommitFn NewWriter(int thread) override {
    auto c = std::make_shared<RawPg>(target_);
    c->Prepare("put", kKvPut);
    c->Prepare("bump", kKvBump);
    return [c, thread, counter = CounterKey(thread)](std::uint64_t seq) {
      const std::string key = WriteKey(thread, seq);
      const std::string value = MakeValue(seq);
      c->Exec("BEGIN");
      c->Run("put", {key.c_str(), value.data()}, {0, static_cast<int>(value.size())}, {0, 1});
      c->Run("bump", {counter.c_str()});
      c->Exec("COMMIT");
    };
  }

  std::string Verify(int threads, const std::vector<std::uint64_t>& commits) override {
    RawPg c(target_);
    c.Prepare("n", "SELECT n FROM kv WHERE key = $1");
    for (int t = 0; t < threads; ++t) {
      const std::string key = CounterKey(t);
      RawPg::Result got = c.Run("n", {key.c_str()});
      const std::uint64_t n =
          PQntuples(got.get()) == 1
              ? static_cast<std::uint64_t>(ParseInt(PQgetvalue(got.get(), 0, 0)))
              : 0;
      if (n != commits[static_cast<std::size_t>(t)]) {
        return "libpq upsert: counter of thread " + std::to_string(t) + " is " + std::to_string(n) +
               ", " + std::to_string(commits[static_cast<std::size_t>(t)]) +
               " commits were acknowledged";
      }
    }
    return {};
  }

 private:
  PgTarget target_;
};

class LibpqReads : public ReadEngine {
 public:
  explicit LibpqReads(const PgTarget& target) : target_(target) {
    CreateSchema(target, kKvSchema);
    RawPg c(target_);
    c.Prepare("put", kKvPut);
    for (int b = 0; b < kReadKeys; b += 1000) {
      c.Exec("BEGIN");
      for (int i = b; i < b + 1000 && i < kReadKeys; ++i) {
        const std::string key = ReadKey(i);
        const std::string value = MakeValue(static_cast<std::uint64_t>(i));
        c.Run("put", {key.c_str(), value.data()}, {0, static_cast<int>(value.size())}, {0, 1});
      }
      c.Exec("COMMIT");
    }
  }

  ReadFn NewReader() override {
    auto c = std::make_shared<RawPg>(target_);
    c->Prepare("get", kKvGet);
    return [c](const std::string& key) {
      RawPg::Result r = c->Run("get", {key.c_str()});
      return PQntuples(r.get()) == 1;
    };
  }

  BackgroundCommitFn NewWriter() override {
    auto c = std::make_shared<RawPg>(target_);
    c->Prepare("put", kKvPut);
    c->Prepare("bump", kKvBump);
    return [c](std::uint64_t, const std::string& key, const std::string& value) {
      c->Exec("BEGIN");
      c->Run("put", {key.c_str(), value.data()}, {0, static_cast<int>(value.size())}, {0, 1});
      c->Run("bump", {"c/bg"});
      c->Exec("COMMIT");
    };
  }

 private:
  PgTarget target_;
};

// ------------------------------------------------------------------------------------------
// libpq+history: statestore's tables (migrations/postgresql), written statement by statement.
// Per commit: BEGIN; lock the head row (gapless revisions in commit order, as statestore
// promises); read the counter; for the value and the counter, one statement each that inserts
// the change row with the old value read from entries (statestore's own trick); the two upserts;
// the commit row and the head in one statement; COMMIT — 9 round trips.

constexpr const char* kLockHead = "SELECT value FROM meta WHERE name = 'head_revision' FOR UPDATE";
constexpr const char* kChange =
    "INSERT INTO changes (revision, seq, keyspace_id, key, old_type, old_value, new_type, "
    "new_value) SELECT $1, $2, $3, $4, old.type, old.value, $5, $6 FROM (SELECT 1) AS one "
    "LEFT JOIN (SELECT type, value FROM entries WHERE keyspace_id = $3 AND key = $4) AS old "
    "ON true";
constexpr const char* kGetEntry = "SELECT value FROM entries WHERE keyspace_id = 1 AND key = $1";
constexpr const char* kUpsert =
    "INSERT INTO entries (keyspace_id, key, type, value, version) VALUES ($1, $2, $3, $4, $5) "
    "ON CONFLICT (keyspace_id, key) DO UPDATE SET type = excluded.type, value = "
    "excluded.value, version = excluded.version";
constexpr const char* kCommitRow =
    "WITH head AS (UPDATE meta SET value = $1 WHERE name = 'head_revision') "
    "INSERT INTO commits (revision, time_us, pid, thread_id, label) VALUES ($1, $2, $3, $4, '')";

std::string BigEndian(std::uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[static_cast<std::size_t>(i)] = static_cast<char>(v >> (56 - 8 * i));
  return s;
}

std::uint64_t FromBigEndian(const std::string& s) {
  std::uint64_t v = 0;
  for (char ch : s) v = (v << 8) | static_cast<unsigned char>(ch);
  return v;
}

// bytea in text format ("\x0a0b...") back to bytes.
std::string UnHex(const char* s) {
  std::string out;
  if (std::strncmp(s, "\\x", 2) != 0) return out;
  for (const char* p = s + 2; p[0] != '\0' && p[1] != '\0'; p += 2) {
    auto nib = [](char c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; };
    out.push_back(static_cast<char>(nib(p[0]) << 4 | nib(p[1])));
  }
  return out;
}

class LibpqHistoryWrites : public WriteEngine {
 public:
  explicit LibpqHistoryWrites(const PgTarget& target) : target_(target) {
    CreateSchema(target, (std::string(kBenchPgSchemaSql) +
                          "; INSERT INTO keyspaces (id, name) VALUES (1, 'bench')")
                             .c_str());
  }

  CommitFn NewWriter(int thread) override {
    auto c = std::make_shared<RawPg>(target_);
    c->Prepare("lock", kLockHead);
    c->Prepare("change", kChange);
    c->Prepare("get", kGetEntry);
    c->Prepare("upsert", kUpsert);
    c->Prepare("commit", kCommitRow);
    return [c, thread, counter = CounterKey(thread)](std::uint64_t seq) {
      const std::string key = WriteKey(thread, seq);
      const std::string value = MakeValue(seq);
      c->Exec("BEGIN");
      RawPg::Result head = c->Run("lock", {});
      const std::string rev = std::to_string(ParseInt(PQgetvalue(head.get(), 0, 0)) + 1);
      const std::string str_type = "4", int_type = "2";
      c->Run("change", {rev.c_str(), "0", "1", key.c_str(), str_type.c_str(), value.data()},
             {0, 0, 0, 0, 0, static_cast<int>(value.size())}, {0, 0, 0, 0, 0, 1});
      RawPg::Result old = c->Run("get", {counter.c_str()});
      const std::uint64_t n =
          PQntuples(old.get()) == 1 ? FromBigEndian(UnHex(PQgetvalue(old.get(), 0, 0))) : 0;
      const std::string next = BigEndian(n + 1);
      c->Run("change", {rev.c_str(), "1", "1", counter.c_str(), int_type.c_str(), next.data()},
             {0, 0, 0, 0, 0, 8}, {0, 0, 0, 0, 0, 1});
      c->Run("upsert", {"1", key.c_str(), str_type.c_str(), value.data(), rev.c_str()},
             {0, 0, 0, static_cast<int>(value.size()), 0}, {0, 0, 0, 1, 0});
      c->Run("upsert", {"1", counter.c_str(), int_type.c_str(), next.data(), rev.c_str()},
             {0, 0, 0, 8, 0}, {0, 0, 0, 1, 0});
      const std::string now =
          std::to_string(std::chrono::duration_cast<std::chrono::microseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count());
      const std::string pid = std::to_string(::getpid());
      const std::string tid = std::to_string(thread);
      c->Run("commit", {rev.c_str(), now.c_str(), pid.c_str(), tid.c_str()});
      c->Exec("COMMIT");
    };
  }

  std::string Verify(int threads, const std::vector<std::uint64_t>& commits) override {
    RawPg c(target_);
    c.Prepare("get", kGetEntry);
    for (int t = 0; t < threads; ++t) {
      const std::string key = CounterKey(t);
      RawPg::Result r = c.Run("get", {key.c_str()});
      const std::uint64_t n =
          PQntuples(r.get()) == 1 ? FromBigEndian(UnHex(PQgetvalue(r.get(), 0, 0))) : 0;
      if (n != commits[static_cast<std::size_t>(t)]) {
        return "libpq+history: counter of thread " + std::to_string(t) + " is " +
               std::to_string(n) + ", " + std::to_string(commits[static_cast<std::size_t>(t)]) +
               " commits were acknowledged";
      }
    }
    return {};
  }

 private:
  PgTarget target_;
};

}  // namespace

std::unique_ptr<WriteEngine> MakeStatestorePgWriteEngine(const PgTarget& target) {
  return MakeStoreWriteEngine(OpenStatestore(target, 100'000, Durability::kFull));
}
std::unique_ptr<WriteEngine> MakeLibpqUpsertWriteEngine(const PgTarget& target) {
  return std::make_unique<LibpqUpsertWrites>(target);
}
std::unique_ptr<WriteEngine> MakeLibpqHistoryWriteEngine(const PgTarget& target) {
  return std::make_unique<LibpqHistoryWrites>(target);
}
std::unique_ptr<ReadEngine> MakeStatestorePgReadEngine(const PgTarget& target, bool cached) {
  return MakeStoreReadEngine(OpenStatestore(target, cached ? 100'000 : 0, Durability::kFull));
}
std::unique_ptr<ReadEngine> MakeLibpqReadEngine(const PgTarget& target) {
  return std::make_unique<LibpqReads>(target);
}

void DropPgSchema(const PgTarget& target) {
  PgTarget bare = target;
  bare.schema = "public";
  RawPg c(bare);
  c.Exec("DROP SCHEMA IF EXISTS " + target.schema + " CASCADE");
}

std::string PostgresServerVersion(const std::string& conninfo) {
  PgTarget bare{conninfo, "public", false};
  RawPg c(bare);
  RawPg::Result r = c.Exec("SHOW server_version");
  return std::string("PostgreSQL ") + PQgetvalue(r.get(), 0, 0);
}

}  // namespace statestore::bench

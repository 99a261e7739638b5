// statestore_core_bench [--short] [--out DIR] — a quick benchmark of the statestore core against
// the engines a user would otherwise pick, all measured in the same run on the same data:
//
//   a) single-thread commit rate and latency (p50/p99): statestore in Durability::kFull and
//      kNormal vs raw SQLite (WAL, synchronous=FULL / NORMAL) doing equivalent work per commit:
//      BEGIN IMMEDIATE; read the old row; upsert the row; insert one `commits` and one `changes`
//      row (the tables of migrations/0001_initial.sql, foreign keys on); COMMIT — with prepared
//      statements reused. Every commit writes one of 1,000 keys with a ~100-byte string value.
//   b) single-thread random point reads over 10,000 keys: statestore get() with the read cache,
//      statestore with the cache off, a raw SQLite prepared point read of the very same file, and
//      LMDB (a read transaction per read: mdb_txn_renew / mdb_get / mdb_txn_reset).
//   c) the same reads from 2 threads (aggregate reads/s).
//
// Every measurement is a number of time-bounded rounds; the reported rate is the median round.
// Latency percentiles pool the commits of all rounds. Files live in a temporary directory under
// DIR (default ./bench-out), removed at the end; the results go to DIR/core_bench.csv.
// Exit status: 0 on success, 1 on a failure or a failed sanity check, 2 on bad usage.

#include <lmdb.h>
#include <sqlite3.h>
#include <statestore/statestore.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core_bench_schema.h"  // kCoreBenchSchemaSql, generated from migrations/0001_initial.sql

namespace ss = statestore;
namespace fs = std::filesystem;
using SteadyClock = std::chrono::steady_clock;

namespace {

constexpr const char* kKeyspace = "bench";
constexpr int kCommitKeys = 1'000;
constexpr int kReadKeys = 10'000;
constexpr std::size_t kValueBytes = 100;

struct Config {
  bool short_run = false;
  fs::path out_dir = "bench-out";
  int rounds = 5;              // repeated rounds per measurement; the median is reported
  double round_seconds = 1.5;  // length of one round
  int read_threads = 2;
};

// ------------------------------------------------------------------------------------------
// Small helpers

[[noreturn]] void Fail(const std::string& message) { throw std::runtime_error(message); }

double Seconds(SteadyClock::duration d) { return std::chrono::duration<double>(d).count(); }

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double Percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  const std::size_t i = std::min(v.size() - 1, static_cast<std::size_t>(p * (v.size() - 1) + 0.5));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(i), v.end());
  return v[i];
}

std::string KeyName(int i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "key:%06d", i);
  return buf;
}

// A printable ~100-byte value that differs per `seq`.
std::string MakeValue(std::uint64_t seq) {
  char head[32];
  std::snprintf(head, sizeof head, "v%012" PRIu64 ":", seq);
  std::string v(head);
  while (v.size() < kValueBytes) v.push_back(static_cast<char>('a' + (v.size() * 7 + seq) % 26));
  return v;
}

std::int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A fixed pseudo-random sequence of key indexes, shared by every engine.
std::vector<std::uint32_t> RandomIndexes(std::size_t n, std::uint32_t modulo, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<std::uint32_t> dist(0, modulo - 1);
  std::vector<std::uint32_t> out(n);
  for (auto& x : out) x = dist(rng);
  return out;
}

// ------------------------------------------------------------------------------------------
// Raw SQLite

void SqliteCheck(sqlite3* db, int rc, const char* what) {
  if (rc != SQLITE_OK && rc != SQLITE_ROW && rc != SQLITE_DONE) {
    Fail(std::string("sqlite: ") + what + ": " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc)));
  }
}

void SqliteExec(sqlite3* db, const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "?";
    sqlite3_free(err);
    Fail("sqlite: " + sql.substr(0, 60) + ": " + msg);
  }
}

struct SqliteDb {
  sqlite3* db = nullptr;
  explicit SqliteDb(const fs::path& path) {
    const int rc =
        sqlite3_open_v2(path.c_str(), &db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
    if (rc != SQLITE_OK) {
      std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
      sqlite3_close_v2(db);
      Fail("sqlite: open " + path.string() + ": " + msg);
    }
    // The connection settings statestore uses (see DESIGN.md), minus the durability mode.
    sqlite3_busy_timeout(db, 5000);
    SqliteExec(db, "PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON; PRAGMA trusted_schema=OFF");
  }
  ~SqliteDb() { sqlite3_close_v2(db); }
  SqliteDb(const SqliteDb&) = delete;
  SqliteDb& operator=(const SqliteDb&) = delete;
};

struct Stmt {
  sqlite3_stmt* s = nullptr;
  Stmt(sqlite3* db, const char* sql) {
    SqliteCheck(db, sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr), sql);
  }
  ~Stmt() { sqlite3_finalize(s); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  operator sqlite3_stmt*() const { return s; }
};

// One commit's worth of statements, prepared once and reused.
class RawSqliteWriter {
 public:
  RawSqliteWriter(const fs::path& path, bool sync_full)
      : db_(path),
        begin_(init(db_.db, sync_full), "BEGIN IMMEDIATE"),
        commit_(db_.db, "COMMIT"),
        select_old_(db_.db, "SELECT type, value FROM entries WHERE keyspace_id = ?1 AND key = ?2"),
        upsert_(db_.db,
                "INSERT INTO entries (keyspace_id, key, type, value, version) "
                "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (keyspace_id, key) DO UPDATE SET "
                "type = excluded.type, value = excluded.value, version = excluded.version"),
        insert_commit_(db_.db,
                       "INSERT INTO commits (time_us, pid, thread_id, label) "
                       "VALUES (?1, ?2, ?3, ?4)"),
        insert_change_(db_.db,
                       "INSERT INTO changes (revision, seq, keyspace_id, key, old_type, "
                       "old_value, new_type, new_value) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)") {}

  // One transaction writing `keys` (one change row each), like a statestore transact() body.
  void Commit(const std::vector<std::pair<std::string, std::string>>& writes) {
    Step(begin_);
    sqlite3_bind_int64(insert_commit_, 1, NowMicros());
    sqlite3_bind_int64(insert_commit_, 2, getpid());
    sqlite3_bind_int64(insert_commit_, 3, gettid());
    sqlite3_bind_text(insert_commit_, 4, "bench", -1, SQLITE_STATIC);
    Step(insert_commit_);
    const sqlite3_int64 revision = sqlite3_last_insert_rowid(db_.db);
    int seq = 0;
    for (const auto& [key, value] : writes) {
      sqlite3_bind_int64(select_old_, 1, kKeyspaceId);
      sqlite3_bind_text(select_old_, 2, key.data(), static_cast<int>(key.size()), SQLITE_STATIC);
      const int rc = sqlite3_step(select_old_);
      SqliteCheck(db_.db, rc, "select old");
      if (rc == SQLITE_ROW) {
        sqlite3_bind_int64(insert_change_, 5, sqlite3_column_int64(select_old_, 0));
        sqlite3_bind_value(insert_change_, 6, sqlite3_column_value(select_old_, 1));  // copies
      } else {
        sqlite3_bind_null(insert_change_, 5);
        sqlite3_bind_null(insert_change_, 6);
      }
      sqlite3_reset(select_old_);

      sqlite3_bind_int64(upsert_, 1, kKeyspaceId);
      sqlite3_bind_text(upsert_, 2, key.data(), static_cast<int>(key.size()), SQLITE_STATIC);
      sqlite3_bind_int64(upsert_, 3, static_cast<int>(ss::ValueType::kString));
      sqlite3_bind_text(upsert_, 4, value.data(), static_cast<int>(value.size()), SQLITE_STATIC);
      sqlite3_bind_int64(upsert_, 5, revision);
      Step(upsert_);

      sqlite3_bind_int64(insert_change_, 1, revision);
      sqlite3_bind_int64(insert_change_, 2, seq++);
      sqlite3_bind_int64(insert_change_, 3, kKeyspaceId);
      sqlite3_bind_text(insert_change_, 4, key.data(), static_cast<int>(key.size()), SQLITE_STATIC);
      sqlite3_bind_int64(insert_change_, 7, static_cast<int>(ss::ValueType::kString));
      sqlite3_bind_text(insert_change_, 8, value.data(), static_cast<int>(value.size()),
                        SQLITE_STATIC);
      Step(insert_change_);
    }
    Step(commit_);
  }

 private:
  static constexpr int kKeyspaceId = 1;

  // Runs before the statements are prepared: durability mode and the 0001 schema.
  static sqlite3* init(sqlite3* db, bool sync_full) {
    SqliteExec(db, sync_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
    SqliteExec(db, std::string("BEGIN IMMEDIATE;") + kCoreBenchSchemaSql +
                       ";INSERT INTO keyspaces (id, name) VALUES (1, 'bench');COMMIT;");
    return db;
  }

  void Step(sqlite3_stmt* s) {
    const int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
      sqlite3_exec(db_.db, "ROLLBACK", nullptr, nullptr, nullptr);
      SqliteCheck(db_.db, rc, sqlite3_sql(s));
    }
  }

  SqliteDb db_;
  Stmt begin_, commit_, select_old_, upsert_, insert_commit_, insert_change_;
};

// A raw point reader on its own connection (one per thread, as statestore does).
class RawSqliteReader {
 public:
  explicit RawSqliteReader(const fs::path& path)
      : db_(path),
        get_(db_.db,
             "SELECT type, value, version FROM entries WHERE keyspace_id = ?1 AND key = ?2") {
    Stmt ks(db_.db, "SELECT id FROM keyspaces WHERE name = ?1");
    sqlite3_bind_text(ks, 1, kKeyspace, -1, SQLITE_STATIC);
    if (sqlite3_step(ks) != SQLITE_ROW) Fail("raw sqlite: keyspace 'bench' not found");
    keyspace_id_ = sqlite3_column_int64(ks, 0);
  }

  // Returns whether the key was found; copies the value out like the other engines do.
  bool operator()(const std::string& key) {
    sqlite3_bind_int64(get_, 1, keyspace_id_);
    sqlite3_bind_text(get_, 2, key.data(), static_cast<int>(key.size()), SQLITE_STATIC);
    const int rc = sqlite3_step(get_);
    bool found = false;
    if (rc == SQLITE_ROW) {
      found = true;
      type_ = sqlite3_column_int(get_, 0);
      const auto* p = static_cast<const char*>(sqlite3_column_blob(get_, 1));
      value_.assign(p ? p : "", static_cast<std::size_t>(sqlite3_column_bytes(get_, 1)));
      version_ = sqlite3_column_int64(get_, 2);
    } else {
      SqliteCheck(db_.db, rc, "point read");
    }
    sqlite3_reset(get_);
    return found;
  }

 private:
  SqliteDb db_;
  Stmt get_;
  sqlite3_int64 keyspace_id_ = 0;
  int type_ = 0;
  std::string value_;
  sqlite3_int64 version_ = 0;
};

// ------------------------------------------------------------------------------------------
// LMDB

void LmdbCheck(int rc, const char* what) {
  if (rc != MDB_SUCCESS) Fail(std::string("lmdb: ") + what + ": " + mdb_strerror(rc));
}

class LmdbEnv {
 public:
  explicit LmdbEnv(const fs::path& path) {
    LmdbCheck(mdb_env_create(&env_), "env_create");
    LmdbCheck(mdb_env_set_mapsize(env_, std::size_t{256} << 20), "set_mapsize");
    LmdbCheck(mdb_env_set_maxreaders(env_, 126), "set_maxreaders");
    // Default flags (synchronous, no MDB_NOSYNC), a plain file instead of a directory.
    LmdbCheck(mdb_env_open(env_, path.c_str(), MDB_NOSUBDIR, 0600), "env_open");
  }
  ~LmdbEnv() {
    if (env_) mdb_env_close(env_);
  }
  LmdbEnv(const LmdbEnv&) = delete;
  LmdbEnv& operator=(const LmdbEnv&) = delete;

  void Populate(const std::vector<std::string>& keys, const std::vector<std::string>& values) {
    MDB_txn* txn = nullptr;
    LmdbCheck(mdb_txn_begin(env_, nullptr, 0, &txn), "txn_begin");
    LmdbCheck(mdb_dbi_open(txn, nullptr, 0, &dbi_), "dbi_open");
    for (std::size_t i = 0; i < keys.size(); ++i) {
      MDB_val k{keys[i].size(), const_cast<char*>(keys[i].data())};
      MDB_val v{values[i].size(), const_cast<char*>(values[i].data())};
      const int rc = mdb_put(txn, dbi_, &k, &v, 0);
      if (rc != MDB_SUCCESS) {
        mdb_txn_abort(txn);
        LmdbCheck(rc, "put");
      }
    }
    LmdbCheck(mdb_txn_commit(txn), "txn_commit");
  }

  MDB_env* env() const { return env_; }
  MDB_dbi dbi() const { return dbi_; }

 private:
  MDB_env* env_ = nullptr;
  MDB_dbi dbi_ = 0;
};

// A per-thread reader: one read transaction per read, renewed from a reset handle (LMDB's
// recommended way to run many short read transactions).
class LmdbReader {
 public:
  explicit LmdbReader(const LmdbEnv& env) : dbi_(env.dbi()) {
    LmdbCheck(mdb_txn_begin(env.env(), nullptr, MDB_RDONLY, &txn_), "txn_begin(rdonly)");
    mdb_txn_reset(txn_);
  }
  ~LmdbReader() { mdb_txn_abort(txn_); }
  LmdbReader(const LmdbReader&) = delete;
  LmdbReader& operator=(const LmdbReader&) = delete;

  bool operator()(const std::string& key) {
    LmdbCheck(mdb_txn_renew(txn_), "txn_renew");
    MDB_val k{key.size(), const_cast<char*>(key.data())};
    MDB_val v{};
    const int rc = mdb_get(txn_, dbi_, &k, &v);
    const bool found = rc == MDB_SUCCESS;
    if (found) value_.assign(static_cast<const char*>(v.mv_data), v.mv_size);
    mdb_txn_reset(txn_);
    if (!found && rc != MDB_NOTFOUND) LmdbCheck(rc, "get");
    return found;
  }

 private:
  MDB_txn* txn_ = nullptr;
  MDB_dbi dbi_;
  std::string value_;
};

// ------------------------------------------------------------------------------------------
// statestore

class StatestoreReader {
 public:
  explicit StatestoreReader(ss::Store& store) : store_(store) {}
  bool operator()(const std::string& key) {
    std::optional<ss::Value> v = store_.get(kKeyspace, key);
    if (!v) return false;
    sink_ += v->payload_size();
    return true;
  }

 private:
  ss::Store& store_;
  std::size_t sink_ = 0;
};

std::shared_ptr<ss::Store> OpenStore(const fs::path& path, ss::Durability durability,
                                     std::size_t cache_capacity) {
  ss::Options o;
  o.durability = durability;
  o.cache_capacity = cache_capacity;
  o.origin_label = "bench";
  return ss::Store::open(path.string(), o);
}

// ------------------------------------------------------------------------------------------
// Measurements

struct CommitResult {
  double commits_per_s = 0;
  double p50_us = 0;
  double p99_us = 0;
  std::uint64_t total = 0;  // commits made, warm-up included
};

// Runs `commit(seq)` in time-bounded rounds; `commit` writes one key.
CommitResult MeasureCommits(const Config& cfg, const std::function<void(std::uint64_t)>& commit) {
  CommitResult r;
  std::uint64_t seq = 0;
  const auto warm_end = SteadyClock::now() + std::chrono::milliseconds(cfg.short_run ? 100 : 300);
  while (SteadyClock::now() < warm_end) commit(seq++);

  std::vector<double> rates, latencies_us;
  for (int round = 0; round < cfg.rounds; ++round) {
    const auto start = SteadyClock::now();
    const auto end = start + std::chrono::duration<double>(cfg.round_seconds);
    std::uint64_t n = 0;
    auto now = start;
    while (now < end) {
      const auto t0 = SteadyClock::now();
      commit(seq++);
      now = SteadyClock::now();
      latencies_us.push_back(std::chrono::duration<double, std::micro>(now - t0).count());
      ++n;
    }
    rates.push_back(static_cast<double>(n) / Seconds(now - start));
  }
  r.commits_per_s = Median(rates);
  r.p50_us = Percentile(latencies_us, 0.50);
  r.p99_us = Percentile(latencies_us, 0.99);
  r.total = seq;
  return r;
}

struct ReadResult {
  double reads_per_s = 0;
  std::uint64_t not_found = 0;
};

// `threads` threads each make a reader with `make_reader()` (on that thread; it returns a
// std::unique_ptr to a callable `bool(const std::string& key)`), warm up with one
// pass over every key, then read random keys in time-bounded rounds. The aggregate rate of a
// round is all threads' reads divided by the round's wall time; the median round is reported.
template <class MakeReader>
ReadResult MeasureReads(const Config& cfg, int threads, const std::vector<std::string>& keys,
                        const std::vector<std::uint32_t>& order, MakeReader make_reader) {
  std::barrier sync(threads + 1);
  SteadyClock::time_point deadline;
  std::vector<std::uint64_t> ops(static_cast<std::size_t>(threads));
  std::atomic<std::uint64_t> not_found{0};
  std::vector<std::string> errors(static_cast<std::size_t>(threads));

  auto worker = [&](int t) {
    decltype(make_reader()) reader;  // a std::unique_ptr to the reader
    try {
      reader = make_reader();
      for (const std::string& key : keys) {
        if (!(*reader)(key)) not_found.fetch_add(1);
      }
    } catch (const std::exception& e) {
      errors[static_cast<std::size_t>(t)] = e.what();
    }
    std::size_t i = static_cast<std::size_t>(t) * 7919;
    const std::size_t mask = order.size() - 1;  // order.size() is a power of two
    for (int round = 0; round < cfg.rounds; ++round) {
      sync.arrive_and_wait();  // start
      std::uint64_t n = 0, missing = 0;
      if (errors[static_cast<std::size_t>(t)].empty()) {
        try {
          for (bool go = true; go; go = SteadyClock::now() < deadline) {
            for (int k = 0; k < 256; ++k) {
              if (!(*reader)(keys[order[i++ & mask]])) ++missing;
            }
            n += 256;
          }
        } catch (const std::exception& e) {
          errors[static_cast<std::size_t>(t)] = e.what();
        }
      }
      ops[static_cast<std::size_t>(t)] = n;
      not_found.fetch_add(missing);
      sync.arrive_and_wait();  // end
    }
  };

  std::vector<std::jthread> pool;
  for (int t = 0; t < threads; ++t) pool.emplace_back(worker, t);
  std::vector<double> rates;
  for (int round = 0; round < cfg.rounds; ++round) {
    const auto start = SteadyClock::now();
    deadline = start + std::chrono::duration_cast<SteadyClock::duration>(
                           std::chrono::duration<double>(cfg.round_seconds));
    sync.arrive_and_wait();
    sync.arrive_and_wait();
    const double elapsed = Seconds(SteadyClock::now() - start);
    std::uint64_t total = 0;
    for (auto n : ops) total += n;
    rates.push_back(static_cast<double>(total) / elapsed);
  }
  pool.clear();  // join
  for (const auto& e : errors) {
    if (!e.empty()) Fail(e);
  }
  return {Median(rates), not_found.load()};
}

// ------------------------------------------------------------------------------------------
// Results

struct Row {
  std::string metric, engine, unit;
  double value = 0;
  std::string baseline_engine;  // the row with this engine and the same metric is 1.00x
};

std::string FormatValue(double v, const std::string& unit) {
  char buf[64];
  if (unit == "us") {
    std::snprintf(buf, sizeof buf, "%.1f", v);
  } else {
    std::snprintf(buf, sizeof buf, "%.0f", v);
  }
  // Thousands separators for readability.
  const std::string s(buf);
  const std::size_t int_end = std::min(s.find('.'), s.size());
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (i > 0 && i < int_end && (int_end - i) % 3 == 0 && s[i - 1] != '-') out.push_back(',');
    out.push_back(s[i]);
  }
  return out;
}

std::optional<double> Ratio(const std::vector<Row>& rows, const Row& r) {
  for (const Row& b : rows) {
    if (b.metric == r.metric && b.engine == r.baseline_engine && b.value > 0) {
      return r.value / b.value;
    }
  }
  return std::nullopt;
}

void PrintTable(const std::vector<Row>& rows) {
  std::vector<std::vector<std::string>> cells{
      {"METRIC", "ENGINE", "VALUE", "UNIT", "VS RAW SQLITE"}};
  for (const Row& r : rows) {
    const auto ratio = Ratio(rows, r);
    char rbuf[32] = "-";
    if (ratio) std::snprintf(rbuf, sizeof rbuf, "%.2fx", *ratio);
    cells.push_back({r.metric, r.engine, FormatValue(r.value, r.unit), r.unit, rbuf});
  }
  std::vector<std::size_t> w(5, 0);
  for (const auto& c : cells) {
    for (std::size_t i = 0; i < c.size(); ++i) w[i] = std::max(w[i], c[i].size());
  }
  std::string prev_metric;
  for (std::size_t row = 0; row < cells.size(); ++row) {
    const auto& c = cells[row];
    if (row > 1 && c[0] != prev_metric) std::printf("\n");
    prev_metric = c[0];
    std::printf("  %-*s  %-*s  %*s  %-*s  %*s\n", static_cast<int>(w[0]), c[0].c_str(),
                static_cast<int>(w[1]), c[1].c_str(), static_cast<int>(w[2]), c[2].c_str(),
                static_cast<int>(w[3]), c[3].c_str(), static_cast<int>(w[4]), c[4].c_str());
  }
}

std::string CsvField(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char ch : s) {
    if (ch == '"') out += '"';
    out += ch;
  }
  return out + "\"";
}

void WriteCsv(const fs::path& file, const std::vector<Row>& rows) {
  std::ofstream out(file);
  out << "metric,engine,value,unit,ratio_vs_raw_sqlite\n";
  for (const Row& r : rows) {
    const auto ratio = Ratio(rows, r);
    char vbuf[64], rbuf[32] = "";
    std::snprintf(vbuf, sizeof vbuf, "%.3f", r.value);
    if (ratio) std::snprintf(rbuf, sizeof rbuf, "%.4f", *ratio);
    out << CsvField(r.metric) << ',' << CsvField(r.engine) << ',' << vbuf << ',' << r.unit << ','
        << rbuf << '\n';
  }
  out.flush();
  if (!out) Fail("cannot write " + file.string());
}

// ------------------------------------------------------------------------------------------

constexpr const char* kStatestore = "statestore";
constexpr const char* kStatestoreNoCache = "statestore (cache off)";
constexpr const char* kRawSqlite = "raw SQLite";
constexpr const char* kLmdb = "LMDB";

class Bench {
 public:
  Bench(Config cfg, fs::path work) : cfg_(std::move(cfg)), work_(std::move(work)) {}

  int Run() {
    CommitBenches();
    ReadBenches();
    std::printf("\n");
    SortRows();
    PrintTable(rows_);
    const fs::path csv = cfg_.out_dir / "core_bench.csv";
    WriteCsv(csv, rows_);
    std::printf(
        "\nRates: higher is better; latencies: lower is better. Ratios compare with raw "
        "SQLite on the same metric.\nCSV: %s\n",
        csv.string().c_str());
    for (const auto& f : failures_) std::fprintf(stderr, "CHECK FAILED: %s\n", f.c_str());
    return failures_.empty() ? 0 : 1;
  }

 private:
  void Add(std::string metric, std::string engine, double value, std::string unit) {
    rows_.push_back({std::move(metric), std::move(engine), std::move(unit), value, kRawSqlite});
  }

  // Groups rows by metric (in the order metrics were first measured), engines in a fixed order.
  void SortRows() {
    std::vector<std::string> metrics;
    for (const Row& r : rows_) {
      if (std::find(metrics.begin(), metrics.end(), r.metric) == metrics.end()) {
        metrics.push_back(r.metric);
      }
    }
    const std::vector<std::string> engines{kStatestore, kStatestoreNoCache, kRawSqlite, kLmdb};
    auto rank = [](const std::vector<std::string>& v, const std::string& x) {
      return std::find(v.begin(), v.end(), x) - v.begin();
    };
    std::stable_sort(rows_.begin(), rows_.end(), [&](const Row& a, const Row& b) {
      return std::pair(rank(metrics, a.metric), rank(engines, a.engine)) <
             std::pair(rank(metrics, b.metric), rank(engines, b.engine));
    });
  }

  void Check(bool ok, const std::string& what) {
    if (!ok) failures_.push_back(what);
  }

  void Progress(const std::string& what) {
    std::printf("  %-58s", what.c_str());
    std::fflush(stdout);
    progress_start_ = SteadyClock::now();
  }
  void ProgressDone(const std::string& result) {
    std::printf("%s  (%.1fs)\n", result.c_str(), Seconds(SteadyClock::now() - progress_start_));
  }

  // a) commit rate and latency, one writer thread.
  void CommitBenches() {
    std::printf("Commits: 1 thread, one of %d keys per commit, %zu-byte string values\n",
                kCommitKeys, kValueBytes);
    std::vector<std::string> keys;
    for (int i = 0; i < kCommitKeys; ++i) keys.push_back(KeyName(i));
    const std::vector<std::uint32_t> order = RandomIndexes(1 << 16, kCommitKeys, 1);

    for (const bool full : {true, false}) {
      const std::string mode = full ? "FULL" : "NORMAL";
      const std::string rate_metric = "commits/s, synchronous=" + mode;
      const std::string p50_metric = "commit p50, synchronous=" + mode;
      const std::string p99_metric = "commit p99, synchronous=" + mode;

      {  // statestore
        const ss::Durability d = full ? ss::Durability::kFull : ss::Durability::kNormal;
        Progress(std::string("statestore ") + (full ? "kFull" : "kNormal"));
        auto store = OpenStore(work_ / ("commit_statestore_" + mode + ".db"), d, 100'000);
        const ss::Revision base = store->transact([&](ss::Transaction& tx) {
          for (int i = 0; i < kCommitKeys; ++i) tx.put(kKeyspace, keys[i], MakeValue(i));
        });
        const ss::Stats before = store->stats();
        const CommitResult r = MeasureCommits(cfg_, [&](std::uint64_t seq) {
          store->put(kKeyspace, keys[order[seq & 0xffff]], MakeValue(seq + kCommitKeys));
        });
        const ss::Stats after = store->stats();
        const ss::Revision head = store->history_bounds().head;
        ProgressDone(Summary(r) + "  [groups " + std::to_string(after.groups - before.groups) +
                     ", syncs " + std::to_string(after.syncs - before.syncs) + ", busy_retries " +
                     std::to_string(after.busy_retries - before.busy_retries) + "]");
        Check(head == base + r.total, "statestore " + mode + ": head revision " +
                                          std::to_string(head) + " != " + std::to_string(base) +
                                          " + " + std::to_string(r.total) + " commits");
        Check(after.commits - before.commits == r.total,
              "statestore " + mode + ": Stats::commits grew by " +
                  std::to_string(after.commits - before.commits) + ", expected " +
                  std::to_string(r.total));
        if (full) {
          Check(after.syncs > before.syncs, "statestore kFull: Stats::syncs did not grow");
        } else {
          Check(after.syncs == before.syncs, "statestore kNormal: Stats::syncs grew");
        }
        Add(rate_metric, kStatestore, r.commits_per_s, "commits/s");
        Add(p50_metric, kStatestore, r.p50_us, "us");
        Add(p99_metric, kStatestore, r.p99_us, "us");
      }
      {  // raw SQLite
        Progress("raw SQLite synchronous=" + mode);
        RawSqliteWriter w(work_ / ("commit_sqlite_" + mode + ".db"), full);
        std::vector<std::pair<std::string, std::string>> batch;
        for (int i = 0; i < kCommitKeys; ++i) batch.emplace_back(keys[i], MakeValue(i));
        w.Commit(batch);
        std::vector<std::pair<std::string, std::string>> one(1);
        const CommitResult r = MeasureCommits(cfg_, [&](std::uint64_t seq) {
          one[0].first = keys[order[seq & 0xffff]];
          one[0].second = MakeValue(seq + kCommitKeys);
          w.Commit(one);
        });
        ProgressDone(Summary(r));
        Add(rate_metric, kRawSqlite, r.commits_per_s, "commits/s");
        Add(p50_metric, kRawSqlite, r.p50_us, "us");
        Add(p99_metric, kRawSqlite, r.p99_us, "us");
      }
    }
  }

  static std::string Summary(const CommitResult& r) {
    char buf[128];
    std::snprintf(buf, sizeof buf, "%9.0f commits/s  p50 %7.1f us  p99 %7.1f us", r.commits_per_s,
                  r.p50_us, r.p99_us);
    return buf;
  }

  // b) and c) random point reads, 1 and N threads.
  void ReadBenches() {
    std::printf("\nReads: random point reads over %d keys, 1 and %d threads\n", kReadKeys,
                cfg_.read_threads);
    std::vector<std::string> keys, values;
    for (int i = 0; i < kReadKeys; ++i) {
      keys.push_back(KeyName(i));
      values.push_back(MakeValue(static_cast<std::uint64_t>(i)));
    }
    const std::vector<std::uint32_t> order = RandomIndexes(1 << 20, kReadKeys, 2);
    const fs::path store_file = work_ / "read_statestore.db";
    const fs::path lmdb_file = work_ / "read_lmdb.mdb";

    {  // The same data for statestore and raw SQLite: the raw peer reads statestore's file.
      auto store = OpenStore(store_file, ss::Durability::kNormal, 0);
      for (int b = 0; b < kReadKeys; b += 1000) {
        store->transact([&](ss::Transaction& tx) {
          for (int i = b; i < b + 1000 && i < kReadKeys; ++i) tx.put(kKeyspace, keys[i], values[i]);
        });
      }
    }
    LmdbEnv lmdb(lmdb_file);
    lmdb.Populate(keys, values);

    const std::string metric1 = "reads/s, 1 thread";
    const std::string metricN = "reads/s, " + std::to_string(cfg_.read_threads) + " threads";
    auto run = [&](const std::string& engine, int threads, auto make_reader) {
      Progress(engine + ", " + std::to_string(threads) + (threads == 1 ? " thread" : " threads"));
      const ReadResult r = MeasureReads(cfg_, threads, keys, order, make_reader);
      char buf[64];
      std::snprintf(buf, sizeof buf, "%11.0f reads/s", r.reads_per_s);
      ProgressDone(buf);
      Check(r.not_found == 0,
            engine + ": " + std::to_string(r.not_found) + " reads of existing keys found nothing");
      Add(threads == 1 ? metric1 : metricN, engine, r.reads_per_s, "reads/s");
    };

    for (const int threads : {1, cfg_.read_threads}) {
      run(kRawSqlite, threads, [&] { return std::make_unique<RawSqliteReader>(store_file); });
    }
    for (const int threads : {1, cfg_.read_threads}) {
      run(kLmdb, threads, [&] { return std::make_unique<LmdbReader>(lmdb); });
    }
    {
      auto store = OpenStore(store_file, ss::Durability::kNormal, 2 * kReadKeys);
      VerifyValues(*store, keys, values);
      const ss::Stats before = store->stats();
      for (const int threads : {1, cfg_.read_threads}) {
        run(kStatestore, threads, [&] { return std::make_unique<StatestoreReader>(*store); });
      }
      const ss::Stats after = store->stats();
      const std::uint64_t reads = after.reads - before.reads;
      const std::uint64_t hits = after.cache_hits - before.cache_hits;
      std::printf("  %-58s%.4f%% of %" PRIu64 " reads were cache hits\n", "statestore cache",
                  reads ? 100.0 * static_cast<double>(hits) / static_cast<double>(reads) : 0.0,
                  reads);
      // Every key fits in the cache: apart from the first warm-up pass, reads should hit.
      Check(reads > 0 && static_cast<double>(hits) >= 0.9 * static_cast<double>(reads),
            "statestore cached reads: only " + std::to_string(hits) + " of " +
                std::to_string(reads) + " reads were cache hits");
    }
    {
      auto store = OpenStore(store_file, ss::Durability::kNormal, 0);
      VerifyValues(*store, keys, values);
      const ss::Stats before = store->stats();
      for (const int threads : {1, cfg_.read_threads}) {
        run(kStatestoreNoCache, threads,
            [&] { return std::make_unique<StatestoreReader>(*store); });
      }
      const ss::Stats after = store->stats();
      Check(after.cache_hits == before.cache_hits,
            "statestore with cache_capacity=0 reported cache hits");
    }
  }

  void VerifyValues(ss::Store& store, const std::vector<std::string>& keys,
                    const std::vector<std::string>& values) {
    for (std::size_t i = 0; i < keys.size(); i += 97) {
      const auto v = store.get(kKeyspace, keys[i]);
      Check(v && v->type() == ss::ValueType::kString && v->as_string() == values[i],
            "statestore get(" + keys[i] + ") returned " + (v ? v->to_display() : "nullopt") +
                ", expected the stored string");
    }
  }

  Config cfg_;
  fs::path work_;
  std::vector<Row> rows_;
  std::vector<std::string> failures_;
  SteadyClock::time_point progress_start_;
};

void Usage(std::FILE* out) {
  std::fprintf(out,
               "usage: statestore_core_bench [--short] [--out DIR]\n"
               "  --short    a quick run (about 20 s) with fewer, shorter rounds\n"
               "  --out DIR  where to work (a temp dir inside) and write core_bench.csv "
               "(default ./bench-out)\n");
}

}  // namespace

int main(int argc, char** argv) {
  Config cfg;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--short") {
      cfg.short_run = true;
    } else if (a == "--out" && i + 1 < argc) {
      cfg.out_dir = argv[++i];
    } else if (a.starts_with("--out=")) {
      cfg.out_dir = std::string(a.substr(6));
    } else if (a == "-h" || a == "--help") {
      Usage(stdout);
      return 0;
    } else {
      Usage(stderr);
      return 2;
    }
  }
  if (cfg.short_run) {
    cfg.rounds = 3;
    cfg.round_seconds = 0.3;
  }

  fs::path work;
  try {
    fs::create_directories(cfg.out_dir);
    std::string tmpl = (cfg.out_dir / "core_bench.XXXXXX").string();
    if (!mkdtemp(tmpl.data())) Fail("mkdtemp " + tmpl + ": " + std::strerror(errno));
    work = tmpl;

    std::printf("statestore_core_bench: statestore %s, SQLite %s, %s\n", ss::LibraryVersion(),
                sqlite3_libversion(), mdb_version(nullptr, nullptr, nullptr));
    std::printf(
        "%s run: %d rounds x %.1f s per measurement (median reported), %u CPUs, files in "
        "%s\n\n",
        cfg.short_run ? "short" : "full", cfg.rounds, cfg.round_seconds,
        std::thread::hardware_concurrency(), work.string().c_str());
    const int rc = Bench(cfg, work).Run();
    std::error_code ec;
    fs::remove_all(work, ec);
    return rc;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "statestore_core_bench: error: %s\n", e.what());
    if (!work.empty()) {
      std::error_code ec;
      fs::remove_all(work, ec);
    }
    return 1;
  }
}

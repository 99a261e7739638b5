// PgConnection — one libpq connection to the PostgreSQL server of a Store, with the statement
// helpers the engine uses, and the mapping of server errors onto statestore::Error.
//
// Design note: why libpq and not libpqxx. The engine's correctness rules hang on details that
// libpq exposes directly and libpqxx 6.4 wraps: the SQLSTATE of every failure (40001/40P01 re-run
// the group, 55P03 is the write-lock timeout), whether the connection itself broke
// (PQstatus), whether a transaction is still open on the server (PQtransactionStatus), and
// notifications (PQconsumeInput/PQnotifies). Every statement binds its parameters in binary
// (never built from user text) and asks for binary results, so values cross without quoting or
// text conversion.
//
// Invariants:
//   1. Used by one thread at a time (a pool lease, the group writer, or the change listener).
//   2. Every failure throws statestore::Error: kUnavailable when the connection broke or the
//      server is shutting down or not accepting connections (broken() is then true and the
//      connection is never used again), kBusy for lock and serialization conflicts, kConflict for
//      unique/check violations the caller could not have prevented, kInternal otherwise. The
//      message always carries the server's text and SQLSTATE. A failure libpq reports without a
//      SQLSTATE (its own: the socket failed) counts as a broken connection, even while libpq
//      still says CONNECTION_OK.
//   3. Error::sqlite_code() carries the SQLSTATE packed by PackSqlState (0 for none), so the
//      group writer classifies a captured failure without parsing text.
//   4. A statement is prepared once per connection and parameter types, so one whose first use
//      passed NULL (OID 0: the server infers the type) is never run with a typed value in that
//      position. Prepared statements are session objects, not transactional: a ROLLBACK keeps
//      them, a new connection starts without any. (A migration that changes a table's columns
//      under a prepared SELECT * would fail it with 0A000; every statement names its columns.)
#ifndef STATESTORE_SRC_POSTGRESQL_PG_CONNECTION_H_
#define STATESTORE_SRC_POSTGRESQL_PG_CONNECTION_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "statestore/value.h"

struct pg_conn;
struct pg_result;

namespace statestore::internal {

// SQLSTATE (5 characters of [0-9A-Z]) as a positive int: base-36 digits. 0 = none.
int PackSqlState(std::string_view sqlstate);
// Classes and states the engine decides by.
bool IsSerializationFailure(int packed);  // 40001, 40P01
bool IsLockNotAvailable(int packed);      // 55P03
bool IsConnectionFailure(int packed);     // class 08, 57P01..57P03

// Parameters of one statement, bound in binary.
class PgParams {
 public:
  PgParams& Int(std::int64_t v);
  PgParams& Bool(bool v);
  PgParams& Text(std::string_view v);
  PgParams& Bytes(const std::uint8_t* data, std::size_t size);
  PgParams& Bytes(const statestore::Bytes& v) { return Bytes(v.data(), v.size()); }
  // A key (bytea column: keys compare by their bytes).
  PgParams& Key(std::string_view v) {
    return Bytes(reinterpret_cast<const std::uint8_t*>(v.data()), v.size());
  }
  // Keys as one bytea[] parameter.
  PgParams& Keys(const std::vector<std::string_view>& keys);
  PgParams& Null();
  PgParams& OptionalInt(const std::optional<std::int64_t>& v) { return v ? Int(*v) : Null(); }

  int count() const { return static_cast<int>(lengths_.size()); }
  const char* const* values() const;
  const int* lengths() const { return lengths_.data(); }
  const int* formats() const { return formats_.data(); }
  const unsigned int* types() const { return types_.data(); }

 private:
  void Add(unsigned int oid, const void* data, std::size_t size, bool null = false);
  std::vector<std::string> storage_;  // one buffer per parameter
  std::vector<int> lengths_;
  std::vector<int> formats_;
  std::vector<unsigned int> types_;
  std::vector<bool> nulls_;
  mutable std::vector<const char*> pointers_;
};

// A result of one statement, in binary. Column accessors check the type's length.
class PgResult {
 public:
  explicit PgResult(pg_result* result) : result_(result) {}
  PgResult(PgResult&& other) noexcept : result_(other.result_) { other.result_ = nullptr; }
  PgResult& operator=(PgResult&& other) noexcept;
  PgResult(const PgResult&) = delete;
  PgResult& operator=(const PgResult&) = delete;
  ~PgResult();

  int rows() const;
  bool IsNull(int row, int column) const;
  std::int64_t Int(int row, int column) const;  // int8, int4 or int2 by length
  bool Bool(int row, int column) const;
  std::string Text(int row, int column) const;  // text or bytea payload
  std::string_view View(int row, int column) const;
  // Rows affected (INSERT/UPDATE/DELETE).
  std::int64_t affected() const;
  // The command tag ("COMMIT", "ROLLBACK", "INSERT 0 1", ...).
  const char* command_status() const;

 private:
  const char* Cell(int row, int column, int* length) const;
  pg_result* result_;
};

class PgConnection {
 public:
  // Connects with libpq's `conninfo` (URI or key=value), then runs `session_sql` (SET statements,
  // built by the engine from validated names only). Gives up after `timeout`.
  // Throws: Error(kUnavailable) when the server cannot be reached; kInvalidArgument for a
  // conninfo libpq refuses (bad syntax, unknown parameter) or authentication failure.
  static std::unique_ptr<PgConnection> Connect(const std::string& conninfo,
                                               const std::string& session_sql,
                                               std::chrono::milliseconds timeout);
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;
  ~PgConnection();

  // One statement with binary parameters and results. `what` starts the error message.
  // Runs what Queue() queued first, in the same round trip.
  //
  // Exec, Queue and ExecEach run `sql` as a named prepared statement of this connection, made
  // the first time the text is run with those parameter types (invariant 4): the server parses
  // and plans it once, not on every call. `sql` must not hold user text (pg_sql.h); at most
  // kMaxPrepared texts are prepared, later ones run unnamed.
  PgResult Exec(const char* what, const char* sql, const PgParams& params = PgParams());
  // Sends a statement whose result nobody waits for (libpq pipeline mode): a write whose only
  // possible answer is success or an error the next Drain() throws. Statements queued this way
  // and the next Exec, ExecScript or Drain cost one round trip together.
  void Queue(const char* what, const char* sql, const PgParams& params);
  // Waits for every queued statement. Throws the first failure (the server then skipped the rest
  // and, inside a transaction, aborted it: ROLLBACK or ROLLBACK TO SAVEPOINT follows).
  void Drain();
  // Runs `sql` once per element of `params`, all sent before the first answer is read (one round
  // trip), after what was queued. Returns the results in order. Throws the first failure.
  std::vector<PgResult> ExecEach(const char* what, const char* sql,
                                 const std::vector<PgParams>& params);
  // Drain, ignoring failures (before a rollback). Never throws.
  void DiscardQueued() noexcept;
  std::size_t queued() const { return queued_.size(); }
  // One or more parameterless statements (BEGIN, COMMIT, SET ...), text protocol.
  void ExecScript(const char* what, const char* sql);

  // The connection broke (invariant 2): the engine replaces it.
  bool broken() const;
  // A transaction is open on the server (or failed and awaits ROLLBACK).
  bool InTransaction() const;
  // The server's process id for this connection (pg_terminate_backend in tests, log lines).
  int backend_pid() const;
  pg_conn* handle() const { return conn_; }
  // Leaves the socket open without sending Terminate (a fork()ed child's inherited Store).
  void Abandon() noexcept { abandoned_ = true; }

 private:
  explicit PgConnection(pg_conn* conn) : conn_(conn) {}
  [[noreturn]] void Fail(const char* what, pg_result* result);
  // Sends one statement into the pipeline (entering pipeline mode), preparing it first if it is
  // new (invariant 4). `keep`: Drain hands its result back.
  void Send(const char* what, const char* sql, const PgParams& params, bool keep);
  // Waits for every statement in flight; with `results`, appends the result of each one sent
  // with keep = true, in order (owned by the caller). Throws the first failure.
  void Drain(std::vector<pg_result*>* results);

  struct InFlight {
    const char* what;  // the error message's start
    bool keep;         // its result goes to Drain's caller
  };

  // Invariant 4: prepared statements, by SQL text and parameter types. A statement is prepared
  // under a name never used before on this connection; one prepared in a pipeline that failed
  // is forgotten (it may not exist), and made again under a new name when next needed.
  static constexpr std::size_t kMaxPrepared = 128;

  pg_conn* conn_;
  bool abandoned_ = false;
  bool lost_ = false;             // a failure without a server answer (Fail): broken() from then on
  std::vector<InFlight> queued_;  // the statements in flight, in order
  std::unordered_map<std::string, std::string> prepared_;  // text + types -> statement name
  std::vector<std::string> unconfirmed_;  // keys prepared in the pipeline in flight
  std::uint64_t statements_made_ = 0;     // names "s1", "s2", ...
};

// libpq's parse of `conninfo`; throws Error(kInvalidArgument) with libpq's message when it cannot
// be parsed. Returns what Store::path() reports: "postgresql://user@host:port/dbname" without the
// password or any other option.
std::string DescribeConninfo(const std::string& conninfo);
// Whether `path` is a PostgreSQL connection string rather than a file name: a postgresql:// or
// postgres:// URI, or libpq key=value form (starts with a lower-case keyword and '=').
bool IsPostgresConninfo(std::string_view path);

}  // namespace statestore::internal

#endif  // STATESTORE_SRC_POSTGRESQL_PG_CONNECTION_H_

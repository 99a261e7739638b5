#include "postgresql/pg_connection.h"

#include <arpa/inet.h>
#include <libpq-fe.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <thread>

#include "statestore/error.h"

namespace statestore::internal {

namespace {

// Type OIDs of the parameters we bind (pg_type.h).
constexpr unsigned int kInt8Oid = 20;
constexpr unsigned int kBoolOid = 16;
constexpr unsigned int kTextOid = 25;
constexpr unsigned int kByteaOid = 17;
constexpr unsigned int kByteaArrayOid = 1001;

// Appends `v` to `out` as the 4-byte big-endian integer of PostgreSQL's binary formats.
void AppendInt32(std::string& out, std::uint32_t v) {
  const std::uint32_t be = htonl(v);
  out.append(reinterpret_cast<const char*>(&be), sizeof be);
}

std::uint64_t ToBigEndian64(std::uint64_t v) {
  return (static_cast<std::uint64_t>(htonl(static_cast<std::uint32_t>(v))) << 32) |
         htonl(static_cast<std::uint32_t>(v >> 32));
}

std::string TrimMessage(const char* message) {
  std::string text = message ? message : "";
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text.empty() ? "no message from libpq" : text;
}

}  // namespace

int PackSqlState(std::string_view sqlstate) {
  if (sqlstate.size() != 5) return 0;
  int packed = 0;
  for (char c : sqlstate) {
    int digit;
    if (c >= '0' && c <= '9') {
      digit = c - '0';
    } else if (c >= 'A' && c <= 'Z') {
      digit = c - 'A' + 10;
    } else {
      return 0;
    }
    packed = packed * 36 + digit;
  }
  return packed == 0 ? 0 : packed;
}

bool IsSerializationFailure(int packed) {
  return packed == PackSqlState("40001") || packed == PackSqlState("40P01");
}

bool IsLockNotAvailable(int packed) { return packed == PackSqlState("55P03"); }

bool IsConnectionFailure(int packed) {
  if (packed == 0) return false;
  // Class 08: the first two base-36 digits are '0','8'.
  const int class_08 = PackSqlState("08000") / (36 * 36 * 36);
  return packed / (36 * 36 * 36) == class_08 || packed == PackSqlState("57P01") ||
         packed == PackSqlState("57P02") || packed == PackSqlState("57P03");
}

// --- PgParams ---

void PgParams::Add(unsigned int oid, const void* data, std::size_t size, bool null) {
  storage_.emplace_back(static_cast<const char*>(data), size);
  lengths_.push_back(static_cast<int>(size));
  formats_.push_back(1);
  types_.push_back(oid);
  nulls_.push_back(null);
}

PgParams& PgParams::Int(std::int64_t v) {
  const std::uint64_t be = ToBigEndian64(static_cast<std::uint64_t>(v));
  Add(kInt8Oid, &be, sizeof be);
  return *this;
}

PgParams& PgParams::Bool(bool v) {
  const char b = v ? 1 : 0;
  Add(kBoolOid, &b, 1);
  return *this;
}

PgParams& PgParams::Text(std::string_view v) {
  Add(kTextOid, v.data(), v.size());
  return *this;
}

PgParams& PgParams::Bytes(const std::uint8_t* data, std::size_t size) {
  Add(kByteaOid, data, size);
  return *this;
}

PgParams& PgParams::Keys(const std::vector<std::string_view>& keys) {
  // array_recv's format: dimensions, has-nulls flag, element type, then per dimension its length
  // and lower bound, then each element as length + bytes. An empty array has no dimension.
  std::string array;
  AppendInt32(array, keys.empty() ? 0 : 1);
  AppendInt32(array, 0);
  AppendInt32(array, kByteaOid);
  if (!keys.empty()) {
    AppendInt32(array, static_cast<std::uint32_t>(keys.size()));
    AppendInt32(array, 1);
  }
  for (std::string_view key : keys) {
    AppendInt32(array, static_cast<std::uint32_t>(key.size()));
    array.append(key);
  }
  Add(kByteaArrayOid, array.data(), array.size());
  return *this;
}

PgParams& PgParams::Null() {
  Add(0, "", 0, /*null=*/true);
  return *this;
}

const char* const* PgParams::values() const {
  pointers_.resize(storage_.size());
  for (std::size_t i = 0; i < storage_.size(); ++i) {
    pointers_[i] = nulls_[i] ? nullptr : storage_[i].data();
  }
  return pointers_.data();
}

// --- PgResult ---

PgResult& PgResult::operator=(PgResult&& other) noexcept {
  if (this != &other) {
    if (result_) PQclear(result_);
    result_ = other.result_;
    other.result_ = nullptr;
  }
  return *this;
}

PgResult::~PgResult() {
  if (result_) PQclear(result_);
}

int PgResult::rows() const { return result_ ? PQntuples(result_) : 0; }

bool PgResult::IsNull(int row, int column) const { return PQgetisnull(result_, row, column) != 0; }

const char* PgResult::Cell(int row, int column, int* length) const {
  if (row >= PQntuples(result_) || column >= PQnfields(result_) ||
      PQgetisnull(result_, row, column)) {
    throw Error(ErrorCode::kInternal, "PostgreSQL result: no value at row " + std::to_string(row) +
                                          ", column " + std::to_string(column));
  }
  *length = PQgetlength(result_, row, column);
  return PQgetvalue(result_, row, column);
}

std::int64_t PgResult::Int(int row, int column) const {
  int length = 0;
  const auto* p = reinterpret_cast<const unsigned char*>(Cell(row, column, &length));
  if (length != 8 && length != 4 && length != 2) {
    throw Error(ErrorCode::kInternal,
                "PostgreSQL result: integer column of " + std::to_string(length) + " bytes");
  }
  std::uint64_t v = 0;
  for (int i = 0; i < length; ++i) v = (v << 8) | p[i];
  // Sign-extend the narrower types.
  const int shift = 64 - 8 * length;
  return static_cast<std::int64_t>(v << shift) >> shift;
}

bool PgResult::Bool(int row, int column) const {
  int length = 0;
  const char* p = Cell(row, column, &length);
  if (length != 1) throw Error(ErrorCode::kInternal, "PostgreSQL result: bool of wrong length");
  return *p != 0;
}

std::string PgResult::Text(int row, int column) const { return std::string(View(row, column)); }

std::string_view PgResult::View(int row, int column) const {
  int length = 0;
  const char* p = Cell(row, column, &length);
  return std::string_view(p, static_cast<std::size_t>(length));
}

const char* PgResult::command_status() const { return result_ ? PQcmdStatus(result_) : ""; }

std::int64_t PgResult::affected() const {
  const char* n = PQcmdTuples(result_);
  return (n && *n) ? std::stoll(n) : 0;
}

// --- PgConnection ---

std::unique_ptr<PgConnection> PgConnection::Connect(const std::string& conninfo,
                                                    const std::string& session_sql,
                                                    std::chrono::milliseconds timeout) {
  // connect_timeout is whole seconds; we bound the total wait ourselves as well.
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string last_error;
  for (int attempt = 0;; ++attempt) {
    // Our defaults first: the expanded conninfo (dbname, expand_dbname=1) overrides them.
    const char* keys[] = {"fallback_application_name", "connect_timeout", "dbname", nullptr};
    const std::string seconds =
        std::to_string(std::max<long long>(2, (timeout.count() + 999) / 1000));
    const char* values[] = {"statestore", seconds.c_str(), conninfo.c_str(), nullptr};
    PGconn* conn = PQconnectdbParams(keys, values, /*expand_dbname=*/1);
    if (conn == nullptr) throw Error(ErrorCode::kInternal, "libpq could not allocate a connection");
    if (PQstatus(conn) == CONNECTION_OK) {
      std::unique_ptr<PgConnection> c(new PgConnection(conn));
      if (!session_sql.empty())
        c->ExecScript("cannot set up PostgreSQL session", session_sql.c_str());
      return c;
    }
    last_error = TrimMessage(PQerrorMessage(conn));
    PQfinish(conn);
    // A conninfo libpq cannot parse, or a refused login, will not get better by waiting.
    if (last_error.find("invalid") != std::string::npos ||
        last_error.find("authentication failed") != std::string::npos ||
        last_error.find("does not exist") != std::string::npos ||
        last_error.find("missing \"=\"") != std::string::npos) {
      throw Error(ErrorCode::kInvalidArgument, "cannot connect to PostgreSQL (" +
                                                   DescribeConninfo(conninfo) + "): " + last_error);
    }
    if (std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(std::min(50 * (attempt + 1), 500)));
    if (std::chrono::steady_clock::now() >= deadline) break;
  }
  throw Error(ErrorCode::kUnavailable, "cannot connect to PostgreSQL (" +
                                           DescribeConninfo(conninfo) + ") within " +
                                           std::to_string(timeout.count()) + " ms: " + last_error);
}

PgConnection::~PgConnection() {
  if (!abandoned_) PQfinish(conn_);
}

bool PgConnection::broken() const { return lost_ || PQstatus(conn_) != CONNECTION_OK; }

bool PgConnection::InTransaction() const {
  const PGTransactionStatusType s = PQtransactionStatus(conn_);
  return s == PQTRANS_INTRANS || s == PQTRANS_INERROR || s == PQTRANS_ACTIVE;
}

int PgConnection::backend_pid() const { return PQbackendPID(conn_); }

void PgConnection::Fail(const char* what, pg_result* result) {
  std::string sqlstate;
  std::string message;
  if (result != nullptr) {
    const char* state = PQresultErrorField(result, PG_DIAG_SQLSTATE);
    if (state) sqlstate = state;
    message = TrimMessage(PQresultErrorMessage(result));
    PQclear(result);
  } else {
    message = TrimMessage(PQerrorMessage(conn_));
  }
  // A failure the server did not answer with a SQLSTATE was made by libpq itself: the socket
  // failed. libpq may still report CONNECTION_OK then (a failed send in pipeline mode is noted
  // and the connection marked bad only when a later read sees EOF), so this connection is not
  // to be trusted again (invariant 2), and whether the server ran what was sent is unknown.
  if (sqlstate.empty()) lost_ = true;
  const int packed = PackSqlState(sqlstate);
  ErrorCode code = ErrorCode::kInternal;
  if (broken() || IsConnectionFailure(packed)) {
    code = ErrorCode::kUnavailable;
  } else if (IsSerializationFailure(packed) || IsLockNotAvailable(packed) ||
             sqlstate == "57014" /* query_canceled: lock or statement timeout */) {
    code = ErrorCode::kBusy;
  } else if (sqlstate.rfind("53", 0) == 0) {
    code = ErrorCode::kUnavailable;  // insufficient resources on the server (disk full, ...)
  } else if (sqlstate == "25006") {
    code = ErrorCode::kReadOnly;  // read_only_sql_transaction: a hot standby
  } else if (sqlstate == "22021" || sqlstate == "22P05") {
    code = ErrorCode::kInvalidArgument;  // bytes the server's encoding refuses
  }
  std::string text = std::string(what) + ": " + message;
  if (!sqlstate.empty()) text += " (SQLSTATE " + sqlstate + ")";
  throw Error(code, text, packed);
}

void PgConnection::Send(const char* what, const char* sql, const PgParams& params, bool keep) {
  if (queued_.empty() && PQpipelineStatus(conn_) == PQ_PIPELINE_OFF &&
      PQenterPipelineMode(conn_) != 1) {
    Fail(what, nullptr);
  }
  std::string key(sql);
  key.push_back('\0');
  key.append(reinterpret_cast<const char*>(params.types()),
             static_cast<std::size_t>(params.count()) * sizeof(unsigned int));
  auto it = prepared_.find(key);
  if (it == prepared_.end() && prepared_.size() < kMaxPrepared) {
    std::string name = "s" + std::to_string(++statements_made_);
    if (PQsendPrepare(conn_, name.c_str(), sql, params.count(), params.types()) != 1) {
      DiscardQueued();
      Fail(what, nullptr);
    }
    queued_.push_back({what, false});
    it = prepared_.emplace(key, std::move(name)).first;
    unconfirmed_.push_back(std::move(key));
  }
  const int sent =
      it != prepared_.end()
          ? PQsendQueryPrepared(conn_, it->second.c_str(), params.count(), params.values(),
                                params.lengths(), params.formats(), /*resultFormat=*/1)
          : PQsendQueryParams(conn_, sql, params.count(), params.types(), params.values(),
                              params.lengths(), params.formats(), /*resultFormat=*/1);
  if (sent != 1) {
    DiscardQueued();
    Fail(what, nullptr);
  }
  queued_.push_back({what, keep});
}

void PgConnection::Queue(const char* what, const char* sql, const PgParams& params) {
  Send(what, sql, params, /*keep=*/false);
}

void PgConnection::Drain() { Drain(nullptr); }

void PgConnection::Drain(std::vector<pg_result*>* results) {
  if (queued_.empty()) return;
  PGresult* failed = nullptr;
  const char* failed_what = nullptr;
  auto forget_unconfirmed = [&] {
    for (const std::string& key : unconfirmed_) prepared_.erase(key);
    unconfirmed_.clear();
  };
  if (PQpipelineSync(conn_) != 1) {
    queued_.clear();
    forget_unconfirmed();
    Fail("cannot send queued statements", nullptr);
  }
  std::size_t wanted = 0;
  for (const InFlight& statement : queued_) wanted += statement.keep && results != nullptr;
  std::vector<PGresult*> kept_results;
  for (const InFlight& statement : queued_) {
    // One statement: its result(s), then a null that ends it.
    PGresult* kept = nullptr;
    while (PGresult* r = PQgetResult(conn_)) {
      const ExecStatusType st = PQresultStatus(r);
      if ((st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) && kept == nullptr) {
        kept = r;
      } else if (failed == nullptr && st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK &&
                 st != PGRES_PIPELINE_ABORTED) {
        failed = r;
        failed_what = statement.what;
      } else {
        PQclear(r);
      }
    }
    if (statement.keep && results != nullptr) {
      kept_results.push_back(kept);
    } else if (kept != nullptr) {
      PQclear(kept);
    }
    if (broken()) break;
  }
  queued_.clear();
  // The sync point's own result, then leave pipeline mode (PQexec needs it off).
  if (!broken()) {
    while (PGresult* r = PQgetResult(conn_)) {
      const bool sync = PQresultStatus(r) == PGRES_PIPELINE_SYNC;
      PQclear(r);
      if (sync) break;
    }
    PQexitPipelineMode(conn_);
  }
  const bool ok =
      failed == nullptr && !broken() && kept_results.size() == wanted &&
      std::find(kept_results.begin(), kept_results.end(), nullptr) == kept_results.end();
  if (!ok) {
    for (PGresult* r : kept_results) PQclear(r);
    forget_unconfirmed();
    if (failed != nullptr) Fail(failed_what, failed);
    Fail(broken() ? "connection lost while statements were queued" : "statement returned no result",
         nullptr);
  }
  unconfirmed_.clear();
  if (results != nullptr) results->insert(results->end(), kept_results.begin(), kept_results.end());
}

std::vector<PgResult> PgConnection::ExecEach(const char* what, const char* sql,
                                             const std::vector<PgParams>& params) {
  Drain();
  for (const PgParams& p : params) Send(what, sql, p, /*keep=*/true);
  std::vector<pg_result*> raw;
  Drain(&raw);
  std::vector<PgResult> results;
  results.reserve(raw.size());
  for (pg_result* r : raw) results.emplace_back(r);
  return results;
}

void PgConnection::DiscardQueued() noexcept {
  try {
    Drain();
  } catch (...) {
  }
}

PgResult PgConnection::Exec(const char* what, const char* sql, const PgParams& params) {
  Send(what, sql, params, /*keep=*/true);
  std::vector<pg_result*> raw;
  Drain(&raw);
  return PgResult(raw.back());
}

void PgConnection::ExecScript(const char* what, const char* sql) {
  Drain();
  PGresult* r = PQexec(conn_, sql);
  const ExecStatusType s = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
  if (s != PGRES_TUPLES_OK && s != PGRES_COMMAND_OK) Fail(what, r);
  PQclear(r);
}

std::string DescribeConninfo(const std::string& conninfo) {
  char* err = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &err);
  if (options == nullptr) {
    std::string message = TrimMessage(err);
    if (err) PQfreemem(err);
    throw Error(ErrorCode::kInvalidArgument,
                "not a valid PostgreSQL connection string: " + message);
  }
  std::string host, port, dbname, user;
  for (PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
    if (o->val == nullptr) continue;
    if (std::strcmp(o->keyword, "host") == 0) host = o->val;
    if (std::strcmp(o->keyword, "port") == 0) port = o->val;
    if (std::strcmp(o->keyword, "dbname") == 0) dbname = o->val;
    if (std::strcmp(o->keyword, "user") == 0) user = o->val;
  }
  PQconninfoFree(options);
  std::string out = "postgresql://";
  if (!user.empty()) out += user + "@";
  out += host.empty() ? std::string("localhost") : host;
  if (!port.empty()) out += ":" + port;
  out += "/" + dbname;
  return out;
}

bool IsPostgresConninfo(std::string_view path) {
  if (path.rfind("postgresql://", 0) == 0 || path.rfind("postgres://", 0) == 0) return true;
  std::size_t i = 0;
  while (i < path.size() && path[i] == ' ') ++i;
  const std::size_t start = i;
  while (i < path.size() && (std::islower(static_cast<unsigned char>(path[i])) || path[i] == '_'))
    ++i;
  if (i == start) return false;
  while (i < path.size() && path[i] == ' ') ++i;
  return i < path.size() && path[i] == '=';
}

}  // namespace statestore::internal

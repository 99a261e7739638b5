// The engines of the conformance suite. To add one: implement a StoreLocation and an
// EngineTarget below and list it in ConformanceEngines(); every conformance test then runs on it.
#include "conformance/engine_target.h"

#include <libpq-fe.h>

#include <atomic>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "postgres/pg_cluster.h"
#include "test_util.h"

namespace statestore::test {

const char* ToString(Capability capability) {
  switch (capability) {
    case Capability::kMultiProcess:
      return "multi-process";
    case Capability::kInjectedClock:
      return "injected clock";
    case Capability::kAdminTools:
      return "admin tools";
    case Capability::kStrictSharedCache:
      return "a strict cross-process read cache";
  }
  return "unknown capability";
}

namespace {

// SQLite: a store is one file, "state.db" in a fresh TempDir; the directory goes with the
// location, so the -wal, -shm, -gen and -key side files go too.
class SqliteLocation final : public StoreLocation {
 public:
  SqliteLocation() : locator_(dir_.file("state.db")) {}

  std::shared_ptr<Store> Open(const Options& options) const override {
    return Store::open(locator_, options);
  }
  const std::string& locator() const override { return locator_; }

 private:
  TempDir dir_;
  std::string locator_;
};

class SqliteEngine final : public EngineTarget {
 public:
  const std::string& name() const override { return name_; }
  bool Available(std::string*) const override { return true; }
  std::unique_ptr<StoreLocation> NewLocation() const override {
    return std::make_unique<SqliteLocation>();
  }
  // The worker opens the same file; Options::clock stamps commits and drives session expiry.
  bool Supports(Capability) const override { return true; }

 private:
  const std::string name_ = "sqlite";
};

// PostgreSQL: a store is a fresh database on the test process's throwaway server
// (PgCluster::Shared), so locator() — that database's URI — is all a worker needs, and the
// store's schema is the default one. The destructor drops the database (WITH (FORCE): a worker
// killed mid-test may have left a session behind).
class PostgresLocation final : public StoreLocation {
 public:
  explicit PostgresLocation(PgCluster* cluster) : cluster_(cluster) {
    static std::atomic<int> next{0};
    database_ = "conformance_" + std::to_string(::getpid()) + "_" + std::to_string(next++);
    Admin("CREATE DATABASE " + database_);
    locator_ = cluster_->uri(database_);
  }
  ~PostgresLocation() override {
    try {
      Admin("DROP DATABASE IF EXISTS " + database_ + " WITH (FORCE)");
    } catch (const std::exception&) {
      // The cluster goes away with the test process anyway.
    }
  }

  std::shared_ptr<Store> Open(const Options& options) const override {
    return Store::open(locator_, options);
  }
  const std::string& locator() const override { return locator_; }

 private:
  // Runs one statement on the cluster's maintenance database (names built from integers only).
  void Admin(const std::string& sql) const {
    PGconn* conn = PQconnectdb(cluster_->conninfo("postgres").c_str());
    std::string error;
    if (PQstatus(conn) != CONNECTION_OK) {
      error = PQerrorMessage(conn);
    } else {
      PGresult* r = PQexec(conn, sql.c_str());
      if (PQresultStatus(r) != PGRES_COMMAND_OK) error = PQresultErrorMessage(r);
      PQclear(r);
    }
    PQfinish(conn);
    if (!error.empty()) throw std::runtime_error(sql + ": " + error);
  }

  PgCluster* cluster_;
  std::string database_;
  std::string locator_;
};

class PostgresEngine final : public EngineTarget {
 public:
  const std::string& name() const override { return name_; }
  bool Available(std::string* why) const override { return PgCluster::Shared(why) != nullptr; }
  std::unique_ptr<StoreLocation> NewLocation() const override {
    std::string why;
    PgCluster* cluster = PgCluster::Shared(&why);
    if (cluster == nullptr) throw std::runtime_error("no PostgreSQL server: " + why);
    return std::make_unique<PostgresLocation>(cluster);
  }
  // Workers open the same database; commits are stamped with Options::clock (the client's),
  // and session expiry uses it too. The admin tools read SQLite files only (so far); the read
  // cache is opt-in with bounded staleness (pg_engine_test measures it).
  bool Supports(Capability capability) const override {
    return capability != Capability::kAdminTools && capability != Capability::kStrictSharedCache;
  }

 private:
  const std::string name_ = "postgresql";
};

}  // namespace

std::vector<const EngineTarget*> ConformanceEngines() {
  static const SqliteEngine sqlite;
  static const PostgresEngine postgresql;
  return {&sqlite, &postgresql};
}

}  // namespace statestore::test

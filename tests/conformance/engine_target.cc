// The engines of the conformance suite. To add one: implement a StoreLocation and an
// EngineTarget below and list it in ConformanceEngines(); every conformance test then runs on it.
#include "conformance/engine_target.h"

#include <memory>
#include <string>
#include <vector>

#include "test_util.h"

namespace statestore::test {

const char* ToString(Capability capability) {
  switch (capability) {
    case Capability::kMultiProcess:
      return "multi-process";
    case Capability::kInjectedClock:
      return "injected clock";
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

}  // namespace

std::vector<const EngineTarget*> ConformanceEngines() {
  static const SqliteEngine sqlite;
  // The PostgreSQL engine adds itself here, after sqlite: a PostgresEngine whose NewLocation()
  // makes a fresh schema (table prefix) on a throwaway server the tests start themselves, whose
  // locator() is the "postgresql://..." URL naming that schema (so the worker needs nothing
  // else), and whose Available() is false when no server can be started, so every test skips
  // itself with GTEST_SKIP instead of failing.
  return {&sqlite};
}

}  // namespace statestore::test

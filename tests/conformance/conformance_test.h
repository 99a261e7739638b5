// ConformanceTest: the one fixture of the conformance suite, parameterized by engine.
//
// A conformance test uses only the public API (lib/include/statestore/) and the worker process,
// and reaches its engine only through the fixture:
//
//   class HistoryConformance : public test::ConformanceTest {};
//   TEST_P(HistoryConformance, RevertWritesBackOldValues) {
//     store()->put("app", "k", 1);
//     Reopen();                                      // a restart: close, open again
//     ...
//   }
//   STATESTORE_CONFORMANCE_SUITE(HistoryConformance);   // Engines/HistoryConformance.X/sqlite
//
// Each test gets a fresh, empty location(); store() opens it on first use with default Options.
// Files a test needs besides the store (JSON to import, a defaults file) go in scratch(), which
// every engine has.
//
// Tests that must stay engine-specific (and so are not here): anything that opens the database
// with sqlite3 or the sqlite3 shell, names files or side files (-wal, -shm, -gen, -key), counts
// pages, injects faults through a VFS, cuts power, forks, hard-links, or runs statectl on a path.
#ifndef STATESTORE_TESTS_CONFORMANCE_CONFORMANCE_TEST_H_
#define STATESTORE_TESTS_CONFORMANCE_CONFORMANCE_TEST_H_

#include <memory>
#include <mutex>
#include <ostream>
#include <string>

#include <gtest/gtest.h>

#include "conformance/engine_target.h"
#include "statestore/admin.h"
#include "statestore/options.h"
#include "statestore/store.h"
#include "test_util.h"

namespace statestore::test {

class ConformanceTest : public testing::TestWithParam<const EngineTarget*> {
 protected:
  void SetUp() override {
    std::string why;
    if (!engine().Available(&why)) GTEST_SKIP() << engine().name() << " not available: " << why;
    location_ = engine().NewLocation();
  }
  // Closes the test's store before any member of a derived fixture is destroyed: those fixtures
  // own the clocks that the store's reaper and listener threads call.
  void TearDown() override { store_.reset(); }

  const EngineTarget& engine() const { return *GetParam(); }
  const StoreLocation& location() const { return *location_; }
  // Passed to Store::open and to worker processes as their database argument.
  const std::string& locator() const { return location_->locator(); }
  // A directory for files other than the store itself.
  const TempDir& scratch() const { return scratch_; }

  // The test's store, opened with default Options on first use. Safe to call from the test's
  // threads at once (the first calls race to open it; the mutex makes one of them do it). Reopen
  // and Close are for the test's main thread while no other thread uses the store.
  const std::shared_ptr<Store>& store() {
    std::lock_guard<std::mutex> lock(store_mu_);
    if (!store_) store_ = location_->Open();
    return store_;
  }
  // Closes the test's store (if open) and opens it again with `options`: a restart.
  const std::shared_ptr<Store>& Reopen(const Options& options = {}) {
    store_.reset();
    store_ = location_->Open(options);
    return store_;
  }
  // `options` with the read cache on for this process's reads on every engine: the PostgreSQL
  // engine caches only with Options::postgres.cache_reads_with_bounded_staleness (its cache
  // hears of other processes' commits by notification), which SQLite ignores. For tests of the
  // cache within one process.
  static Options WithReadCache(Options options = {}) {
    options.postgres.cache_reads_with_bounded_staleness = true;
    return options;
  }
  // Closes the test's store; store() opens it again later.
  void Close() { store_.reset(); }
  // Verify (admin.h) finds no problem in the test's store, on engines with the admin tools.
  void ExpectVerified() {
    if (!engine().Supports(Capability::kAdminTools)) return;
    const VerifyReport report = Verify(*store());
    EXPECT_TRUE(report.ok()) << (report.problems.empty() ? "" : report.problems[0].message);
  }
  // Opens the location again, apart from store(): a Store the test holds itself. While store()
  // (or another handle) is open this is that same Store (invariant 2 of engine_target.h); after
  // Close() it is a fresh open, as after a restart. A second process's view is the worker's.
  std::shared_ptr<Store> OpenSecond(const Options& options = {}) const {
    return location_->Open(options);
  }

 private:
  TempDir scratch_;
  std::unique_ptr<StoreLocation> location_;
  std::mutex store_mu_;  // guards the first open in store()
  std::shared_ptr<Store> store_;
};

// How gtest prints a parameter (in failure messages): the engine's name, not an address.
inline void PrintTo(const EngineTarget* engine, std::ostream* os) { *os << engine->name(); }

// Gtest's name for a conformance test's parameter: the engine's name.
inline std::string EngineName(const testing::TestParamInfo<const EngineTarget*>& info) {
  return info.param->name();
}

}  // namespace statestore::test

// Runs every TEST_P of `suite` once per engine of ConformanceEngines().
#define STATESTORE_CONFORMANCE_SUITE(suite)                                             \
  INSTANTIATE_TEST_SUITE_P(Engines, suite,                                              \
                           testing::ValuesIn(::statestore::test::ConformanceEngines()), \
                           ::statestore::test::EngineName)

// Skips the current test on engines without `capability` (invariant 4 of engine_target.h).
// For use in a TEST_P body (GTEST_SKIP returns from the enclosing function).
#define CONFORMANCE_REQUIRE(capability)                     \
  if (engine().Supports(capability)) {                      \
  } else                                                    \
    GTEST_SKIP() << engine().name() << " does not support " \
                 << ::statestore::test::ToString(capability)

#endif  // STATESTORE_TESTS_CONFORMANCE_CONFORMANCE_TEST_H_

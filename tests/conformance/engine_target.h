// EngineTarget: one storage engine as the conformance suite sees it.
//
// The conformance suite (tests/conformance/, label `conformance`) runs every behavioural test of
// the core, sessions and config once per engine. A test reaches its engine only through this
// header: it asks for a fresh, empty StoreLocation, opens Stores on it, and hands locator() to a
// worker process. Nothing here names a file, a -wal or a server.
//
// Invariants every engine keeps:
//   1. Each StoreLocation is empty when made and shared with no other test (tests run in
//      parallel under `ctest -j`), and its destructor removes everything it created.
//   2. Every Open() of one location sees the same data. While a Store of the location is open in
//      this process, Open() returns that same Store (the public contract of Store::open: one
//      Store, one cache, one writer per database per process) and refuses contradicting Options;
//      a test that needs an independent view (its own cache and writer) uses a worker process.
//   3. locator() alone identifies the location: it is what Store::open receives and what a
//      worker process gets as its database argument, so a worker sees the same data.
//   4. An engine that does not support a Capability still passes every test that does not ask
//      for it; a test that needs one skips itself (CONFORMANCE_REQUIRE) instead of failing.
#ifndef STATESTORE_TESTS_CONFORMANCE_ENGINE_TARGET_H_
#define STATESTORE_TESTS_CONFORMANCE_ENGINE_TARGET_H_

#include <memory>
#include <string>
#include <vector>

#include "statestore/options.h"
#include "statestore/store.h"

namespace statestore::test {

// The few things that legitimately differ between engines.
enum class Capability {
  // Other processes (statestore_test_worker) can open locator() and share the data.
  kMultiProcess,
  // Options::clock decides commit times, keep_for cutoffs and session expiry (an engine that
  // stamps commits with a server's clock cannot be steered by the test).
  kInjectedClock,
  // The read cache is on by default and strict across processes: another process's commit
  // drops exactly its keys from this process's cache before that commit's transact() returns
  // (SQLite: the shared change counter). PostgreSQL's cache is opt-in, with bounded staleness
  // (Options::postgres); without it every read goes to the server, which the other tests cover.
  kStrictSharedCache,
  // statestore/admin.h's tools (Verify, Inspect, Backup, Vacuum) read the store.
  kAdminTools,
};

const char* ToString(Capability capability);

// Where one test keeps its store. Owns the storage (a directory, a schema) and removes it.
class StoreLocation {
 public:
  virtual ~StoreLocation() = default;
  StoreLocation(const StoreLocation&) = delete;
  StoreLocation& operator=(const StoreLocation&) = delete;

  // Store::open on this location (invariant 2). The location may add what tells its store apart
  // (e.g. a schema) to `options`; everything else is passed unchanged.
  // Throws: whatever Store::open throws.
  virtual std::shared_ptr<Store> Open(const Options& options = {}) const = 0;

  // What Store::open and the worker get (invariant 3).
  virtual const std::string& locator() const = 0;

 protected:
  StoreLocation() = default;
};

// One engine of the suite. Instances are immutable singletons (see ConformanceEngines()).
class EngineTarget {
 public:
  virtual ~EngineTarget() = default;

  // Short lowercase name; the suffix of every test name ("Engines/X.Y/sqlite").
  virtual const std::string& name() const = 0;

  // False (with the reason in *why) when the engine cannot run here, e.g. no PostgreSQL server:
  // the fixture then skips the test with GTEST_SKIP, so the suite stays green without it.
  virtual bool Available(std::string* why) const = 0;

  // A fresh, empty location (invariant 1). Throws on failure to make one.
  virtual std::unique_ptr<StoreLocation> NewLocation() const = 0;

  virtual bool Supports(Capability capability) const = 0;
};

// The engines every conformance test runs on, in a fixed order. This is the one place an engine
// joins the suite (engine_target.cc).
std::vector<const EngineTarget*> ConformanceEngines();

}  // namespace statestore::test

#endif  // STATESTORE_TESTS_CONFORMANCE_ENGINE_TARGET_H_

// statestore as an engine of statestore_durability_bench.
#include <statestore/statestore.h>

#include <cstdio>
#include <memory>
#include <string>
#include <utility>

#include "peers.h"

namespace statestore::bench {
namespace {

constexpr const char* kKeyspace = "bench";

std::shared_ptr<Store> Open(const std::filesystem::path& path, Durability d,
                            std::size_t cache_capacity) {
  Options o;
  o.durability = d;
  o.cache_capacity = cache_capacity;
  o.origin_label = "bench";
  return Store::open(path.string(), o);
}

class StatestoreWrites : public WriteEngine {
 public:
  explicit StatestoreWrites(std::shared_ptr<Store> store)
      : store_(std::move(store)), before_(store_->stats()) {}

  CommitFn NewWriter(int thread) override {
    return [store = store_, thread, key_counter = CounterKey(thread)](std::uint64_t seq) {
      const std::string key = WriteKey(thread, seq);
      const std::string value = MakeValue(seq);
      store->transact([&](Transaction& tx) {
        tx.put(kKeyspace, key, value);
        const std::optional<Value> c = tx.get(kKeyspace, key_counter);
        tx.put(kKeyspace, key_counter, (c ? c->as_int() : 0) + 1);
      });
    };
  }

  EngineCounters Counters() override {
    const Stats s = store_->stats();
    EngineCounters c;
    c.commits = static_cast<std::int64_t>(s.commits);
    c.groups = static_cast<std::int64_t>(s.groups);
    return c;
  }

  std::string Notes() override {
    const Stats s = store_->stats();
    const double commits = static_cast<double>(s.commits - before_.commits);
    const double groups = static_cast<double>(s.groups - before_.groups);
    const double syncs = static_cast<double>(s.syncs - before_.syncs);
    char buf[160];
    std::snprintf(buf, sizeof buf, "avg group %.1f, max %llu, busy %llu",
                  groups > 0 ? commits / groups : 0.0,
                  static_cast<unsigned long long>(s.max_group_size),
                  static_cast<unsigned long long>(s.busy_retries - before_.busy_retries));
    std::string notes = buf;
    if (s.syncs > 0) {  // SQLite's own count; the PostgreSQL engine's syncs are the server's
      std::snprintf(buf, sizeof buf, ", syncs/commit %.2f", commits > 0 ? syncs / commits : 0.0);
      notes += buf;
    }
    return notes;
  }

  std::string Verify(int threads, const std::vector<std::uint64_t>& commits) override {
    for (int t = 0; t < threads; ++t) {
      // In a transaction, not get(): on PostgreSQL another process's commits must be seen.
      std::uint64_t got = 0;
      store_->transact([&](Transaction& tx) {
        const std::optional<Value> c = tx.get(kKeyspace, CounterKey(t));
        got = c ? static_cast<std::uint64_t>(c->as_int()) : 0;
      });
      if (got != commits[static_cast<std::size_t>(t)]) {
        return "statestore: counter of thread " + std::to_string(t) + " is " + std::to_string(got) +
               ", " + std::to_string(commits[static_cast<std::size_t>(t)]) +
               " commits were acknowledged";
      }
    }
    return {};
  }

 private:
  std::shared_ptr<Store> store_;
  Stats before_;
};

class StatestoreReads : public ReadEngine {
 public:
  explicit StatestoreReads(std::shared_ptr<Store> store) : store_(std::move(store)) {
    for (int b = 0; b < kReadKeys; b += 1000) {
      store_->transact([&](Transaction& tx) {
        for (int i = b; i < b + 1000 && i < kReadKeys; ++i) {
          tx.put(kKeyspace, ReadKey(i), MakeValue(static_cast<std::uint64_t>(i)));
        }
      });
    }
    before_ = store_->stats();
  }

  ReadFn NewReader() override {
    return [store = store_, sink = std::size_t{0}](const std::string& key) mutable {
      const std::optional<Value> v = store->get(kKeyspace, key);
      if (!v) return false;
      sink += v->payload_size();
      return true;
    };
  }

  BackgroundCommitFn NewWriter() override {
    return [store = store_](std::uint64_t, const std::string& key, const std::string& value) {
      store->transact([&](Transaction& tx) {
        tx.put(kKeyspace, key, value);
        const std::optional<Value> c = tx.get(kKeyspace, "c/bg");
        tx.put(kKeyspace, "c/bg", (c ? c->as_int() : 0) + 1);
      });
    };
  }

  std::string Notes() override {
    const Stats s = store_->stats();
    const std::uint64_t reads = s.reads - before_.reads;
    const std::uint64_t hits = s.cache_hits - before_.cache_hits;
    before_ = s;
    char buf[96];
    std::snprintf(buf, sizeof buf, "cache hits %.1f%%",
                  reads ? 100.0 * static_cast<double>(hits) / static_cast<double>(reads) : 0.0);
    return buf;
  }

 private:
  std::shared_ptr<Store> store_;
  Stats before_;
};

}  // namespace

std::unique_ptr<WriteEngine> MakeStatestoreWriteEngine(const std::filesystem::path& path,
                                                       bool full) {
  return MakeStoreWriteEngine(Open(path, full ? Durability::kFull : Durability::kNormal, 100'000));
}

std::unique_ptr<ReadEngine> MakeStatestoreReadEngine(const std::filesystem::path& path,
                                                     bool cached) {
  return MakeStoreReadEngine(Open(path, Durability::kNormal, cached ? 100'000 : 0));
}

std::unique_ptr<WriteEngine> MakeStoreWriteEngine(std::shared_ptr<Store> store) {
  return std::make_unique<StatestoreWrites>(std::move(store));
}

std::unique_ptr<ReadEngine> MakeStoreReadEngine(std::shared_ptr<Store> store) {
  return std::make_unique<StatestoreReads>(std::move(store));
}

}  // namespace statestore::bench

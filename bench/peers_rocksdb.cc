// RocksDB as an engine of statestore_durability_bench: plain (a value and a counter per
// transaction) and "RocksDB+history", which keeps what statestore keeps for every commit.
#include <rocksdb/db.h>
#include <rocksdb/iterator.h>
#include <rocksdb/options.h>
#include <rocksdb/statistics.h>
#include <rocksdb/version.h>
#include <rocksdb/write_batch.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "peers.h"

namespace statestore::bench {
namespace {

void RocksCheck(const rocksdb::Status& s, const char* what) {
  if (!s.ok()) Fail(std::string("rocksdb: ") + what + ": " + s.ToString());
}

std::unique_ptr<rocksdb::DB> OpenDb(const std::filesystem::path& path,
                                    std::shared_ptr<rocksdb::Statistics>* statistics) {
  rocksdb::Options options;
  options.create_if_missing = true;
  options.error_if_exists = true;
  // Writers' batches are merged by RocksDB's write leader (its group commit) by default.
  // Tickers only (no histograms or timers): WAL bytes and syncs for the cost-per-commit lines,
  // for a few per-core counter increments per write.
  *statistics = rocksdb::CreateDBStatistics();
  (*statistics)->set_stats_level(rocksdb::StatsLevel::kExceptHistogramOrTimers);
  options.statistics = *statistics;
  rocksdb::DB* db = nullptr;
  RocksCheck(rocksdb::DB::Open(options, path.string(), &db), "open");
  return std::unique_ptr<rocksdb::DB>(db);
}

// Reads `key`'s counter (0 if absent).
std::uint64_t GetCounter(rocksdb::DB& db, const std::string& key, std::string& scratch) {
  const rocksdb::Status s = db.Get(rocksdb::ReadOptions(), key, &scratch);
  if (s.IsNotFound()) return 0;
  RocksCheck(s, "get counter");
  return DecodeCounter(scratch.data(), scratch.size());
}

class RocksdbEngine : public WriteEngine {
 public:
  RocksdbEngine(const std::filesystem::path& path, bool sync) : db_(OpenDb(path, &statistics_)) {
    write_options_.sync = sync;
  }

  EngineCounters Counters() override {
    EngineCounters c;
    c.log_bytes = static_cast<std::int64_t>(statistics_->getTickerCount(rocksdb::WAL_FILE_BYTES));
    c.log_syncs = static_cast<std::int64_t>(statistics_->getTickerCount(rocksdb::WAL_FILE_SYNCED));
    return c;
  }

  std::string Verify(int threads, const std::vector<std::uint64_t>& commits) override {
    std::string scratch;
    for (int t = 0; t < threads; ++t) {
      const std::uint64_t got = GetCounter(*db_, CounterName(t), scratch);
      if (got != commits[static_cast<std::size_t>(t)]) {
        return Name() + ": counter of thread " + std::to_string(t) + " is " + std::to_string(got) +
               ", expected " + std::to_string(commits[static_cast<std::size_t>(t)]);
      }
    }
    return {};
  }

 protected:
  virtual std::string Name() const { return "RocksDB"; }
  virtual std::string CounterName(int thread) const { return CounterKey(thread); }

  std::shared_ptr<rocksdb::Statistics> statistics_;
  std::unique_ptr<rocksdb::DB> db_;
  rocksdb::WriteOptions write_options_;
};

// A Get of the counter and one WriteBatch (value + counter); each thread owns its counter, so
// no lock is needed.
class RocksdbWrites : public RocksdbEngine {
 public:
  using RocksdbEngine::RocksdbEngine;

  CommitFn NewWriter(int thread) override {
    return [this, thread, counter = CounterKey(thread),
            scratch = std::string()](std::uint64_t seq) mutable {
      rocksdb::WriteBatch batch;
      batch.Put(WriteKey(thread, seq), MakeValue(seq));
      batch.Put(counter, EncodeCounter(GetCounter(*db_, counter, scratch) + 1));
      RocksCheck(db_->Write(write_options_, &batch), "write");
    };
  }
};

// "RocksDB+history": sync=true, and every transaction stores, in the same WriteBatch as the
// data, what statestore stores for it:
//
//   e<keyspace>\0<key>                 -> value                       (the data)
//   r<revision>                        -> time_us, pid, tid, label    (the commit record)
//   h<revision><seq>                   -> keyspace\0key, old, new     (one change per write)
//   k<keyspace>\0<key>\0<revision>     -> ""                          (per-key history index)
//
// <revision> and <seq> are big-endian, so "history of key K" is a prefix scan of k...K\0 in
// revision order, and "commits since R" a range scan of r/h. Strings in values are
// length-prefixed. The old value of every written key is read first (statestore reads the old
// row for its change record too).
//
// Revisions come from a process-wide std::atomic fetch_add per transaction. That is weaker than
// statestore's guarantee: statestore's revisions are gap-free and in commit order (revision R is
// visible only after every revision below R), while here a transaction may take revision 7 and
// become durable before, or without, revision 6 -- a reader can see 7 and later see 6 appear,
// and a failed write leaves a gap. Providing the stronger order would cost RocksDB a lock or a
// sequencing step, so this comparator errs in RocksDB's favour.
class RocksdbHistoryWrites : public RocksdbEngine {
 public:
  RocksdbHistoryWrites(const std::filesystem::path& path) : RocksdbEngine(path, true) {}

  CommitFn NewWriter(int thread) override {
    const auto tid = static_cast<std::uint32_t>(::syscall(SYS_gettid));
    return [this, thread, tid, counter = CounterName(thread), old_value = std::string(),
            old_counter = std::string()](std::uint64_t seq) mutable {
      const std::uint64_t revision = next_revision_.fetch_add(1) + 1;
      const std::string key = DataKey(WriteKey(thread, seq));
      const std::string value = MakeValue(seq);
      const bool had_old = Get(key, old_value);
      const std::uint64_t n = GetCounter(*db_, counter, old_counter) + 1;
      const bool had_counter = n > 1;
      const std::string new_counter = EncodeCounter(n);

      rocksdb::WriteBatch batch;
      batch.Put(key, value);
      batch.Put(counter, new_counter);
      batch.Put(HistoryKey(revision, 0), Change(key, had_old, old_value, value));
      batch.Put(HistoryKey(revision, 1), Change(counter, had_counter, old_counter, new_counter));
      batch.Put(IndexKey(key, revision), rocksdb::Slice());
      batch.Put(IndexKey(counter, revision), rocksdb::Slice());
      batch.Put(CommitKey(revision), CommitRecord(tid));
      RocksCheck(db_->Write(write_options_, &batch), "write");
    };
  }

  std::string Verify(int threads, const std::vector<std::uint64_t>& commits) override {
    std::string bad = RocksdbEngine::Verify(threads, commits);
    if (!bad.empty()) return bad;
    // Every acknowledged commit left its commit record: the last one is the highest revision
    // handed out, and that equals the number of commits (no writer failed, so no gaps).
    std::uint64_t total = 0;
    for (std::uint64_t c : commits) total += c;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
    it->SeekForPrev(CommitKey(~std::uint64_t{0}));
    const std::uint64_t last = it->Valid() && it->key().starts_with("r")
                                   ? Revision(it->key().ToStringView().substr(1))
                                   : 0;
    RocksCheck(it->status(), "iterate");
    if (last != total) {
      return Name() + ": last commit record is revision " + std::to_string(last) + ", " +
             std::to_string(total) + " commits were acknowledged";
    }
    return {};
  }

 protected:
  std::string Name() const override { return "RocksDB+history"; }
  std::string CounterName(int thread) const override { return DataKey(CounterKey(thread)); }

 private:
  static constexpr std::string_view kKeyspace = "bench";

  static void AppendBigEndian(std::string& s, std::uint64_t v, int bytes) {
    for (int i = bytes - 1; i >= 0; --i) s.push_back(static_cast<char>(v >> (8 * i)));
  }
  static std::uint64_t Revision(std::string_view s) {
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < 8 && i < s.size(); ++i)
      v = v << 8 | static_cast<unsigned char>(s[i]);
    return v;
  }
  static void AppendField(std::string& s, std::string_view field) {
    AppendBigEndian(s, field.size(), 4);
    s.append(field);
  }

  static std::string DataKey(const std::string& key) {
    std::string k = "e";
    k.append(kKeyspace).push_back('\0');
    return k + key;
  }
  static std::string CommitKey(std::uint64_t revision) {
    std::string k = "r";
    AppendBigEndian(k, revision, 8);
    return k;
  }
  static std::string HistoryKey(std::uint64_t revision, std::uint32_t seq) {
    std::string k = "h";
    AppendBigEndian(k, revision, 8);
    AppendBigEndian(k, seq, 4);
    return k;
  }
  // `data_key` is e<keyspace>\0<key>; the index key is k<keyspace>\0<key>\0<revision>.
  static std::string IndexKey(const std::string& data_key, std::uint64_t revision) {
    std::string k = "k";
    k.append(data_key, 1).push_back('\0');
    AppendBigEndian(k, revision, 8);
    return k;
  }
  static std::string Change(const std::string& data_key, bool had_old, const std::string& old_value,
                            const std::string& new_value) {
    std::string v;
    AppendField(v, std::string_view(data_key).substr(1));  // keyspace\0key
    v.push_back(had_old ? 1 : 0);
    AppendField(v, had_old ? std::string_view(old_value) : std::string_view());
    AppendField(v, new_value);
    return v;
  }
  static std::string CommitRecord(std::uint32_t tid) {
    std::string v;
    AppendBigEndian(
        v,
        static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                       std::chrono::system_clock::now().time_since_epoch())
                                       .count()),
        8);
    AppendBigEndian(v, static_cast<std::uint64_t>(::getpid()), 4);
    AppendBigEndian(v, tid, 4);
    AppendField(v, "bench");
    return v;
  }

  bool Get(const std::string& key, std::string& out) {
    const rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), key, &out);
    if (s.IsNotFound()) return false;
    RocksCheck(s, "get old value");
    return true;
  }

  std::atomic<std::uint64_t> next_revision_{0};
};

}  // namespace

std::unique_ptr<WriteEngine> MakeRocksdbWriteEngine(const std::filesystem::path& path, bool sync) {
  return std::make_unique<RocksdbWrites>(path, sync);
}

std::unique_ptr<WriteEngine> MakeRocksdbHistoryWriteEngine(const std::filesystem::path& path) {
  return std::make_unique<RocksdbHistoryWrites>(path);
}

std::string RocksdbVersion() {
  return "RocksDB " + std::to_string(ROCKSDB_MAJOR) + "." + std::to_string(ROCKSDB_MINOR) + "." +
         std::to_string(ROCKSDB_PATCH);
}

}  // namespace statestore::bench

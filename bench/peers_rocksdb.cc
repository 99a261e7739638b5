// RocksDB as an engine of statestore_durability_bench.
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/version.h>
#include <rocksdb/write_batch.h>

#include <memory>
#include <string>

#include "peers.h"

namespace statestore::bench {
namespace {

void RocksCheck(const rocksdb::Status& s, const char* what) {
  if (!s.ok()) Fail(std::string("rocksdb: ") + what + ": " + s.ToString());
}

class RocksdbWrites : public WriteEngine {
 public:
  RocksdbWrites(const std::filesystem::path& path, bool sync) {
    rocksdb::Options options;
    options.create_if_missing = true;
    options.error_if_exists = true;
    // Writers' batches are merged by RocksDB's write leader (its group commit) by default.
    rocksdb::DB* db = nullptr;
    RocksCheck(rocksdb::DB::Open(options, path.string(), &db), "open");
    db_.reset(db);
    write_options_.sync = sync;
  }

  CommitFn NewWriter(int thread) override {
    return [this, thread, counter = CounterKey(thread),
            old = std::string()](std::uint64_t seq) mutable {
      rocksdb::WriteBatch batch;
      batch.Put(WriteKey(thread, seq), MakeValue(seq));
      const rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), counter, &old);
      std::uint64_t n = 0;
      if (s.ok()) {
        n = DecodeCounter(old.data(), old.size());
      } else if (!s.IsNotFound()) {
        RocksCheck(s, "get");
      }
      batch.Put(counter, EncodeCounter(n + 1));
      RocksCheck(db_->Write(write_options_, &batch), "write");
    };
  }

  std::string Verify(int threads, const std::vector<std::uint64_t>& commits) override {
    for (int t = 0; t < threads; ++t) {
      std::string v;
      const rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), CounterKey(t), &v);
      const std::uint64_t got = s.ok() ? DecodeCounter(v.data(), v.size()) : 0;
      if (got != commits[static_cast<std::size_t>(t)]) {
        return "RocksDB: counter of thread " + std::to_string(t) + " is " + std::to_string(got) +
               ", expected " + std::to_string(commits[static_cast<std::size_t>(t)]);
      }
    }
    return {};
  }

 private:
  std::unique_ptr<rocksdb::DB> db_;
  rocksdb::WriteOptions write_options_;
};

}  // namespace

std::unique_ptr<WriteEngine> MakeRocksdbWriteEngine(const std::filesystem::path& path, bool sync) {
  return std::make_unique<RocksdbWrites>(path, sync);
}

std::string RocksdbVersion() {
  return "RocksDB " + std::to_string(ROCKSDB_MAJOR) + "." + std::to_string(ROCKSDB_MINOR) + "." +
         std::to_string(ROCKSDB_PATCH);
}

}  // namespace statestore::bench

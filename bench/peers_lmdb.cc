// LMDB as an engine of statestore_durability_bench.
#include <lmdb.h>

#include <memory>
#include <string>

#include "peers.h"

namespace statestore::bench {
namespace {

void LmdbCheck(int rc, const char* what) {
  if (rc != MDB_SUCCESS) Fail(std::string("lmdb: ") + what + ": " + mdb_strerror(rc));
}

class Env {
 public:
  Env(const std::filesystem::path& path, unsigned flags) {
    LmdbCheck(mdb_env_create(&env_), "env_create");
    LmdbCheck(mdb_env_set_mapsize(env_, std::size_t{1} << 30), "set_mapsize");
    LmdbCheck(mdb_env_set_maxreaders(env_, 256), "set_maxreaders");
    // Default flags: synchronous durable commits (no MDB_NOSYNC); a plain file, not a directory.
    const int rc = mdb_env_open(env_, path.c_str(), MDB_NOSUBDIR | flags, 0600);
    if (rc != MDB_SUCCESS) {
      mdb_env_close(env_);
      env_ = nullptr;
      LmdbCheck(rc, "env_open");
    }
    MDB_txn* txn = nullptr;
    LmdbCheck(mdb_txn_begin(env_, nullptr, 0, &txn), "txn_begin");
    const int drc = mdb_dbi_open(txn, nullptr, 0, &dbi_);
    if (drc != MDB_SUCCESS) {
      mdb_txn_abort(txn);
      LmdbCheck(drc, "dbi_open");
    }
    LmdbCheck(mdb_txn_commit(txn), "txn_commit");
  }
  ~Env() {
    if (env_) mdb_env_close(env_);
  }
  Env(const Env&) = delete;
  Env& operator=(const Env&) = delete;

  MDB_env* env() const { return env_; }
  MDB_dbi dbi() const { return dbi_; }

  // One write transaction: `value` under `key`, counter read-modify-write.
  void Transact(const std::string& key, const std::string& value, const std::string& counter) {
    MDB_txn* txn = nullptr;
    LmdbCheck(mdb_txn_begin(env_, nullptr, 0, &txn), "txn_begin");
    MDB_val k{key.size(), const_cast<char*>(key.data())};
    MDB_val v{value.size(), const_cast<char*>(value.data())};
    int rc = mdb_put(txn, dbi_, &k, &v, 0);
    std::uint64_t n = 0;
    MDB_val ck{counter.size(), const_cast<char*>(counter.data())};
    MDB_val cv{};
    if (rc == MDB_SUCCESS) {
      rc = mdb_get(txn, dbi_, &ck, &cv);
      if (rc == MDB_SUCCESS) {
        n = DecodeCounter(static_cast<const char*>(cv.mv_data), cv.mv_size);
      } else if (rc == MDB_NOTFOUND) {
        rc = MDB_SUCCESS;
      }
    }
    const std::string encoded = EncodeCounter(n + 1);
    if (rc == MDB_SUCCESS) {
      MDB_val nv{encoded.size(), const_cast<char*>(encoded.data())};
      rc = mdb_put(txn, dbi_, &ck, &nv, 0);
    }
    if (rc != MDB_SUCCESS) {
      mdb_txn_abort(txn);
      LmdbCheck(rc, "write");
    }
    LmdbCheck(mdb_txn_commit(txn), "txn_commit");
  }

  std::uint64_t Counter(const std::string& counter) {
    MDB_txn* txn = nullptr;
    LmdbCheck(mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn), "txn_begin(rdonly)");
    MDB_val ck{counter.size(), const_cast<char*>(counter.data())};
    MDB_val cv{};
    const int rc = mdb_get(txn, dbi_, &ck, &cv);
    const std::uint64_t n =
        rc == MDB_SUCCESS ? DecodeCounter(static_cast<const char*>(cv.mv_data), cv.mv_size) : 0;
    mdb_txn_abort(txn);
    return n;
  }

 private:
  MDB_env* env_ = nullptr;
  MDB_dbi dbi_ = 0;
};

class LmdbWrites : public WriteEngine {
 public:
  explicit LmdbWrites(const std::filesystem::path& path) : env_(std::make_shared<Env>(path, 0)) {}

  CommitFn NewWriter(int thread) override {
    return [env = env_, thread, counter = CounterKey(thread)](std::uint64_t seq) {
      env->Transact(WriteKey(thread, seq), MakeValue(seq), counter);
    };
  }

  std::string Verify(int threads, const std::vector<std::uint64_t>& commits) override {
    for (int t = 0; t < threads; ++t) {
      const std::uint64_t got = env_->Counter(CounterKey(t));
      if (got != commits[static_cast<std::size_t>(t)]) {
        return "LMDB: counter of thread " + std::to_string(t) + " is " + std::to_string(got) +
               ", expected " + std::to_string(commits[static_cast<std::size_t>(t)]);
      }
    }
    return {};
  }

 private:
  std::shared_ptr<Env> env_;
};

// A per-thread reader: one read transaction per read, renewed from a reset handle (LMDB's
// recommended way to run many short read transactions).
class Reader {
 public:
  explicit Reader(std::shared_ptr<Env> env) : env_(std::move(env)) {
    LmdbCheck(mdb_txn_begin(env_->env(), nullptr, MDB_RDONLY, &txn_), "txn_begin(rdonly)");
    mdb_txn_reset(txn_);
  }
  ~Reader() { mdb_txn_abort(txn_); }
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;

  bool Get(const std::string& key) {
    LmdbCheck(mdb_txn_renew(txn_), "txn_renew");
    MDB_val k{key.size(), const_cast<char*>(key.data())};
    MDB_val v{};
    const int rc = mdb_get(txn_, env_->dbi(), &k, &v);
    const bool found = rc == MDB_SUCCESS;
    if (found) value_.assign(static_cast<const char*>(v.mv_data), v.mv_size);
    mdb_txn_reset(txn_);
    if (!found && rc != MDB_NOTFOUND) LmdbCheck(rc, "get");
    return found;
  }

 private:
  std::shared_ptr<Env> env_;
  MDB_txn* txn_ = nullptr;
  std::string value_;
};

class LmdbReads : public ReadEngine {
 public:
  // MDB_NOTLS: read transactions are tied to the Reader object, not to the thread.
  explicit LmdbReads(const std::filesystem::path& path)
      : env_(std::make_shared<Env>(path, MDB_NOTLS)) {
    MDB_txn* txn = nullptr;
    LmdbCheck(mdb_txn_begin(env_->env(), nullptr, 0, &txn), "txn_begin");
    for (int i = 0; i < kReadKeys; ++i) {
      const std::string k = ReadKey(i), v = MakeValue(static_cast<std::uint64_t>(i));
      MDB_val mk{k.size(), const_cast<char*>(k.data())};
      MDB_val mv{v.size(), const_cast<char*>(v.data())};
      const int rc = mdb_put(txn, env_->dbi(), &mk, &mv, 0);
      if (rc != MDB_SUCCESS) {
        mdb_txn_abort(txn);
        LmdbCheck(rc, "put");
      }
    }
    LmdbCheck(mdb_txn_commit(txn), "txn_commit");
    // The background writer does not wait for fsync (like statestore kNormal / SQLite NORMAL).
    LmdbCheck(mdb_env_set_flags(env_->env(), MDB_NOSYNC, 1), "set_flags(NOSYNC)");
  }

  ReadFn NewReader() override {
    auto r = std::make_shared<Reader>(env_);
    return [r](const std::string& key) { return r->Get(key); };
  }

  BackgroundCommitFn NewWriter() override {
    return [env = env_](std::uint64_t, const std::string& key, const std::string& value) {
      env->Transact(key, value, "c/bg");
    };
  }

 private:
  std::shared_ptr<Env> env_;
};

}  // namespace

std::unique_ptr<WriteEngine> MakeLmdbWriteEngine(const std::filesystem::path& path) {
  return std::make_unique<LmdbWrites>(path);
}

std::string LmdbVersion() { return mdb_version(nullptr, nullptr, nullptr); }

std::unique_ptr<ReadEngine> MakeLmdbReadEngine(const std::filesystem::path& path) {
  return std::make_unique<LmdbReads>(path);
}

}  // namespace statestore::bench

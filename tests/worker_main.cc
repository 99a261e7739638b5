// statestore_test_worker — a second process for the multi-process tests.
//
// Usage:
//   statestore_test_worker increment DB N [--wait-go] [--busy-timeout-ms MS] [--threads T]
//       Opens DB, prints "ready", (with --wait-go) waits for a line "go" on stdin, then runs N
//       read-increment-write transactions on ("app", "counter") — N in each of T threads (default
//       1) — and prints "done".
//   statestore_test_worker put DB KEYSPACE KEY INT      prints "rev R"
//   statestore_test_worker erase DB KEYSPACE KEY        prints "rev R"
//   statestore_test_worker get DB KEYSPACE KEY          prints "value V"
//   statestore_test_worker serve DB
//       Opens DB, prints "ready", then answers commands read from stdin, one per line:
//         get KEYSPACE KEY        -> "value V"   (V: the integer, "none", or "other <display>")
//         put KEYSPACE KEY INT    -> "rev R"
//         erase KEYSPACE KEY      -> "rev R"
//         stats                   -> "stats READS HITS MISSES INVALIDATIONS COMMITS"
//         quit                    -> exits 0
//   statestore_test_worker write-forever DB [--normal]
//       Opens DB (Durability::kNormal with --normal), prints "ready", then forever runs
//       transactions that set ("app","a") and ("app","b") to the next integer N and prints "ack N"
//       after each transact() returned. The parent kills it with SIGKILL.
//   statestore_test_worker failover-write URI TAG THREADS BUSY_TIMEOUT_MS --full|--normal
//       The writer process of the failover run: FailoverWriterMain (postgres/pg_failover_run.h).
//   statestore_test_worker pg-private-cluster abort|hold
//       Starts a private PostgreSQL cluster (PgCluster::Start) and prints "cluster PID DIR" (its
//       postmaster's pid and its directory); then with abort calls std::abort(), with hold waits
//       for the end of stdin (the parent SIGKILLs it first) — a test process that dies leaving its
//       server running (postgres/pg_cluster.h invariant 5).
//   statestore_test_worker fsize DB LIMIT_BYTES
//       Limits the size of every file it writes to LIMIT_BYTES (RLIMIT_FSIZE, SIGXFSZ ignored),
//       then writes 64 KiB values to ("app","big<N>") until a write fails. Prints "rev R" for each
//       acknowledged write, "failed <code-number>" for the failure, "after <code-number>|ok" for a
//       small write after the failure, "read ok|bad" for re-reading every acknowledged key, and
//       exits 0.
//   statestore_test_worker session-update DB TOKEN NAME N [--wait-go]
//       Opens DB, prints "ready", (with --wait-go) waits for "go" on stdin, then runs N
//       Sessions::update calls that increment the int attribute NAME of the session TOKEN and
//       prints "done" ("gone" and exit 1 if the session is not live).
//   statestore_test_worker session-churn DB N
//       Opens DB, prints "ready", then N times: creates a session (principal "worker"), prints
//       "created ID", rotates it, prints "rotated OLD NEW", destroys it, prints "destroyed ID"
//       (IDs as Sessions::IdOf); then prints "done".
//   statestore_test_worker session-limit DB PRINCIPAL N LIMIT
//       Opens DB with SessionOptions::max_sessions_per_principal = LIMIT and kRefuseCreate,
//       prints "ready", waits for "go" on stdin, then tries N creates for PRINCIPAL and prints
//       "created C refused R" (R: creates refused with kConflict).
//   statestore_test_worker config-set DB PREFIX N [--wait-go]
//       Opens DB (Durability::kNormal), prints "ready", (with --wait-go) waits for "go" on stdin,
//       then makes N Config::set calls, the i-th setting int key "PREFIX.k<i % 10>" to i, and
//       prints "done".
//   statestore_test_worker config-put DB KEY TYPE VALUE
//       Opens DB (declaring nothing), makes one Config::set of KEY to VALUE read as TYPE (int,
//       double or string) and prints "rev R".
//   statestore_test_worker config-get DB KEY
//       Opens DB (declaring nothing) and prints "value <type> <display>" or "value none".
//   statestore_test_worker read-loop DB KEYSPACE KEY [--read-only]
//       Opens DB, prints "ready", then one thread calls get(KEYSPACE, KEY) in a loop (the read
//       cache's hot path) while the main thread answers commands read from stdin:
//         check N   -> waits until two more reads completed (so at least one of them started
//                      after the command arrived) and prints "ok" if the latest returned the
//                      integer N, else "stale V" (V as for serve), or "stuck" after 20 s
//         quit      -> exits 0
//       A read that throws prints "error ..." and exits 1.
//   statestore_test_worker ttl-serve DB START_US [SWEEP_MS]
//       Opens DB with Options::clock reading a clock this process keeps (START_US, microseconds
//       since the epoch) and an expiry sweep every SWEEP_MS (default: none), prints "ready", then
//       answers commands from stdin:
//         clock US        -> sets the clock, prints "ok"
//         putttl KS KEY MS -> put of int 1 with a TTL of MS: "rev R"
//         pid             -> "pid P"
//         get KS KEY      -> Store::get (the read cache's path): "value <Render>"
//         read KS KEY     -> get_entry inside Store::read: "value <Render> <expires_us or none>"
//         count KS        -> Store::list: "count N"
//         quit            -> exits 0
//
// Any exception is printed as "error <code-number> <code-name>: <message>" on stdout (and on
// stderr), and the worker exits with status 1 (in particular on "database is locked" / kBusy).
// Bad usage exits with status 2.
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "postgres/pg_cluster.h"
#include "postgres/pg_failover_run.h"
#include "statestore/statestore.h"

namespace {

using statestore::Store;
using statestore::Transaction;
using statestore::Value;

std::string Render(const std::optional<Value>& v) {
  if (!v) return "none";
  if (v->type() == statestore::ValueType::kInt) return std::to_string(v->as_int());
  return "other " + v->to_display();
}

void Say(const std::string& line) {
  std::cout << line << std::endl;  // endl flushes: the parent reads line by line.
}

[[noreturn]] void Usage() {
  std::cerr << "usage: statestore_test_worker increment|put|erase|get|compact|serve DB ...\n";
  std::exit(2);
}

int Increment(const std::string& db, const std::vector<std::string>& args) {
  if (args.empty()) Usage();
  const long n = std::stol(args[0]);
  bool wait_go = false;
  int threads = 1;
  statestore::Options options;
  for (std::size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--wait-go") {
      wait_go = true;
    } else if (args[i] == "--busy-timeout-ms" && i + 1 < args.size()) {
      options.busy_timeout = std::chrono::milliseconds(std::stol(args[++i]));
    } else if (args[i] == "--threads" && i + 1 < args.size()) {
      threads = std::stoi(args[++i]);
      if (threads < 1) Usage();
    } else {
      Usage();
    }
  }
  auto store = Store::open(db, options);
  Say("ready");
  if (wait_go) {
    std::string line;
    if (!std::getline(std::cin, line) || line != "go") {
      std::cerr << "worker: expected 'go'\n";
      return 2;
    }
  }
  auto run = [&] {
    for (long i = 0; i < n; ++i) {
      store->transact([&](Transaction& tx) {
        auto v = tx.get("app", "counter");
        tx.put("app", "counter", (v ? v->as_int() : 0) + 1);
      });
    }
  };
  if (threads == 1) {
    run();
  } else {
    // A failure in any thread is reported as main() reports it, and the process exits 1.
    std::vector<std::thread> pool;
    std::exception_ptr failure;
    std::mutex failure_mu;
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&] {
        try {
          run();
        } catch (...) {
          std::lock_guard<std::mutex> lock(failure_mu);
          if (!failure) failure = std::current_exception();
        }
      });
    }
    for (auto& t : pool) t.join();
    if (failure) std::rethrow_exception(failure);
  }
  Say("done");
  return 0;
}

int Serve(const std::string& db) {
  auto store = Store::open(db);
  Say("ready");
  std::string line;
  while (std::getline(std::cin, line)) {
    std::istringstream in(line);
    std::string cmd;
    in >> cmd;
    if (cmd == "get") {
      std::string ks, key;
      in >> ks >> key;
      Say("value " + Render(store->get(ks, key)));
    } else if (cmd == "put") {
      std::string ks, key;
      long long v = 0;
      in >> ks >> key >> v;
      Say("rev " + std::to_string(store->put(ks, key, Value(v))));
    } else if (cmd == "erase") {
      std::string ks, key;
      in >> ks >> key;
      Say("rev " + std::to_string(store->erase(ks, key)));
    } else if (cmd == "put-many") {  // put-many KS PREFIX N: N commits, PREFIX/0 .. PREFIX/N-1
      std::string ks, prefix;
      long long n = 0;
      in >> ks >> prefix >> n;
      statestore::Revision rev = 0;
      for (long long i = 0; i < n; ++i) {
        rev = store->put(ks, prefix + "/" + std::to_string(i), Value(i));
      }
      Say("rev " + std::to_string(rev));
    } else if (cmd == "stats") {
      auto s = store->stats();
      Say("stats " + std::to_string(s.reads) + " " + std::to_string(s.cache_hits) + " " +
          std::to_string(s.cache_misses) + " " + std::to_string(s.cache_invalidations) + " " +
          std::to_string(s.commits));
    } else if (cmd == "quit") {
      return 0;
    } else {
      std::cerr << "worker: unknown command: " << line << "\n";
      return 2;
    }
  }
  return 0;
}

int WriteForever(const std::string& db, const std::vector<std::string>& args) {
  statestore::Options options;
  for (const auto& a : args) {
    if (a == "--normal") {
      options.durability = statestore::Durability::kNormal;
    } else {
      Usage();
    }
  }
  auto store = Store::open(db, options);
  Say("ready");
  for (;;) {
    std::int64_t n = 0;
    store->transact([&](Transaction& tx) {
      auto v = tx.get("app", "a");
      n = (v ? v->as_int() : 0) + 1;
      tx.put("app", "a", n);
      tx.put("app", "filler", std::string(1000 + n % 3000, 'f'));
      tx.put("app", "b", n);
    });
    Say("ack " + std::to_string(n));
  }
}

int FileSizeLimit(const std::string& db, const std::vector<std::string>& args) {
  if (args.size() != 1) Usage();
  auto store = Store::open(db);
  ::signal(SIGXFSZ, SIG_IGN);
  struct rlimit limit;
  limit.rlim_cur = limit.rlim_max = std::stoull(args[0]);
  if (::setrlimit(RLIMIT_FSIZE, &limit) != 0) {
    std::perror("setrlimit");
    return 2;
  }
  std::vector<std::pair<std::string, std::string>> acked;
  const std::string chunk(64 * 1024, 'v');
  for (int i = 0; i < 100000; ++i) {
    const std::string key = "big" + std::to_string(i);
    const std::string value = std::to_string(i) + chunk;
    try {
      Say("rev " + std::to_string(store->put("app", key, Value(value))));
      acked.emplace_back(key, value);
    } catch (const statestore::Error& e) {
      Say("failed " + std::to_string(static_cast<int>(e.code())));
      std::cerr << "statestore_test_worker: expected failure: " << e.what() << "\n";
      break;
    }
  }
  try {
    store->put("app", "small", Value(1));
    Say("after ok");
  } catch (const statestore::Error& e) {
    Say("after " + std::to_string(static_cast<int>(e.code())));
  }
  bool reads_ok = true;
  for (const auto& [key, value] : acked) {
    auto v = store->get("app", key);
    if (!v || *v != Value(value)) reads_ok = false;
  }
  Say(reads_ok ? "read ok" : "read bad");
  return 0;
}

int SessionChurn(const std::string& db, const std::vector<std::string>& args) {
  if (args.size() != 1) Usage();
  const long n = std::stol(args[0]);
  statestore::Options options;
  options.sessions.sweep_interval = std::chrono::milliseconds(0);
  auto store = Store::open(db, options);
  auto& sessions = store->sessions();
  Say("ready");
  for (long i = 0; i < n; ++i) {
    const std::string token = sessions.create(std::chrono::hours(1), {}, "worker");
    const std::string id = *statestore::Sessions::IdOf(token);
    Say("created " + id);
    const auto rotated = sessions.rotate(token);
    if (!rotated) {
      Say("gone");
      return 1;
    }
    const std::string new_id = *statestore::Sessions::IdOf(*rotated);
    Say("rotated " + id + " " + new_id);
    if (!sessions.destroy(*rotated)) {
      Say("gone");
      return 1;
    }
    Say("destroyed " + new_id);
  }
  Say("done");
  return 0;
}

int SessionLimit(const std::string& db, const std::vector<std::string>& args) {
  if (args.size() != 3) Usage();
  const std::string& principal = args[0];
  const long n = std::stol(args[1]);
  statestore::Options options;
  options.sessions.sweep_interval = std::chrono::milliseconds(0);
  options.sessions.max_sessions_per_principal = std::stoul(args[2]);
  options.sessions.limit_policy = statestore::SessionLimitPolicy::kRefuseCreate;
  auto store = Store::open(db, options);
  Say("ready");
  std::string line;
  if (!std::getline(std::cin, line) || line != "go") {
    std::cerr << "worker: expected 'go'\n";
    return 2;
  }
  long created = 0, refused = 0;
  for (long i = 0; i < n; ++i) {
    try {
      store->sessions().create(std::chrono::hours(1), {}, principal);
      ++created;
    } catch (const statestore::Error& e) {
      if (e.code() != statestore::ErrorCode::kConflict) throw;
      ++refused;
    }
  }
  Say("created " + std::to_string(created) + " refused " + std::to_string(refused));
  return 0;
}

int SessionUpdate(const std::string& db, const std::vector<std::string>& args) {
  if (args.size() < 3) Usage();
  const std::string& token = args[0];
  const std::string& name = args[1];
  const long n = std::stol(args[2]);
  const bool wait_go = args.size() > 3 && args[3] == "--wait-go";
  statestore::Options options;
  options.sessions.sweep_interval = std::chrono::milliseconds(0);
  auto store = Store::open(db, options);
  Say("ready");
  if (wait_go) {
    std::string line;
    if (!std::getline(std::cin, line) || line != "go") {
      std::cerr << "worker: expected 'go'\n";
      return 2;
    }
  }
  for (long i = 0; i < n; ++i) {
    bool live = store->sessions().update(token, [&](statestore::Attributes& a) {
      auto it = a.find(name);
      a[name] = Value((it == a.end() ? 0 : it->second.as_int()) + 1);
    });
    if (!live) {
      Say("gone");
      return 1;
    }
  }
  Say("done");
  return 0;
}

int ConfigSet(const std::string& db, const std::vector<std::string>& args) {
  if (args.size() < 2) Usage();
  const std::string& prefix = args[0];
  const long n = std::stol(args[1]);
  const bool wait_go = args.size() > 2 && args[2] == "--wait-go";
  statestore::Options options;
  options.durability = statestore::Durability::kNormal;
  auto store = Store::open(db, options);
  Say("ready");
  if (wait_go) {
    std::string line;
    if (!std::getline(std::cin, line) || line != "go") {
      std::cerr << "worker: expected 'go'\n";
      return 2;
    }
  }
  for (long i = 0; i < n; ++i) {
    store->config().set(prefix + ".k" + std::to_string(i % 10), statestore::ConfigValue(i));
  }
  Say("done");
  return 0;
}

int ReadLoop(const std::string& db, const std::vector<std::string>& args) {
  if (args.size() < 2) Usage();
  const std::string& keyspace = args[0];
  const std::string& key = args[1];
  statestore::Options options;
  options.read_only = args.size() > 2 && args[2] == "--read-only";
  auto store = Store::open(db, options);
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> reads{0};
  std::atomic<std::int64_t> last{0};
  std::atomic<bool> last_none{true};
  std::thread reader([&] {
    try {
      while (!stop.load(std::memory_order_relaxed)) {
        std::optional<Value> v = store->get(keyspace, key);
        const bool is_int = v && v->type() == statestore::ValueType::kInt;
        last.store(is_int ? v->as_int() : -1, std::memory_order_relaxed);
        last_none.store(!v, std::memory_order_relaxed);
        // The count last: whoever sees it sees the value of that read (or a later one).
        if (reads.fetch_add(1, std::memory_order_release) % 256 == 0) {
          std::this_thread::sleep_for(std::chrono::microseconds(50));  // share the CPU
        }
      }
    } catch (const statestore::Error& e) {
      Say("error " + std::to_string(static_cast<int>(e.code())) + " " +
          std::string(statestore::ToString(e.code())) + ": " + e.what());
      std::_Exit(1);
    }
  });
  Say("ready");
  std::string line;
  int rc = 0;
  while (std::getline(std::cin, line)) {
    std::istringstream in(line);
    std::string cmd;
    in >> cmd;
    if (cmd == "check") {
      long long want = 0;
      in >> want;
      const std::uint64_t start = reads.load(std::memory_order_acquire);
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
      while (reads.load(std::memory_order_acquire) < start + 2 &&
             std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::microseconds(100));
      }
      if (reads.load(std::memory_order_acquire) < start + 2) {
        Say("stuck");
      } else if (!last_none.load(std::memory_order_relaxed) &&
                 last.load(std::memory_order_relaxed) == want) {
        Say("ok");
      } else {
        Say(last_none.load(std::memory_order_relaxed)
                ? std::string("stale none")
                : "stale " + std::to_string(last.load(std::memory_order_relaxed)));
      }
    } else if (cmd == "quit") {
      break;
    } else {
      std::cerr << "worker: unknown command: " << line << "\n";
      rc = 2;
      break;
    }
  }
  stop.store(true);
  reader.join();
  return rc;
}

int TtlServe(const std::string& db, const std::vector<std::string>& args) {
  if (args.empty() || args.size() > 2) Usage();
  auto now_us = std::make_shared<std::atomic<std::int64_t>>(std::stoll(args[0]));
  statestore::Options options;
  options.clock = [now_us] {
    return statestore::Clock::time_point(std::chrono::microseconds(now_us->load()));
  };
  options.expiry_sweep_interval =
      std::chrono::milliseconds(args.size() == 2 ? std::stoll(args[1]) : 0);
  auto store = Store::open(db, options);
  Say("ready");
  std::string line;
  while (std::getline(std::cin, line)) {
    std::istringstream in(line);
    std::string cmd, ks, key;
    in >> cmd;
    if (cmd == "clock") {
      std::int64_t us = 0;
      in >> us;
      now_us->store(us);
      Say("ok");
    } else if (cmd == "get") {
      in >> ks >> key;
      Say("value " + Render(store->get(ks, key)));
    } else if (cmd == "read") {
      in >> ks >> key;
      std::optional<statestore::Entry> e;
      store->read([&](Transaction& tx) { e = tx.get_entry(ks, key); });
      std::string expires = "none";
      if (e && e->expires_at) {
        expires = std::to_string(
            std::chrono::duration_cast<std::chrono::microseconds>(e->expires_at->time_since_epoch())
                .count());
      }
      Say("value " + Render(e ? std::optional<Value>(e->value) : std::nullopt) + " " + expires);
    } else if (cmd == "count") {
      in >> ks;
      Say("count " + std::to_string(store->list(ks).size()));
    } else if (cmd == "putttl") {
      long long ms = 0;
      in >> ks >> key >> ms;
      statestore::PutOptions o;
      o.ttl = std::chrono::milliseconds(ms);
      Say("rev " + std::to_string(store->put(ks, key, Value(1), o)));
    } else if (cmd == "pid") {
      Say("pid " + std::to_string(::getpid()));
    } else if (cmd == "quit") {
      return 0;
    } else {
      std::cerr << "worker: unknown command: " << line << "\n";
      return 2;
    }
  }
  return 0;
}

int PgPrivateCluster(const std::string& action) {
  if (action != "abort" && action != "hold") Usage();
  std::unique_ptr<statestore::test::PgCluster> cluster = statestore::test::PgCluster::Start();
  Say("cluster " + std::to_string(cluster->postmaster_pid()) + " " + cluster->socket_dir());
  if (action == "abort") std::abort();  // no destructor runs: the server stays up
  std::string line;
  while (std::getline(std::cin, line)) {
  }
  return 0;  // stdin closed before any kill: ~PgCluster stops the server
}

int Run(int argc, char** argv) {
  if (argc < 3) Usage();
  const std::string mode = argv[1];
  const std::string db = argv[2];
  std::vector<std::string> args(argv + 3, argv + argc);
  if (mode == "increment") return Increment(db, args);
  if (mode == "serve") return Serve(db);
  if (mode == "ttl-serve") return TtlServe(db, args);
  if (mode == "read-loop") return ReadLoop(db, args);
  if (mode == "write-forever") return WriteForever(db, args);
  if (mode == "fsize") return FileSizeLimit(db, args);
  if (mode == "failover-write") {
    std::vector<std::string> all{db};
    all.insert(all.end(), args.begin(), args.end());
    return statestore::test::FailoverWriterMain(all);
  }
  if (mode == "pg-private-cluster") {
    if (!args.empty()) Usage();
    return PgPrivateCluster(db);
  }
  if (mode == "config-set") return ConfigSet(db, args);
  if (mode == "session-update") return SessionUpdate(db, args);
  if (mode == "config-put") {
    if (args.size() != 3) Usage();
    auto store = Store::open(db);
    std::optional<statestore::ConfigValue> v;
    if (args[1] == "int") v = statestore::ConfigValue(std::stoll(args[2]));
    if (args[1] == "double") v = statestore::ConfigValue(std::stod(args[2]));
    if (args[1] == "string") v = statestore::ConfigValue(args[2]);
    if (!v) Usage();
    Say("rev " + std::to_string(store->config().set(args[0], *v)));
    return 0;
  }
  if (mode == "config-get") {
    if (args.size() != 1) Usage();
    auto store = Store::open(db);
    auto v = store->config().get_value(args[0]);
    Say(v ? "value " + std::string(statestore::ToString(v->type())) + " " + v->to_display()
          : std::string("value none"));
    return 0;
  }
  if (mode == "session-churn") return SessionChurn(db, args);
  if (mode == "session-limit") return SessionLimit(db, args);
  if (mode == "put") {
    if (args.size() != 3) Usage();
    auto store = Store::open(db);
    Say("rev " + std::to_string(store->put(args[0], args[1], Value(std::stoll(args[2])))));
    return 0;
  }
  if (mode == "erase") {
    if (args.size() != 2) Usage();
    auto store = Store::open(db);
    Say("rev " + std::to_string(store->erase(args[0], args[1])));
    return 0;
  }
  if (mode == "sweep-serve") {
    // sweep-serve DB INTERVAL_MS: a Store whose session reaper sweeps every INTERVAL_MS. Stdin:
    // "expire N" creates N sessions that are expired at once ("created"), "stats" answers
    // "sweeps <Stats::sweep_runs>", "quit".
    if (args.size() != 1) Usage();
    statestore::Options options;
    options.sessions.sweep_interval = std::chrono::milliseconds(std::stoll(args[0]));
    auto store = Store::open(db, options);
    Say("ready");
    std::string line;
    while (std::getline(std::cin, line)) {
      std::istringstream in(line);
      std::string cmd;
      in >> cmd;
      if (cmd == "expire") {
        int n = 0;
        in >> n;
        for (int i = 0; i < n; ++i) store->sessions().create(std::chrono::microseconds(1));
        Say("created");
      } else if (cmd == "stats") {
        Say("sweeps " + std::to_string(store->stats().sweep_runs));
      } else if (cmd == "quit") {
        return 0;
      }
    }
    return 0;
  }
  if (mode == "hold") {  // hold DB: holds the write lock inside a body until a line on stdin
    if (!args.empty()) Usage();
    auto store = Store::open(db);
    const statestore::Revision rev = store->transact([&](Transaction& tx) {
      tx.put("app", "held", Value(1));
      Say("holding");
      std::string line;
      std::getline(std::cin, line);
    });
    Say("rev " + std::to_string(rev));
    return 0;
  }
  if (mode == "compact") {  // compact DB KEEP_REVISIONS: history retention by another process
    if (args.size() != 1) Usage();
    statestore::Options options;
    options.history_retention.keep_revisions = std::stoull(args[0]);
    auto store = Store::open(db, options);
    Say("removed " + std::to_string(store->compact_history()));
    return 0;
  }
  if (mode == "get") {
    if (args.size() != 2) Usage();
    auto store = Store::open(db);
    Say("value " + Render(store->get(args[0], args[1])));
    return 0;
  }
  Usage();
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Run(argc, argv);
  } catch (const statestore::Error& e) {
    std::string msg = "error " + std::to_string(static_cast<int>(e.code())) + " " +
                      std::string(statestore::ToString(e.code())) + ": " + e.what();
    std::cout << msg << std::endl;
    std::cerr << "statestore_test_worker: " << msg << " (sqlite " << e.sqlite_code() << ")\n";
  } catch (const std::exception& e) {
    std::cout << "error exception " << e.what() << std::endl;
    std::cerr << "statestore_test_worker: exception: " << e.what() << "\n";
  } catch (...) {
    std::cout << "error unknown" << std::endl;
    std::cerr << "statestore_test_worker: unknown exception\n";
  }
  return 1;
}

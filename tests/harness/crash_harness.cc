// The crash harness: parent (RunCrashHarness) and child (CrashChildMain). See crash_harness.h
// for the protocol, the workload and the checks.
#include "crash_harness.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sqlite3.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <tuple>
#include <utility>

#include "statestore/statestore.h"

extern char** environ;

namespace statestore::crash {
namespace {

using SteadyClock = std::chrono::steady_clock;

constexpr const char* kKvKeyspace = "crashkv";
constexpr const char* kMetaKeyspace = "crashmeta";
constexpr const char* kCounterKey = "total";
constexpr int kSlots = 16;        // k/<t>/<seq % kSlots>/<j>
constexpr int kSharedKeys = 4;    // shared/<0..3>
constexpr int kSharedPerTxn = 2;  // shared keys written per transaction
constexpr std::size_t kValueBytes = 100;
constexpr std::size_t kMaxProblems = 20;

// ---------------------------------------------------------------------------------------------
// The workload, shared by child (writes it) and parent (recomputes it from a commit's label).

// Who wrote a transaction: run (kill number), writer thread, per-thread sequence number.
struct TxnId {
  int run = 0;
  int thread = 0;
  std::uint64_t seq = 0;
  auto operator<=>(const TxnId&) const = default;
};

std::string Label(const TxnId& id) {
  char buf[80];
  std::snprintf(buf, sizeof buf, "crash r%d t%d s%" PRIu64, id.run, id.thread, id.seq);
  return buf;
}

std::optional<TxnId> ParseLabel(const std::string& label) {
  TxnId id;
  int consumed = 0;
  if (std::sscanf(label.c_str(), "crash r%d t%d s%" SCNu64 "%n", &id.run, &id.thread, &id.seq,
                  &consumed) != 3 ||
      static_cast<std::size_t>(consumed) != label.size()) {
    return std::nullopt;
  }
  return id;
}

std::string KvKey(const TxnId& id, int j) {
  return "k/" + std::to_string(id.thread) + "/" + std::to_string(id.seq % kSlots) + "/" +
         std::to_string(j);
}

std::string KvValue(const TxnId& id, int j) {
  std::string v = "r" + std::to_string(id.run) + " t" + std::to_string(id.thread) + " s" +
                  std::to_string(id.seq) + " j" + std::to_string(j) + " ";
  std::size_t i = 0;
  while (v.size() < kValueBytes) {
    v.push_back(
        static_cast<char>('a' + (id.seq * 31 + static_cast<std::uint64_t>(j) * 7 + i++) % 26));
  }
  return v;
}

std::string SharedKey(const TxnId& id, int i) {
  return "shared/" + std::to_string((id.seq + static_cast<std::uint64_t>(i)) % kSharedKeys);
}

std::string SharedValue(const TxnId& id) {
  return "r" + std::to_string(id.run) + "t" + std::to_string(id.thread) + "s" +
         std::to_string(id.seq);
}

// One write of a transaction as the parent expects to find it in history. The counter's value is
// not known in advance (it depends on the commit order): `counter` marks it.
struct ExpectedWrite {
  std::string keyspace;
  std::string key;
  Value value;
  bool counter = false;
};

std::vector<ExpectedWrite> ExpectedWrites(const TxnId& id, int keys_per_txn) {
  std::vector<ExpectedWrite> w;
  w.push_back({kMetaKeyspace, kCounterKey, Value(), true});
  for (int j = 0; j < keys_per_txn; ++j) w.push_back({kKvKeyspace, KvKey(id, j), KvValue(id, j)});
  for (int i = 0; i < kSharedPerTxn; ++i) {
    w.push_back({kMetaKeyspace, SharedKey(id, i), Value(SharedValue(id))});
  }
  return w;
}

// The transaction body the child runs (pure: it may be re-run).
void WriteTxn(Transaction& tx, const TxnId& id, int keys_per_txn) {
  std::optional<Value> total = tx.get(kMetaKeyspace, kCounterKey);
  tx.put(kMetaKeyspace, kCounterKey, Value((total ? total->as_int() : 0) + 1));
  for (int j = 0; j < keys_per_txn; ++j) tx.put(kKvKeyspace, KvKey(id, j), KvValue(id, j));
  for (int i = 0; i < kSharedPerTxn; ++i) {
    tx.put(kMetaKeyspace, SharedKey(id, i), Value(SharedValue(id)));
  }
}

// ---------------------------------------------------------------------------------------------
// Child side.

std::mutex g_out_mu;

void WriteLine(const std::string& line) {
  std::lock_guard<std::mutex> lock(g_out_mu);
  std::string data = line + "\n";
  const char* p = data.data();
  std::size_t left = data.size();
  while (left > 0) {
    ssize_t n = ::write(STDOUT_FILENO, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      ::_exit(3);  // the parent is gone
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
}

// ---------------------------------------------------------------------------------------------
// Parent side: the child process.

class Child {
 public:
  explicit Child(const std::vector<std::string>& argv) {
    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0)
      throw std::system_error(errno, std::generic_category(), "pipe2");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
    std::vector<char*> cargv;
    for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
    cargv.push_back(nullptr);
    const int rc =
        ::posix_spawn(&pid_, argv.at(0).c_str(), &actions, nullptr, cargv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(out[1]);
    if (rc != 0) {
      ::close(out[0]);
      throw std::system_error(rc, std::generic_category(), "posix_spawn " + argv.at(0));
    }
    fd_ = out[0];
  }
  ~Child() {
    if (fd_ >= 0) ::close(fd_);
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  // Reads what arrives within `timeout` and appends complete lines to `lines`. Returns false at
  // end of file (the child closed stdout: it exited or was killed).
  bool Read(std::chrono::milliseconds timeout, std::vector<std::string>& lines) {
    if (fd_ < 0) return false;
    struct pollfd pfd {
      fd_, POLLIN, 0
    };
    const int r = ::poll(&pfd, 1, static_cast<int>(std::max<std::int64_t>(timeout.count(), 0)));
    if (r <= 0) return true;
    char chunk[16384];
    const ssize_t n = ::read(fd_, chunk, sizeof chunk);
    if (n < 0) return errno == EINTR || errno == EAGAIN;
    if (n == 0) {
      ::close(fd_);
      fd_ = -1;
      return false;  // an unterminated last line (cut by the kill) is dropped
    }
    buffer_.append(chunk, static_cast<std::size_t>(n));
    std::size_t pos = 0;
    for (std::size_t nl; (nl = buffer_.find('\n', pos)) != std::string::npos; pos = nl + 1) {
      lines.push_back(buffer_.substr(pos, nl - pos));
    }
    buffer_.erase(0, pos);
    return true;
  }

  void Kill() {
    if (pid_ > 0) ::kill(pid_, SIGKILL);
  }

  // Waits for the child; returns the raw wait status.
  int Wait() {
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    return status;
  }

 private:
  pid_t pid_ = -1;
  int fd_ = -1;
  std::string buffer_;
};

// ---------------------------------------------------------------------------------------------
// Parent side: the checks.

using StateKey = std::pair<std::string, std::string>;  // (keyspace, key)
struct StateValue {
  Value value;
  std::uint64_t version = 0;
};

struct Ack {
  Revision revision = 0;
  TxnId id;
};

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t i =
      std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5));
  return v[i];
}

std::string Show(const std::optional<Value>& v) { return v ? v->to_display(40) : "(absent)"; }

class Checker {
 public:
  Checker(const CrashOptions& o, CrashReport& r) : o_(o), r_(r) {}

  void Problem(std::uint64_t& counter, const std::string& what) {
    ++counter;
    if (r_.problems.size() < kMaxProblems) r_.problems.push_back(what);
    if (o_.log) o_.log("PROBLEM: " + what);
  }

  // Reopens the database after kill number `kill` and checks everything; `acks` are the
  // acknowledgements of that child.
  void Check(int kill, const std::vector<Ack>& acks, bool full_replay) {
    const std::string where = "kill " + std::to_string(kill) + ": ";
    Options options;
    options.durability = o_.durability;
    const auto t0 = SteadyClock::now();
    std::shared_ptr<Store> store = Store::open(o_.db_path, options);
    const HistoryBounds bounds = store->history_bounds();
    r_.reopen_ms.push_back(
        std::chrono::duration<double, std::milli>(SteadyClock::now() - t0).count());

    CheckIntegrity(where);

    if (bounds.first != 1 || bounds.compacted_through != 0) {
      Problem(r_.replay_mismatches, where + "history does not start at revision 1");
    }
    if (bounds.head < head_) {
      Problem(r_.lost, where + "head revision went back from " + std::to_string(head_) + " to " +
                           std::to_string(bounds.head));
    }
    if (full_replay) {
      replay_.clear();
      seen_.clear();
      by_revision_.clear();
      head_ = 0;
    }
    if (bounds.head > head_) {
      HistoryQuery q;
      q.from_revision = head_ + 1;
      q.to_revision = bounds.head;
      for (const Commit& c : store->history(q)) Apply(where, c);
      if (head_ != bounds.head) {
        Problem(r_.replay_mismatches, where + "history ends at r" + std::to_string(head_) +
                                          ", head is r" + std::to_string(bounds.head));
      }
    }

    // Current state, every keyspace.
    std::map<StateKey, StateValue> state;
    for (const std::string& ks : store->keyspaces()) {
      for (Entry& e : store->list(ks)) {
        state.emplace(StateKey(ks, e.key), StateValue{std::move(e.value), e.version});
      }
    }

    // a. Every acknowledged revision is there, complete, and the state holds it or later.
    std::set<Revision> acked_revisions;
    for (const Ack& ack : acks) {
      ++r_.acks;
      acked_revisions.insert(ack.revision);
      const std::string what =
          where + "acknowledged r" + std::to_string(ack.revision) + " (" + Label(ack.id) + ")";
      if (ack.revision == 0 || ack.revision > head_ || by_revision_.size() < ack.revision ||
          by_revision_[ack.revision - 1] != ack.id) {
        Problem(r_.lost,
                what + " is not in history" +
                    (ack.revision <= by_revision_.size() && ack.revision > 0
                         ? " (that revision is " + Label(by_revision_[ack.revision - 1]) + ")"
                         : ""));
        continue;
      }
      for (const ExpectedWrite& w : ExpectedWrites(ack.id, o_.keys_per_txn)) {
        auto it = state.find(StateKey(w.keyspace, w.key));
        if (it == state.end() || it->second.version < ack.revision) {
          Problem(r_.lost,
                  what + ": state of " + w.keyspace + "/" + w.key + " is at version " +
                      (it == state.end() ? "(absent)" : std::to_string(it->second.version)));
        } else if (it->second.version == ack.revision && !w.counter &&
                   it->second.value != w.value) {
          Problem(r_.lost, what + ": " + w.keyspace + "/" + w.key + " = " + Show(it->second.value) +
                               ", wrote " + Show(w.value));
        }
      }
    }
    // Commits of this run in history that were not acknowledged: in flight at the kill.
    for (Revision rev = run_first_revision_; rev <= head_; ++rev) {
      if (by_revision_[rev - 1].run == kill && !acked_revisions.count(rev)) {
        ++r_.unacked_committed;
      }
    }
    run_first_revision_ = head_ + 1;

    // c. Replay == state.
    if (state.size() != replay_.size()) {
      Problem(r_.replay_mismatches, where + "state has " + std::to_string(state.size()) +
                                        " keys, history replay " + std::to_string(replay_.size()));
    }
    std::uint64_t mismatched = 0;
    std::string first;
    for (const auto& [k, v] : replay_) {
      auto it = state.find(k);
      if (it == state.end() || it->second.value != v.value || it->second.version != v.version) {
        if (mismatched++ == 0) {
          first = k.first + "/" + k.second + ": replay " + Show(v.value) + " @" +
                  std::to_string(v.version) + ", state " +
                  (it == state.end()
                       ? std::string("(absent)")
                       : Show(it->second.value) + " @" + std::to_string(it->second.version));
        }
      }
    }
    if (mismatched > 0) {
      Problem(r_.replay_mismatches, where + std::to_string(mismatched) +
                                        " keys differ between history replay and state, e.g. " +
                                        first);
    }
    // The counter every transaction bumped counts the transactions in history.
    auto counter = state.find(StateKey(kMetaKeyspace, kCounterKey));
    const std::int64_t total =
        (counter == state.end() || counter->second.value.type() != ValueType::kInt)
            ? 0
            : counter->second.value.as_int();
    if (static_cast<std::uint64_t>(total) != seen_.size()) {
      Problem(r_.partial, where + "counter is " + std::to_string(total) + " but history holds " +
                              std::to_string(seen_.size()) + " transactions");
    }
    r_.head_revision = head_;

    // Baseline: the same open after a clean close.
    store.reset();
    const auto c0 = SteadyClock::now();
    store = Store::open(o_.db_path, options);
    store->history_bounds();
    clean_open_ms_.push_back(
        std::chrono::duration<double, std::milli>(SteadyClock::now() - c0).count());
    r_.clean_open_p50_ms = Percentile(clean_open_ms_, 0.5);
  }

 private:
  // Checks one commit against its label and replays it.
  void Apply(const std::string& where, const Commit& c) {
    const std::string what = where + "r" + std::to_string(c.revision) + " (" + c.origin.label + ")";
    if (c.revision != head_ + 1) {
      Problem(r_.replay_mismatches, what + " follows r" + std::to_string(head_));
    }
    head_ = c.revision;
    std::optional<TxnId> id = ParseLabel(c.origin.label);
    by_revision_.resize(c.revision, TxnId{-1, -1, 0});
    if (!id) {
      Problem(r_.partial, what + ": not a harness transaction");
    } else {
      by_revision_[c.revision - 1] = *id;
      if (!seen_.insert(*id).second) Problem(r_.partial, what + ": committed twice");
      const std::vector<ExpectedWrite> expected = ExpectedWrites(*id, o_.keys_per_txn);
      bool complete = c.changes.size() == expected.size();
      for (std::size_t i = 0; complete && i < expected.size(); ++i) {
        const Change& ch = c.changes[i];
        const ExpectedWrite& w = expected[i];
        if (ch.keyspace != w.keyspace || ch.key != w.key || !ch.new_value) {
          complete = false;
        } else if (w.counter) {
          const std::int64_t before = ch.old_value ? ch.old_value->as_int() : 0;
          complete =
              ch.new_value->type() == ValueType::kInt && ch.new_value->as_int() == before + 1;
        } else {
          complete = *ch.new_value == w.value;
        }
      }
      if (!complete) {
        Problem(r_.partial, what + ": " + std::to_string(c.changes.size()) + " changes, expected " +
                                std::to_string(expected.size()) + " (partial or foreign writes)");
      }
    }
    for (const Change& ch : c.changes) {
      StateKey k(ch.keyspace, ch.key);
      auto it = replay_.find(k);
      const std::optional<Value> before =
          it == replay_.end() ? std::nullopt : std::optional<Value>(it->second.value);
      if (before != ch.old_value) {
        Problem(r_.replay_mismatches, what + ": old value of " + ch.keyspace + "/" + ch.key +
                                          " is " + Show(ch.old_value) + ", replay has " +
                                          Show(before));
      }
      if (ch.new_value) {
        replay_[k] = StateValue{*ch.new_value, c.revision};
      } else if (it != replay_.end()) {
        replay_.erase(it);
      }
    }
  }

  void CheckIntegrity(const std::string& where) {
    sqlite3* db = nullptr;
    int rc = sqlite3_open_v2(o_.db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
    std::string result;
    if (rc == SQLITE_OK) {
      auto collect = [](void* out, int n, char** values, char**) {
        auto* s = static_cast<std::string*>(out);
        for (int i = 0; i < n; ++i) {
          if (!s->empty()) s->append("; ");
          s->append(values[i] ? values[i] : "NULL");
        }
        return 0;
      };
      char* err = nullptr;
      rc = sqlite3_exec(db, "PRAGMA integrity_check", collect, &result, &err);
      if (rc != SQLITE_OK) result = std::string("error: ") + (err ? err : sqlite3_errstr(rc));
      sqlite3_free(err);
    } else {
      result = std::string("open failed: ") + sqlite3_errstr(rc);
    }
    sqlite3_close_v2(db);
    if (result != "ok") Problem(r_.integrity_failures, where + "integrity_check: " + result);
  }

  const CrashOptions& o_;
  CrashReport& r_;
  std::map<StateKey, StateValue> replay_;
  std::set<TxnId> seen_;
  std::vector<TxnId> by_revision_;  // [revision - 1]
  Revision head_ = 0;
  Revision run_first_revision_ = 1;
  std::vector<double> clean_open_ms_;
};

std::string ModeName(Durability d) { return d == Durability::kFull ? "full" : "normal"; }

}  // namespace

std::string CrashReport::Summary() const {
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "kills %d, acks %" PRIu64 ", unacked-but-committed %" PRIu64 ", lost %" PRIu64
                ", partial %" PRIu64 ", replay mismatches %" PRIu64 ", integrity failures %" PRIu64
                ", child failures %" PRIu64 ", head r%" PRIu64 ", max group %" PRIu64
                ", reopen p50 %.2f ms p99 %.2f ms max %.2f ms (clean open p50 %.2f ms), %.1f s"
                " (seed %" PRIu64 ")",
                kills, acks, unacked_committed, lost, partial, replay_mismatches,
                integrity_failures, child_failures, head_revision, max_group_size, reopen_p50_ms,
                reopen_p99_ms, reopen_max_ms, clean_open_p50_ms, seconds, seed);
  return buf;
}

CrashReport RunCrashHarness(const CrashOptions& o) {
  if (o.child_argv.empty()) throw std::invalid_argument("crash harness: child_argv is empty");
  if (o.kills <= 0 || o.threads <= 0 || o.keys_per_txn <= 0 || o.max_run < o.min_run) {
    throw std::invalid_argument("crash harness: bad options");
  }
  const auto start = SteadyClock::now();
  CrashReport report;
  report.seed =
      o.seed != 0 ? o.seed : (std::uint64_t{std::random_device{}()} << 32) ^ std::random_device{}();
  std::mt19937_64 rng(report.seed);
  // Create the database (schema) before the first child, so that every kill is a crash of a
  // writer on an existing store.
  {
    Options options;
    options.durability = o.durability;
    Store::open(o.db_path, options);
  }
  Checker checker(o, report);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  for (int kill = 1; kill <= o.kills; ++kill) {
    const bool early = unit(rng) < o.early_kill_fraction;
    const auto run_for =
        early ? std::chrono::microseconds(rng() % 3000)
              : std::chrono::microseconds(
                    std::chrono::duration_cast<std::chrono::microseconds>(o.min_run).count() +
                    static_cast<std::int64_t>(
                        rng() % static_cast<std::uint64_t>(
                                    std::chrono::duration_cast<std::chrono::microseconds>(
                                        o.max_run - o.min_run)
                                        .count() +
                                    1)));
    std::vector<std::string> argv = o.child_argv;
    for (std::string a : {o.db_path, std::to_string(kill), ModeName(o.durability),
                          std::to_string(o.threads), std::to_string(o.keys_per_txn)}) {
      argv.push_back(std::move(a));
    }

    std::vector<Ack> acks;
    bool ready = false;
    bool child_error = false;
    std::vector<std::string> lines;
    auto take = [&] {
      for (const std::string& line : lines) {
        if (line == "ready") {
          ready = true;
          continue;
        }
        Ack ack;
        std::uint64_t group = 0;
        int consumed = 0;
        if (std::sscanf(line.c_str(), "ack %" SCNu64 " %d %" SCNu64 " %" SCNu64 "%n", &ack.revision,
                        &ack.id.thread, &ack.id.seq, &group, &consumed) == 4 &&
            static_cast<std::size_t>(consumed) == line.size()) {
          report.max_group_size = std::max(report.max_group_size, group);
          ack.id.run = kill;
          acks.push_back(ack);
        } else {
          child_error = true;
          checker.Problem(report.child_failures,
                          "kill " + std::to_string(kill) + ": child said: " + line);
        }
      }
      lines.clear();
    };

    int status = 0;
    {
      Child child(argv);
      bool open = true;
      if (early) {
        const auto deadline = SteadyClock::now() + run_for;
        while (open && SteadyClock::now() < deadline) {
          open = child.Read(std::chrono::milliseconds(1), lines);
        }
      } else {
        const auto ready_deadline = SteadyClock::now() + o.child_timeout;
        while (open && !ready && SteadyClock::now() < ready_deadline) {
          open = child.Read(std::chrono::milliseconds(50), lines);
          take();
        }
        if (!ready) {
          child.Kill();
          child.Wait();
          throw std::runtime_error("crash harness: the child did not get ready (run " +
                                   std::to_string(kill) + ")");
        }
        const auto deadline = SteadyClock::now() + run_for;
        while (open) {
          const auto left =
              std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
          if (left.count() <= 0) break;
          open = child.Read(left, lines);
        }
      }
      child.Kill();
      // Acks written before the kill are still in the pipe.
      const auto drain_deadline = SteadyClock::now() + o.child_timeout;
      while (open && SteadyClock::now() < drain_deadline) {
        open = child.Read(std::chrono::milliseconds(100), lines);
      }
      status = child.Wait();
    }
    take();
    if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) && !child_error) {
      checker.Problem(report.child_failures, "kill " + std::to_string(kill) +
                                                 ": the child ended by itself (status " +
                                                 std::to_string(status) + ")");
    }
    ++report.kills;
    const bool full_replay =
        o.full_replay_every > 0 && (kill % o.full_replay_every == 0 || kill == o.kills);
    checker.Check(kill, acks, full_replay);
    if (o.log) {
      char buf[160];
      std::snprintf(buf, sizeof buf,
                    "kill %d/%d (%s after %.1f ms): %zu acks, head r%" PRIu64 ", reopen %.2f ms",
                    kill, o.kills, early ? "early" : "writing",
                    static_cast<double>(run_for.count()) / 1000.0, acks.size(),
                    report.head_revision, report.reopen_ms.back());
      o.log(buf);
    }
  }
  report.reopen_p50_ms = Percentile(report.reopen_ms, 0.50);
  report.reopen_p99_ms = Percentile(report.reopen_ms, 0.99);
  report.reopen_max_ms = Percentile(report.reopen_ms, 1.0);
  report.seconds = std::chrono::duration<double>(SteadyClock::now() - start).count();
  return report;
}

CrashReport CheckCrashDatabase(const CrashOptions& o, const std::vector<AckedTxn>& acks) {
  CrashReport report;
  Checker checker(o, report);
  std::vector<Ack> converted;
  int run = 0;
  for (const AckedTxn& a : acks) {
    converted.push_back(Ack{a.revision, TxnId{a.run, a.thread, a.seq}});
    run = a.run;
  }
  checker.Check(run, converted, /*full_replay=*/true);
  report.reopen_p50_ms = Percentile(report.reopen_ms, 0.50);
  report.reopen_p99_ms = Percentile(report.reopen_ms, 0.99);
  report.reopen_max_ms = Percentile(report.reopen_ms, 1.0);
  return report;
}

int CrashChildMain(const std::vector<std::string>& args) {
  if (args.size() != 5 || (args[2] != "full" && args[2] != "normal")) {
    std::fprintf(stderr,
                 "usage: crash child DB RUN full|normal THREADS KEYS_PER_TXN (got %zu args)\n",
                 args.size());
    return 2;
  }
  try {
    const std::string& db = args[0];
    const int run = std::stoi(args[1]);
    const int threads = std::stoi(args[3]);
    const int keys = std::stoi(args[4]);
    Options options;
    options.durability = args[2] == "full" ? Durability::kFull : Durability::kNormal;
    std::shared_ptr<Store> store = Store::open(db, options);
    WriteLine("ready");
    std::vector<std::thread> writers;
    for (int t = 0; t < threads; ++t) {
      writers.emplace_back([&store, run, t, keys] {
        try {
          for (std::uint64_t seq = 0;; ++seq) {
            const TxnId id{run, t, seq};
            TransactOptions to;
            to.label = Label(id);
            const Revision rev =
                store->transact([&](Transaction& tx) { WriteTxn(tx, id, keys); }, to);
            // Only now, after transact() returned, is the commit acknowledged.
            WriteLine("ack " + std::to_string(rev) + " " + std::to_string(t) + " " +
                      std::to_string(seq) + " " + std::to_string(store->stats().max_group_size));
          }
        } catch (const std::exception& e) {
          WriteLine(std::string("error ") + e.what());
          std::fprintf(stderr, "crash child: %s\n", e.what());
          ::_exit(1);
        }
      });
    }
    for (std::thread& w : writers) w.join();  // never: the parent kills us
    return 0;
  } catch (const std::exception& e) {
    WriteLine(std::string("error ") + e.what());
    std::fprintf(stderr, "crash child: %s\n", e.what());
    return 1;
  }
}

}  // namespace statestore::crash

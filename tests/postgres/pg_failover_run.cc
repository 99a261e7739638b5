#include "postgres/pg_failover_run.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "statestore/statestore.h"
#include "test_util.h"

namespace statestore::test {

namespace {

using std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;

const milliseconds kChildTimeout(180'000 * kSlowFactor);

double MsBetween(SteadyClock::time_point a, SteadyClock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

// One worker process and the lines it printed, read by a thread of its own so that the worker
// never blocks on a full pipe.
class Worker {
 public:
  Worker(const FailoverRunOptions& o, const std::string& uri, const std::string& tag)
      : child_(ChildProcess::Spawn(WriterArgv(o, uri, tag))) {}
  ~Worker() {
    if (reader_.joinable()) reader_.join();
  }

  // Waits for "ready", then starts reading.
  bool Start() {
    if (!child_.WaitForLine("ready", kChildTimeout)) return false;
    reader_ = std::thread([this] {
      while (auto line = child_.ReadLine(kChildTimeout)) {
        std::lock_guard<std::mutex> lock(mu_);
        if (line->rfind("ack ", 0) == 0) ++acks_;
        if (*line == "done") done_ = true;
        lines_.push_back(std::move(*line));
        if (done_) break;
      }
    });
    return true;
  }
  int acks() const {
    std::lock_guard<std::mutex> lock(mu_);
    return acks_;
  }
  // Asks the worker to stop, waits for its "done" and exit.
  bool Stop() {
    child_.Write("stop\n");
    reader_.join();
    const bool done = [&] {
      std::lock_guard<std::mutex> lock(mu_);
      return done_;
    }();
    return done && child_.Wait(kChildTimeout) == 0;
  }
  std::vector<std::string> lines() const {
    std::lock_guard<std::mutex> lock(mu_);
    return lines_;
  }

 private:
  static std::vector<std::string> WriterArgv(const FailoverRunOptions& o, const std::string& uri,
                                             const std::string& tag) {
    std::vector<std::string> argv = o.writer_command;
    argv.insert(argv.end(), {uri, tag, std::to_string(o.threads_per_writer), "5000",
                             o.durability == Durability::kNormal ? "--normal" : "--full"});
    return argv;
  }

  ChildProcess child_;
  std::thread reader_;
  mutable std::mutex mu_;
  std::vector<std::string> lines_;
  int acks_ = 0;
  bool done_ = false;
};

}  // namespace

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5)];
}

FailoverOutcome RunFailovers(const FailoverRunOptions& o) {
  FailoverOutcome out;
  auto log = [&](const std::string& line) {
    if (o.log) o.log(line);
  };
  std::unique_ptr<PgFailoverPair> pair = PgFailoverPair::Start(o.pair);
  const std::string uri = pair->uri();
  Options options;
  options.busy_timeout = milliseconds(5000);
  options.durability = o.durability;
  auto store = Store::open(uri, options);  // creates the schema before the writers start

  std::vector<std::unique_ptr<Worker>> workers;
  for (int w = 0; w < o.writer_processes; ++w) {
    workers.push_back(std::make_unique<Worker>(o, uri, "w" + std::to_string(w)));
    if (!workers.back()->Start()) {
      out.run_errors.push_back("writer process " + std::to_string(w) + " did not start");
      workers.pop_back();
    }
  }

  // This process: config writer, config watch, cached reader.
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::vector<std::pair<std::int64_t, SteadyClock::time_point>> config_acks;  // value, when
  std::vector<std::pair<Revision, std::int64_t>> watched;                     // revision, value
  Watch watch = store->config().watch("fo.", [&](const WatchEvent& e) {
    std::lock_guard<std::mutex> lock(mu);
    if (e.kind == WatchEvent::Kind::kCompacted) {
      out.watch_compacted = true;
      return;
    }
    for (const ConfigChange& c : e.changes) {
      if (c.key == "fo.k" && c.new_value) {
        watched.emplace_back(e.revision, c.new_value->as<std::int64_t>());
      }
    }
  });
  std::thread config_writer([&] {
    for (std::int64_t i = 1; !stop.load(); ++i) {
      try {
        store->config().set("fo.k", ConfigValue(i));
        std::lock_guard<std::mutex> lock(mu);
        config_acks.emplace_back(i, SteadyClock::now());
      } catch (const Error&) {
      }
      std::this_thread::sleep_for(milliseconds(5));
    }
  });
  std::atomic<std::size_t> went_back{0};
  std::thread reader([&] {
    std::int64_t last = 0;
    while (!stop.load()) {
      try {
        auto v = store->get("fo", "counter");
        const std::int64_t now = v ? v->as_int() : 0;
        if (now < last) ++went_back;
        last = std::max(last, now);
      } catch (const Error&) {
      }
      std::this_thread::sleep_for(milliseconds(1));
    }
  });

  auto wait_for_progress = [&](int more) {
    const auto deadline = SteadyClock::now() + std::chrono::seconds(60 * kSlowFactor);
    for (auto& w : workers) {
      const int target = w->acks() + more;
      while (w->acks() < target && SteadyClock::now() < deadline) {
        std::this_thread::sleep_for(milliseconds(5));
      }
      if (w->acks() < target) return false;
    }
    return true;
  };
  std::mt19937 random(std::random_device{}());
  bool progressed = !workers.empty() && wait_for_progress(20);
  if (!progressed) out.run_errors.push_back("no progress before the first failover");
  for (int k = 0; k < o.kills && progressed; ++k) {
    std::this_thread::sleep_for(milliseconds(random() % 300));  // a random point of the load
    pair->FailOver();
    const auto killed_at = pair->last_kill();
    out.promote_ms.push_back(static_cast<double>(pair->last_promote_time().count()));
    pair->RebuildStandby();
    out.rebuild_ms.push_back(static_cast<double>(pair->last_rebuild_time().count()));
    progressed = wait_for_progress(20);
    if (!progressed) {
      out.run_errors.push_back("no progress after failover " + std::to_string(k));
    }
    std::lock_guard<std::mutex> lock(mu);
    std::string first = "none";
    for (const auto& [value, when] : config_acks) {
      if (when > killed_at) {
        out.first_commit_ms.push_back(MsBetween(killed_at, when));
        first = std::to_string(static_cast<long>(out.first_commit_ms.back())) + " ms";
        break;
      }
    }
    log("failover " + std::to_string(k) + ": promoted " +
        std::to_string(pair->last_promote_time().count()) +
        " ms after the kill, standby rebuilt in " +
        std::to_string(pair->last_rebuild_time().count()) + " ms, first commit after " + first);
  }
  stop = true;
  config_writer.join();
  reader.join();
  for (std::size_t w = 0; w < workers.size(); ++w) {
    if (!workers[w]->Stop()) {
      out.run_errors.push_back("writer process " + std::to_string(w) + " did not stop cleanly");
    }
  }
  out.reader_went_back = went_back.load();

  // The state, from the last primary.
  std::map<std::string, std::int64_t> state;
  for (const Entry& e : store->list("fo")) state[e.key] = e.value.as_int();
  out.counter = state.count("counter") ? state["counter"] : 0;
  out.pairs_present = (state.size() - state.count("counter")) / 2;
  for (std::size_t w = 0; w < workers.size(); ++w) {
    for (const std::string& line : workers[w]->lines()) {
      std::istringstream in(line);
      std::string what, code;
      int t = 0;
      std::int64_t n = 0;
      in >> what >> t >> n >> code;
      if (what != "ack" && what != "fail") continue;
      const std::string key =
          "w" + std::to_string(w) + "-" + std::to_string(t) + "-" + std::to_string(n) + "-";
      const auto a = state.find(key + "a"), b = state.find(key + "b");
      const bool has_a = a != state.end() && a->second == n;
      const bool has_b = b != state.end() && b->second == n;
      if (has_a != has_b) ++out.partial;
      if (what == "ack") {
        ++out.acked;
        if (!has_a || !has_b) ++out.lost;
      } else {
        ++out.failures[code];
        if (code == "commit_unknown") {
          ++(has_a ? out.unknown_present : out.unknown_absent);
        } else if (has_a || has_b) {
          ++out.failed_but_present;
        }
      }
    }
  }

  // History: gapless, and replaying it from the first revision gives the state of "fo".
  const HistoryBounds bounds = store->history_bounds();
  std::map<std::string, std::int64_t> replayed;
  bool complete = bounds.first == 1;
  for (Revision rev = bounds.first; rev <= bounds.head; ++rev) {
    std::optional<Commit> c = store->commit_at(rev);
    if (!c) {
      ++out.revision_gaps;
      complete = false;
      continue;
    }
    for (const Change& ch : c->changes) {
      if (ch.keyspace != "fo") continue;
      if (ch.new_value) {
        replayed[ch.key] = ch.new_value->as_int();
      } else {
        replayed.erase(ch.key);
      }
    }
  }
  out.history_replays_to_state = complete && replayed == state;

  // Config: every acknowledged value watched exactly once, in revision order.
  std::lock_guard<std::mutex> lock(mu);
  std::map<std::int64_t, int> seen;
  for (std::size_t i = 0; i < watched.size(); ++i) {
    ++seen[watched[i].second];
    if (i > 0 && watched[i].first <= watched[i - 1].first) out.watch_in_order = false;
  }
  out.config_acked = config_acks.size();
  for (const auto& [value, when] : config_acks) out.watch_missed += seen.count(value) == 0;
  for (const auto& [value, count] : seen) out.watch_repeated += count > 1 ? count - 1 : 0;

  return out;
}

std::string FailoverOutcome::Summary() const {
  std::ostringstream s;
  s << first_commit_ms.size() << " failovers; writer transactions acknowledged " << acked
    << ", lost " << lost << ", partial " << partial << ", failed but present " << failed_but_present
    << "; failures:";
  for (const auto& [code, count] : failures) s << " " << code << "=" << count;
  if (failures.empty()) s << " none";
  s << " (commit_unknown resolved: present " << unknown_present << ", absent " << unknown_absent
    << "); counter " << counter << " vs " << pairs_present << " commits present; revision gaps "
    << revision_gaps << "; history replays "
    << (history_replays_to_state ? "to the state" : "NOT to the state") << "; config acknowledged "
    << config_acked << ", missed by the watch " << watch_missed << ", repeated " << watch_repeated
    << (watch_in_order ? "" : ", OUT OF ORDER") << (watch_compacted ? ", compacted" : "")
    << "; cached reader went back " << reader_went_back
    << " times; primary killed -> first commit p50 " << Percentile(first_commit_ms, 0.5)
    << " ms, p99 " << Percentile(first_commit_ms, 0.99) << " ms (promoted p50 "
    << Percentile(promote_ms, 0.5) << " ms, standby rebuilt p50 " << Percentile(rebuild_ms, 0.5)
    << " ms)";
  for (const std::string& e : run_errors) s << "; RUN ERROR: " << e;
  return s.str();
}

int FailoverWriterMain(const std::vector<std::string>& args) {
  if (args.size() != 5 || (args[4] != "--full" && args[4] != "--normal")) {
    std::cerr << "failover writer: expected URI TAG THREADS BUSY_TIMEOUT_MS --full|--normal\n";
    return 2;
  }
  const std::string tag = args[1];
  const int threads = std::stoi(args[2]);
  Options options;
  options.busy_timeout = milliseconds(std::stoi(args[3]));
  if (args[4] == "--normal") options.durability = Durability::kNormal;
  auto store = Store::open(args[0], options);
  std::mutex say_mu;  // one whole line at a time; endl flushes (the parent reads line by line)
  auto say = [&](const std::string& line) {
    std::lock_guard<std::mutex> lock(say_mu);
    std::cout << line << std::endl;
  };
  say("ready");
  std::atomic<bool> stop{false};
  std::vector<std::thread> writers;
  for (int t = 0; t < threads; ++t) {
    writers.emplace_back([&, t] {
      for (std::int64_t n = 0; !stop.load(); ++n) {
        const std::string key = tag + "-" + std::to_string(t) + "-" + std::to_string(n) + "-";
        const std::string id = std::to_string(t) + " " + std::to_string(n);
        try {
          store->transact([&](Transaction& tx) {
            auto c = tx.get("fo", "counter");
            tx.put("fo", "counter", (c ? c->as_int() : 0) + 1);
            tx.put("fo", key + "a", n);
            tx.put("fo", key + "b", n);
          });
          say("ack " + id);
        } catch (const Error& e) {
          say("fail " + id + " " + std::string(ToString(e.code())));
          std::this_thread::sleep_for(milliseconds(10));
        }
      }
    });
  }
  std::string line;
  while (std::getline(std::cin, line) && line != "stop") {
  }
  stop = true;
  for (auto& w : writers) w.join();
  say("done");
  return 0;
}

}  // namespace statestore::test

// statestore_web_bench [--rounds N] [--duration S] [--connections N] [--service PATH]
//
// Load test of examples/web_service with wrk, against an in-memory baseline that serves the same
// endpoints from a std::unordered_map behind a std::shared_mutex in this process — what a web
// developer writes before they need sessions to survive a restart. Scenarios (wrk, N connections):
//
//   whoami       GET /whoami with one session (read-only)
//   me-1         GET /me with one session (every request increments the same counter)
//   me-1000      GET /me spread over 1,000 sessions
//   mix          me-1000 with 10% POST /login
//   two-procs    me-1000 against two service processes on one file (N/2 connections each),
//                compared with me-1000 against one process (statestore only)
//
// Each configuration runs --rounds times, interleaved (baseline, statestore, baseline, ...), and
// the table shows medians with the range. For every /me run it checks the sum of the sessions'
// "hits" against the successful /me responses: it must grow by at least that many (fewer is a
// lost update) and by at most that many plus one per connection (wrk stops at its deadline with
// up to one request per connection sent but its answer not read; the server still counted it).
// It reports bytes written to disk per request (the server's write_bytes in /proc/PID/io).
// Exit status: 0 ok, 1 a check failed or a tool is missing, 2 bad usage.

#include <httplib.h>
#include <spawn.h>
#include <statestore/statestore.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <shared_mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

extern char** environ;

namespace ss = statestore;
using namespace std::chrono_literals;

namespace {

// ---- The in-memory baseline: the same endpoints, a map and a shared_mutex. ----
class MemoryService {
 public:
  MemoryService() {
    server_.Post("/login", [this](const httplib::Request& req, httplib::Response& res) {
      std::string token = NewToken();
      {
        std::unique_lock lock(mu_);
        sessions_[token] = Session{req.get_param_value("user"), 0};
      }
      res.set_header("Set-Cookie", "sid=" + token + "; HttpOnly; SameSite=Strict; Path=/");
      res.set_content("{\"user\": \"" + req.get_param_value("user") + "\"}\n", "application/json");
    });
    server_.Get("/me", [this](const httplib::Request& req, httplib::Response& res) {
      std::unique_lock lock(mu_);
      auto it = sessions_.find(Cookie(req));
      if (it == sessions_.end()) return NotLoggedIn(res);
      const std::int64_t hits = ++it->second.hits;
      lock.unlock();
      res.set_content("{\"hits\": " + std::to_string(hits) + "}\n", "application/json");
    });
    server_.Get("/whoami", [this](const httplib::Request& req, httplib::Response& res) {
      std::shared_lock lock(mu_);
      auto it = sessions_.find(Cookie(req));
      if (it == sessions_.end()) return NotLoggedIn(res);
      const std::string user = it->second.user;
      lock.unlock();
      res.set_content("{\"user\": \"" + user + "\"}\n", "application/json");
    });
    server_.set_tcp_nodelay(true);
    server_.new_task_queue = [] { return new httplib::ThreadPool(8); };
    port_ = server_.bind_to_any_port("127.0.0.1");
    if (port_ < 0) throw std::runtime_error("baseline: cannot listen");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(1ms);
  }
  ~MemoryService() {
    server_.stop();
    thread_.join();
  }
  int port() const { return port_; }
  std::int64_t hits(const std::vector<std::string>& tokens) {
    std::shared_lock lock(mu_);
    std::int64_t sum = 0;
    for (const auto& t : tokens) {
      auto it = sessions_.find(t);
      if (it != sessions_.end()) sum += it->second.hits;
    }
    return sum;
  }

 private:
  struct Session {
    std::string user;
    std::int64_t hits;
  };
  static std::string Cookie(const httplib::Request& req) {
    const std::string c = req.get_header_value("Cookie");
    const auto at = c.find("sid=");
    return at == std::string::npos ? std::string() : c.substr(at + 4, c.find(';', at) - at - 4);
  }
  static void NotLoggedIn(httplib::Response& res) {
    res.status = 401;
    res.set_content("{\"error\": \"not logged in\"}\n", "application/json");
  }
  std::string NewToken() {
    static constexpr char kAlphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::lock_guard lock(rng_mu_);
    std::string t(43, ' ');
    for (char& ch : t) ch = kAlphabet[rng_() % 64];
    return t;
  }

  httplib::Server server_;
  int port_ = -1;
  std::thread thread_;
  std::shared_mutex mu_;
  std::unordered_map<std::string, Session> sessions_;
  std::mutex rng_mu_;
  std::mt19937_64 rng_{std::random_device{}()};
};

// ---- A statestore_web_service child process. ----
class ServiceProcess {
 public:
  ServiceProcess(const std::string& binary, const std::string& db) {
    int out[2];
    if (::pipe(out) != 0) throw std::runtime_error("pipe failed");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    posix_spawn_file_actions_addclose(&actions, out[0]);
    std::vector<std::string> args{binary, db, "--port", "0", "--threads", "8"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const int rc = posix_spawn(&pid_, binary.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(out[1]);
    if (rc != 0) throw std::runtime_error("cannot start " + binary);
    // "listening on 127.0.0.1:PORT"
    std::string line;
    char ch;
    while (::read(out[0], &ch, 1) == 1 && ch != '\n') line += ch;
    ::close(out[0]);
    const auto colon = line.rfind(':');
    if (line.rfind("listening on ", 0) != 0 || colon == std::string::npos) {
      throw std::runtime_error(binary + " did not start: '" + line + "'");
    }
    port_ = std::stoi(line.substr(colon + 1));
  }
  ~ServiceProcess() {
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  int port() const { return port_; }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int port_ = -1;
};

std::uint64_t WriteBytes(pid_t pid) {
  std::ifstream io("/proc/" + std::to_string(pid) + "/io");
  std::string name;
  std::uint64_t value = 0;
  while (io >> name >> value) {
    if (name == "write_bytes:") return value;
  }
  return 0;
}

std::vector<std::string> Login(int port, int n, const std::string& user_prefix) {
  httplib::Client client("127.0.0.1", port);
  client.set_tcp_nodelay(true);
  std::vector<std::string> tokens;
  for (int i = 0; i < n; ++i) {
    auto r = client.Post(("/login?user=" + user_prefix + std::to_string(i % 50)).c_str());
    if (!r || r->status != 200) {
      throw std::runtime_error("login failed on port " + std::to_string(port));
    }
    const std::string c = r->get_header_value("Set-Cookie");
    tokens.push_back(c.substr(4, c.find(';') - 4));
  }
  return tokens;
}

// ---- wrk ----
struct WrkResult {
  double requests = 0;
  double errors = 0;  // non-2xx/3xx answers and socket errors
  double seconds = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  double ok() const { return requests - errors; }
  double rate() const { return seconds > 0 ? requests / seconds : 0; }
};

constexpr char kWrkScript[] = R"lua(
local tokens = {}
local path, mode, token_file = "%PATH%", "%MODE%", "%TOKENS%"
function init(args)
  for line in io.lines(token_file) do tokens[#tokens + 1] = line end
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 100000)
end
function request()
  if mode == "mix" and math.random(100) <= 10 then
    return wrk.format("POST", "/login?user=mix" .. math.random(1000), {}, "")
  end
  return wrk.format("GET", path, {["Cookie"] = "sid=" .. tokens[math.random(#tokens)]})
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRKRESULT %d %d %d %d %d\n", summary.requests,
    e.status + e.connect + e.read + e.write + e.timeout, summary.duration,
    latency:percentile(50), latency:percentile(99)))
end
)lua";

std::string Replace(std::string s, const std::string& from, const std::string& to) {
  const auto at = s.find(from);
  return at == std::string::npos ? s : s.replace(at, from.size(), to);
}

// Starts wrk; Finish() waits for it and parses its WRKRESULT line.
class Wrk {
 public:
  Wrk(const std::string& dir, int port, const std::string& path, const std::string& mode,
      const std::string& token_file, int connections, int seconds) {
    script_ = dir + "/wrk-" + std::to_string(port) + "-" + mode + ".lua";
    std::ofstream(script_) << Replace(Replace(Replace(kWrkScript, "%PATH%", path), "%MODE%", mode),
                                      "%TOKENS%", token_file);
    const std::string cmd = "wrk -t" + std::to_string(std::min(connections, 2)) + " -c" +
                            std::to_string(connections) + " -d" + std::to_string(seconds) +
                            "s --latency -s " + script_ +
                            " http://127.0.0.1:" + std::to_string(port) + " 2>&1";
    pipe_ = ::popen(cmd.c_str(), "r");
    if (pipe_ == nullptr) throw std::runtime_error("cannot run wrk");
  }
  WrkResult Finish() {
    std::string out;
    std::array<char, 4096> buf;
    std::size_t n;
    while ((n = std::fread(buf.data(), 1, buf.size(), pipe_)) > 0) out.append(buf.data(), n);
    const int status = ::pclose(pipe_);
    const auto at = out.find("WRKRESULT ");
    if (status != 0 || at == std::string::npos) throw std::runtime_error("wrk failed:\n" + out);
    std::istringstream in(out.substr(at + 10));
    double duration_us = 0, p50_us = 0, p99_us = 0;
    WrkResult r;
    in >> r.requests >> r.errors >> duration_us >> p50_us >> p99_us;
    r.seconds = duration_us / 1e6;
    r.p50_ms = p50_us / 1e3;
    r.p99_ms = p99_us / 1e3;
    return r;
  }

 private:
  std::string script_;
  FILE* pipe_ = nullptr;
};

struct Sample {
  WrkResult wrk;
  double bytes_per_request = 0;
  bool hits_exact = true;
};

// See the header: no lost update, and nothing counted twice.
bool HitsMatch(const char* what, std::int64_t grew, const WrkResult& r, int connections) {
  const auto ok = static_cast<std::int64_t>(r.ok());
  if (grew >= ok && grew <= ok + connections) return true;
  std::cerr << "\n"
            << what << ": hits grew by " << grew << ", but " << ok
            << " /me requests succeeded (at most " << connections << " more may be in flight)\n";
  return false;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

std::string Fixed(double v, int digits) {
  std::ostringstream o;
  o << std::fixed << std::setprecision(digits) << v;
  return o.str();
}

int Usage() {
  std::cerr << "usage: statestore_web_bench [--rounds N] [--duration S] [--connections N] "
               "[--service PATH]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 3, duration = 5, connections = 8;
  std::string service = STATESTORE_WEB_SERVICE_BINARY;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) return Usage();
    if (a == "--rounds") {
      rounds = std::atoi(argv[++i]);
    } else if (a == "--duration") {
      duration = std::atoi(argv[++i]);
    } else if (a == "--connections") {
      connections = std::atoi(argv[++i]);
    } else if (a == "--service") {
      service = argv[++i];
    } else {
      return Usage();
    }
  }
  if (rounds < 1 || duration < 1 || connections < 2) return Usage();
  if (std::system("command -v wrk >/dev/null 2>&1") != 0) {
    std::cerr << "statestore_web_bench: wrk not found (apt-get install wrk)\n";
    return 1;
  }
  const std::string dir = std::filesystem::temp_directory_path() /
                          ("statestore-web-bench-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  // scenario -> engine -> samples
  std::map<std::string, std::map<std::string, std::vector<Sample>>> samples;
  bool all_exact = true;
  try {
    for (int round = 1; round <= rounds; ++round) {
      std::cout << "round " << round << "/" << rounds << std::flush;
      const std::string db = dir + "/web-" + std::to_string(round) + ".db";
      MemoryService memory;
      ServiceProcess one(service, db);
      // Sessions: one, and a thousand, on each engine.
      std::map<std::string, int> port{{"memory", memory.port()}, {"statestore", one.port()}};
      std::map<std::string, std::vector<std::string>> single, many;
      for (const auto& [engine, p] : port) {
        single[engine] = Login(p, 1, "solo");
        many[engine] = Login(p, 1000, "user");
        std::ofstream(dir + "/" + engine + "-1.txt") << single[engine][0] << "\n";
        std::ofstream f(dir + "/" + engine + "-1000.txt");
        for (const auto& t : many[engine]) f << t << "\n";
      }
      auto hits = [&](const std::string& engine, const std::vector<std::string>& tokens) {
        if (engine == "memory") return memory.hits(tokens);
        ss::Options read_only;
        read_only.read_only = true;
        auto store = ss::Store::open(db, read_only);
        std::int64_t sum = 0;
        for (const auto& t : tokens) {
          if (auto v = store->sessions().get_attribute(t, "hits")) sum += v->as_int();
        }
        return sum;
      };
      struct Scenario {
        std::string name, path, mode;
        bool many;
      };
      const std::vector<Scenario> scenarios{{"whoami", "/whoami", "plain", false},
                                            {"me-1", "/me", "plain", false},
                                            {"me-1000", "/me", "plain", true},
                                            {"mix", "/me", "mix", true}};
      for (const auto& s : scenarios) {
        for (const std::string engine : {"memory", "statestore"}) {
          const auto& tokens = s.many ? many[engine] : single[engine];
          const std::string token_file = dir + "/" + engine + (s.many ? "-1000.txt" : "-1.txt");
          const pid_t pid = engine == "memory" ? ::getpid() : one.pid();
          const std::int64_t hits_before = hits(engine, tokens);
          const std::uint64_t written_before = WriteBytes(pid);
          Sample sample;
          sample.wrk =
              Wrk(dir, port[engine], s.path, s.mode, token_file, connections, duration).Finish();
          sample.bytes_per_request =
              static_cast<double>(WriteBytes(pid) - written_before) / sample.wrk.requests;
          if (s.path == "/me" && s.mode == "plain") {
            const std::string what = engine + " " + s.name;
            sample.hits_exact = HitsMatch(what.c_str(), hits(engine, tokens) - hits_before,
                                          sample.wrk, connections);
            all_exact = all_exact && sample.hits_exact;
          }
          samples[s.name][engine].push_back(sample);
          std::cout << "." << std::flush;
        }
      }
      // Two service processes on one file, half the connections each.
      {
        ServiceProcess two(service, db);
        const std::string token_file = dir + "/statestore-1000.txt";
        const std::int64_t hits_before = hits("statestore", many["statestore"]);
        const std::uint64_t w1 = WriteBytes(one.pid()), w2 = WriteBytes(two.pid());
        Wrk a(dir, one.port(), "/me", "plain", token_file, connections / 2, duration);
        Wrk b(dir, two.port(), "/me", "plain", token_file, connections - connections / 2, duration);
        const WrkResult ra = a.Finish(), rb = b.Finish();
        Sample sample;
        sample.wrk.requests = ra.requests + rb.requests;
        sample.wrk.errors = ra.errors + rb.errors;
        sample.wrk.seconds = std::max(ra.seconds, rb.seconds);
        sample.wrk.p50_ms = std::max(ra.p50_ms, rb.p50_ms);
        sample.wrk.p99_ms = std::max(ra.p99_ms, rb.p99_ms);
        sample.bytes_per_request =
            static_cast<double>(WriteBytes(one.pid()) - w1 + WriteBytes(two.pid()) - w2) /
            sample.wrk.requests;
        sample.hits_exact =
            HitsMatch("two-procs", hits("statestore", many["statestore"]) - hits_before, sample.wrk,
                      connections);
        all_exact = all_exact && sample.hits_exact;
        samples["two-procs"]["statestore"].push_back(sample);
        std::cout << "." << std::endl;
      }
    }
  } catch (const std::exception& e) {
    std::cerr << "\nstatestore_web_bench: " << e.what() << "\n";
    std::filesystem::remove_all(dir);
    return 1;
  }
  std::filesystem::remove_all(dir);

  std::cout << "\nweb service under wrk: " << connections << " connections, " << duration
            << " s per run, medians of " << rounds << " interleaved rounds [min-max]\n\n";
  std::cout << std::left << std::setw(11) << "scenario" << std::setw(12) << "engine"
            << std::setw(22) << "req/s" << std::setw(9) << "p50 ms" << std::setw(9) << "p99 ms"
            << std::setw(13) << "bytes/req" << std::setw(8) << "hits"
            << "ratio\n";
  for (const std::string name : {"whoami", "me-1", "me-1000", "mix", "two-procs"}) {
    for (const auto& [engine, list] : samples[name]) {
      std::vector<double> rate, p50, p99, bytes, ratio;
      bool exact = true;
      for (std::size_t i = 0; i < list.size(); ++i) {
        rate.push_back(list[i].wrk.rate());
        p50.push_back(list[i].wrk.p50_ms);
        p99.push_back(list[i].wrk.p99_ms);
        bytes.push_back(list[i].bytes_per_request);
        exact = exact && list[i].hits_exact;
        // The baseline of a statestore row: memory in the same round; for two-procs, one
        // statestore process in the same round.
        const auto& base =
            name == "two-procs" ? samples["me-1000"]["statestore"] : samples[name]["memory"];
        if (engine != "memory" && i < base.size()) {
          ratio.push_back(list[i].wrk.rate() / base[i].wrk.rate());
        }
      }
      const auto [lo, hi] = std::minmax_element(rate.begin(), rate.end());
      std::cout << std::left << std::setw(11) << name << std::setw(12) << engine << std::setw(22)
                << (Fixed(Median(rate), 0) + " [" + Fixed(*lo, 0) + "-" + Fixed(*hi, 0) + "]")
                << std::setw(9) << Fixed(Median(p50), 2) << std::setw(9) << Fixed(Median(p99), 2)
                << std::setw(13) << Fixed(Median(bytes), 0) << std::setw(8)
                << (name == "whoami" || name == "mix" ? "-"
                    : exact                           ? "ok"
                                                      : "WRONG");
      if (!ratio.empty()) {
        const auto [rlo, rhi] = std::minmax_element(ratio.begin(), ratio.end());
        std::cout << Fixed(Median(ratio), 2) << "x [" << Fixed(*rlo, 2) << "-" << Fixed(*rhi, 2)
                  << "]" << (name == "two-procs" ? " of one process" : " of memory");
      }
      std::cout << "\n";
    }
  }
  return all_exact ? 0 : 1;
}

// statestore_web_service DB [--port N] [--threads N] [--self-test]
//
// A small HTTP service on one statestore file, as a web developer would write it: sessions in a
// cookie, a per-session counter, settings an operator can change at run time, and a watch that
// applies a feature flag the moment it changes — in this process or any other one sharing DB.
//
//   POST /login?user=NAME     create a session (principal NAME); sets the cookie `sid`
//   GET  /me                  increments the session's "hits" and returns it    (401 if none)
//   GET  /whoami              the session's user, read-only                      (401 if none)
//   POST /logout              ends this session (204 even for an unknown cookie)
//   POST /logout-all          ends every session of this user
//   GET  /config              the effective settings
//   PUT  /config/KEY?value=V  changes a setting (400 with the reason if it is refused)
//   GET  /health              200 "ok"
//
// Several processes may serve the same DB at once (on different ports): a logout in one is seen
// by the others at once, and a setting changed in one reaches every watch.
//
// --self-test starts the service on a free loopback port, drives the scenario above through a
// real HTTP client, prints what it saw and exits 0 only if every answer was the expected one.
// Otherwise it serves until SIGINT/SIGTERM, printing "listening on 127.0.0.1:PORT" first.
//
// Exit status: 0 ok, 1 failure (one line on stderr), 2 bad usage.

#include <httplib.h>
#include <signal.h>
#include <statestore/statestore.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

namespace ss = statestore;
using namespace std::chrono_literals;

namespace {

constexpr char kCookie[] = "sid";

// The value of cookie `name` in a Cookie header ("a=1; sid=XYZ"), or "".
std::string CookieValue(const httplib::Request& req, std::string_view name) {
  const std::string header = req.get_header_value("Cookie");
  std::string_view rest = header;
  while (!rest.empty()) {
    const std::size_t semi = rest.find(';');
    std::string_view part = rest.substr(0, semi);
    rest = semi == std::string_view::npos ? std::string_view() : rest.substr(semi + 1);
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    if (part.size() > name.size() && part.substr(0, name.size()) == name &&
        part[name.size()] == '=') {
      return std::string(part.substr(name.size() + 1));
    }
  }
  return {};
}

std::string JsonString(std::string_view s) {
  std::string out = "\"";
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += ch;
    }
  }
  return out + "\"";
}

void Reply(httplib::Response& res, int status, const std::string& json) {
  res.status = status;
  res.set_content(json + "\n", "application/json");
}

// Parses `text` as the type of the setting's current value; nullopt if it does not parse.
std::optional<ss::ConfigValue> ParseAs(const ss::ConfigValue& current, const std::string& text) {
  try {
    std::size_t used = 0;
    switch (current.type()) {
      case ss::ConfigType::kBool:
        if (text == "true") return ss::ConfigValue(true);
        if (text == "false") return ss::ConfigValue(false);
        return std::nullopt;
      case ss::ConfigType::kInt: {
        const long long v = std::stoll(text, &used);
        if (used != text.size()) return std::nullopt;
        return ss::ConfigValue(v);
      }
      case ss::ConfigType::kDouble: {
        const double v = std::stod(text, &used);
        if (used != text.size()) return std::nullopt;
        return ss::ConfigValue(v);
      }
      case ss::ConfigType::kString:
        return ss::ConfigValue(text);
      default:
        return std::nullopt;
    }
  } catch (const std::exception&) {  // std::stoll/stod: not a number, or out of range
    return std::nullopt;
  }
}

class WebService {
 public:
  explicit WebService(std::shared_ptr<ss::Store> store) : store_(std::move(store)) {
    ss::Config& config = store_->config();
    // The settings are declared in the file, so every process and `statectl config set` check
    // an edit against them (a string "500", a 0 or a "<script>" is refused everywhere), and an
    // operator sees them with `statectl config list`. Declaring what is already stored costs no
    // commit; a newer version of the program re-declares and replaces them.
    ss::SettingDeclaration rate_limit;
    rate_limit.key = "http.rate_limit";
    rate_limit.type = ss::ConfigType::kInt;
    rate_limit.default_value = ss::ConfigValue(100);
    rate_limit.min = ss::ConfigValue(1);
    rate_limit.max = ss::ConfigValue(100000);
    rate_limit.description = "requests per second per client";
    ss::SettingDeclaration banner;
    banner.key = "feature.banner";
    banner.type = ss::ConfigType::kBool;
    banner.default_value = ss::ConfigValue(false);
    banner.description = "show the new-look banner on /me";
    config.declare({rate_limit, banner});
    banner_ = config.get<bool>("feature.banner", false);
    watch_ = config.watch("feature.", [this](const ss::WatchEvent& ev) {
      for (const auto& change : ev.changes) {
        if (change.key != "feature.banner") continue;
        banner_ = change.new_value && change.new_value->as<bool>();
        flag_revision_ = ev.revision;
      }
    });
    Routes();
  }

  httplib::Server& server() { return server_; }
  ss::Revision flag_revision() const { return flag_revision_; }

 private:
  void Routes() {
    ss::Sessions& sessions = store_->sessions();
    server_.Post("/login", [&](const httplib::Request& req, httplib::Response& res) {
      const std::string user = req.get_param_value("user");
      if (!ss::Sessions::IsValidPrincipal(user)) {
        return Reply(res, 400, R"({"error": "user must be 1-256 printable characters"})");
      }
      ss::NewSession s;
      s.idle_ttl = std::chrono::minutes(30);
      s.principal = user;
      s.attributes = {{"hits", ss::Value(std::int64_t{0})}};
      const std::string token = sessions.create(s);
      res.set_header("Set-Cookie",
                     std::string(kCookie) + "=" + token + "; HttpOnly; SameSite=Strict; Path=/");
      Reply(res, 200, "{\"user\": " + JsonString(user) + "}");
    });
    server_.Get("/me", [&](const httplib::Request& req, httplib::Response& res) {
      // One read-modify-write transaction. The function may run more than once (a retry); the
      // value update() returns is the committed run's. An unknown, expired or malformed cookie
      // is simply "no session".
      const auto hits = sessions.update(CookieValue(req, kCookie), [](ss::SessionRef& s) {
        ss::Attributes& a = s.attributes();
        auto it = a.find("hits");
        const std::int64_t n = (it != a.end() ? it->second.as_int() : 0) + 1;
        a["hits"] = ss::Value(n);
        return n;
      });
      if (!hits) return Reply(res, 401, R"({"error": "not logged in"})");
      Reply(
          res, 200,
          "{\"hits\": " + std::to_string(*hits) + (banner_ ? ", \"banner\": \"new look!\"}" : "}"));
    });
    server_.Get("/whoami", [&](const httplib::Request& req, httplib::Response& res) {
      const auto session = sessions.get(CookieValue(req, kCookie));
      if (!session) return Reply(res, 401, R"({"error": "not logged in"})");
      Reply(res, 200, "{\"user\": " + JsonString(session->principal) + "}");
    });
    server_.Post("/logout", [&](const httplib::Request& req, httplib::Response& res) {
      sessions.destroy(CookieValue(req, kCookie));  // an unknown or malformed cookie: no-op
      res.status = 204;
    });
    server_.Post("/logout-all", [&](const httplib::Request& req, httplib::Response& res) {
      const auto session = sessions.get(CookieValue(req, kCookie));
      if (!session) return Reply(res, 401, R"({"error": "not logged in"})");
      const std::uint64_t n = sessions.destroy_all(session->principal);
      Reply(res, 200, "{\"ended\": " + std::to_string(n) + "}");
    });
    server_.Get("/config", [&](const httplib::Request&, httplib::Response& res) {
      std::string json = "{";
      for (const auto& e : store_->config().list()) {
        if (json.size() > 1) json += ", ";
        json += JsonString(e.key) + ": " + JsonString(e.value.to_display());
      }
      Reply(res, 200, json + "}");
    });
    server_.Put(
        R"(/config/([a-z0-9_.]+))", [&](const httplib::Request& req, httplib::Response& res) {
          const std::string key = req.matches[1];
          const auto current = store_->config().get_value(key);
          if (!current) return Reply(res, 404, R"({"error": "no such setting"})");
          const auto value = ParseAs(*current, req.get_param_value("value"));
          if (!value) return Reply(res, 400, R"({"error": "value has the wrong type"})");
          try {
            const ss::Revision rev = store_->config().set(key, *value);
            Reply(res, 200, "{\"revision\": " + std::to_string(rev) + "}");
          } catch (const ss::Error& e) {
            if (e.code() != ss::ErrorCode::kInvalidArgument) throw;
            Reply(res, 400, "{\"error\": " + JsonString(e.what()) + "}");  // a validator said no
          }
        });
    server_.Get("/health", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("ok\n", "text/plain");
    });
    // Anything else that throws (kBusy after busy_timeout, kIoError, ...) is a 503/500 with
    // the library's message, never a crash of the worker thread.
    server_.set_exception_handler(
        [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
          try {
            std::rethrow_exception(ep);
          } catch (const ss::Error& e) {
            Reply(res, e.code() == ss::ErrorCode::kBusy ? 503 : 500,
                  "{\"error\": " + JsonString(e.what()) + "}");
          } catch (const std::exception& e) {
            Reply(res, 500, "{\"error\": " + JsonString(e.what()) + "}");
          }
        });
  }

  std::shared_ptr<ss::Store> store_;
  httplib::Server server_;
  std::atomic<bool> banner_{false};
  std::atomic<ss::Revision> flag_revision_{0};
  ss::Watch watch_;  // last: cancelled (and its thread joined) before the rest is destroyed
};

// Drives the scenario of the header comment; returns the number of unexpected answers.
int SelfTest(WebService& service, int port) {
  httplib::Client client("127.0.0.1", port);
  client.set_tcp_nodelay(true);
  int failures = 0;
  auto expect = [&](const char* what, const httplib::Result& r, int status) {
    const int got = r ? r->status : -1;
    std::cout << "  " << (got == status ? "ok  " : "FAIL") << "  " << what << " -> " << got
              << (r && !r->body.empty() ? "  " + r->body.substr(0, r->body.find('\n')) : "")
              << "\n";
    if (got != status) ++failures;
    return r ? r->body : std::string();
  };
  auto login = client.Post("/login?user=alice");
  expect("POST /login?user=alice", login, 200);
  const std::string cookie = login ? login->get_header_value("Set-Cookie") : "";
  const httplib::Headers me{{"Cookie", cookie.substr(0, cookie.find(';'))}};
  expect("POST /login?user=<bad>", client.Post("/login?user=%01"), 400);
  std::string body;
  for (int i = 0; i < 5; ++i) body = expect("GET /me", client.Get("/me", me), 200);
  if (body.find("\"hits\": 5") == std::string::npos) ++failures;
  expect("GET /whoami", client.Get("/whoami", me), 200);
  expect("PUT /config/http.rate_limit?value=0", client.Put("/config/http.rate_limit?value=0"), 400);
  expect("PUT /config/http.rate_limit?value=abc", client.Put("/config/http.rate_limit?value=abc"),
         400);
  expect("PUT /config/http.rate_limit?value=500", client.Put("/config/http.rate_limit?value=500"),
         200);
  const std::string flag = expect("PUT /config/feature.banner?value=true",
                                  client.Put("/config/feature.banner?value=true"), 200);
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (service.flag_revision() == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(1ms);
  }
  std::cout << "  " << (service.flag_revision() != 0 ? "ok  " : "FAIL")
            << "  the watch applied feature.banner at r" << service.flag_revision() << "\n";
  if (service.flag_revision() == 0) ++failures;
  body = expect("GET /me (banner on)", client.Get("/me", me), 200);
  if (body.find("banner") == std::string::npos) ++failures;
  expect("GET /config", client.Get("/config"), 200);
  expect(
      "POST /logout (garbage cookie)",
      client.Post("/logout", httplib::Headers{{"Cookie", "sid=%%garbage\x7f"}}, "", "text/plain"),
      204);
  expect("POST /logout", client.Post("/logout", me, "", "text/plain"), 204);
  expect("GET /me (after logout)", client.Get("/me", me), 401);
  return failures;
}

int Usage() {
  std::cerr << "usage: statestore_web_service DB [--port N] [--threads N] [--self-test]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  // A first word like --help is a mistake, not a database to create.
  if (argc < 2 || argv[1][0] == '-') return Usage();
  const std::string db = argv[1];
  int port = 0;
  int threads = 8;
  bool self_test = false;
  for (int i = 2; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--self-test") {
      self_test = true;
    } else if ((arg == "--port" || arg == "--threads") && i + 1 < argc) {
      char* end = nullptr;
      const long v = std::strtol(argv[++i], &end, 10);
      if (*end != '\0' || v < 0 || v > 65535 || (arg == "--threads" && v == 0)) return Usage();
      (arg == "--port" ? port : threads) = static_cast<int>(v);
    } else {
      return Usage();
    }
  }
  // SIGINT/SIGTERM are taken by sigwait below, not by a handler: every thread started from here
  // on inherits the blocked mask.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  try {
    ss::Options options;
    options.origin_label = "web";
    WebService service(ss::Store::open(db, options));
    httplib::Server& server = service.server();
    server.set_tcp_nodelay(true);  // else every response waits for the client's delayed ACK
    server.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    const int bound = port == 0 ? server.bind_to_any_port("127.0.0.1")
                                : (server.bind_to_port("127.0.0.1", port) ? port : -1);
    if (bound < 0) {
      std::cerr << "statestore_web_service: cannot listen on 127.0.0.1:" << port << "\n";
      return 1;
    }
    std::thread listener([&] { server.listen_after_bind(); });
    while (!server.is_running()) std::this_thread::sleep_for(1ms);
    if (self_test) {
      std::cout << "statestore_web_service on 127.0.0.1:" << bound << ", database " << db << "\n";
      const int failures = SelfTest(service, bound);
      server.stop();
      listener.join();
      std::cout << (failures == 0 ? "self-test passed\n" : "self-test FAILED\n");
      return failures == 0 ? 0 : 1;
    }
    std::cout << "listening on 127.0.0.1:" << bound << std::endl;
    int signal = 0;
    sigwait(&stop_signals, &signal);
    server.stop();
    listener.join();
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "statestore_web_service: " << e.what() << "\n";
    return 1;
  }
}

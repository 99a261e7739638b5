#include "postgres/pg_cluster.h"

#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <stdexcept>
#include <system_error>
#include <thread>

namespace statestore::test {

namespace {

constexpr const char* kServerUser = "postgres";

// Where Debian puts the server programs: PostgreSQL 15 first (the README's stack), then other
// majors a developer's machine may have instead.
const char* const kBinDirs[] = {"/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin",
                                "/usr/lib/postgresql/17/bin", "/usr/lib/postgresql/14/bin"};

std::string RunuserPath() {
  for (const char* p : {"/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser"}) {
    if (::access(p, X_OK) == 0) return p;
  }
  return {};
}

}  // namespace

std::string PgCluster::BinDir(std::string* why) {
  for (const char* dir : kBinDirs) {
    if (::access((std::string(dir) + "/pg_ctl").c_str(), X_OK) == 0) return dir;
  }
  *why = "PostgreSQL server programs not found (install the `postgresql` package)";
  return {};
}

PgCluster::PgCluster(std::unique_ptr<TempDir> dir, std::string bin_dir)
    : PgCluster(dir->path(), std::move(bin_dir)) {
  dir_ = std::move(dir);
}

PgCluster::PgCluster(const std::string& dir, std::string bin_dir)
    : bin_dir_(std::move(bin_dir)),
      data_dir_(dir + "/data"),
      socket_dir_(dir),
      log_path_(dir + "/server.log") {}

namespace {

// Invariant 1: the server's user owns the directory it writes.
void GiveToServerUser(const std::string& dir) {
  if (::geteuid() != 0) return;
  const passwd* pw = ::getpwnam(kServerUser);
  if (pw == nullptr) throw std::runtime_error("no `postgres` user to run the server as");
  if (::chown(dir.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
    throw std::system_error(errno, std::generic_category(), "chown " + dir);
  }
}

}  // namespace

int PgCluster::RunAsServerUser(const std::vector<std::string>& argv, std::string* output) const {
  std::vector<std::string> full;
  if (::geteuid() == 0) {
    const std::string runuser = RunuserPath();
    if (runuser.empty()) throw std::runtime_error("runuser not found; cannot drop root");
    full = {runuser, "-u", kServerUser, "--"};
  }
  full.insert(full.end(), argv.begin(), argv.end());
  ChildProcess child = ChildProcess::Spawn(full);
  child.CloseStdin();
  *output = child.ReadAll(std::chrono::seconds(120 * kSlowFactor));
  return child.Wait(std::chrono::seconds(30));
}

std::unique_ptr<PgCluster> PgCluster::Start(const Settings& settings) {
  std::string why;
  std::string bin = BinDir(&why);
  if (bin.empty()) throw std::runtime_error(why);
  auto dir = std::make_unique<TempDir>();
  GiveToServerUser(dir->path());
  std::unique_ptr<PgCluster> cluster(new PgCluster(std::move(dir), bin));
  cluster->InitAndStart(settings);
  return cluster;
}

void PgCluster::InitAndStart(const Settings& settings) {
  std::string output;
  // trust: only this cluster's socket directory (mode 0700, its user's) reaches the server.
  int rc = RunAsServerUser({bin_dir_ + "/initdb", "-D", data_dir_, "-U", kServerUser, "-A", "trust",
                            "-E", "UTF8", "--no-instructions"},
                           &output);
  if (rc != 0) {
    throw std::runtime_error("initdb failed (exit " + std::to_string(rc) + "):\n" + output);
  }
  server_options_ = "-k " + socket_dir_ + " -p " + std::to_string(kPort) + " -c listen_addresses=";
  for (const std::string& s : settings.server_settings) server_options_ += " -c " + s;
  rc = RunAsServerUser({bin_dir_ + "/pg_ctl", "-D", data_dir_, "-l", log_path_, "-w", "-t", "120",
                        "-o", server_options_, "start"},
                       &output);
  if (rc != 0) {
    std::string log;
    try {
      log = ReadFile(log_path_);
    } catch (...) {
    }
    throw std::runtime_error("pg_ctl start failed (exit " + std::to_string(rc) + "):\n" + output +
                             "\nserver log:\n" + log);
  }
  running_ = true;
}

void PgCluster::Restart(const std::string& mode) {
  if (!running_ || !dir_ || server_options_.empty()) {
    throw std::logic_error("PgCluster::Restart: only a cluster made by Start() can restart");
  }
  std::string output;
  const int rc = RunAsServerUser({bin_dir_ + "/pg_ctl", "-D", data_dir_, "-l", log_path_, "-m",
                                  mode, "-w", "-t", "120", "-o", server_options_, "restart"},
                                 &output);
  if (rc != 0) {
    std::string log;
    try {
      log = ReadFile(log_path_);
    } catch (...) {
    }
    throw std::runtime_error("pg_ctl restart -m " + mode + " failed (exit " + std::to_string(rc) +
                             "):\n" + output + "\nserver log:\n" + log);
  }
}

void PgCluster::StartIn(const std::string& dir) {
  std::string why;
  std::string bin = BinDir(&why);
  if (bin.empty()) throw std::runtime_error(why);
  if (FileExists(dir)) StopIn(dir);
  if (::mkdir(dir.c_str(), 0700) != 0) {
    throw std::system_error(errno, std::generic_category(), "mkdir " + dir);
  }
  GiveToServerUser(dir);
  PgCluster cluster(dir, bin);
  cluster.InitAndStart(Settings{});
  cluster.running_ = false;  // left running for the tests; StopIn stops it
}

void PgCluster::StopIn(const std::string& dir) {
  std::string why;
  std::string bin = BinDir(&why);
  if (bin.empty()) throw std::runtime_error(why);
  {
    PgCluster cluster(dir, bin);
    cluster.running_ = FileExists(cluster.data_dir_ + "/postmaster.pid");
  }  // ~PgCluster stops it
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

PgCluster* PgCluster::Shared(std::string* why) {
  static std::mutex mu;
  static std::unique_ptr<PgCluster> shared;  // stopped by its destructor at exit
  static std::string failure;
  std::lock_guard<std::mutex> lock(mu);
  if (!shared && failure.empty()) {
    try {
      const char* fixture = std::getenv(kFixtureDirEnv);
      if (fixture != nullptr && *fixture != '\0') {
        std::string bin = BinDir(&failure);
        if (bin.empty()) throw std::runtime_error(failure);
        if (!FileExists(std::string(fixture) + "/data/postmaster.pid")) {
          throw std::runtime_error(std::string("no fixture cluster running in ") + fixture +
                                   " (ctest starts it: test statestore_pg_fixture_start)");
        }
        shared.reset(new PgCluster(std::string(fixture), bin));  // attached: never stopped here
      } else {
        shared = Start();
      }
    } catch (const std::exception& e) {
      failure = e.what();
    }
  }
  if (!shared) *why = failure;
  return shared.get();
}

std::string PgCluster::conninfo(const std::string& database) const {
  return "host=" + socket_dir_ + " port=" + std::to_string(kPort) + " user=" + kServerUser +
         " dbname=" + database;
}

std::string PgCluster::uri(const std::string& database) const {
  return std::string("postgresql://") + kServerUser + "@/" + database + "?host=" + socket_dir_ +
         "&port=" + std::to_string(kPort);
}

pid_t PgCluster::postmaster_pid() const {
  std::ifstream in(data_dir_ + "/postmaster.pid");
  long pid = 0;
  in >> pid;
  return static_cast<pid_t>(pid);
}

void PgCluster::Stop() noexcept {
  if (!running_) return;
  running_ = false;
  const pid_t pid = postmaster_pid();
  try {
    std::string output;
    if (RunAsServerUser(
            {bin_dir_ + "/pg_ctl", "-D", data_dir_, "-m", "fast", "-w", "-t", "60", "stop"},
            &output) == 0) {
      return;
    }
  } catch (...) {
  }
  // Invariant 2: never leave a server behind.
  if (pid > 0 && ::kill(pid, SIGKILL) == 0) {
    for (int i = 0; i < 500 && ::kill(pid, 0) == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
}

PgCluster::~PgCluster() { Stop(); }

}  // namespace statestore::test

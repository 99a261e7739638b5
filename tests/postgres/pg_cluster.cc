#include "postgres/pg_cluster.h"

#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <mutex>
#include <stdexcept>
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
    : dir_(std::move(dir)),
      bin_dir_(std::move(bin_dir)),
      data_dir_(dir_->file("data")),
      socket_dir_(dir_->path()),
      log_path_(dir_->file("server.log")) {}

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
  if (::geteuid() == 0) {
    // Invariant 1: the server's user owns the directory it writes.
    const passwd* pw = ::getpwnam(kServerUser);
    if (pw == nullptr) throw std::runtime_error("no `postgres` user to run the server as");
    if (::chown(dir->path().c_str(), pw->pw_uid, pw->pw_gid) != 0) {
      throw std::system_error(errno, std::generic_category(), "chown " + dir->path());
    }
  }
  std::unique_ptr<PgCluster> cluster(new PgCluster(std::move(dir), bin));
  std::string output;
  // trust: only this cluster's socket directory (mode 0700, its user's) reaches the server.
  int rc = cluster->RunAsServerUser({bin + "/initdb", "-D", cluster->data_dir_, "-U", kServerUser,
                                     "-A", "trust", "-E", "UTF8", "--no-instructions"},
                                    &output);
  if (rc != 0) {
    throw std::runtime_error("initdb failed (exit " + std::to_string(rc) + "):\n" + output);
  }
  std::string server_options =
      "-k " + cluster->socket_dir_ + " -p " + std::to_string(kPort) + " -c listen_addresses=";
  for (const std::string& s : settings.server_settings) server_options += " -c " + s;
  rc =
      cluster->RunAsServerUser({bin + "/pg_ctl", "-D", cluster->data_dir_, "-l", cluster->log_path_,
                                "-w", "-t", "120", "-o", server_options, "start"},
                               &output);
  if (rc != 0) {
    std::string log;
    try {
      log = ReadFile(cluster->log_path_);
    } catch (...) {
    }
    throw std::runtime_error("pg_ctl start failed (exit " + std::to_string(rc) + "):\n" + output +
                             "\nserver log:\n" + log);
  }
  cluster->running_ = true;
  return cluster;
}

PgCluster* PgCluster::Shared(std::string* why) {
  static std::mutex mu;
  static std::unique_ptr<PgCluster> shared;  // stopped by its destructor at exit
  static std::string failure;
  std::lock_guard<std::mutex> lock(mu);
  if (!shared && failure.empty()) {
    try {
      shared = Start();
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

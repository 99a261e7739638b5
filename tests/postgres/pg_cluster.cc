#include "postgres/pg_cluster.h"

#include <libpq-fe.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <thread>

#include "postgres/pg_cluster_registry.h"

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
  registry_record_ = RegisterPgCluster(socket_dir_, bin_dir_);  // invariant 5: before any server
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

namespace {

// pg_ctl -o: this cluster's socket, no TCP, and the caller's settings.
std::string ServerOptions(const std::string& socket_dir, int port,
                          const PgCluster::Settings& settings) {
  std::string options =
      "-k " + socket_dir + " -p " + std::to_string(port) + " -c listen_addresses=";
  for (const std::string& s : settings.server_settings) options += " -c " + s;
  return options;
}

}  // namespace

void PgCluster::InitAndStart(const Settings& settings) {
  std::string output;
  // trust: only this cluster's socket directory (mode 0700, its user's) reaches the server.
  const int rc = RunAsServerUser({bin_dir_ + "/initdb", "-D", data_dir_, "-U", kServerUser, "-A",
                                  "trust", "-E", "UTF8", "--no-instructions"},
                                 &output);
  if (rc != 0) {
    throw std::runtime_error("initdb failed (exit " + std::to_string(rc) + "):\n" + output);
  }
  server_options_ = ServerOptions(socket_dir_, kPort, settings);
  StartServer();
}

void PgCluster::StartServer() {
  if (dir_ && registry_record_.empty()) {
    throw std::logic_error("PgCluster: an owned cluster starts only once registered (invariant 5)");
  }
  std::string output;
  const int rc = RunAsServerUser({bin_dir_ + "/pg_ctl", "-D", data_dir_, "-l", log_path_, "-w",
                                  "-t", "120", "-o", server_options_, "start"},
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

std::unique_ptr<PgCluster> PgCluster::StartStandby(const PgCluster& primary,
                                                   const Settings& settings) {
  auto dir = std::make_unique<TempDir>();
  GiveToServerUser(dir->path());
  std::unique_ptr<PgCluster> standby(new PgCluster(std::move(dir), primary.bin_dir_));
  standby->server_options_ = ServerOptions(standby->socket_dir_, kPort, settings);
  standby->BaseBackupAndStart(primary);
  return standby;
}

void PgCluster::BaseBackupAndStart(const PgCluster& primary) {
  std::string output;
  // -R writes primary_conninfo (the primary's socket) and standby.signal; -X stream copies the
  // WAL the backup needs; -c fast does not wait for the next scheduled checkpoint.
  const int rc = RunAsServerUser(
      {bin_dir_ + "/pg_basebackup", "-D", data_dir_, "-h", primary.socket_dir_, "-p",
       std::to_string(kPort), "-U", kServerUser, "-R", "-X", "stream", "-c", "fast"},
      &output);
  if (rc != 0) {
    throw std::runtime_error("pg_basebackup failed (exit " + std::to_string(rc) + "):\n" + output);
  }
  StartServer();
}

namespace {

// The pids of the processes whose parent is `parent` (from /proc/<pid>/stat: the field after
// the command name, which may itself hold spaces and parentheses).
std::vector<pid_t> ChildrenOf(pid_t parent) {
  std::vector<pid_t> children;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in(entry.path() / "stat");
    std::string stat;
    if (!std::getline(in, stat)) continue;  // gone meanwhile
    const auto close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(stat.substr(close + 1));
    char state = 0;
    long ppid = 0;
    rest >> state >> ppid;
    if (ppid == parent) children.push_back(static_cast<pid_t>(std::stol(name)));
  }
  return children;
}

// Whether `pid` still runs: it exists and is not a zombie (a killed postmaster is not our child,
// and the machine's init may be slow to reap it, or never reap it in a container).
bool Running(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  if (!std::getline(in, stat)) return false;
  const auto close = stat.rfind(')');
  return close != std::string::npos && close + 2 < stat.size() && stat[close + 2] != 'Z';
}

}  // namespace

void PgCluster::Kill() {
  if (!running_) return;
  running_ = false;
  const pid_t pid = postmaster_pid();
  if (pid <= 0) return;
  ::kill(pid, SIGSTOP);
  std::vector<pid_t> children = ChildrenOf(pid);
  for (pid_t child : children) ::kill(child, SIGKILL);
  ::kill(pid, SIGKILL);
  children.push_back(pid);
  for (pid_t p : children) {
    for (int i = 0; i < 1000 && Running(p); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
}

void PgCluster::Promote() {
  std::string output;
  const int rc = RunAsServerUser(
      {bin_dir_ + "/pg_ctl", "-D", data_dir_, "-w", "-t", "120", "promote"}, &output);
  if (rc != 0) {
    throw std::runtime_error("pg_ctl promote failed (exit " + std::to_string(rc) + "):\n" + output);
  }
}

void PgCluster::RebuildAsStandbyOf(const PgCluster& primary) {
  if (running_ || server_options_.empty()) {
    throw std::logic_error("PgCluster::RebuildAsStandbyOf: only a killed cluster is rebuilt");
  }
  std::error_code ec;
  std::filesystem::remove_all(data_dir_, ec);
  if (ec) throw std::system_error(ec, "remove " + data_dir_);
  // The dead postmaster's socket and its lock file: a new postmaster refuses a lock file whose
  // pid still exists (a zombie nobody reaped counts).
  const std::string socket = socket_dir_ + "/.s.PGSQL." + std::to_string(kPort);
  std::filesystem::remove(socket, ec);
  std::filesystem::remove(socket + ".lock", ec);
  BaseBackupAndStart(primary);
}

std::string PgCluster::QueryValue(const std::string& sql, const std::string& database) const {
  PGconn* conn = ::PQconnectdb(conninfo(database).c_str());
  std::unique_ptr<PGconn, decltype(&::PQfinish)> owner(conn, &::PQfinish);
  if (::PQstatus(conn) != CONNECTION_OK) {
    throw std::runtime_error("connect to " + socket_dir_ + ": " + ::PQerrorMessage(conn));
  }
  std::unique_ptr<PGresult, decltype(&::PQclear)> result(::PQexec(conn, sql.c_str()), &::PQclear);
  const ExecStatusType status = ::PQresultStatus(result.get());
  if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
    throw std::runtime_error(sql + ": " + ::PQresultErrorMessage(result.get()));
  }
  if (::PQntuples(result.get()) == 0 || ::PQnfields(result.get()) == 0) return {};
  return ::PQgetvalue(result.get(), 0, 0);
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

PgCluster::~PgCluster() {
  Stop();
  if (!registry_record_.empty()) {
    dir_.reset();  // the directory goes before its record: a record never outlives its cluster
    UnregisterPgCluster(registry_record_);
  }
}

namespace {

// Whether `pid` is the postmaster of `data_dir`, and not a process that got its pid after the
// postmaster died: a postmaster works in its data directory (and names it on its command line).
bool IsPostmasterOf(pid_t pid, const std::string& data_dir) {
  const std::string proc = "/proc/" + std::to_string(pid);
  std::error_code ec;
  const auto cwd = std::filesystem::read_symlink(proc + "/cwd", ec);
  if (!ec) return cwd == std::filesystem::weakly_canonical(data_dir, ec);
  std::ifstream in(proc + "/cmdline");
  std::string cmdline((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return cmdline.find(std::string("-D") + '\0' + data_dir + '\0') != std::string::npos;
}

}  // namespace

void PgCluster::StopAbandoned(const std::string& dir, const std::string& bin_dir) {
  std::string bin = bin_dir;
  if (::access((bin + "/pg_ctl").c_str(), X_OK) != 0) {
    std::string why;
    bin = BinDir(&why);  // PostgreSQL upgraded meanwhile; empty: SIGKILL alone
  }
  PgCluster cluster(dir, bin);  // attached: its destructor stops nothing
  const pid_t pid = cluster.postmaster_pid();
  if (pid > 0 && Running(pid) && IsPostmasterOf(pid, cluster.data_dir_)) {
    if (!bin.empty()) {
      try {
        std::string output;
        cluster.RunAsServerUser(
            {bin + "/pg_ctl", "-D", cluster.data_dir_, "-m", "immediate", "-w", "-t", "60", "stop"},
            &output);
      } catch (...) {
      }
    }
    if (Running(pid)) {
      cluster.running_ = true;
      cluster.Kill();
    }
    if (Running(pid)) {
      throw std::runtime_error("postmaster " + std::to_string(pid) + " survived SIGKILL");
    }
  }
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  if (ec) throw std::system_error(ec, "remove " + dir);
}

PgCluster::ReapReport PgCluster::ReapAbandoned() {
  ReapReport report;
  const std::vector<PgClusterRecord> stopped = ForEachAbandonedPgCluster(
      [](const PgClusterRecord& record) { StopAbandoned(record.dir, record.bin_dir); },
      &report.failures);
  for (const PgClusterRecord& record : stopped) report.stopped_dirs.push_back(record.dir);
  return report;
}

}  // namespace statestore::test

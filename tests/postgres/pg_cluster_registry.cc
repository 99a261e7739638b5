#include "postgres/pg_cluster_registry.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <system_error>

namespace statestore::test {

namespace {

constexpr const char* kRecordSuffix = ".cluster";

// The fields of /proc/<pid>/stat this file needs. The command name (field 2) may hold spaces
// and parentheses, so the fields are counted from the last ')'.
struct ProcStat {
  char state = 0;                     // field 3: 'Z' zombie, 'X' dead
  unsigned long long start_time = 0;  // field 22
};

bool ReadProcStat(pid_t pid, ProcStat* out) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  if (!std::getline(in, stat)) return false;
  const auto close = stat.rfind(')');
  if (close == std::string::npos) return false;
  std::istringstream rest(stat.substr(close + 1));
  std::string field;
  rest >> out->state;
  for (int number = 4; number < 22; ++number) rest >> field;
  rest >> out->start_time;
  return static_cast<bool>(rest);
}

// The registry directory must be this user's alone (pg_cluster_registry.h: one per user): a
// record in it names a directory the reaper deletes.
void CheckPrivateDir(const std::string& dir) {
  struct stat st;
  if (::lstat(dir.c_str(), &st) != 0) {
    throw std::system_error(errno, std::generic_category(), "lstat " + dir);
  }
  if (!S_ISDIR(st.st_mode) || st.st_uid != ::geteuid() || (st.st_mode & 077) != 0) {
    throw std::runtime_error(dir +
                             " is not a directory of mode 0700 owned by this user; its records "
                             "are not trusted (remove it)");
  }
}

void WriteAll(int fd, const std::string& data, const std::string& path) {
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw std::system_error(errno, std::generic_category(), "write " + path);
    done += static_cast<std::size_t>(n);
  }
}

// Parses a record's text (the lines of pg_cluster_registry.h). False if a field is missing.
bool ParseRecord(const std::string& text, PgClusterRecord* record) {
  std::istringstream in(text);
  std::string line;
  bool has_pid = false;
  bool has_start = false;
  while (std::getline(in, line)) {
    const auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    const std::string key = line.substr(0, eq);
    const std::string value = line.substr(eq + 1);
    try {
      if (key == "owner_pid") {
        record->owner_pid = static_cast<pid_t>(std::stol(value));
        has_pid = true;
      } else if (key == "owner_start") {
        record->owner_start = std::stoull(value);
        has_start = true;
      } else if (key == "dir") {
        record->dir = value;
      } else if (key == "bin_dir") {
        record->bin_dir = value;
      }
    } catch (const std::exception&) {
      return false;
    }
  }
  // Only an absolute directory of its own is ever removed.
  return has_pid && has_start && record->owner_pid > 0 && record->dir.size() > 1 &&
         record->dir[0] == '/' && record->dir.find("/..") == std::string::npos;
}

std::string ReadFd(int fd) {
  std::string text;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    text.append(buf, static_cast<std::size_t>(n));
  }
  return text;
}

// Whether the open file `fd` still is the file at `path`: another reaper may have finished with
// the record (and removed it) between our open and our lock.
bool StillLinked(int fd, const std::string& path) {
  struct stat opened;
  struct stat linked;
  return ::fstat(fd, &opened) == 0 && ::stat(path.c_str(), &linked) == 0 &&
         opened.st_dev == linked.st_dev && opened.st_ino == linked.st_ino;
}

struct ClosesOnExit {
  int fd;
  ~ClosesOnExit() { ::close(fd); }
};

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() > suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// One record: lock (invariant 3), read, and if its owner is dead, stop its cluster and remove it.
void ReapOne(const std::string& path, const std::function<void(const PgClusterRecord&)>& stop,
             std::vector<PgClusterRecord>* reaped, std::vector<std::string>* failures) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return;             // removed meanwhile
  const ClosesOnExit closer{fd};  // closing also releases the lock
  int locked;
  while ((locked = ::flock(fd, LOCK_EX)) != 0 && errno == EINTR) {
  }
  if (locked != 0 || !StillLinked(fd, path)) return;  // another reaper stopped it
  PgClusterRecord record;
  record.path = path;
  if (!ParseRecord(ReadFd(fd), &record)) {
    failures->push_back(path + ": not a cluster record (left alone)");
    return;
  }
  if (PgClusterOwnerAlive(record.owner_pid, record.owner_start)) return;
  try {
    stop(record);
  } catch (const std::exception& e) {
    failures->push_back(record.dir + ": " + e.what());
    return;
  }
  ::unlink(path.c_str());
  reaped->push_back(record);
}

}  // namespace

std::string PgClusterRegistryDir() {
  return "/tmp/statestore-pg-clusters-" + std::to_string(::geteuid());
}

std::string PgClusterRecordPath(const std::string& cluster_dir) {
  return PgClusterRegistryDir() + "/" +
         std::filesystem::path(cluster_dir).lexically_normal().filename().string() + kRecordSuffix;
}

unsigned long long ProcessStartTime(pid_t pid) {
  ProcStat stat;
  return ReadProcStat(pid, &stat) ? stat.start_time : 0;
}

bool PgClusterOwnerAlive(pid_t pid, unsigned long long start) {
  if (::kill(pid, 0) != 0 && errno == ESRCH) return false;
  ProcStat stat;
  if (!ReadProcStat(pid, &stat)) {
    // Gone between kill() and the read, unless there is no /proc to read at all: then kill()
    // was the only witness, and it said the process exists.
    return ::access("/proc/self/stat", R_OK) != 0;
  }
  if (stat.state == 'Z' || stat.state == 'X') return false;
  return start == 0 || stat.start_time == start;
}

std::string RegisterPgCluster(const std::string& cluster_dir, const std::string& bin_dir) {
  const std::string registry = PgClusterRegistryDir();
  if (::mkdir(registry.c_str(), 0700) != 0 && errno != EEXIST) {
    throw std::system_error(errno, std::generic_category(), "mkdir " + registry);
  }
  CheckPrivateDir(registry);
  const pid_t self = ::getpid();
  const std::string text = "owner_pid=" + std::to_string(self) + "\n" +
                           "owner_start=" + std::to_string(ProcessStartTime(self)) + "\n" +
                           "dir=" + cluster_dir + "\n" + "bin_dir=" + bin_dir + "\n";
  const std::string path = PgClusterRecordPath(cluster_dir);
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "open " + tmp);
  try {
    WriteAll(fd, text, tmp);
  } catch (...) {
    ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {  // invariant 1
    const int err = errno;
    ::unlink(tmp.c_str());
    throw std::system_error(err, std::generic_category(), "rename " + tmp);
  }
  return path;
}

void UnregisterPgCluster(const std::string& record_path) noexcept { ::unlink(record_path.c_str()); }

std::vector<PgClusterRecord> ForEachAbandonedPgCluster(
    const std::function<void(const PgClusterRecord&)>& stop, std::vector<std::string>* failures) {
  std::vector<PgClusterRecord> reaped;
  const std::string registry = PgClusterRegistryDir();
  struct stat st;
  if (::lstat(registry.c_str(), &st) != 0 && errno == ENOENT) return reaped;  // nothing registered
  CheckPrivateDir(registry);
  std::vector<std::string> paths;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(registry, ec)) {
    const std::string path = entry.path().string();
    if (EndsWith(path, kRecordSuffix)) paths.push_back(path);
  }
  if (ec) throw std::system_error(ec, "list " + registry);
  for (const std::string& path : paths) ReapOne(path, stop, &reaped, failures);
  return reaped;
}

}  // namespace statestore::test

// Shared helpers for the statestore test suites: temporary directories, file access, child
// processes (the worker executable and the sqlite3 shell) and sanitizer-aware scaling.
//
// Every test creates its files in a fresh TempDir (mkdtemp under $TMPDIR or /tmp) and the
// directory is removed when the TempDir goes out of scope. Declare the TempDir before any Store so
// that the Store is closed first.
//
// Child processes are started with posix_spawn (never a bare fork: the gtest process has threads,
// and ThreadSanitizer does not survive fork-without-exec). Their stdin and stdout are pipes owned
// by the ChildProcess object; stderr is inherited so that a worker's complaints show up in the test
// log.
#ifndef STATESTORE_TESTS_TEST_UTIL_H_
#define STATESTORE_TESTS_TEST_UTIL_H_

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <mutex>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "statestore/error.h"
#include "statestore/value.h"

extern char** environ;

namespace statestore::test {

// ---------------------------------------------------------------------------------------------
// Sanitizers and scaling.

#if defined(STATESTORE_TEST_TSAN) || defined(__SANITIZE_THREAD__)
inline constexpr bool kUnderTsan = true;
#else
inline constexpr bool kUnderTsan = false;
#endif
#if defined(STATESTORE_TEST_ASAN) || defined(__SANITIZE_ADDRESS__)
inline constexpr bool kUnderAsan = true;
#else
inline constexpr bool kUnderAsan = false;
#endif
inline constexpr bool kUnderSanitizer = kUnderTsan || kUnderAsan;

// Multiplier for *upper* bounds on waits (never for lower bounds): sanitizers make everything
// 5-20x slower and the test machine has 2 cores.
inline constexpr int kSlowFactor = kUnderSanitizer ? 10 : 1;

// Path of the worker executable (tests/worker_main.cc), passed in by CMake.
#ifdef STATESTORE_TEST_WORKER
inline const char* const kWorkerPath = STATESTORE_TEST_WORKER;
#else
inline const char* const kWorkerPath = "statestore_test_worker";
#endif

#ifdef STATESTORE_TEST_SQLITE3_SHELL
inline const char* const kSqliteShellPath = STATESTORE_TEST_SQLITE3_SHELL;
#else
inline const char* const kSqliteShellPath = "/usr/bin/sqlite3";
#endif

// ---------------------------------------------------------------------------------------------
// Files.

// A fresh directory under $TMPDIR (or /tmp), removed recursively on destruction.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = (base != nullptr && *base != '\0') ? base : "/tmp";
    tmpl += "/statestore-test-XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (mkdtemp(buf.data()) == nullptr) {
      throw std::system_error(errno, std::generic_category(), "mkdtemp " + tmpl);
    }
    path_ = buf.data();
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // `path()/name`.
  std::string file(std::string_view name) const { return path_ + "/" + std::string(name); }

 private:
  std::string path_;
};

inline bool FileExists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline void WriteFile(const std::string& path, std::string_view data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw std::runtime_error("cannot write " + path);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
  if (!out) throw std::runtime_error("write failed: " + path);
}

inline std::uint64_t FileSize(const std::string& path) {
  std::error_code ec;
  auto size = std::filesystem::file_size(path, ec);
  return ec ? 0 : static_cast<std::uint64_t>(size);
}

// Sorted names of the entries of `dir`.
inline std::vector<std::string> ListDir(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

// Number of open file descriptors of this process.
inline int CountOpenFds() {
  int n = 0;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++n;
  }
  return n;
}

inline std::string ToLower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

inline bool Contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

// ---------------------------------------------------------------------------------------------
// Errors.

// Runs `fn` and returns the statestore::Error it threw, or nullopt if it threw nothing. Any other
// exception propagates (and fails the test).
inline std::optional<statestore::Error> CatchError(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const statestore::Error& e) {
    return e;
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// Threads.

// Errors seen by a test's worker threads, reported on the main thread: the first 20 kept, all
// counted.
class ThreadErrors {
 public:
  void Add(const std::string& what) {
    std::lock_guard<std::mutex> lock(mu_);
    if (errors_.size() < 20) errors_.push_back(what);
    ++count_;
  }
  int count() const {
    std::lock_guard<std::mutex> lock(mu_);
    return count_;
  }
  std::string Summary() const {
    std::lock_guard<std::mutex> lock(mu_);
    std::string s;
    for (const auto& e : errors_) s += "  " + e + "\n";
    return s;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> errors_;
  int count_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Child processes.

// A child process with its stdin and stdout connected to pipes. Killed (SIGKILL) and reaped on
// destruction if still running.
class ChildProcess {
 public:
  // Starts `argv[0]` (a path) with `argv`. Throws std::system_error on failure.
  static ChildProcess Spawn(const std::vector<std::string>& argv) {
    int in_pipe[2];
    int out_pipe[2];
    if (::pipe2(in_pipe, O_CLOEXEC) != 0) {
      throw std::system_error(errno, std::generic_category(), "pipe2");
    }
    if (::pipe2(out_pipe, O_CLOEXEC) != 0) {
      int err = errno;
      ::close(in_pipe[0]);
      ::close(in_pipe[1]);
      throw std::system_error(err, std::generic_category(), "pipe2");
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    // dup2 clears FD_CLOEXEC on the target; every other pipe end closes on exec.
    posix_spawn_file_actions_adddup2(&actions, in_pipe[0], STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&actions, out_pipe[1], STDOUT_FILENO);

    std::vector<char*> cargv;
    for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
    cargv.push_back(nullptr);

    pid_t pid = 0;
    int rc = ::posix_spawn(&pid, argv.at(0).c_str(), &actions, nullptr, cargv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(in_pipe[0]);
    ::close(out_pipe[1]);
    if (rc != 0) {
      ::close(in_pipe[1]);
      ::close(out_pipe[0]);
      throw std::system_error(rc, std::generic_category(), "posix_spawn " + argv.at(0));
    }
    // A child that exits early must not kill us with SIGPIPE when we write to it.
    ::signal(SIGPIPE, SIG_IGN);
    return ChildProcess(pid, in_pipe[1], out_pipe[0]);
  }

  // Starts the test worker with `args`.
  static ChildProcess SpawnWorker(const std::vector<std::string>& args) {
    std::vector<std::string> argv{kWorkerPath};
    argv.insert(argv.end(), args.begin(), args.end());
    return Spawn(argv);
  }

  ChildProcess(ChildProcess&& other) noexcept { *this = std::move(other); }
  ChildProcess& operator=(ChildProcess&& other) noexcept {
    if (this != &other) {
      Cleanup();
      pid_ = std::exchange(other.pid_, -1);
      stdin_fd_ = std::exchange(other.stdin_fd_, -1);
      stdout_fd_ = std::exchange(other.stdout_fd_, -1);
      buffer_ = std::move(other.buffer_);
      exit_code_ = std::exchange(other.exit_code_, std::nullopt);
    }
    return *this;
  }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess() { Cleanup(); }

  pid_t pid() const { return pid_; }

  // Writes all of `data` to the child's stdin. Returns false if the child closed it.
  bool Write(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::write(stdin_fd_, data.data(), data.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return false;
      }
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  void CloseStdin() {
    if (stdin_fd_ >= 0) ::close(stdin_fd_);
    stdin_fd_ = -1;
  }

  // Reads one line (without the '\n') from the child's stdout, waiting at most `timeout`.
  // Returns nullopt on timeout or end of file.
  std::optional<std::string> ReadLine(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto nl = buffer_.find('\n');
      if (nl != std::string::npos) {
        std::string line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        return line;
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      if (!ReadSome(left)) return std::nullopt;
    }
  }

  // Reads lines until one equals `expected` (other lines are appended to `*skipped` if given).
  bool WaitForLine(std::string_view expected, std::chrono::milliseconds timeout,
                   std::string* skipped = nullptr) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      auto line = ReadLine(left);
      if (!line) return false;
      if (*line == expected) return true;
      if (skipped != nullptr) *skipped += *line + "\n";
    }
  }

  // Reads the rest of stdout until EOF (or `timeout`).
  std::string ReadAll(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0 || !ReadSome(left)) break;
    }
    return std::exchange(buffer_, std::string());
  }

  // Sends `signal` to the child (if it is still running).
  void Kill(int signal) {
    if (pid_ > 0) ::kill(pid_, signal);
  }

  // Waits for the child to exit (killing it after `timeout`). Returns the exit code, or 128+signal
  // if it was killed by a signal, or -1 if it had to be killed after the timeout.
  int Wait(std::chrono::milliseconds timeout) {
    if (exit_code_) return *exit_code_;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      int status = 0;
      pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        pid_ = -1;
        return *exit_code_;
      }
      if (r < 0 && errno != EINTR) {
        exit_code_ = -1;
        pid_ = -1;
        return -1;
      }
      if (std::chrono::steady_clock::now() >= deadline) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        pid_ = -1;
        exit_code_ = -1;
        return -1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }

 private:
  ChildProcess(pid_t pid, int stdin_fd, int stdout_fd)
      : pid_(pid), stdin_fd_(stdin_fd), stdout_fd_(stdout_fd) {}

  // Appends whatever is available within `timeout` to buffer_. False on EOF/error/timeout.
  bool ReadSome(std::chrono::milliseconds timeout) {
    if (stdout_fd_ < 0) return false;
    struct pollfd pfd {
      stdout_fd_, POLLIN, 0
    };
    int r = ::poll(&pfd, 1, static_cast<int>(std::max<std::int64_t>(timeout.count(), 0)));
    if (r < 0) return errno == EINTR;
    if (r == 0) return false;
    char chunk[4096];
    ssize_t n = ::read(stdout_fd_, chunk, sizeof chunk);
    if (n < 0) return errno == EINTR;
    if (n == 0) {
      ::close(stdout_fd_);
      stdout_fd_ = -1;
      return false;
    }
    buffer_.append(chunk, static_cast<std::size_t>(n));
    return true;
  }

  void Cleanup() {
    CloseStdin();
    if (stdout_fd_ >= 0) ::close(stdout_fd_);
    stdout_fd_ = -1;
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
      pid_ = -1;
    }
  }

  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  int stdout_fd_ = -1;
  std::string buffer_;
  std::optional<int> exit_code_;
};

// Splits `line` at spaces.
inline std::vector<std::string> SplitWords(const std::string& line) {
  std::vector<std::string> words;
  std::istringstream in(line);
  std::string w;
  while (in >> w) words.push_back(w);
  return words;
}

}  // namespace statestore::test

namespace statestore {

// Readable gtest output for Values (found by ADL).
inline void PrintTo(const Value& v, std::ostream* os) {
  *os << ToString(v.type()) << " " << v.to_display(200);
}

}  // namespace statestore

#endif  // STATESTORE_TESTS_TEST_UTIL_H_

// Running a program to completion with a deadline, for tests where a hang is the bug (an open
// that blocks on a FIFO, a restore that never returns): the program is killed when the deadline
// passes and the test sees timed_out instead of blocking ctest.
#ifndef STATESTORE_TESTS_RUN_UTIL_H_
#define STATESTORE_TESTS_RUN_UTIL_H_

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "test_util.h"

namespace statestore::test {

#ifdef STATESTORE_TEST_STATECTL
inline const char* const kStatectlPath = STATESTORE_TEST_STATECTL;
#else
inline const char* const kStatectlPath = "statectl";
#endif

struct RunResult {
  int code = -1;  // exit status, 128 + signal if killed by one
  bool timed_out = false;
  std::string out;
  std::string err;
  std::chrono::milliseconds elapsed{0};

  std::string Describe() const {
    return (timed_out ? std::string("TIMED OUT") : "exit " + std::to_string(code)) + " after " +
           std::to_string(elapsed.count()) + " ms\n--- stdout\n" + out + "--- stderr\n" + err;
  }
};

// Runs argv[0] (a path) with stdin from /dev/null; kills it with SIGKILL after `timeout`.
inline RunResult RunCommand(const std::vector<std::string>& argv,
                            std::chrono::milliseconds timeout) {
  int out_pipe[2];
  int err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0) {
    throw std::system_error(errno, std::generic_category(), "pipe2");
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], STDERR_FILENO);
  std::vector<std::string> args = argv;
  std::vector<char*> cargv;
  for (auto& a : args) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  const auto start = std::chrono::steady_clock::now();
  pid_t pid = 0;
  int rc = ::posix_spawn(&pid, args.at(0).c_str(), &actions, nullptr, cargv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  if (rc != 0) {
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    throw std::system_error(rc, std::generic_category(), "posix_spawn " + args.at(0));
  }
  RunResult r;
  const auto deadline = start + timeout;
  struct pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  int open_fds = 2;
  while (open_fds > 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      r.timed_out = true;
      break;
    }
    int n = ::poll(fds, 2, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) continue;
    for (auto& f : fds) {
      if (f.fd < 0 || f.revents == 0) continue;
      char buf[8192];
      ssize_t got = ::read(f.fd, buf, sizeof buf);
      if (got > 0) {
        (&f == &fds[0] ? r.out : r.err).append(buf, static_cast<std::size_t>(got));
      } else if (got == 0 || errno != EINTR) {
        ::close(f.fd);
        f.fd = -1;
        --open_fds;
      }
    }
  }
  for (auto& f : fds) {
    if (f.fd >= 0) ::close(f.fd);
  }
  int status = 0;
  for (;;) {
    pid_t w = ::waitpid(pid, &status, WNOHANG);
    if (w == pid) break;
    if (std::chrono::steady_clock::now() >= deadline) {
      r.timed_out = true;
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
  return r;
}

inline RunResult RunStatectl(const std::vector<std::string>& args,
                             std::chrono::milliseconds timeout) {
  std::vector<std::string> argv{kStatectlPath};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv, timeout);
}

inline RunResult RunWorker(const std::vector<std::string>& args,
                           std::chrono::milliseconds timeout) {
  std::vector<std::string> argv{kWorkerPath};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv, timeout);
}

}  // namespace statestore::test

#endif  // STATESTORE_TESTS_RUN_UTIL_H_

// Runs the built statectl binary for the statectl suites (statectl_test, statectl_misuse_test):
// posix_spawn with a chosen environment and standard input, collects stdout and stderr, and
// kills the child when it runs past a deadline (a command that hangs fails its test instead of
// the whole suite).
#ifndef STATESTORE_TESTS_STATECTL_RUNNER_H_
#define STATESTORE_TESTS_STATECTL_RUNNER_H_

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <string>
#include <system_error>
#include <vector>

#ifndef STATESTORE_TEST_STATECTL
#define STATESTORE_TEST_STATECTL "statectl"
#endif

extern char** environ;

namespace statestore::test {

inline const char* const kStatectl = STATESTORE_TEST_STATECTL;

struct CtlResult {
  int code = -1;  // exit code, 128 + signal, or -2 when killed at the deadline
  std::string out;
  std::string err;
  bool timed_out = false;
};

struct CtlOptions {
  // Added to the environment; "NAME=" removes NAME. By default $STATESTORE_DB is removed.
  std::vector<std::string> env = {"STATESTORE_DB="};
  std::string stdin_path = "/dev/null";  // opened read-only as standard input
  std::chrono::milliseconds timeout = std::chrono::seconds(120);
};

inline CtlResult RunStatectl(const std::vector<std::string>& args, const CtlOptions& options = {}) {
  int out_pipe[2];
  int err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0) {
    throw std::system_error(errno, std::generic_category(), "pipe2");
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, options.stdin_path.c_str(), O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], STDERR_FILENO);
  std::vector<std::string> argv_s{kStatectl};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_s;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string v = *e;
    bool overridden = false;
    for (const auto& o : options.env) {
      if (v.rfind(o.substr(0, o.find('=') + 1), 0) == 0) overridden = true;
    }
    if (!overridden) env_s.push_back(v);
  }
  for (const auto& o : options.env) {
    if (o.back() != '=') env_s.push_back(o);
  }
  std::vector<char*> envp;
  for (auto& e : env_s) envp.push_back(e.data());
  envp.push_back(nullptr);
  pid_t pid = 0;
  int rc = ::posix_spawn(&pid, kStatectl, &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  if (rc != 0) {
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    throw std::system_error(rc, std::generic_category(), "posix_spawn statectl");
  }
  CtlResult r;
  const auto deadline = std::chrono::steady_clock::now() + options.timeout;
  struct pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  int open_fds = 2;
  while (open_fds > 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      r.timed_out = true;
      break;
    }
    int n = ::poll(fds, 2, static_cast<int>(std::min<long long>(left.count(), 1000)));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buf[8192];
      ssize_t got = ::read(fds[i].fd, buf, sizeof buf);
      if (got > 0) {
        (i == 0 ? r.out : r.err).append(buf, static_cast<std::size_t>(got));
      } else if (got == 0 || errno != EINTR) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  if (r.timed_out) ::kill(pid, SIGKILL);
  for (auto& f : fds) {
    if (f.fd >= 0) ::close(f.fd);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  r.code = r.timed_out ? -2 : WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

inline std::string Describe(const CtlResult& r) {
  return "exit " + std::to_string(r.code) + (r.timed_out ? " (killed: timed out)" : "") +
         "\n--- stdout\n" + r.out + "--- stderr\n" + r.err;
}

}  // namespace statestore::test

#endif  // STATESTORE_TESTS_STATECTL_RUNNER_H_

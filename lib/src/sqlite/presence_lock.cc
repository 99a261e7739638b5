#include "sqlite/presence_lock.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

#include "statestore/error.h"

namespace statestore::internal {

namespace {

struct flock Range(off_t start, off_t length, short type) {
  struct flock fl {};
  fl.l_type = type;
  fl.l_whence = SEEK_SET;
  fl.l_start = start;
  fl.l_len = length;
  fl.l_pid = 0;  // required for OFD locks
  return fl;
}

}  // namespace

std::unique_ptr<PresenceLock> PresenceLock::Open(const std::string& canonical_path, bool writable) {
  int flags = O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | (writable ? O_RDWR : O_RDONLY);
  int fd = ::open(canonical_path.c_str(), flags);
  if (fd < 0) {
    int err = errno;
    if (err == ENOENT) {
      throw Error(ErrorCode::kNotFound, canonical_path + ": no such database file");
    }
    if (writable && (err == EROFS || err == EACCES || err == EPERM)) {
      throw Error(ErrorCode::kReadOnly, "cannot open " + canonical_path +
                                            " for writing: " + std::strerror(err) +
                                            " (open it with Options::read_only to read it)");
    }
    throw Error(ErrorCode::kIoError, "cannot open " + canonical_path + ": " + std::strerror(err));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    throw Error(ErrorCode::kIoError, "cannot stat " + canonical_path + ": " + std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error(ErrorCode::kInvalidArgument, canonical_path + ": not a regular file");
  }
  return std::unique_ptr<PresenceLock>(new PresenceLock(canonical_path, fd, writable, st));
}

PresenceLock::~PresenceLock() {
  if (fd_ >= 0) ::close(fd_);
}

bool PresenceLock::TryLock(off_t start, off_t length, short type) {
  struct flock fl = Range(start, length, type);
  for (;;) {
    if (::fcntl(fd_, F_OFD_SETLK, &fl) == 0) return true;
    if (errno == EINTR) continue;
    const int err = errno;
    if (err == EAGAIN || err == EACCES) return false;
    throw Error(ErrorCode::kIoError,
                "cannot lock " + path_ + " (fcntl F_OFD_SETLK): " + std::strerror(err));
  }
}

short PresenceLock::Conflicting(off_t start, off_t length, short type) const {
  struct flock fl = Range(start, length, type);
  if (::fcntl(fd_, F_OFD_GETLK, &fl) != 0) {
    const int err = errno;
    throw Error(ErrorCode::kIoError,
                "cannot test locks on " + path_ + " (fcntl F_OFD_GETLK): " + std::strerror(err));
  }
  return fl.l_type;
}

void PresenceLock::LockShared(std::chrono::milliseconds wait) {
  // Invariant 3: poll, so that the wait is bounded.
  const auto deadline = std::chrono::steady_clock::now() + wait;
  auto pause = std::chrono::microseconds(200);
  while (!TryLock(kPresenceByte, 1, F_RDLCK)) {
    if (std::chrono::steady_clock::now() >= deadline) {
      throw Error(ErrorCode::kBusy,
                  "a restore (or another exclusive operation) holds " + path_ + "; waited " +
                      std::to_string(wait.count()) +
                      " ms (Options::busy_timeout). Try again when it has finished");
    }
    std::this_thread::sleep_for(pause);
    pause = std::min<std::chrono::microseconds>(pause * 2, std::chrono::milliseconds(10));
  }
}

void PresenceLock::LockExclusive(const std::string& what) {
  if (!TryLock(kPresenceByte, 1, F_WRLCK)) {
    throw Error(ErrorCode::kBusy, "other processes have " + path_ + " open; stop them before " +
                                      what + " (nothing was changed)");
  }
}

}  // namespace statestore::internal

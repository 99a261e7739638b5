#include "shared_generation.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

namespace statestore::internal {

namespace {

constexpr std::size_t kFileSize = 4096;
static_assert(std::atomic_ref<std::uint64_t>::is_always_lock_free,
              "the shared counter must be lock-free to work across processes");

}  // namespace

std::unique_ptr<SharedGeneration> SharedGeneration::Open(const std::string& db_path, bool writable,
                                                         std::string* why) {
  std::string path = db_path + "-gen";
  int flags = O_CLOEXEC | O_NOFOLLOW | (writable ? O_RDWR | O_CREAT : O_RDONLY);
  int fd = ::open(path.c_str(), flags, 0600);
  if (fd < 0) {
    *why = path + ": " + std::strerror(errno);
    return nullptr;
  }
  struct stat st {};
  bool ok = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
  if (ok && !writable && st.st_size < static_cast<off_t>(kFileSize)) {
    *why = path + ": not initialized by a writer yet";
    ok = false;
  } else if (ok && st.st_size < static_cast<off_t>(kFileSize)) {
    // Zero-filled blocks, really allocated; concurrent openers may both do this harmlessly.
    int rc = ::posix_fallocate(fd, 0, kFileSize);
    if (rc != 0) {
      *why = path + ": cannot reserve space: " + std::strerror(rc);
      ok = false;
    }
  } else if (!ok) {
    *why = path + ": not a regular file";
  }
  void* mapping = MAP_FAILED;
  if (ok) {
    int prot = writable ? PROT_READ | PROT_WRITE : PROT_READ;
    mapping = ::mmap(nullptr, kFileSize, prot, MAP_SHARED, fd, 0);
    if (mapping == MAP_FAILED) *why = path + ": mmap: " + std::strerror(errno);
  }
  ::close(fd);  // the mapping keeps the file referenced
  if (mapping == MAP_FAILED) return nullptr;
  return std::unique_ptr<SharedGeneration>(new SharedGeneration(mapping, kFileSize));
}

SharedGeneration::~SharedGeneration() { ::munmap(mapping_, size_); }

std::uint64_t SharedGeneration::Load() const {
  return std::atomic_ref<std::uint64_t>(*counter()).load(std::memory_order_acquire);
}

std::uint64_t SharedGeneration::Bump() {
  return std::atomic_ref<std::uint64_t>(*counter()).fetch_add(1, std::memory_order_acq_rel);
}

}  // namespace statestore::internal

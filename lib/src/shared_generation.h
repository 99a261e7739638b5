// SharedGeneration — a 64-bit change counter shared by every process that has the file open.
//
// It lives in a small file beside the database ("<db>-gen", mode 0600, like SQLite's "-shm"),
// mapped MAP_SHARED. Writers bump it around each commit (see read_cache.h for the protocol);
// readers load it on every cached read, which costs one atomic load instead of an SQLite round
// trip. Only the counter's changes carry meaning, never its value.
//
// The page is reserved with posix_fallocate before it is mapped: a store to a mapped page that
// the file system cannot back (disk full) would be a SIGBUS. If the file cannot be created or
// reserved (read-only directory, full disk), the generation is unavailable and the Store runs
// without a read cache rather than with an incoherent one.
#ifndef STATESTORE_SRC_SHARED_GENERATION_H_
#define STATESTORE_SRC_SHARED_GENERATION_H_

#include <cstdint>
#include <memory>
#include <string>

namespace statestore::internal {

class SharedGeneration {
 public:
  // Returns null (and fills *why) when the file cannot be set up. A read-only Store maps an
  // existing file read-only (it never bumps) and never creates one.
  static std::unique_ptr<SharedGeneration> Open(const std::string& db_path, bool writable,
                                                std::string* why);
  SharedGeneration(const SharedGeneration&) = delete;
  SharedGeneration& operator=(const SharedGeneration&) = delete;
  ~SharedGeneration();

  std::uint64_t Load() const;
  // Returns the value before the increment.
  std::uint64_t Bump();

 private:
  SharedGeneration(void* mapping, std::size_t size) : mapping_(mapping), size_(size) {}
  std::uint64_t* counter() const { return static_cast<std::uint64_t*>(mapping_); }

  void* mapping_;
  std::size_t size_;
};

}  // namespace statestore::internal

#endif  // STATESTORE_SRC_SHARED_GENERATION_H_

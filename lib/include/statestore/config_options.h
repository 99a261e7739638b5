// statestore::ConfigOptions — how the Config API of a Store behaves (Options::config).
// Kept apart from config.h so that options.h does not pull in the whole Config interface.
#ifndef STATESTORE_CONFIG_OPTIONS_H_
#define STATESTORE_CONFIG_OPTIONS_H_

#include <chrono>
#include <cstddef>
#include <string>

namespace statestore {

struct ConfigOptions {
  // The named profile layer this process reads and writes ("production", "test", ...): 1..64
  // characters from [a-z0-9_-]. Empty (the default) means no profile layer: reads resolve
  // overrides > defaults, and writes to ConfigLayer::kProfile are refused. Every process sharing
  // a file may choose its own profile; the profile layers are stored side by side.
  std::string profile;

  // A JSON file of built-in defaults loaded when the Store opens (same format as
  // Config::load_defaults_json). Empty = none. A missing or malformed file fails Store::open
  // with kInvalidArgument.
  std::string defaults_file;

  // How often the watch dispatcher checks for commits by other processes when watches exist. The
  // check is one atomic load of the shared change counter (an SQLite read only when it moved), so
  // a short interval costs little. Commits made through this process's Config are seen at once.
  std::chrono::milliseconds watch_poll_interval{2};

  // At most this many commits are read from history per step of one watch (bounds memory when a
  // watch catches up on a long backlog).
  std::size_t watch_batch = 256;
};

}  // namespace statestore

#endif  // STATESTORE_CONFIG_OPTIONS_H_

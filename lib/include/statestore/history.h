// statestore history — the durable record of every committed transaction.
//
// Each commit that changed something gets a Revision, a UTC timestamp, an origin and its list of
// changes. History rows are written in the same SQLite transaction as the state they describe, so
// the two never disagree: a rolled-back transaction leaves no history, and a committed one is
// never missing from it (until retention compacts it away).
#ifndef STATESTORE_HISTORY_H_
#define STATESTORE_HISTORY_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "statestore/revision.h"
#include "statestore/value.h"

namespace statestore {

using Clock = std::chrono::system_clock;

// Who committed: the process and OS thread (Linux TID), and a free-form label (Options or
// TransactOptions or Transaction::set_label).
struct Origin {
  std::int64_t pid = 0;
  std::int64_t thread_id = 0;
  std::string label;
};

// Why a key changed.
enum class ChangeKind : std::uint8_t {
  kWrite = 0,   // a put, erase, expire/persist or revert by a transaction body
  kExpiry = 1,  // its time-to-live ran out (transaction.h, PutOptions::ttl): new_value is nullopt
  // its keyspace was full (Transaction::set_max_keys) and it was the least recently written key:
  // new_value is nullopt
  kEviction = 2,
};

// One write. `old_value` is nullopt when the key did not exist before; `new_value` is nullopt when
// the write erased it. A key written several times in one transaction has one Change per write,
// in order, so replaying changes in (revision, order) reproduces the state exactly.
//
// In a redacted keyspace (Options::redacted_keyspaces) `redacted` is true and each present value
// is instead Value(Bytes) holding the value's 32-byte keyed digest (Store::value_digest, keyed
// with Options::redaction_key or the key file): replay compares digests, and without the key
// nobody can tell which value a digest stands for, even by hashing guesses.
struct Change {
  std::string keyspace;
  std::string key;
  std::optional<Value> old_value;
  std::optional<Value> new_value;
  bool redacted = false;
  ChangeKind kind = ChangeKind::kWrite;
  // The key's deadline after this change (Entry::expires_at); of a kExpiry, the deadline that
  // passed. nullopt: none.
  std::optional<Clock::time_point> expires_at;
};

struct Commit {
  Revision revision = 0;
  Clock::time_point time;  // UTC, microsecond precision
  Origin origin;
  std::vector<Change> changes;
  // True when history retention removed the changes of some keyspace of this commit and kept
  // others (per-keyspace policies, HistoryPolicy): `changes` is then not the whole transaction,
  // and Store::revert refuses it.
  bool partial = false;
};

// A history query. All set filters must match. Changes of a commit that do not match the
// keyspace/key_prefix filters are left out of the result, and a commit with no matching change
// is left out entirely.
struct HistoryQuery {
  Revision from_revision = 0;              // inclusive; 0 = the oldest retained revision
  Revision to_revision = 0;                // inclusive; 0 = the head revision
  std::optional<Clock::time_point> since;  // commit time >= since
  std::optional<Clock::time_point> until;  // commit time < until
  std::string keyspace;                    // empty = every keyspace
  std::string key_prefix;                  // empty = every key
  std::optional<std::string> label;        // exact origin label
  std::optional<std::int64_t> pid;         // origin process
  std::size_t limit = 0;                   // at most this many commits (0 = no limit)
  bool newest_first = false;
};

// The retained range. Store-wide (Store::history_bounds()): every revision first..head is in
// history with all its changes (first > head when empty); `compacted_through` is the highest
// revision of which retention removed any part (0 if none), so the changes after revision H are
// all in history iff H >= compacted_through. Older revisions may still be there, partly
// (Commit::partial) or wholly when only other keyspaces' changes were removed.
// Of one keyspace (Store::history_bounds(keyspace)): every change of that keyspace in revisions
// first..head is in history; `compacted_through` is the highest revision at which a change of
// that keyspace was removed.
struct HistoryBounds {
  Revision first = 1;
  Revision head = 0;
  Revision compacted_through = 0;
};

struct RevertOptions {
  // Revert even if a later transaction changed one of the same keys (its change is overwritten).
  bool force = false;
  // Origin label of the reverting commit; empty = "revert <rev>".
  std::string label;
};

}  // namespace statestore

#endif  // STATESTORE_HISTORY_H_

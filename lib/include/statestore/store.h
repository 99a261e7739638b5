// statestore::Store — an open database file and everything that hangs off it.
//
// Thread safety: a Store is safe for concurrent use from any number of threads without external
// synchronization. Several processes may open the same file at once; their commits are
// serialized by SQLite's write lock and every process sees every other's commits.
//
// Open the same file twice in one process and you get the same Store back (one cache, one
// writer per file per process). The Store closes when the last shared_ptr to it is released;
// that must not happen inside a transaction body.
//
// After a commit fails with kIoError or kFull (a failed write or fsync), the Store refuses every
// later write with kIoError until it is reopened: after a failed fsync the state of the file on
// disk is unknown, and carrying on could acknowledge commits that are not durable (LevelDB makes
// the same choice). Reads keep working.
//
// Files. Besides the database, a Store uses NAME-wal and NAME-shm (SQLite's) and NAME-gen (a 4 KiB
// change counter every process maps). The database must have one name: a file with more than one
// hard link is refused (SQLite names -wal/-shm after the path, so two names mean two WALs and
// lost commits). Side files that are not regular files with one link (a FIFO, a symlink, a
// directory, another user's file) are refused with a message saying what to do, never waited on.
// If NAME-gen is truncated while processes run, they keep working (reads bypass the cache until
// it is repaired, which any writer does within about a second); if it is deleted, the running
// processes stay coherent but a new read-write open is refused until they have been restarted.
// Every Store holds a shared presence lock on the database file for its whole life, so that
// Restore (statestore/admin.h) can tell that the file is in use.
//
// fork(). A child process must never use a Store (or a Watch) it inherited: SQLite connections
// do not survive fork. It may release inherited Stores — that joins no thread, closes no SQLite
// connection and no descriptor of the database (they are leaked on purpose) — and then exec, or
// go on with Stores of *other* files. It cannot open a file the parent had open when it forked
// (Store::open refuses with kInvalidArgument): SQLite's per-process lock bookkeeping for that file
// was inherited with the leaked connections. A child that needs the same file should exec.
#ifndef STATESTORE_STORE_H_
#define STATESTORE_STORE_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "statestore/error.h"
#include "statestore/history.h"
#include "statestore/options.h"
#include "statestore/revision.h"
#include "statestore/stats.h"
#include "statestore/store_layer.h"
#include "statestore/transaction.h"
#include "statestore/value.h"

namespace spdlog {
class logger;
}

namespace statestore {

class Config;    // statestore/config.h
class Sessions;  // statestore/session.h

class Store {
 public:
  using Body = std::function<void(Transaction&)>;

  // Opens (creating if allowed) the database at `path` and brings its schema up to date.
  // `path` may instead be a PostgreSQL connection string — a postgresql:// or postgres:// URI, or
  // libpq's key=value form (a file named like "a=b" needs "./" in front) — for the same API on a
  // database server (README "PostgreSQL"); there, what follows about files does not apply, and
  // the server being unreachable is kUnavailable.
  // An existing empty (0-byte) file is initialized as a new store by a read-write open (a crash
  // while statestore creates a file can leave one) and refused as kCorruption ("empty file, not
  // a statestore database") by a read-only open. On read-only storage (a read-only directory or
  // mount, where SQLite cannot create its -shm) a read-only open reads the main file with
  // SQLite's immutable=1 when the -wal is absent or empty, and is refused with kReadOnly when the
  // -wal holds commits (copy NAME and NAME-wal to writable storage instead).
  // Throws: Error(kCorruption) for a file that is not a statestore database or is damaged;
  // kSchemaTooNew for a file written by a newer statestore; kNotFound for a missing file with
  // read_only or !create_if_missing; kInvalidArgument for a network file system, a file with
  // several hard links or a bad side file (see "Files" above), a file the parent process had
  // open before fork(), options that contradict a Store already open on the same file in this
  // process, or (writable) a redaction key that is missing or not the one the file was made with
  // (Options::redaction_key); kBusy when a restore holds the file for longer than busy_timeout,
  // or when NAME-gen was deleted or replaced while other processes have the file open (restart
  // them); kReadOnly for a read-write open of a file or directory that cannot be written;
  // kIoError.
  // A refused file is left byte-for-byte unchanged.
  static std::shared_ptr<Store> open(const std::string& path, const Options& options = {});

  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;
  virtual ~Store() = default;

  // Runs `body` in one write transaction and commits it. Returns the revision of the commit, or
  // the current head revision if the body changed nothing (no revision is used up then).
  //
  // If the body throws, every write it made is rolled back — state, history and cache — and the
  // exception propagates unchanged. The body may run more than once: when a lock wait or an
  // SQLite-level retry forces the transaction to start over, the body is run again from scratch,
  // so it must not have side effects outside `tx` that cannot be repeated.
  // Concurrent callers' bodies may be run by one thread inside one SQLite transaction (group
  // commit); each body still commits or rolls back on its own, and transact() returns only once
  // the caller's commit is durable as Options::durability promises.
  //
  // Throws: whatever the body throws; Error(kBusy) if the write lock could not be had within
  // busy_timeout; kReadOnly, kIoError, kFull; kInvalidArgument when called from inside a body.
  virtual Revision transact(const Body& body, const TransactOptions& options = {}) = 0;

  // Runs `body` on one consistent read snapshot. Writes through `tx` throw Error(kReadOnly).
  virtual void read(const Body& body) = 0;

  // Single reads, answered from the read cache when possible. A read that starts after any
  // commit (from this process or another) returned sees that commit.
  // Throws: Error(kCorruption) naming the key if its stored row does not decode (see
  // Transaction::get).
  virtual std::optional<Value> get(std::string_view keyspace, std::string_view key) = 0;
  virtual std::optional<Entry> get_entry(std::string_view keyspace, std::string_view key) = 0;
  // Uncached, one snapshot; see Transaction::list.
  virtual std::vector<Entry> list(std::string_view keyspace, std::string_view prefix = {},
                                  std::size_t limit = 0) = 0;
  // Keyspace names that exist, sorted.
  virtual std::vector<std::string> keyspaces() = 0;

  // Single-write transactions. Return the new revision (erase, expire, persist: the head
  // revision if they changed nothing). The time-to-live forms are Transaction's (transaction.h).
  Revision put(std::string_view keyspace, std::string_view key, const Value& value) {
    return put(keyspace, key, value, PutOptions{});
  }
  virtual Revision put(std::string_view keyspace, std::string_view key, const Value& value,
                       const PutOptions& options) = 0;
  virtual Revision erase(std::string_view keyspace, std::string_view key) = 0;
  virtual Revision expire(std::string_view keyspace, std::string_view key,
                          std::chrono::milliseconds ttl) = 0;
  virtual Revision persist(std::string_view keyspace, std::string_view key) = 0;

  // Leases (lease.h), each call its own transaction (Transaction's forms say what they do).
  // revoke_lease's erases are one revision. Throws: Error(kInvalidArgument) for a bad TTL.
  virtual LeaseId grant_lease(std::chrono::milliseconds ttl) = 0;
  virtual bool keep_alive(LeaseId lease) = 0;
  virtual bool revoke_lease(LeaseId lease) = 0;
  // Read on one snapshot, uncached.
  virtual std::optional<Lease> lease(LeaseId lease) = 0;
  virtual std::vector<Lease> leases() = 0;

  // Bounded keyspaces (Transaction::set_max_keys), each call its own transaction. set_max_keys
  // returns the revision of its evictions, or 0 when it evicted nothing (storing the bound itself
  // uses no revision, like set_history_policy).
  virtual Revision set_max_keys(std::string_view keyspace,
                                std::optional<std::uint64_t> max_keys) = 0;
  virtual std::optional<KeyBound> key_bound(std::string_view keyspace) = 0;

  // History. See history.h.
  virtual HistoryBounds history_bounds() = 0;
  virtual std::vector<Commit> history(const HistoryQuery& query = {}) = 0;
  // One commit with all its changes, or nullopt if not retained (or never existed). history()
  // and commit_at() leave out a change whose stored values do not decode (counted in
  // Stats::damaged_rows_skipped).
  virtual std::optional<Commit> commit_at(Revision revision) = 0;

  // Writes back the values `revision` overwrote, as a new transaction, and returns its revision.
  // Throws: Error(kNotFound) if `revision` is not in retained history, or only partly
  // (Commit::partial: retention removed the changes of one of its keyspaces); kConflict naming the
  // key and the later revision if a later transaction changed one of the same keys and !force;
  // kInvalidArgument if an old value may not be written (a NaN from a file older than value.h's
  // rule); kCorruption if one of its history rows does not decode. Nothing is written then.
  virtual Revision revert(Revision revision, const RevertOptions& options = {}) = 0;

  // The retained history of one keyspace (see HistoryBounds): its changes in first..head are
  // all in history. A config watch or config revert needs only this, so other keyspaces'
  // retention never gets in their way. An unknown keyspace has no history: first = 1.
  // Throws: Error(kInvalidArgument) for an invalid keyspace name.
  virtual HistoryBounds history_bounds(std::string_view keyspace) = 0;

  // Applies the history retention of every keyspace now (its effective policy: history_policy),
  // in small batches, and returns how many revisions were removed entirely (commit rows deleted;
  // revisions that keep other keyspaces' changes are marked Commit::partial and not counted).
  // Counts exactly what this call removed; retention that another process runs meanwhile is not
  // counted. (The store also applies retention by itself as it commits.) Then, if the file is
  // in incremental auto-vacuum mode (every file this version creates; `statectl vacuum` converts
  // older ones), hands the freed pages back to the file system in steps of at most 128 pages,
  // each a short write transaction queued with the other writers (Stats::free_pages_returned).
  // Throws: Error(kReadOnly) for a read-only Store; kBusy, kIoError, kFull.
  virtual std::uint64_t compact_history() = 0;

  // Stores `policy` as the history policy of `keyspace` (created if it does not exist yet), in
  // one write transaction that makes no revision; every process and statectl apply it from their
  // next retention pass. nullopt removes the stored policy (the keyspace then follows the
  // built-in default or Options::history_retention). Storing the policy in effect already is a
  // no-op. Throws: Error(kInvalidArgument) for an invalid keyspace name or a keep_none policy
  // with a limit; kReadOnly for a read-only Store; kBusy, kIoError, kFull.
  virtual void set_history_policy(std::string_view keyspace,
                                  const std::optional<HistoryPolicy>& policy) = 0;
  // The policy retention applies to `keyspace` and where it comes from: stored in the file, else
  // the built-in default of "sessions", else Options::history_retention of this process.
  // Throws: Error(kInvalidArgument) for an invalid keyspace name; kIoError.
  virtual EffectiveHistoryPolicy history_policy(std::string_view keyspace) = 0;

  // The sessions stored in this file (statestore/session.h), a layer on this Store's public API
  // (statestore/store_layer.h). The reference is valid as long as the Store; it is safe to use
  // from any thread. Include statestore/session.h (or statestore/statestore.h) to use it.
  // Throws: nothing.
  Sessions& sessions();

  // The typed, layered settings stored in this file (statestore/config.h), a layer like
  // sessions(). The reference is valid as long as the Store; it is safe to use from any thread.
  // Include statestore/config.h (or statestore/statestore.h) to use it. Throws: nothing.
  Config& config();

  // The layer attached under `name` when the Store was opened ("sessions", "config"), or null.
  // Lock-free: layers are attached before open() returns and live until the Store closes.
  StoreLayer* find_layer(std::string_view name) const noexcept;
  // Named layers, in order of attachment (how Store::open hands them to an engine).
  using Layers = std::vector<std::pair<std::string, std::unique_ptr<StoreLayer>>>;

  // A number that changes whenever a commit to this file may have happened, in any process;
  // reading it does no I/O. Watchers (session listeners, config watches) poll it and read the
  // head revision only when it moved. It stays 0 when the Store cannot tell (a read-only Store
  // without the shared change counter, e.g. on read-only media): poll history_bounds() then.
  // Throws: nothing.
  virtual std::uint64_t change_counter() const noexcept = 0;

  // True when this Store knows that no key of `keyspace` changed in revisions [from, to]: it
  // committed every one of them itself, lately, and none changed that keyspace. Answered from
  // memory, no I/O. False when it cannot tell: another process (or another Store on the file)
  // committed one of them, they are older than the last few thousand commit groups, or the engine
  // does not keep track (PostgreSQL). Watchers of one keyspace (config watches) use it to skip
  // reading history that cannot hold a change of theirs. Throws: nothing.
  virtual bool known_unchanged(std::string_view keyspace, Revision from,
                               Revision to) const noexcept = 0;

  // The BLAKE2b-256 of `data` keyed with the redaction key (Options::redaction_key): what layers
  // use to index a value they must not store in the clear (Sessions keys principals by it), so
  // that a copy of the file does not reveal it to anyone hashing guesses. Thread-safe.
  // Throws: Error(kReadOnly) when the Store has no redaction key (see has_redaction_key()).
  virtual Bytes keyed_digest(std::string_view data) const = 0;

  // The logger this Store writes to: Options::logger, or statestore's default (stderr, warnings
  // and up). Layers log through it. Throws: nothing.
  virtual spdlog::logger& logger() const noexcept = 0;

  // The digest redacted history records for `value` (Change::redacted): BLAKE2b-256, keyed with
  // the redaction key (Options::redaction_key), of the SHA-256 of the value's type tag byte and
  // payload (bool as one byte, int64 and double as 8 little-endian bytes, string and bytes as
  // their bytes). Thread-safe.
  // Throws: Error(kReadOnly) when the Store has no redaction key (only a read-only Store can lack
  // it: no key file, or not the key the file was made with; see has_redaction_key()).
  virtual Bytes value_digest(const Value& value) const = 0;
  // Whether value_digest() works. Always true for a writable Store. Throws: nothing.
  virtual bool has_redaction_key() const = 0;

  virtual Stats stats() const = 0;
  virtual const std::string& path() const = 0;  // canonical absolute path
  virtual const Options& options() const = 0;

 protected:
  Store() = default;

  // An engine calls these. attach_layers: once, while opening, before the Store is shared with
  // any thread (find_layer reads without a lock). stop_layers: first thing when the Store closes
  // (stops in reverse order, then destroys them). abandon_layers_after_fork: instead of
  // stop_layers in a fork()ed child. add_layer_stats: from stats().
  void attach_layers(Layers layers);
  void stop_layers() noexcept;
  void abandon_layers_after_fork() noexcept;
  void add_layer_stats(Stats& stats) const;

 private:
  Layers layers_;
};

}  // namespace statestore

#endif  // STATESTORE_STORE_H_

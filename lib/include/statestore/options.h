// statestore::Options — how a Store is opened. A plain struct: every field has a default and a
// comment saying what it costs and what it protects.
#ifndef STATESTORE_OPTIONS_H_
#define STATESTORE_OPTIONS_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "statestore/config_options.h"
#include "statestore/session_options.h"

namespace spdlog {
class logger;
}

namespace statestore {

// What an acknowledged commit (transact() returned) survives.
enum class Durability {
  // transact() returns only after the commit is in the WAL and the WAL was fsync'ed
  // (SQLite synchronous=FULL). The commit survives a process crash and an OS crash or power loss.
  // Costs one fsync per group of concurrent commits (writers' commits are grouped).
  kFull,
  // transact() returns after the commit is written to the WAL but before it is fsync'ed
  // (SQLite synchronous=NORMAL). The commit survives the process crashing (SIGKILL, abort), but an
  // OS crash or power loss may lose the most recent commits — never a part of one commit, and
  // never older commits: the database stays consistent.
  kNormal,
};

// How much history is kept. A commit is removed as soon as it falls outside *any* enabled limit
// (the head revision is always kept). Zero disables a limit;
// both zero (the default) keeps every revision. Compaction deletes history rows only; it never
// touches the current state, and it runs in small batches so it never stalls writers.
struct HistoryRetention {
  // Keep at most this many most recent revisions (0 = no limit by count).
  std::uint64_t keep_revisions = 0;
  // Keep revisions committed within this long before now (0 = no limit by age).
  std::chrono::seconds keep_for{0};
};

// How much history one keyspace keeps (Options::history_policies, Store::set_history_policy).
// Retention removes that keyspace's changes outside the policy; other keyspaces' changes in the
// same commits stay (the commit is then marked Commit::partial, and cannot be reverted). A commit
// row goes when no change of it remains. The head revision is always kept. Like
// HistoryRetention, a change is removed as soon as it falls outside *any* enabled limit; the
// default-constructed policy keeps everything.
//
// Cost: retention runs in the background every 64 commits of a process (and on demand,
// Store::compact_history), as short write transactions of at most 256 revisions of one keyspace
// each. Finding the keep_revisions cutoff reads the newest changes of the store backwards until
// it has seen keep_revisions + 1 revisions of the keyspace, so it is cheap for a busy keyspace
// and costs up to a scan of retained history for a rarely written one with a large limit.
struct HistoryPolicy {
  // Keep the changes of at most this many most recent revisions *that changed this keyspace*
  // (0 = no limit by count). Other keyspaces' traffic never uses this keyspace's allowance.
  std::uint64_t keep_revisions = 0;
  // Keep changes committed within this long before now, by the system clock (0 = no limit).
  std::chrono::seconds keep_for{0};
  // Keep no history of this keyspace: the next retention pass removes every change of it except
  // those of the head revision. The other two fields must be 0 then (else kInvalidArgument).
  bool keep_none = false;

  bool keeps_all() const { return !keep_none && keep_revisions == 0 && keep_for.count() == 0; }
  friend bool operator==(const HistoryPolicy& a, const HistoryPolicy& b) {
    return a.keep_revisions == b.keep_revisions && a.keep_for == b.keep_for &&
           a.keep_none == b.keep_none;
  }
  friend bool operator!=(const HistoryPolicy& a, const HistoryPolicy& b) { return !(a == b); }
};

// Where a keyspace's effective policy comes from, in order of precedence.
enum class HistoryPolicySource {
  kStored,   // stored in the database (Store::set_history_policy, Options::history_policies,
             // statectl history-policy set): every process and statectl apply it
  kDefault,  // built in: keyspace "sessions" (kSessionsKeyspace) keeps 24 hours
  kGlobal,   // Options::history_retention of the process that runs retention
};

struct EffectiveHistoryPolicy {
  HistoryPolicy policy;
  HistoryPolicySource source = HistoryPolicySource::kGlobal;
  // With source kGlobal, policy.keep_revisions counts revisions of the whole store (the meaning of
  // HistoryRetention::keep_revisions); otherwise revisions that changed the keyspace.
};

// The built-in policy of keyspace "sessions" when none is stored: sessions are most of the writes
// of a typical service, and their history is of use for about a day.
inline constexpr std::chrono::hours kSessionsHistoryKeepFor{24};

// The PostgreSQL engine (Store::open with a connection string): see README "PostgreSQL".
struct PostgresOptions {
  // The schema holding this store's tables; several independent stores may share one database
  // under different schemas. Created by the first writable open. 1..52 characters from
  // [a-z0-9_], starting with a letter or '_' (else kInvalidArgument at open).
  std::string schema = "statestore";

  // Most connections a Store keeps to the server for reads (the writer and the change listener
  // have one each on top). A read that finds all in use waits up to busy_timeout (then kBusy).
  std::size_t max_read_connections = 8;

  // Whether Store::get may answer from this process's read cache (Options::cache_capacity).
  // false (default): every get reads the server, so a read that starts after any commit returned
  // (in any process, on any machine) sees it — the guarantee store.h states. true: commits of
  // this process are seen at once, but another process's commit reaches the cache only when its
  // notification arrives (LISTEN/NOTIFY), so a get may return the previous value for that long
  // after the other process's transact() returned: bounded staleness, measured in the README
  // (about a millisecond on one host), and unbounded while the notification connection is
  // down (the cache then drops everything on reconnect).
  // Either way, reads inside a transact() body use the cache (strictly: the writer holds the
  // write lock and the cache has caught up with every commit before it), which saves the body a
  // round trip per key it reads; cache_capacity = 0 turns that off too.
  bool cache_reads_with_bounded_staleness = false;
};

struct Options {
  // See Durability. Default: kFull — nothing acknowledged is ever lost.
  Durability durability = Durability::kFull;

  // How long an operation waits for another connection (thread or process) holding the write lock
  // before failing with ErrorCode::kBusy. Write transactions are retried internally within this
  // bound; callers never see "database is locked" while a lock is held for less than this.
  // Store::open also waits up to this long for a restore of the file to finish.
  std::chrono::milliseconds busy_timeout{5000};

  // Maximum number of keys held by the read cache (positive and negative entries together),
  // spread over shards. 0 disables the cache: every read goes to SQLite.
  std::size_t cache_capacity = 100'000;

  // History retention of every keyspace with neither a stored policy nor a built-in default
  // (HistoryPolicySource::kGlobal); see HistoryRetention. Default: keep everything. It is this
  // process's setting, not stored: processes with different values each apply their own.
  HistoryRetention history_retention;

  // Per-keyspace history policies (keyspace name -> policy) that a writable open stores in the
  // database when they differ from what is stored (one ordinary write transaction, logged at
  // info), so that every process and statectl apply them. Keyspaces not named keep their stored
  // policy, if any. Ignored by a read-only open. Default: none. Invalid names or policies:
  // kInvalidArgument at open; so is a non-empty map that differs from the one of a Store already
  // open on the same file in this process (use Store::set_history_policy to change a policy).
  // See HistoryPolicy and Store::set_history_policy.
  std::map<std::string, HistoryPolicy> history_policies;

  // Label recorded as the origin of every commit made through this Store unless a transaction sets
  // its own (TransactOptions::label). Empty by default; statectl uses "statectl".
  std::string origin_label;

  // Keyspaces whose history is redacted: each Change records a keyed digest of the old and new
  // value instead of the value (statestore::Change::redacted; the key is redaction_key below),
  // so history shows which key changed and replay checks still work, but a copy of the file does
  // not reveal past values, not even guessable ones. The flag is stored with the keyspace the
  // first time a listed keyspace is written and never removed. Revisions of redacted keyspaces
  // cannot be reverted (the old values are not kept).
  std::vector<std::string> redacted_keyspaces;

  // The secret key of the digests in redacted history and in the sessions principal index: a
  // keyed hash (BLAKE2b) means someone holding a copy of the database file cannot recover a
  // redacted value or a principal by hashing guesses. Empty (the default): the key is the file
  // "<database>-key" beside the database — 32 random bytes, mode 0600, created by the first
  // writable open that needs it and never included in a backup. Set: exactly 32 bytes (else
  // kInvalidArgument at open), and the key file is neither read nor created. The file records
  // only the key's fingerprint.
  // If you lose the key: a writable open is refused (kInvalidArgument, saying where the key file
  // is expected), because new digests could not be compared with the old ones; a read-only open
  // still works, but redacted history can no longer be checked against the current state
  // (Verify reports it as not verifiable) and Sessions::list(principal), which looks the keyed
  // principal index up, fails with kReadOnly. Current values, history keys and unredacted
  // history do not depend on it. Keep the key file as secret as the data, and back it up
  // separately from the database backups.
  std::string redaction_key;

  // Where the library logs. Null (the default) means a logger named "statestore" writing to
  // stderr at level warn. The library never logs stored values above debug level.
  std::shared_ptr<spdlog::logger> logger;

  // Open without write access: migrations are not run (an outdated schema is an error), every
  // write fails with kReadOnly, and statestore creates nothing (SQLite may create -wal/-shm where
  // the directory allows). The file must exist (else kNotFound). Works on read-only storage: see
  // Store::open. Without NAME-gen (or with a damaged one) reads are not cached.
  bool read_only = false;

  // Create the file (mode 0600) if it does not exist. Ignored when read_only.
  bool create_if_missing = true;

  // A bound on the -wal file. Checkpoints run on a background thread, never inside a commit:
  // a PASSIVE one (it waits for no reader or writer) whenever the WAL holds half this much, at
  // most ~4 MiB of new pages; when steady writers keep it from catching up, a short RESTART
  // follows (writers wait while it copies the pages added since, ~100 ms at most) so the WAL
  // starts over; and a -wal file longer than this is cut back to it when it starts over.
  // 0 = checkpoint every ~4 MiB, cut back to 64 MiB.
  std::uint64_t wal_checkpoint_bytes = 64ull << 20;

  // The wall clock of this Store, called from any thread (must be thread-safe): commit times in
  // history (a commit is stamped max(clock(), the newest commit's time), so they never go back),
  // keep_for retention cutoffs, TTL and lease deadlines and whether they have passed, and
  // session expiry unless sessions.clock is set. Null (default) = std::chrono::system_clock::now
  // on SQLite; on PostgreSQL the server's clock, so that every machine decides by one clock
  // (sampled at open and every minute, carried forward by this machine's steady clock; then
  // Store::options().clock reads it). Tests inject one to check time-based behaviour without
  // sleeping.
  std::function<Clock::time_point()> clock;

  // How often a writable Store sweeps keys whose time-to-live ran out (PutOptions::ttl): one
  // background pass deletes the due keys in batches of 256, each a short write transaction queued
  // with the other writers, and records each as a ChangeKind::kExpiry in a commit labelled
  // "expired". Reads never wait for it: an expired key is absent from its deadline on. 0 = this
  // process does not sweep (another process, or the next write of each key, records the
  // expiries). One process of a file sweeps at a time (the first writable Store to try; another
  // takes over within an interval when it closes or dies). On PostgreSQL one process of the
  // fleet sweeps (the one whose turn it is for the session reaper too); another takes over when
  // its connection goes.
  std::chrono::milliseconds expiry_sweep_interval = std::chrono::seconds(1);

  // The name of a registered SQLite VFS (sqlite3_vfs_register) through which every connection of
  // this Store opens the database, its -wal and its -shm; empty (default) = SQLite's default VFS.
  // For fault injection and I/O accounting (tests, benchmarks) without replacing the process-wide
  // default. NAME-gen, NAME-key and the presence lock are opened directly, not through it.
  // statestore's WAL write buffer sits above it (whichever VFS is used): it sees a commit's WAL
  // frames as one xWrite, not two per page. Open throws kInvalidArgument if no VFS of that name is
  // registered, or if the file is already open in this process through another VFS.
  std::string vfs;

  // The sessions API (Store::sessions()): idle/absolute expiry, touch policy, sweep batch size,
  // the background reaper's interval, history redaction of session values and the clock. Each
  // field's default is documented in statestore/session.h. Unless
  // sessions.record_values_in_history is set, the Store adds kSessionsKeyspace ("sessions") to
  // redacted_keyspaces; Store::options() returns the list in effect.
  SessionOptions sessions;

  // The config API (Store::config()): the profile layer this process uses, a defaults file, and
  // how watches poll for other processes' commits. See statestore/config_options.h.
  ConfigOptions config;

  // The PostgreSQL engine's own settings; ignored for a database file.
  PostgresOptions postgres;
};

}  // namespace statestore

#endif  // STATESTORE_OPTIONS_H_

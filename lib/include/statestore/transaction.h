// statestore::Transaction — what a transaction body reads and writes through.
//
// A Transaction is handed to the body passed to Store::transact() (read-write) or Store::read()
// (read-only). It is valid only during that call and only on the thread running the body; it
// must not be stored, shared between threads or used after the body returns.
//
// Inside a body, reads see the transaction's own earlier writes and a consistent snapshot of
// everything else: no other thread or process can commit in between (write bodies hold the
// database's write lock; read bodies read one snapshot).
#ifndef STATESTORE_TRANSACTION_H_
#define STATESTORE_TRANSACTION_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "statestore/lease.h"
#include "statestore/revision.h"
#include "statestore/value.h"

namespace statestore {

// A key with its value and version.
struct Entry {
  std::string key;
  Value value;
  // The revision of the transaction that last wrote this key. It increases on every write and is
  // never reused, even when the key is erased and created again, so a compare-and-set on it cannot
  // be fooled by an erase/re-create in between (no ABA).
  std::uint64_t version = 0;
  // When the key expires (its time-to-live, PutOptions::ttl), by the writer's clock
  // (Options::clock); nullopt: never. An expired key is absent to every read from this instant
  // on, before the store's background sweep removes it (Transaction::put below).
  std::optional<std::chrono::system_clock::time_point> expires_at;
  // The lease the key is attached to (lease.h); its deadline is then expires_at.
  std::optional<LeaseId> lease;
};

// How Transaction::put and Store::put treat the key's time-to-live. The default makes the key
// persistent (a plain put clears a TTL the key had), as Redis's SET and etcd's put without a
// lease do.
struct PutOptions {
  // The key expires this long after the transaction's time (the writer's clock). Must be
  // positive and at most kMaxTtl.
  std::optional<std::chrono::milliseconds> ttl;
  // Keep the deadline the key has (none if it is new or expired), e.g. to count within a
  // rate-limit window without extending it. Not together with `ttl`.
  bool keep_ttl = false;
  // Attach the key to this lease (lease.h): it expires with the lease, and keep_alive renews it.
  // The lease must be alive (else Error(kNotFound)). Not together with `ttl` or `keep_ttl`.
  std::optional<LeaseId> lease;

  static constexpr std::chrono::milliseconds kMaxTtl{std::chrono::hours(24) * 365 * 100};
};

// The bound of a bounded keyspace (Transaction::set_max_keys) and how many keys it holds. `keys`
// counts expired keys the sweep has not removed yet (they are absent to reads but still stored).
struct KeyBound {
  std::uint64_t max_keys = 0;
  std::uint64_t keys = 0;
};

class Transaction {
 public:
  Transaction() = default;
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  virtual ~Transaction() = default;

  // Every method below validates its arguments (see value.h for the limits) and throws
  // Error(kInvalidArgument) before touching anything. SQLite failures surface as Error with the
  // matching code; the whole transaction is then rolled back by the Store.

  // The value under `key`, or nullopt if the key (or the keyspace) does not exist.
  // Throws: Error(kCorruption) naming the key if its stored row does not decode (a file edited
  // outside statestore); put/erase repair it.
  virtual std::optional<Value> get(std::string_view keyspace, std::string_view key) = 0;
  virtual std::optional<Entry> get_entry(std::string_view keyspace, std::string_view key) = 0;

  // Entries whose key starts with `prefix` ("" = all), in key byte order; at most `limit`
  // entries when limit > 0. A row that does not decode is left out (and counted in
  // Stats::damaged_rows_skipped), so one damaged key never hides the others.
  virtual std::vector<Entry> list(std::string_view keyspace, std::string_view prefix,
                                  std::size_t limit = 0) = 0;

  // Writes create the keyspace on first use. Throws: Error(kReadOnly) in a read-only transaction;
  // kInvalidArgument for a value value.h does not allow (a NaN double, ...), before anything is
  // written. They work on a key whose stored row does not decode, and repair it.
  //
  // Time-to-live. A key written with PutOptions::ttl expires at the transaction's time plus the
  // TTL (Entry::expires_at): from that instant every read in every process finds it absent,
  // whether or not the background sweep has removed it yet. Its removal is recorded in history as
  // a change of kind ChangeKind::kExpiry (history.h) — by the sweep, in a commit labelled
  // "expired", or by the first write to the key after its deadline, in that write's commit just
  // before the write. Writes after the deadline see no key: put_if_version(..., 0) succeeds,
  // erase returns false. Keys with a TTL are not kept in the read cache (their reads go to the
  // database, which decides by the clock). Clocks: the writer's clock sets the deadline, each
  // reader's decides whether it has passed, so processes must agree on the time (as with
  // sessions). Both engines keep TTLs, leases and bounded keyspaces.
  void put(std::string_view keyspace, std::string_view key, const Value& value) {
    put(keyspace, key, value, PutOptions{});
  }
  virtual void put(std::string_view keyspace, std::string_view key, const Value& value,
                   const PutOptions& options) = 0;
  // Returns whether the key existed.
  virtual bool erase(std::string_view keyspace, std::string_view key) = 0;
  // Sets the key's time-to-live to `ttl` from now (the value and a write of it stay; the version
  // changes, like any write). Returns whether the key existed (false: nothing is written).
  // Throws: Error(kInvalidArgument) for a ttl that is not positive or above PutOptions::kMaxTtl.
  virtual bool expire(std::string_view keyspace, std::string_view key,
                      std::chrono::milliseconds ttl) = 0;
  // Clears the key's time-to-live. Returns whether the key existed; a key without a TTL is left
  // as it is (no write).
  virtual bool persist(std::string_view keyspace, std::string_view key) = 0;

  // Leases (lease.h). They live in the same file and transaction as the keys: a body can grant a
  // lease and attach keys to it atomically, and a lease granted by a body that rolls back never
  // existed. Deadlines come from the transaction's clock, as for PutOptions::ttl.
  //
  // Grants a lease of `ttl` (positive, at most PutOptions::kMaxTtl) and returns its id.
  virtual LeaseId grant_lease(std::chrono::milliseconds ttl) = 0;
  // Renews a live lease: its deadline and every attached key's become now + its TTL. Returns
  // false (changing nothing) if the lease does not exist or has expired.
  virtual bool keep_alive(LeaseId lease) = 0;
  // Erases every key attached to the lease and ends it, in this transaction's revision. Returns
  // false (changing nothing) if it does not exist or has expired (its expiry is the sweep's).
  virtual bool revoke_lease(LeaseId lease) = 0;
  // A live lease with its keys, or nullopt.
  virtual std::optional<Lease> lease(LeaseId lease) = 0;
  // Every live lease with its keys, by id.
  virtual std::vector<Lease> leases() = 0;

  // Bounded keyspaces: a cache of results that must not grow without bound. A keyspace with a
  // maximum number of keys evicts its least recently written keys — smallest Entry::version
  // first; among keys last written by the same revision, the smallest key first — when a
  // transaction body ends holding more than the maximum there. The bound is checked as the body
  // ends, so the body itself may hold more meanwhile, and a body that writes more new keys than
  // the maximum keeps the ones it wrote last in that order. Each eviction is recorded in the
  // body's revision as a change of kind ChangeKind::kEviction (history.h); reads, watches and
  // revert treat it like an erase. An expired key chosen for eviction is recorded as the expiry it
  // is (ChangeKind::kExpiry; with its lease's other keys if it has a lease). Evicting one key of a
  // lease leaves the lease and its other keys, as erase does. The bound is stored in the file:
  // every process and statectl apply it.
  //
  // Sets the maximum of `keyspace` (created if it does not exist) to `max_keys`, or removes it
  // (nullopt); lowering it below the keys the keyspace holds evicts the excess in this
  // transaction's revision. Throws: Error(kInvalidArgument) for an invalid keyspace name, a
  // maximum of 0 or above INT64_MAX.
  virtual void set_max_keys(std::string_view keyspace, std::optional<std::uint64_t> max_keys) = 0;
  // The bound of `keyspace`, or nullopt if it has none.
  virtual std::optional<KeyBound> key_bound(std::string_view keyspace) = 0;

  // Compare-and-set: writes only if the key's current version equals `expected_version`
  // (0 = the key must not exist); like a plain put it leaves the key without a time-to-live.
  // Throws: Error(kConflict) naming the key and both versions.
  virtual void put_if_version(std::string_view keyspace, std::string_view key, const Value& value,
                              std::uint64_t expected_version) = 0;
  // Compare-and-erase. Throws: Error(kConflict) if the version differs or the key is absent.
  virtual void erase_if_version(std::string_view keyspace, std::string_view key,
                                std::uint64_t expected_version) = 0;

  // Runs `body` in a nested scope (an SQLite SAVEPOINT): if it throws, exactly its writes are
  // undone and the exception propagates; the enclosing transaction can catch it and go on.
  virtual void savepoint(const std::function<void(Transaction&)>& body) = 0;

  // Origin label recorded in history for this commit (overrides Options::origin_label and
  // TransactOptions::label). At most 256 bytes.
  virtual void set_label(std::string_view label) = 0;

  virtual bool read_only() const = 0;
};

struct TransactOptions {
  // Origin label recorded in history for this commit; empty = Options::origin_label.
  std::string label;
};

}  // namespace statestore

#endif  // STATESTORE_TRANSACTION_H_

// PgTransaction — the Transaction a body runs against on the PostgreSQL engine, bound to one
// PgConnection already inside a server transaction (write bodies: the group writer's, holding the
// head row lock; reads: a REPEATABLE READ, READ ONLY transaction of a pooled connection).
//
// Invariants (EngineTransaction's, and the SQLite engine's TransactionImpl's, kept the same way):
//   1. A revision is allocated on the first write (the head the body starts on + 1) and Finish()
//      writes the head row and the commit row; a body that writes nothing uses no revision. The
//      group writer holds the head row's lock from before the first body to COMMIT, so no other
//      process can take a revision in between: revisions are gapless and in commit order across
//      every process on every machine.
//   2. Every write records a change row (revision, seq) with the old and new value in the same
//      server transaction as the state change.
//   3. writes() lists, in order, the entries the committer publishes to the read cache after
//      COMMIT; a nested savepoint that rolls back truncates it to where it began.
//   4. Every value is validated before any statement runs, so a refused put changes nothing.
//   5. A stored row that does not decode never blocks a write: the old cells are copied into
//      history raw (PgCell). Point reads throw kCorruption; list() skips and reports.
//   6. Commit times never decrease with revision (StartAfter passes the newest commit's time).
//   7. Writes to `entries` wait in a buffer (the latest per key) until Finish, list() or a
//      savepoint sends them, and change rows are queued (PgConnection::Queue): bodies that only
//      write cost no round trip of their own (the group writer's COMMIT drains the queue), and a
//      body that rewrites one key N times (a counter, a session count) leaves one new row version,
//      not N — PostgreSQL would otherwise walk a chain of N dead versions of that row on every
//      later access in the transaction. Reads see the buffer first, so the body still reads its own
//      writes.
//   8. Time-to-live (migrations/postgresql/0002_time_to_live.sql), as TransactionImpl invariant 7:
//      the transaction reads the clock once (Now()); a row whose deadline is at or before it is
//      absent to every read (in SQL for list, by the caller for point reads). A write that
//      replaces such a row (put, put_if_version) first records its expiry — kind kExpiry, the old
//      value and the deadline that passed — in the same revision; erase, expire and persist of
//      an expired row change nothing (the sweep records it). A deadline this body wrote is after
//      Now() (a TTL is positive; keep_ttl keeps a live one), so the buffer never holds an expired
//      key.
//   9. Leases (migrations/postgresql/0003_leases.sql), as TransactionImpl invariant 8: an attached
//      key carries its lease's deadline in its own row (a put with the lease copies it;
//      keep_alive renews the lease and its keys in one statement), so invariant 8 decides by the
//      row alone, and a lease's keys leave together, in one revision: revoke (erases) or the
//      lease's expiry — recorded by the sweep or by the first write that meets one of its keys
//      expired (EndLease). That write must see the row before it writes, so the queued paths
//      that take the old row inside the write's own statement (kChangeFromStored, Deferred) run
//      only while no lease can be due: the group writer reads the earliest lease deadline with
//      the write lock (no other process can grant or renew one until COMMIT) and each grant
//      lowers it (Group::earliest_lease_deadline); at or past it, writes read the old row first.
//      Grant and keep-alive use no revision (lease.h); the group is told they wrote
//      (Group::unversioned_writes).
//  10. Bounded keyspaces (migrations/postgresql/0004_bounded_keyspaces.sql), as TransactionImpl
//      invariant 9: every key of a bounded keyspace, and no other, has entries.write_order set to
//      its version, and keyspace_bounds.key_count is the number of its rows. The rows are counted
//      in SQL, so a queued write needs no answer and no prior read: Flush queues one statement per
//      keyspace that counts its buffered writes against the rows before they change
//      (kCountBoundedWrites), and the sweep's and a lease's bulk deletes count what they delete.
//      Writes to keyspaces that cannot be bounded keep the plain statements: the group writer reads
//      the bounded keyspaces' ids with the write lock (no other process can set or remove a bound
//      until COMMIT) and set_max_keys adds to them (Group::bounded_keyspaces; a superset is
//      harmless, the counting statements decide by the table). A body that may have added a key of
//      a bounded keyspace evicts the least recently written keys of every keyspace over its bound
//      before its commit row is written (Finish), in its own revision, so no commit ends with a
//      keyspace over its bound. Victims are the smallest (write_order, key), so after an eviction
//      every key left is at or above the last victim's write_order: keyspace_bounds.evicted_through
//      records it and the victims query starts there (new writes and a new bound's marks are
//      above it; a new bound starts at 0).
#ifndef STATESTORE_SRC_POSTGRESQL_PG_TRANSACTION_H_
#define STATESTORE_SRC_POSTGRESQL_PG_TRANSACTION_H_

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "core/damaged_rows.h"
#include "core/engine_transaction.h"
#include "core/keyspace_directory.h"
#include "core/read_cache.h"
#include "core/redaction_key.h"
#include "postgresql/pg_connection.h"
#include "postgresql/pg_value_codec.h"
#include "statestore/history.h"
#include "util/clock.h"

namespace statestore::internal {

// A write body's group (empty for reads) is its group writer's: the token its commit row
// carries, and where Finish records its revision (PgGroupWriter's lost-COMMIT check).
//
// `cache`, when set, answers the body's point reads of keys no body of the group has written
// (`written` holds their ReadCache ids): the group writer holds the write lock on head H and the
// cache is coherent with H (ReadCache::coherent_head), so a cached entry is the stored row —
// nothing else can commit before this group does. A miss reads the row and fills the cache with
// it (committed data at H).
//
// `earliest_lease_deadline` and `unversioned_writes`: invariant 9 (null: unknown, so every write
// reads its old row first; and nothing to tell). `bounded_keyspaces`: invariant 10 (null:
// unknown, so every keyspace may be bounded).
struct PgCommitGroup {
  std::int64_t writer_token = 0;
  Revision* last_revision = nullptr;
  ReadCache* cache = nullptr;
  std::unordered_set<std::string>* written = nullptr;
  std::int64_t* earliest_lease_deadline = nullptr;
  bool* unversioned_writes = nullptr;
  std::vector<std::int64_t>* bounded_keyspaces = nullptr;
};

class PgTransaction final : public EngineTransaction {
 public:
  // As TransactionImpl's (sqlite/transaction_impl.h).
  using Group = PgCommitGroup;
  PgTransaction(PgConnection& connection, KeyspaceDirectory& keyspaces, bool read_only,
                Origin origin, const std::vector<std::string>& redacted_keyspaces,
                DamagedRowReporter* damaged_rows, const RedactionKey* redaction_key = nullptr,
                Group group = PgCommitGroup{});

  std::optional<Value> get(std::string_view keyspace, std::string_view key) override;
  std::optional<Entry> get_entry(std::string_view keyspace, std::string_view key) override;
  std::vector<Entry> list(std::string_view keyspace, std::string_view prefix,
                          std::size_t limit) override;
  using Transaction::put;
  void put(std::string_view keyspace, std::string_view key, const Value& value,
           const PutOptions& options) override;
  bool erase(std::string_view keyspace, std::string_view key) override;
  bool expire(std::string_view keyspace, std::string_view key,
              std::chrono::milliseconds ttl) override;
  bool persist(std::string_view keyspace, std::string_view key) override;
  // Leases: invariant 9.
  LeaseId grant_lease(std::chrono::milliseconds ttl) override;
  bool keep_alive(LeaseId lease) override;
  bool revoke_lease(LeaseId lease) override;
  std::optional<Lease> lease(LeaseId lease) override;
  std::vector<Lease> leases() override;
  // Bounded keyspaces: invariant 10.
  void set_max_keys(std::string_view keyspace, std::optional<std::uint64_t> max_keys) override;
  std::optional<KeyBound> key_bound(std::string_view keyspace) override;
  void put_if_version(std::string_view keyspace, std::string_view key, const Value& value,
                      std::uint64_t expected_version) override;
  void erase_if_version(std::string_view keyspace, std::string_view key,
                        std::uint64_t expected_version) override;
  void savepoint(const std::function<void(Transaction&)>& body) override;
  void set_label(std::string_view label) override;
  bool read_only() const override { return read_only_; }

  void StartAfter(Revision head, std::int64_t last_commit_time_us,
                  const ClockFunction* clock) override {
    known_head_ = head;
    last_commit_time_us_ = last_commit_time_us;
    clock_ = clock;
  }
  Revision Finish() override;
  std::int64_t commit_time_us() const override { return commit_time_us_; }
  const std::vector<PendingWrite>& writes() const override { return writes_; }
  const std::vector<std::pair<std::string, KeyspaceRef>>& keyspaces_seen() const override {
    return keyspaces_seen_;
  }

  PgConnection& connection() { return connection_; }
  // The keyspace of `name` if it exists (this transaction's view).
  std::optional<KeyspaceRef> FindKeyspace(std::string_view name);

  // The clock of a read transaction (Options::clock, may be empty; must outlive the
  // transaction), which decides which keys have expired (invariant 8). Default: system clock.
  void UseClock(const ClockFunction* clock) { clock_ = clock; }

  // The sweep's step (invariants 8 and 9, pg_store.h): ends the leases whose deadline is at or
  // before Now() (each whole, with all its keys), then records the expiry of other keys due,
  // earliest first, until `limit` keys and leases have gone (a lease is never split, and counts
  // as one more), deleting their rows.
  // REQUIRES: a write transaction of the group writer (it holds the write lock, so the rows it
  // reads cannot change before it deletes them).
  struct ExpiredCount {
    std::size_t keys = 0;
    std::size_t leases = 0;
  };
  ExpiredCount ExpireDue(std::size_t limit);

 private:
  KeyspaceRef KeyspaceForWrite(std::string_view name);
  std::optional<Entry> ReadEntry(std::string_view keyspace, std::int64_t keyspace_id,
                                 std::string_view key);
  struct OldRow {
    PgCell stored;
    std::uint64_t version = 0;
    std::optional<std::int64_t> expires_us;  // the deadline; nullopt: none
    std::optional<LeaseId> lease;            // invariant 9
  };
  static OldRow ReadOldRowAt(const PgResult& r, int row);
  // The transaction's time, microseconds (invariant 8): read from the clock on first use.
  std::int64_t Now();
  bool Expired(const std::optional<std::int64_t>& expires_us) {
    return expires_us && *expires_us <= Now();
  }
  // Now() + ttl, microseconds (saturating).
  std::int64_t DeadlineAfter(std::chrono::milliseconds ttl);
  // Invariant 9: whether a stored row may be attached to a lease whose deadline has passed, so
  // that a write must read it before writing.
  bool LeaseMayBeDue();
  // The lease if it exists and its deadline is after Now().
  std::optional<Lease> ReadLiveLease(LeaseId lease);
  // Ends `lease` in this body's revision (invariant 9): every attached key's change (kind kWrite
  // for revoke, kExpiry for an expiry, with the deadline that passed) and deletion, then the
  // lease's row. Returns how many keys went.
  std::size_t EndLease(LeaseId lease, ChangeKind kind);
  // A grant, a keep-alive or a bound changed the store without a revision (invariant 9).
  void NoteUnversionedWrite();
  // Invariant 10: whether keyspace `id` may have a bound (its writes must count).
  bool MayBeBounded(std::int64_t keyspace_id) const;
  // Invariant 10: evicts the least recently written keys of every keyspace over its bound, in
  // this body's revision.
  void EvictOverBound();
  // expire (a ttl) and persist (nullopt): rewrites the live key's value with the new deadline.
  // Returns whether the key exists. Throws: DamagedRowError for a row that does not decode.
  bool SetDeadline(std::string_view keyspace, std::string_view key,
                   std::optional<std::chrono::milliseconds> ttl);
  std::optional<OldRow> ReadOldRow(std::int64_t keyspace_id, std::string_view key);
  void RequireWritable() const;
  Bytes Digest(const Value& value) const;
  Revision EnsureRevision();

  // Invariant 7: the latest write of each key this body made, not yet sent to `entries`.
  struct BufferKey {
    std::int64_t keyspace_id;
    std::string key;
  };
  // Orders BufferKeys, and looks one up by (id, string_view) without building a string.
  struct BufferKeyLess {
    using is_transparent = void;
    using View = std::pair<std::int64_t, std::string_view>;
    static View Of(const BufferKey& k) { return {k.keyspace_id, k.key}; }
    static View Of(const View& v) { return v; }
    template <typename A, typename B>
    bool operator()(const A& a, const B& b) const {
      return Of(a) < Of(b);
    }
  };
  struct Buffered {
    std::optional<Value> value;  // nullopt: erased
    Revision version = 0;
    std::optional<std::int64_t> expires_us;  // the value's deadline (invariant 8)
    std::optional<LeaseId> lease;            // invariant 9
  };
  const Buffered* FindBuffered(std::int64_t keyspace_id, std::string_view key) const;
  // Queues the buffered writes to `entries` and empties the buffer.
  void Flush();
  // What a write replaces: from the buffer, or the stored row.
  struct OldValue {
    std::optional<std::optional<Value>> buffered;  // set: the buffer had the key
    std::optional<OldRow> stored;                  // else: the stored row, if live
    // A stored row whose deadline has passed (invariant 8): absent to the write (`stored` is
    // empty); a put records its expiry first.
    std::optional<OldRow> expired;
    bool exists = false;
    std::uint64_t version = 0;               // 0 when absent
    std::optional<std::int64_t> expires_us;  // the live key's deadline
    std::optional<LeaseId> lease;            // the live key's lease
  };
  OldValue ReadOld(const KeyspaceRef& ref, std::string_view key);
  void BindHistoryValue(PgParams& params, const KeyspaceRef& ref,
                        const std::optional<Value>& value) const;
  // Queues the change row (old -> new) and buffers the write; of a put over an expired row, the
  // expiry's row first (invariant 8), or its lease's end (invariant 9).
  void WriteChange(std::string_view keyspace, const KeyspaceRef& ref, std::string_view key,
                   const OldValue& old, const std::optional<Value>& new_value,
                   std::optional<std::int64_t> new_expires_us,
                   std::optional<LeaseId> new_lease = std::nullopt);
  void QueueChange(const KeyspaceRef& ref, std::string_view key, std::int64_t seq,
                   Revision revision, const OldValue& old, const std::optional<Value>& new_value,
                   std::optional<std::int64_t> new_expires_us, ChangeKind kind);
  // Queues the expiry of `row` (invariant 8): old value, no new one, the deadline that passed.
  void QueueExpiry(const KeyspaceRef& ref, std::string_view key, std::int64_t seq,
                   Revision revision, const OldRow& row);
  // A put to a redacted key not written yet in this body: its change row waits for the old row,
  // which Flush reads for all of them at once.
  // Two seqs are taken, as kChangeFromStored does: `seq` for the expiry of a stored row found
  // expired, `seq` + 1 for the write.
  struct Deferred {
    std::int64_t seq;
    Revision revision;
    KeyspaceRef ref;
    std::string key;
    std::optional<Value> new_value;
    std::optional<std::int64_t> new_expires_us;
  };
  void ResolveDeferred();
  // Buffers the write and appends it to writes() (invariant 3). `drop_only`: the store's own
  // removal (an expiry), which leaves the read cache rather than filling it (PendingWrite).
  void Buffer(std::string_view keyspace, const KeyspaceRef& ref, std::string_view key,
              const std::optional<Value>& new_value, std::optional<std::int64_t> new_expires_us,
              Revision revision, bool drop_only = false,
              std::optional<LeaseId> new_lease = std::nullopt);
  // Appends to writes() only (invariant 3): for rows a statement changed directly (the sweep).
  void AddPendingWrite(std::string_view keyspace, std::string_view key, std::optional<Entry> entry,
                       bool drop_only);

  PgConnection& connection_;
  KeyspaceDirectory& keyspaces_;
  const bool read_only_;
  Origin origin_;
  const std::vector<std::string>& redacted_keyspaces_;
  DamagedRowReporter* const damaged_rows_;
  const RedactionKey* redaction_key_;
  const Group group_;
  std::optional<Revision> known_head_;
  std::optional<std::int64_t> last_commit_time_us_;
  const ClockFunction* clock_ = nullptr;  // StartAfter or UseClock; null: the system clock
  std::optional<std::int64_t> now_us_;    // Now()
  std::int64_t commit_time_us_ = 0;
  Revision revision_ = 0;
  std::int64_t seq_ = 0;
  int savepoint_depth_ = 0;
  std::vector<PendingWrite> writes_;
  std::vector<std::pair<std::string, KeyspaceRef>> keyspaces_seen_;
  std::map<BufferKey, Buffered, BufferKeyLess> buffer_;
  std::vector<Deferred> deferred_;
  // A key of a keyspace that may be bounded was written: Finish runs EvictOverBound
  // (invariant 10).
  bool wrote_bounded_key_ = false;
};

}  // namespace statestore::internal

#endif  // STATESTORE_SRC_POSTGRESQL_PG_TRANSACTION_H_

// TransactionImpl — the Transaction a body runs against, bound to one Connection that is already
// inside an SQLite transaction (write bodies: inside the request's SAVEPOINT of a group).
//
// Invariants:
//   1. A revision is allocated on the first write (head_revision + 1, in the same SQLite
//      transaction) and its commit row is written by Finish(); a body that writes nothing uses
//      no revision. Bodies of one group run one after another, so each sees the previous
//      body's head_revision and revisions stay strictly increasing with no gaps. The writer
//      tells each body the head it starts on (StartAfter), so the meta row is written but not
//      read per body; meta's head_revision still equals the last revision used at every point.
//   2. Every write records a Change row (revision, seq) with the old and new value, in the same
//      SQLite transaction as the state change: history and state cannot disagree. The commit
//      row carries the first and last id of the body's change rows, the range every query by
//      revision reads (0010_changes_by_commit_range.sql); a nested savepoint that rolls back
//      restores the range with the rows.
//   3. writes() lists, in order, the committed-to-be entries the writer publishes to the read
//      cache after COMMIT; a nested savepoint that rolls back truncates it to where it began.
//   4. Every value is validated (ValidateValue: size, UTF-8, no NaN) before any SQL runs, so a
//      refused put changes nothing: no revision, no history row, no savepoint to undo.
//   5. A stored row that does not decode (value_codec.h) never blocks a write: put/erase and their
//      _if_version forms read the old row raw (StoredCell) and copy it into the history row.
//      Point reads of it throw kCorruption; list() skips it and reports it.
//   6. Commit times never decrease with revision: a commit is stamped max(now, the newest
//      commit's time), so time queries bisect by revision
//      (migrations/sqlite/0005_history_indexes.sql).
//   7. Time-to-live (0006_time_to_live.sql). The transaction reads the clock once (Now()): a row
//      whose deadline is at or before it is absent to every read, whatever the sweep has done.
//      A write that replaces such a row (put, put_if_version) first records its expiry — a
//      change of kind kExpiry, the old value and the deadline that passed — in the same
//      revision, so history still replays to the state and tells the expiry from the write.
//      erase, expire and persist of an expired row change nothing (the sweep records it).
//   8. Leases (0007_leases.sql). A key attached to a lease carries the lease's deadline in its
//      own row (a put with the lease copies it; keep_alive renews the lease and its keys in one
//      transaction), so invariant 7 decides by the row alone. A lease's keys leave together, in
//      one revision: its expiry — by the sweep, or by the first write to one of its keys after
//      the deadline — records the expiry of every attached key and deletes the lease (EndLease);
//      revoke erases them all the same way. The per-key sweep leaves attached keys to EndLease.
//   9. Bounded keyspaces (0008_bounded_keyspaces.sql). Every key of a bounded keyspace, and no
//      other, has entries.bounded set, and keyspace_bounds.key_count is the number of its rows:
//      every statement that inserts or deletes a row of a bounded keyspace adjusts the count in
//      the same transaction (RecordWrite, ExpireDueKeys, EndLease; set_max_keys marks and counts).
//      A body that added a key of a bounded keyspace evicts the least recently written keys of
//      every keyspace over its bound before its commit row is written (Finish), so no commit ends
//      with a keyspace over its bound.
#ifndef STATESTORE_SRC_TRANSACTION_IMPL_H_
#define STATESTORE_SRC_TRANSACTION_IMPL_H_

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/engine_transaction.h"
#include "core/keyspace_directory.h"
#include "core/read_cache.h"
#include "core/redaction_key.h"
#include "sqlite/connection.h"
#include "sqlite/value_codec.h"
#include "statestore/history.h"
#include "statestore/transaction.h"
#include "util/clock.h"

namespace statestore::internal {

class TransactionImpl final : public EngineTransaction {
 public:
  // `redacted_keyspaces` is Options::redacted_keyspaces (must outlive the transaction).
  // `damaged_rows` (may be null) hears of rows list() skipped; it must outlive the transaction.
  // `redaction_key` digests redacted history (may be null for a read-only transaction).
  TransactionImpl(Connection& connection, KeyspaceDirectory& keyspaces, bool read_only,
                  Origin origin, const std::vector<std::string>& redacted_keyspaces,
                  DamagedRowReporter* damaged_rows, const RedactionKey* redaction_key = nullptr,
                  LeaseId* lease_id_floor = nullptr);

  using Transaction::put;
  std::optional<Value> get(std::string_view keyspace, std::string_view key) override;
  std::optional<Entry> get_entry(std::string_view keyspace, std::string_view key) override;
  std::vector<Entry> list(std::string_view keyspace, std::string_view prefix,
                          std::size_t limit) override;
  void put(std::string_view keyspace, std::string_view key, const Value& value,
           const PutOptions& options) override;
  bool erase(std::string_view keyspace, std::string_view key) override;
  bool expire(std::string_view keyspace, std::string_view key,
              std::chrono::milliseconds ttl) override;
  bool persist(std::string_view keyspace, std::string_view key) override;
  LeaseId grant_lease(std::chrono::milliseconds ttl) override;
  bool keep_alive(LeaseId lease) override;
  bool revoke_lease(LeaseId lease) override;
  std::optional<Lease> lease(LeaseId lease) override;
  std::vector<Lease> leases() override;
  void set_max_keys(std::string_view keyspace, std::optional<std::uint64_t> max_keys) override;
  std::optional<KeyBound> key_bound(std::string_view keyspace) override;
  void put_if_version(std::string_view keyspace, std::string_view key, const Value& value,
                      std::uint64_t expected_version) override;
  void erase_if_version(std::string_view keyspace, std::string_view key,
                        std::uint64_t expected_version) override;
  void savepoint(const std::function<void(Transaction&)>& body) override;
  void set_label(std::string_view label) override;
  bool read_only() const override { return read_only_; }

  // The head revision this body starts on and the time of the newest commit (0: none), as the
  // group-commit writer knows them (invariants 1 and 6). Without them the first write reads
  // meta's head_revision, and Finish the newest commit's time.
  // `clock` (Options::clock, may be empty; must outlive the transaction) stamps the commit.
  void StartAfter(Revision head, std::int64_t last_commit_time_us,
                  const ClockFunction* clock) override {
    known_head_ = head;
    last_commit_time_us_ = last_commit_time_us;
    clock_ = clock;
  }

  // The clock of a read transaction (Options::clock, may be empty; must outlive the
  // transaction), which decides which keys have expired (invariant 7). Default: system clock.
  void UseClock(const ClockFunction* clock) { clock_ = clock; }

  // The sweep's step (invariants 7 and 8, expiry_sweep.h): ends the leases whose deadline is at
  // or before Now() (each whole, with all its keys) and records the expiry of other due keys,
  // earliest deadline first, until `limit` keys have gone (a lease is never split), deleting
  // their rows.
  struct ExpiredCount {
    std::size_t keys = 0;
    std::size_t leases = 0;
  };
  ExpiredCount ExpireDue(std::size_t limit);

  // Writes the commit row if the body changed anything. Returns the revision, or 0.
  Revision Finish() override;
  // The time Finish stamped on the commit row (invariant 6); 0 if it wrote none.
  std::int64_t commit_time_us() const override { return commit_time_us_; }

  const std::vector<PendingWrite>& writes() const override { return writes_; }
  // Keyspaces this transaction resolved or created; committed once the transaction commits.
  const std::vector<std::pair<std::string, KeyspaceRef>>& keyspaces_seen() const override {
    return keyspaces_seen_;
  }
  Connection& connection() { return connection_; }

 private:
  std::optional<KeyspaceRef> FindKeyspace(std::string_view name);
  // Resolves or creates the keyspace, and marks it redacted if Options lists it.
  KeyspaceRef KeyspaceForWrite(std::string_view name);
  // Point read. Throws: DamagedRowError for a row that does not decode.
  std::optional<Entry> ReadEntry(std::string_view keyspace, std::int64_t keyspace_id,
                                 std::string_view key);
  // The row a write replaces, undecoded (invariant 5).
  struct OldRow {
    StoredCell stored;
    std::uint64_t version = 0;
    std::optional<std::int64_t> expires_us;  // the deadline; nullopt: none
    std::optional<LeaseId> lease;            // invariant 8
    bool bounded = false;                    // invariant 9
  };
  // The transaction's time, microseconds (invariant 7): read from the clock on first use.
  std::int64_t Now();
  bool Expired(const OldRow& row) { return row.expires_us && *row.expires_us <= Now(); }
  // expire (a ttl) and persist (nullopt): rewrites the live key's value with the new deadline.
  // Returns whether the key exists. Throws: DamagedRowError for a row that does not decode.
  bool SetDeadline(std::string_view keyspace, std::string_view key,
                   std::optional<std::chrono::milliseconds> ttl);
  // Now() + ttl, microseconds (saturating).
  std::int64_t DeadlineAfter(std::chrono::milliseconds ttl);
  // ReadOldRow for a write that replaces the row: an expired row's expiry is recorded first and
  // nullopt returned (invariant 7).
  std::optional<OldRow> ReadLiveRowForWrite(std::string_view keyspace, const KeyspaceRef& ref,
                                            std::string_view key);
  std::optional<OldRow> ReadOldRow(std::int64_t keyspace_id, std::string_view key);
  // Records the expiry of an expired row (invariant 7), with all of its lease's keys if it has
  // one (invariant 8).
  void RecordExpiry(std::string_view keyspace, const KeyspaceRef& ref, std::string_view key,
                    const OldRow& old);
  // A lease that is alive at Now() (without its keys), or nullopt: the one place that decides.
  std::optional<Lease> ReadLiveLease(LeaseId lease);
  // A lease's keys in kLeaseKeys order, with whether their keyspace is redacted.
  struct AttachedKey {
    LeaseKey key;
    std::int64_t keyspace_id;
    bool redacted;
    bool bounded;  // invariant 9
  };
  std::vector<AttachedKey> ReadAttachedKeys(LeaseId lease);
  // Invariant 8: removes every key attached to `lease` — recording an expiry (kExpiry) or an
  // erase (kWrite) — and deletes the lease. Returns how many keys.
  std::size_t EndLease(LeaseId lease, ChangeKind kind);
  std::vector<LeaseKey> ReadLeaseKeys(LeaseId lease);
  // Invariant 9: whether the keyspace has a bound (read once per transaction), and the count.
  bool IsBounded(std::int64_t keyspace_id);
  void AdjustKeyCount(std::int64_t keyspace_id, std::int64_t delta);
  // Invariant 9: evicts the least recently written keys of every keyspace over its bound.
  void EvictOverBound();
  // ExpireDue's second part: due keys without a lease, at most `limit`.
  std::size_t ExpireDueKeys(std::size_t limit);
  // What the last point read found for one key (a row, or none). A put or erase of that key
  // right after it (read-modify-write) takes its old row from here instead of reading it again:
  // nothing can have written the key in between, because every write and every savepoint
  // rollback forgets it.
  struct LastRead {
    std::int64_t keyspace_id = 0;
    std::string key;
    std::optional<OldRow> row;
  };
  // Appends one page of list() to *out; returns how many rows SQLite produced and sets *last to
  // the last key seen.
  std::size_t ListPage(std::string_view keyspace, std::int64_t keyspace_id, const std::string& from,
                       const std::optional<std::string>& end, std::int64_t sql_limit,
                       std::vector<Entry>* out, std::size_t* skipped, std::string* last);
  void RequireWritable() const;
  // The keyed digest of redacted history (redaction_key.h).
  Bytes Digest(const Value& value) const;
  Revision EnsureRevision();
  // Records that the statement just run inserted `rows` change rows (change_ids_).
  void NoteChangeRows(std::int64_t rows);
  // Appends to writes_ (invariant 3).
  void AddPendingWrite(std::string_view keyspace, const std::string& key,
                       std::optional<Entry> entry, bool drop_only);
  void RecordWrite(std::string_view keyspace, const KeyspaceRef& ref, std::string_view key,
                   const std::optional<OldRow>& old_row, const std::optional<Value>& new_value,
                   std::optional<std::int64_t> new_expires_us, ChangeKind kind = ChangeKind::kWrite,
                   std::optional<LeaseId> new_lease = std::nullopt);

  Connection& connection_;
  KeyspaceDirectory& keyspaces_;
  const bool read_only_;
  Origin origin_;
  const std::vector<std::string>& redacted_keyspaces_;
  DamagedRowReporter* const damaged_rows_;
  const RedactionKey* redaction_key_;
  // The largest lease id this process's writer handed out, committed or not (grant_lease): the
  // sequence of an AUTOINCREMENT table rolls back with a grant that did, and the id a body saw
  // must not name a later lease (lease.h). Null: sqlite_sequence alone.
  LeaseId* const lease_id_floor_;
  std::optional<LastRead> last_read_;
  std::optional<Revision> known_head_;
  std::optional<std::int64_t> last_commit_time_us_;
  const ClockFunction* clock_ = nullptr;  // StartAfter or UseClock; null: the system clock
  std::optional<std::int64_t> now_us_;    // Now()
  std::int64_t commit_time_us_ = 0;
  Revision revision_ = 0;
  std::int64_t seq_ = 0;
  // Invariant 2: the ids of this body's change rows, for its commit row (0: none yet).
  struct ChangeIds {
    std::int64_t first = 0;
    std::int64_t last = 0;
  };
  ChangeIds change_ids_;
  int savepoint_depth_ = 0;
  std::vector<PendingWrite> writes_;
  std::vector<std::pair<std::string, KeyspaceRef>> keyspaces_seen_;
  // IsBounded's answers (keyspace id, bounded); forgotten when a savepoint rolls back.
  std::vector<std::pair<std::int64_t, bool>> bounds_known_;
  // A key of a bounded keyspace was added: Finish runs EvictOverBound (invariant 9).
  bool added_bounded_key_ = false;
};

}  // namespace statestore::internal

#endif  // STATESTORE_SRC_TRANSACTION_IMPL_H_

#include "sqlite/transaction_impl.h"

#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <string>

#include "core/damaged_rows.h"
#include "core/validate.h"
#include "sqlite/schema_sql.h"
#include "sqlite/value_codec.h"
#include "statestore/error.h"
#include "util/key_range.h"

namespace statestore::internal {

TransactionImpl::TransactionImpl(Connection& connection, KeyspaceDirectory& keyspaces,
                                 bool read_only, Origin origin,
                                 const std::vector<std::string>& redacted_keyspaces,
                                 DamagedRowReporter* damaged_rows,
                                 const RedactionKey* redaction_key, LeaseId* lease_id_floor)
    : connection_(connection),
      keyspaces_(keyspaces),
      read_only_(read_only),
      origin_(std::move(origin)),
      redacted_keyspaces_(redacted_keyspaces),
      damaged_rows_(damaged_rows),
      redaction_key_(redaction_key),
      lease_id_floor_(lease_id_floor) {}

Bytes TransactionImpl::Digest(const Value& value) const {
  if (!redaction_key_) throw Error(ErrorCode::kInternal, "write transaction without redaction key");
  return redaction_key_->ValueDigest(value);
}

void TransactionImpl::RequireWritable() const {
  if (read_only_) {
    throw Error(ErrorCode::kReadOnly,
                "write in a read-only transaction (use Store::transact to write)");
  }
}

std::optional<KeyspaceRef> TransactionImpl::FindKeyspace(std::string_view name) {
  // Newest first: a keyspace marked redacted in this transaction appears again later.
  for (auto it = keyspaces_seen_.rbegin(); it != keyspaces_seen_.rend(); ++it) {
    if (it->first == name) return it->second;
  }
  if (auto ref = keyspaces_.Find(name)) return ref;
  return CallSqlite("cannot look up keyspace", [&]() -> std::optional<KeyspaceRef> {
    StatementUse q(connection_, sql::kSelectKeyspace);
    q->bind(1, std::string(name));
    if (!q->executeStep()) return std::nullopt;
    KeyspaceRef ref{q->getColumn(0).getInt64(), q->getColumn(1).getInt() != 0};
    keyspaces_seen_.emplace_back(std::string(name), ref);
    return ref;
  });
}

KeyspaceRef TransactionImpl::KeyspaceForWrite(std::string_view name) {
  bool want_redacted = std::find(redacted_keyspaces_.begin(), redacted_keyspaces_.end(), name) !=
                       redacted_keyspaces_.end();
  if (auto ref = FindKeyspace(name)) {
    if (want_redacted && !ref->redacted) {
      CallSqlite("cannot mark keyspace redacted", [&] {
        StatementUse q(connection_, sql::kMarkKeyspaceRedacted);
        q->bind(1, static_cast<int64_t>(ref->id));
        q->exec();
      });
      ref->redacted = true;
      keyspaces_seen_.emplace_back(std::string(name), *ref);
    }
    return *ref;
  }
  return CallSqlite("cannot create keyspace", [&] {
    StatementUse q(connection_, sql::kInsertKeyspace);
    q->bind(1, std::string(name));
    q->bind(2, want_redacted ? 1 : 0);
    q->exec();
    KeyspaceRef ref{sqlite3_last_insert_rowid(connection_.handle()), want_redacted};
    keyspaces_seen_.emplace_back(std::string(name), ref);
    return ref;
  });
}

std::optional<Entry> TransactionImpl::ReadEntry(std::string_view keyspace, std::int64_t keyspace_id,
                                                std::string_view key) {
  last_read_.reset();
  return CallSqlite("cannot read entry", [&]() -> std::optional<Entry> {
    StatementUse q(connection_, sql::kSelectEntry);
    std::string key_text(key);
    q->bind(1, static_cast<int64_t>(keyspace_id));
    q->bindNoCopy(2, key_text);
    if (!q->executeStep()) {
      if (!read_only_) last_read_ = LastRead{keyspace_id, std::move(key_text), std::nullopt};
      return std::nullopt;
    }
    const auto version = static_cast<std::uint64_t>(q->getColumn(2).getInt64());
    std::optional<std::int64_t> expires_us;
    if (!q->isColumnNull(3)) expires_us = q->getColumn(3).getInt64();
    std::optional<LeaseId> lease;
    if (!q->isColumnNull(4)) lease = q->getColumn(4).getInt64();
    const bool bounded = !q->isColumnNull(5);
    // Invariant 7: an expired row is absent, whether it decodes or not.
    const bool expired = expires_us && *expires_us <= Now();
    std::optional<Entry> e;
    if (!expired) {
      std::string problem;
      std::optional<Value> value = DecodeValue(*q, 0, 1, &problem);
      if (!value) throw DamagedRowError(keyspace, key, problem);
      e.emplace();
      e->key = key_text;
      e->value = std::move(*value);
      e->version = version;
      if (expires_us) e->expires_at = FromMicros(*expires_us);
      if (lease) e->lease = lease;
    }
    // Only a write transaction keeps the raw row (LastRead); a read body copies the value once.
    if (!read_only_) {
      last_read_ = LastRead{keyspace_id, std::move(key_text),
                            OldRow{ReadStoredCell(*q, 0, 1), version, expires_us, lease, bounded}};
    }
    return e;
  });
}

std::optional<TransactionImpl::OldRow> TransactionImpl::ReadOldRow(std::int64_t keyspace_id,
                                                                   std::string_view key) {
  if (last_read_ && last_read_->keyspace_id == keyspace_id && last_read_->key == key) {
    std::optional<OldRow> row = std::move(last_read_->row);
    last_read_.reset();
    return row;
  }
  last_read_.reset();
  return CallSqlite("cannot read entry", [&]() -> std::optional<OldRow> {
    StatementUse q(connection_, sql::kSelectEntry);
    const std::string key_text(key);
    q->bind(1, static_cast<int64_t>(keyspace_id));
    q->bindNoCopy(2, key_text);
    if (!q->executeStep()) return std::nullopt;
    OldRow row;
    row.stored = ReadStoredCell(*q, 0, 1);
    row.version = static_cast<std::uint64_t>(q->getColumn(2).getInt64());
    if (!q->isColumnNull(3)) row.expires_us = q->getColumn(3).getInt64();
    if (!q->isColumnNull(4)) row.lease = q->getColumn(4).getInt64();
    row.bounded = !q->isColumnNull(5);
    return row;
  });
}

std::int64_t TransactionImpl::Now() {
  if (!now_us_) now_us_ = clock_ ? NowMicros(*clock_) : ToMicros(Clock::now());
  return *now_us_;
}

std::int64_t TransactionImpl::DeadlineAfter(std::chrono::milliseconds ttl) {
  // ttl <= PutOptions::kMaxTtl (validated); only an injected clock near the end of time could
  // overflow the sum, and then "never" is the honest deadline.
  std::int64_t deadline = 0;
  if (__builtin_add_overflow(Now(), std::chrono::microseconds(ttl).count(), &deadline)) {
    return INT64_MAX;
  }
  return deadline;
}

std::optional<TransactionImpl::OldRow> TransactionImpl::ReadLiveRowForWrite(
    std::string_view keyspace, const KeyspaceRef& ref, std::string_view key) {
  std::optional<OldRow> old = ReadOldRow(ref.id, key);
  if (!old || !Expired(*old)) return old;
  RecordExpiry(keyspace, ref, key, *old);
  return std::nullopt;
}

void TransactionImpl::RecordExpiry(std::string_view keyspace, const KeyspaceRef& ref,
                                   std::string_view key, const OldRow& old) {
  if (old.lease) {
    EndLease(*old.lease, ChangeKind::kExpiry);  // invariant 8: with the lease's other keys
    return;
  }
  RecordWrite(keyspace, ref, key, old, std::nullopt, old.expires_us, ChangeKind::kExpiry);
}

std::optional<Lease> TransactionImpl::ReadLiveLease(LeaseId lease) {
  std::optional<Lease> row = CallSqlite("cannot read lease", [&]() -> std::optional<Lease> {
    StatementUse q(connection_, sql::kSelectLease);
    q->bind(1, static_cast<int64_t>(lease));
    if (!q->executeStep()) return std::nullopt;
    return Lease{lease,
                 std::chrono::milliseconds(q->getColumn(0).getInt64()),
                 FromMicros(q->getColumn(1).getInt64()),
                 {}};
  });
  // Invariant 7's rule, as for keys: gone at its deadline.
  if (!row || ToMicros(row->expires_at) <= Now()) return std::nullopt;
  return row;
}

std::vector<TransactionImpl::AttachedKey> TransactionImpl::ReadAttachedKeys(LeaseId lease) {
  return CallSqlite("cannot read the keys of a lease", [&] {
    std::vector<AttachedKey> keys;
    StatementUse q(connection_, sql::kLeaseKeys);
    q->bind(1, static_cast<int64_t>(lease));
    while (q->executeStep()) {
      keys.push_back({{q->getColumn(0).getString(), q->getColumn(1).getString()},
                      q->getColumn(2).getInt64(),
                      q->getColumn(3).getInt() != 0,
                      !q->isColumnNull(4)});
    }
    return keys;
  });
}

std::vector<LeaseKey> TransactionImpl::ReadLeaseKeys(LeaseId lease) {
  std::vector<LeaseKey> keys;
  for (AttachedKey& a : ReadAttachedKeys(lease)) keys.push_back(std::move(a.key));
  return keys;
}

std::size_t TransactionImpl::EndLease(LeaseId lease, ChangeKind kind) {
  last_read_.reset();  // see LastRead
  // The keys, with whether their keyspace is redacted, in the order history lists them.
  const std::vector<AttachedKey> attached = ReadAttachedKeys(lease);
  std::int64_t unredacted = 0;
  for (const AttachedKey& a : attached) unredacted += a.redacted ? 0 : 1;
  // Keys of unredacted keyspaces: their history rows in one statement and one delete, as the
  // per-key sweep does (ExpireDueKeys), rather than three statements per key: a lease may hold
  // thousands, all in this one transaction. Redacted ones need digests made here: one by one.
  if (unredacted > 0) {
    const Revision revision = EnsureRevision();
    CallSqlite("cannot end lease", [&] {
      StatementUse h(connection_, sql::kEndLeaseChanges);
      h->bind(1, static_cast<int64_t>(revision));
      h->bind(2, static_cast<int64_t>(seq_));
      h->bind(3, static_cast<int>(kind));
      h->bind(4, static_cast<int64_t>(lease));
      h->exec();
      if (sqlite3_changes(connection_.handle()) != unredacted) {
        throw Error(ErrorCode::kInternal, "end of lease: history rows and attached keys differ");
      }
      NoteChangeRows(unredacted);
      StatementUse d(connection_, sql::kDeleteUnredactedLeaseKeys);
      d->bind(1, static_cast<int64_t>(lease));
      d->exec();
    });
    seq_ += unredacted;
    // Invariant 9 for the rows deleted in bulk (the redacted ones below go through RecordWrite).
    std::vector<std::pair<std::int64_t, std::int64_t>> removed;  // keyspace id, rows
    for (const AttachedKey& a : attached) {
      if (a.redacted || !a.bounded) continue;
      if (removed.empty() || removed.back().first != a.keyspace_id) {
        removed.emplace_back(a.keyspace_id, 0);
      }
      ++removed.back().second;  // kLeaseKeys orders by keyspace name: one run per keyspace
    }
    for (const auto& [keyspace_id, rows] : removed) AdjustKeyCount(keyspace_id, -rows);
  }
  std::size_t ended = static_cast<std::size_t>(unredacted);
  for (const AttachedKey& a : attached) {
    if (!a.redacted) {
      // As RecordWrite would: an expiry is dropped from the cache, an erase cached as absent.
      AddPendingWrite(a.key.keyspace, a.key.key, std::nullopt, kind == ChangeKind::kExpiry);
      continue;
    }
    const std::optional<KeyspaceRef> ref = FindKeyspace(a.key.keyspace);
    if (!ref) continue;
    const std::optional<OldRow> old = ReadOldRow(ref->id, a.key.key);
    if (!old) continue;
    RecordWrite(a.key.keyspace, *ref, a.key.key, old, std::nullopt,
                kind == ChangeKind::kExpiry ? old->expires_us : std::nullopt, kind);
    ++ended;
  }
  CallSqlite("cannot delete lease", [&] {
    StatementUse q(connection_, sql::kDeleteLease);
    q->bind(1, static_cast<int64_t>(lease));
    q->exec();
  });
  return ended;
}

LeaseId TransactionImpl::grant_lease(std::chrono::milliseconds ttl) {
  ValidateLeaseTtl(ttl);
  RequireWritable();
  return CallSqlite("cannot grant lease", [&] {
    StatementUse q(connection_, sql::kInsertLease);
    q->bind(1, static_cast<int64_t>(ttl.count()));
    q->bind(2, static_cast<int64_t>(DeadlineAfter(ttl)));
    q->bind(3, static_cast<int64_t>(lease_id_floor_ ? *lease_id_floor_ : 0));
    q->exec();
    const auto id = static_cast<LeaseId>(sqlite3_last_insert_rowid(connection_.handle()));
    if (lease_id_floor_) *lease_id_floor_ = std::max(*lease_id_floor_, id);
    return id;
  });
}

bool TransactionImpl::keep_alive(LeaseId lease) {
  ValidateLeaseId(lease);
  RequireWritable();
  last_read_.reset();  // rows of this lease's keys change below
  const std::optional<Lease> live = ReadLiveLease(lease);
  if (!live) return false;
  return CallSqlite("cannot renew lease", [&] {
    // Invariant 8: the lease and every attached key get the same new deadline.
    const std::int64_t deadline = DeadlineAfter(live->ttl);
    for (const char* statement : {sql::kRenewLease, sql::kRenewLeaseKeys}) {
      StatementUse u(connection_, statement);
      u->bind(1, static_cast<int64_t>(lease));
      u->bind(2, static_cast<int64_t>(deadline));
      u->exec();
    }
    return true;
  });
}

bool TransactionImpl::revoke_lease(LeaseId lease) {
  ValidateLeaseId(lease);
  RequireWritable();
  // An expired lease is gone already; its expiry is the sweep's to record (invariant 7).
  if (!ReadLiveLease(lease)) return false;
  EndLease(lease, ChangeKind::kWrite);
  return true;
}

std::optional<Lease> TransactionImpl::lease(LeaseId lease) {
  ValidateLeaseId(lease);
  std::optional<Lease> out = ReadLiveLease(lease);
  if (out) out->keys = ReadLeaseKeys(lease);
  return out;
}

std::vector<Lease> TransactionImpl::leases() {
  std::vector<Lease> out = CallSqlite("cannot list leases", [&] {
    std::vector<Lease> live;
    StatementUse q(connection_, sql::kLiveLeases);
    q->bind(1, static_cast<int64_t>(Now()));
    while (q->executeStep()) {
      live.push_back(Lease{q->getColumn(0).getInt64(),
                           std::chrono::milliseconds(q->getColumn(1).getInt64()),
                           FromMicros(q->getColumn(2).getInt64()),
                           {}});
    }
    return live;
  });
  for (Lease& l : out) l.keys = ReadLeaseKeys(l.id);
  return out;
}

bool TransactionImpl::IsBounded(std::int64_t keyspace_id) {
  for (const auto& [id, bounded] : bounds_known_) {
    if (id == keyspace_id) return bounded;
  }
  const bool bounded = CallSqlite("cannot read keyspace bound", [&] {
    StatementUse q(connection_, sql::kSelectKeyBound);
    q->bind(1, static_cast<int64_t>(keyspace_id));
    return q->executeStep();
  });
  bounds_known_.emplace_back(keyspace_id, bounded);
  return bounded;
}

void TransactionImpl::AdjustKeyCount(std::int64_t keyspace_id, std::int64_t delta) {
  CallSqlite("cannot count the keys of a bounded keyspace", [&] {
    StatementUse q(connection_, sql::kAdjustKeyCount);
    q->bind(1, static_cast<int64_t>(keyspace_id));
    q->bind(2, static_cast<int64_t>(delta));
    q->exec();
  });
}

void TransactionImpl::EvictOverBound() {
  for (;;) {
    struct Over {
      std::int64_t keyspace_id, excess;
      std::string keyspace;
    };
    const std::optional<Over> over = CallSqlite("cannot read keyspace bounds", [&] {
      StatementUse q(connection_, sql::kOverBound);
      if (!q->executeStep()) return std::optional<Over>();
      return std::optional<Over>(Over{q->getColumn(0).getInt64(), q->getColumn(1).getInt64(),
                                      q->getColumn(2).getString()});
    });
    if (!over) return;
    const std::vector<std::string> victims = CallSqlite("cannot find keys to evict", [&] {
      std::vector<std::string> keys;
      StatementUse q(connection_, sql::kLeastRecentlyWritten);
      q->bind(1, static_cast<int64_t>(over->keyspace_id));
      q->bind(2, static_cast<int64_t>(over->excess));
      while (q->executeStep()) keys.push_back(q->getColumn(0).getString());
      return keys;
    });
    const std::optional<KeyspaceRef> ref = FindKeyspace(over->keyspace);
    if (victims.empty() || !ref) {
      throw Error(ErrorCode::kCorruption,
                  "keyspace " + over->keyspace + " counts " + std::to_string(over->excess) +
                      " keys over its bound but holds none to evict (the file was edited: see "
                      "`statectl verify`); remove the bound and set it again to recount "
                      "(statectl max-keys DB KEYSPACE none, then N)");
    }
    for (const std::string& key : victims) {
      const std::optional<OldRow> old = ReadLiveRowForWrite(over->keyspace, *ref, key);
      // An expired key went as the expiry it is (with its lease's other keys, which may be
      // later victims): count again.
      if (!old) break;
      RecordWrite(over->keyspace, *ref, key, old, std::nullopt, std::nullopt,
                  ChangeKind::kEviction);
    }
  }
}

void TransactionImpl::set_max_keys(std::string_view keyspace,
                                   std::optional<std::uint64_t> max_keys) {
  ValidateMaxKeys(keyspace, max_keys);
  RequireWritable();
  last_read_.reset();  // rows of the keyspace change below
  std::optional<KeyspaceRef> ref = max_keys ? KeyspaceForWrite(keyspace) : FindKeyspace(keyspace);
  if (!ref) return;  // removing the bound of a keyspace that does not exist
  const bool had_bound = IsBounded(ref->id);
  CallSqlite("cannot store keyspace bound", [&] {
    if (had_bound && max_keys) {
      StatementUse u(connection_, sql::kUpdateKeyBound);
      u->bind(1, static_cast<int64_t>(ref->id));
      u->bind(2, static_cast<int64_t>(*max_keys));
      u->exec();
      return;
    }
    if (had_bound == max_keys.has_value()) return;  // no bound to remove
    // Invariant 9: mark (or clear) the keyspace's keys first, so the new bound counts them.
    StatementUse m(connection_, sql::kMarkBoundedKeys);
    m->bind(1, static_cast<int64_t>(ref->id));
    if (max_keys) {
      m->bind(2, 1);
    } else {
      m->bind(2);
    }
    m->exec();
    StatementUse b(connection_, max_keys ? sql::kInsertKeyBound : sql::kDeleteKeyBound);
    b->bind(1, static_cast<int64_t>(ref->id));
    if (max_keys) b->bind(2, static_cast<int64_t>(*max_keys));
    b->exec();
  });
  bounds_known_.clear();
  if (max_keys) EvictOverBound();
}

std::optional<KeyBound> TransactionImpl::key_bound(std::string_view keyspace) {
  ValidateKeyspace(keyspace);
  const std::optional<KeyspaceRef> ref = FindKeyspace(keyspace);
  if (!ref) return std::nullopt;
  return CallSqlite("cannot read keyspace bound", [&]() -> std::optional<KeyBound> {
    StatementUse q(connection_, sql::kSelectKeyBound);
    q->bind(1, static_cast<int64_t>(ref->id));
    if (!q->executeStep()) return std::nullopt;
    return KeyBound{static_cast<std::uint64_t>(q->getColumn(0).getInt64()),
                    static_cast<std::uint64_t>(q->getColumn(1).getInt64())};
  });
}

TransactionImpl::ExpiredCount TransactionImpl::ExpireDue(std::size_t limit) {
  RequireWritable();
  last_read_.reset();  // see LastRead
  ExpiredCount count;
  // Leases first, each whole (invariant 8), then keys without a lease with what is left. A lease
  // counts as one more row (its own), so that a crowd of leases without keys is swept in
  // batches too.
  while (count.keys + count.leases < limit) {
    const std::optional<LeaseId> due = CallSqlite("cannot find expired leases", [&] {
      StatementUse q(connection_, sql::kDueLease);
      q->bind(1, static_cast<int64_t>(Now()));
      return q->executeStep() ? std::optional<LeaseId>(q->getColumn(0).getInt64()) : std::nullopt;
    });
    if (!due) break;
    count.keys += EndLease(*due, ChangeKind::kExpiry);
    ++count.leases;
  }
  if (count.keys + count.leases >= limit) return count;
  count.keys += ExpireDueKeys(limit - count.keys - count.leases);
  return count;
}

std::size_t TransactionImpl::ExpireDueKeys(std::size_t limit) {
  struct Due {
    std::string keyspace, key;
    bool redacted;
    std::int64_t keyspace_id;
    bool bounded;
  };
  std::vector<Due> due;
  std::int64_t unredacted = 0;
  CallSqlite("cannot find expired keys", [&] {
    StatementUse q(connection_, sql::kDueKeys);
    q->bind(1, static_cast<int64_t>(Now()));
    q->bind(2, static_cast<int64_t>(limit));
    while (q->executeStep()) {
      due.push_back({q->getColumn(0).getString(), q->getColumn(1).getString(),
                     q->getColumn(2).getInt() != 0, q->getColumn(3).getInt64(),
                     !q->isColumnNull(4)});
      if (!due.back().redacted) ++unredacted;
    }
  });
  if (due.empty()) return 0;
  std::size_t expired = static_cast<std::size_t>(unredacted);
  // The history rows of unredacted keys in one statement for the whole batch (kExpireChanges: the
  // same first `unredacted` due rows of unredacted keyspaces, in the order kDueKeys listed them),
  // then one delete per key, rather than three statements per key. History digests of redacted
  // keys are made here, so those go one by one below.
  if (unredacted > 0) {
    const Revision revision = EnsureRevision();
    CallSqlite("cannot record expiries", [&] {
      StatementUse h(connection_, sql::kExpireChanges);
      h->bind(1, static_cast<int64_t>(revision));
      h->bind(2, static_cast<int64_t>(seq_));
      h->bind(3, static_cast<int64_t>(Now()));
      h->bind(4, static_cast<int64_t>(unredacted));
      h->exec();
      if (sqlite3_changes(connection_.handle()) != unredacted) {
        throw Error(ErrorCode::kInternal, "expiry batch: history rows and due keys differ");
      }
      NoteChangeRows(unredacted);
      StatementUse d(connection_, sql::kDeleteEntry);
      for (const Due& row : due) {
        if (row.redacted) continue;
        d->reset();
        d->bind(1, static_cast<int64_t>(row.keyspace_id));
        d->bindNoCopy(2, row.key);
        d->exec();
      }
    });
    seq_ += unredacted;
    for (const Due& row : due) {
      if (!row.redacted && row.bounded) AdjustKeyCount(row.keyspace_id, -1);  // invariant 9
    }
  }
  for (const Due& d : due) {
    if (!d.redacted) {
      AddPendingWrite(d.keyspace, d.key, std::nullopt, /*drop_only=*/true);
      continue;
    }
    auto found = FindKeyspace(d.keyspace);
    if (!found) continue;
    std::optional<OldRow> old = ReadOldRow(found->id, d.key);
    if (!old || !Expired(*old)) continue;
    RecordWrite(d.keyspace, *found, d.key, old, std::nullopt, old->expires_us, ChangeKind::kExpiry);
    ++expired;
  }
  return expired;
}

std::optional<Value> TransactionImpl::get(std::string_view keyspace, std::string_view key) {
  auto e = get_entry(keyspace, key);
  if (!e) return std::nullopt;
  return std::move(e->value);
}

std::optional<Entry> TransactionImpl::get_entry(std::string_view keyspace, std::string_view key) {
  ValidateKeyspace(keyspace);
  ValidateKey(key);
  auto found = FindKeyspace(keyspace);
  if (!found) return std::nullopt;
  return ReadEntry(keyspace, found->id, key);
}

std::vector<Entry> TransactionImpl::list(std::string_view keyspace, std::string_view prefix,
                                         std::size_t limit) {
  ValidateKeyspace(keyspace);
  ValidatePrefix(prefix);
  std::vector<Entry> out;
  auto found = FindKeyspace(keyspace);
  if (!found) return out;
  const auto end = PrefixEnd(prefix);
  std::string from(prefix);
  for (;;) {
    const std::int64_t want = limit == 0 ? -1 : static_cast<std::int64_t>(limit - out.size());
    std::size_t skipped = 0;
    std::string last;
    const std::size_t rows = ListPage(keyspace, found->id, from, end, want, &out, &skipped, &last);
    // SQL's LIMIT counted the skipped rows too. Read on past them, so that a damaged row never
    // makes a full page look like the end of the keyspace (the sweep and count() rely on that).
    if (limit == 0 || skipped == 0 || static_cast<std::int64_t>(rows) < want) break;
    from = std::move(last);
    from.push_back('\0');  // the least key greater than `last`
  }
  return out;
}

std::size_t TransactionImpl::ListPage(std::string_view keyspace, std::int64_t keyspace_id,
                                      const std::string& from,
                                      const std::optional<std::string>& end, std::int64_t sql_limit,
                                      std::vector<Entry>* out, std::size_t* skipped,
                                      std::string* last) {
  return CallSqlite("cannot list entries", [&] {
    StatementUse q(connection_, end ? sql::kListRange : sql::kListFrom);
    q->bind(1, static_cast<int64_t>(keyspace_id));
    q->bindNoCopy(2, from);
    if (end) {
      q->bindNoCopy(3, *end);
      q->bind(4, static_cast<int64_t>(sql_limit));
      q->bind(5, static_cast<int64_t>(Now()));
    } else {
      q->bind(3, static_cast<int64_t>(sql_limit));
      q->bind(4, static_cast<int64_t>(Now()));
    }
    std::size_t rows = 0;
    std::string problem;
    while (q->executeStep()) {
      ++rows;
      Entry e;
      e.key = q->getColumn(0).getString();
      std::optional<Value> value = DecodeValue(*q, 1, 2, &problem);
      if (!value) {
        // value_codec.h note 2: one damaged row must not hide the rest of the keyspace.
        ++*skipped;
        if (damaged_rows_ != nullptr) {
          damaged_rows_->Skipped(keyspace, e.key, "current value", problem);
        }
        *last = std::move(e.key);
        continue;
      }
      e.value = std::move(*value);
      e.version = static_cast<std::uint64_t>(q->getColumn(3).getInt64());
      if (!q->isColumnNull(4)) e.expires_at = FromMicros(q->getColumn(4).getInt64());
      if (!q->isColumnNull(5)) e.lease = q->getColumn(5).getInt64();
      *last = e.key;
      out->push_back(std::move(e));
    }
    return rows;
  });
}

Revision TransactionImpl::EnsureRevision() {
  if (revision_ != 0) return revision_;
  CallSqlite("cannot allocate a revision", [&] {
    Revision head = known_head_.value_or(0);
    if (!known_head_) {
      StatementUse q(connection_, sql::kSelectMeta);
      q->bind(1, sql::kHeadRevision);
      if (!q->executeStep()) {
        throw Error(ErrorCode::kCorruption, "meta row 'head_revision' is missing");
      }
      head = static_cast<Revision>(q->getColumn(0).getInt64());
    }
    StatementUse u(connection_, sql::kUpdateMeta);
    u->bind(1, sql::kHeadRevision);
    u->bind(2, static_cast<int64_t>(head + 1));
    u->exec();
    revision_ = head + 1;
  });
  return revision_;
}

void TransactionImpl::RecordWrite(std::string_view keyspace, const KeyspaceRef& ref,
                                  std::string_view key, const std::optional<OldRow>& old_row,
                                  const std::optional<Value>& new_value,
                                  std::optional<std::int64_t> new_expires_us, ChangeKind kind,
                                  std::optional<LeaseId> new_lease) {
  last_read_.reset();  // see LastRead
  const std::int64_t keyspace_id = ref.id;
  Revision revision = EnsureRevision();
  std::string key_text(key);
  // Invariant 9: a new key of a bounded keyspace is marked and counted; so is a removed one.
  const bool adds_bounded = new_value && !old_row && IsBounded(keyspace_id);
  const bool removes_bounded = !new_value && old_row && old_row->bounded;
  CallSqlite("cannot write entry", [&] {
    if (new_value) {
      StatementUse q(connection_, sql::kUpsertEntry);
      q->bind(1, static_cast<int64_t>(keyspace_id));
      q->bindNoCopy(2, key_text);
      BindValue(*q, 3, 4, *new_value);
      q->bind(5, static_cast<int64_t>(revision));
      if (new_expires_us) {
        q->bind(6, static_cast<int64_t>(*new_expires_us));
      } else {
        q->bind(6);
      }
      if (new_lease) {
        q->bind(7, static_cast<int64_t>(*new_lease));
      } else {
        q->bind(7);
      }
      if (adds_bounded) {
        q->bind(8, 1);
      } else {
        q->bind(8);
      }
      q->exec();
    } else {
      StatementUse q(connection_, sql::kDeleteEntry);
      q->bind(1, static_cast<int64_t>(keyspace_id));
      q->bindNoCopy(2, key_text);
      q->exec();
    }
    StatementUse h(connection_, sql::kInsertChange);
    h->bind(1, static_cast<int64_t>(revision));
    h->bind(2, static_cast<int64_t>(++seq_));
    h->bind(3, static_cast<int64_t>(keyspace_id));
    h->bindNoCopy(4, key_text);
    // Values are bound in place (BindValue does not copy), so everything bound must outlive
    // exec(): the old row, `new_value`, and the digests below.
    // The old value goes in as SQLite held it (invariant 5): a legacy NaN stays (double, NULL),
    // a damaged row stays damaged. A tag the schema's CHECK refuses is recorded as absent.
    std::optional<Value> old_digest, new_digest;
    if (!old_row || !IsKnownTypeTag(old_row->stored.type)) {
      BindOptionalValue(*h, 5, 6, std::nullopt);
    } else if (ref.redacted) {
      std::optional<Value> scratch;
      old_digest = Value(Digest(DigestSubject(old_row->stored, &scratch)));
      BindDigest(*h, 5, 6, static_cast<ValueType>(old_row->stored.type), *old_digest);
    } else {
      BindStoredCell(*h, 5, 6, old_row->stored);
    }
    if (!new_value) {
      BindOptionalValue(*h, 7, 8, std::nullopt);
    } else if (ref.redacted) {
      new_digest = Value(Digest(*new_value));
      BindDigest(*h, 7, 8, new_value->type(), *new_digest);
    } else {
      BindValue(*h, 7, 8, *new_value);
    }
    h->bind(9, ref.redacted ? 1 : 0);
    // 0008_bounded_keyspaces.sql: an eviction is stored as kind 1 without a deadline.
    h->bind(10, kind == ChangeKind::kWrite ? 0 : 1);
    if (new_expires_us) {
      h->bind(11, static_cast<int64_t>(*new_expires_us));
    } else {
      h->bind(11);
    }
    h->exec();
    NoteChangeRows(1);
  });
  if (adds_bounded) {
    AdjustKeyCount(keyspace_id, 1);
    added_bounded_key_ = true;
  } else if (removes_bounded) {
    AdjustKeyCount(keyspace_id, -1);
  }
  std::optional<Entry> entry;
  if (new_value) {
    entry = Entry{key_text, *new_value, revision, std::nullopt, std::nullopt};
    if (new_expires_us) entry->expires_at = FromMicros(*new_expires_us);
    entry->lease = new_lease;
  }
  // The store's own removals (expiry, eviction) leave the cache rather than filling it.
  AddPendingWrite(keyspace, key_text, std::move(entry), kind != ChangeKind::kWrite);
}

void TransactionImpl::AddPendingWrite(std::string_view keyspace, const std::string& key,
                                      std::optional<Entry> entry, bool drop_only) {
  PendingWrite w{std::string(keyspace), key, std::move(entry), {}, drop_only};
  w.cache_id.reserve(keyspace.size() + 1 + key.size());
  w.cache_id.append(keyspace).push_back('\0');
  w.cache_id.append(key);
  writes_.push_back(std::move(w));
}

void TransactionImpl::put(std::string_view keyspace, std::string_view key, const Value& value,
                          const PutOptions& options) {
  ValidateKeyspace(keyspace);
  ValidateKey(key);
  ValidateValue(keyspace, key, value);
  ValidatePutOptions(keyspace, key, options);
  RequireWritable();
  std::optional<std::int64_t> lease_deadline;
  if (options.lease) {
    // Before anything is written: a refused put changes nothing.
    const std::optional<Lease> live = ReadLiveLease(*options.lease);
    if (live) lease_deadline = ToMicros(live->expires_at);
    if (!lease_deadline) {
      throw Error(ErrorCode::kNotFound, "put of " + DescribeKey(keyspace, key) + ": lease " +
                                            std::to_string(*options.lease) +
                                            " does not exist or has expired");
    }
  }
  KeyspaceRef ref = KeyspaceForWrite(keyspace);
  std::optional<OldRow> old = ReadLiveRowForWrite(keyspace, ref, key);
  std::optional<std::int64_t> expires_us;
  std::optional<LeaseId> lease;
  if (options.lease) {
    expires_us = lease_deadline;
    lease = options.lease;
  } else if (options.ttl) {
    expires_us = DeadlineAfter(*options.ttl);
  } else if (options.keep_ttl && old) {
    expires_us = old->expires_us;
    lease = old->lease;
  }
  RecordWrite(keyspace, ref, key, old, value, expires_us, ChangeKind::kWrite, lease);
}

bool TransactionImpl::erase(std::string_view keyspace, std::string_view key) {
  ValidateKeyspace(keyspace);
  ValidateKey(key);
  RequireWritable();
  auto found = FindKeyspace(keyspace);
  if (!found) return false;
  auto old = ReadOldRow(found->id, key);
  if (!old || Expired(*old)) return false;  // invariant 7: the sweep records the expiry
  RecordWrite(keyspace, KeyspaceForWrite(keyspace), key, old, std::nullopt, std::nullopt);
  return true;
}

bool TransactionImpl::SetDeadline(std::string_view keyspace, std::string_view key,
                                  std::optional<std::chrono::milliseconds> ttl) {
  RequireWritable();
  auto found = FindKeyspace(keyspace);
  if (!found) return false;
  auto old = ReadOldRow(found->id, key);
  if (!old || Expired(*old)) return false;    // invariant 7
  if (!ttl && !old->expires_us) return true;  // nothing to clear: no write
  std::string problem;
  std::optional<Value> value = DecodeCell(old->stored, &problem);
  if (!value) throw DamagedRowError(keyspace, key, problem);
  std::optional<std::int64_t> expires_us;
  if (ttl) expires_us = DeadlineAfter(*ttl);
  RecordWrite(keyspace, KeyspaceForWrite(keyspace), key, old, value, expires_us);
  return true;
}

bool TransactionImpl::expire(std::string_view keyspace, std::string_view key,
                             std::chrono::milliseconds ttl) {
  ValidateKeyspace(keyspace);
  ValidateKey(key);
  ValidateTtl(keyspace, key, ttl);
  return SetDeadline(keyspace, key, ttl);
}

bool TransactionImpl::persist(std::string_view keyspace, std::string_view key) {
  ValidateKeyspace(keyspace);
  ValidateKey(key);
  return SetDeadline(keyspace, key, std::nullopt);
}

void TransactionImpl::put_if_version(std::string_view keyspace, std::string_view key,
                                     const Value& value, std::uint64_t expected_version) {
  ValidateKeyspace(keyspace);
  ValidateKey(key);
  ValidateValue(keyspace, key, value);
  RequireWritable();
  KeyspaceRef ref = KeyspaceForWrite(keyspace);
  // An expired key is absent (invariant 7). Its expiry is recorded only if the write goes ahead.
  auto old = ReadOldRow(ref.id, key);
  const bool expired = old && Expired(*old);
  std::uint64_t actual = old && !expired ? old->version : 0;
  if (actual != expected_version) {
    throw Error(ErrorCode::kConflict, "compare-and-set on " + DescribeKey(keyspace, key) +
                                          ": expected version " + std::to_string(expected_version) +
                                          ", found " +
                                          (actual != 0 ? std::to_string(actual) : "no key"));
  }
  if (expired) {
    RecordExpiry(keyspace, ref, key, *old);
    old.reset();
  }
  RecordWrite(keyspace, ref, key, old, value, std::nullopt);
}

void TransactionImpl::erase_if_version(std::string_view keyspace, std::string_view key,
                                       std::uint64_t expected_version) {
  ValidateKeyspace(keyspace);
  ValidateKey(key);
  RequireWritable();
  auto found = FindKeyspace(keyspace);
  auto old = found ? ReadOldRow(found->id, key) : std::nullopt;
  if (old && Expired(*old)) old.reset();  // invariant 7
  if (!old || old->version != expected_version) {
    throw Error(ErrorCode::kConflict, "compare-and-erase on " + DescribeKey(keyspace, key) +
                                          ": expected version " + std::to_string(expected_version) +
                                          ", found " +
                                          (old ? std::to_string(old->version) : "no key"));
  }
  RecordWrite(keyspace, KeyspaceForWrite(keyspace), key, old, std::nullopt, std::nullopt);
}

void TransactionImpl::savepoint(const std::function<void(Transaction&)>& body) {
  if (!body) throw Error(ErrorCode::kInvalidArgument, "savepoint body is empty");
  // Names are built from an integer depth only.
  int depth = ++savepoint_depth_;
  std::string name = "nested_" + std::to_string(depth);
  std::string begin = "SAVEPOINT " + name;
  std::string release = "RELEASE " + name;
  std::string rollback = "ROLLBACK TO " + name;
  try {
    connection_.Exec(begin.c_str());
  } catch (...) {
    --savepoint_depth_;
    throw;
  }
  const std::size_t writes_before = writes_.size();
  const std::size_t keyspaces_before = keyspaces_seen_.size();
  const Revision revision_before = revision_;
  const std::int64_t seq_before = seq_;
  const ChangeIds change_ids_before = change_ids_;
  try {
    body(*this);
  } catch (...) {
    --savepoint_depth_;
    if (connection_.InTransaction()) {
      connection_.Exec(rollback.c_str());
      connection_.Exec(release.c_str());
      writes_.resize(writes_before);
      keyspaces_seen_.resize(keyspaces_before);
      bounds_known_.clear();
      last_read_.reset();
      revision_ = revision_before;
      seq_ = seq_before;
      change_ids_ = change_ids_before;
    }
    throw;
  }
  --savepoint_depth_;
  connection_.Exec(release.c_str());
}

void TransactionImpl::set_label(std::string_view label) {
  ValidateLabel(label);
  origin_.label = std::string(label);
}

Revision TransactionImpl::Finish() {
  if (revision_ == 0) return 0;
  if (added_bounded_key_) EvictOverBound();  // invariant 9, in this body's revision
  CallSqlite("cannot record commit", [&] {
    if (!last_commit_time_us_) {
      StatementUse q(connection_, sql::kSelectWriteStart);
      q->executeStep();
      last_commit_time_us_ = q->isColumnNull(1) ? 0 : q->getColumn(1).getInt64();
    }
    // Invariant 6: a clock set back does not make history go back in time.
    commit_time_us_ =
        std::max(clock_ ? NowMicros(*clock_) : ToMicros(Clock::now()), *last_commit_time_us_);
    StatementUse q(connection_, sql::kInsertCommit);
    q->bind(1, static_cast<int64_t>(revision_));
    q->bind(2, static_cast<int64_t>(commit_time_us_));
    q->bind(3, static_cast<int64_t>(origin_.pid));
    q->bind(4, static_cast<int64_t>(origin_.thread_id));
    q->bind(5, origin_.label);
    if (change_ids_.first != 0) {
      q->bind(6, static_cast<int64_t>(change_ids_.first));
      q->bind(7, static_cast<int64_t>(change_ids_.last));
    } else {
      q->bind(6);
      q->bind(7);
    }
    q->exec();
  });
  return revision_;
}

void TransactionImpl::NoteChangeRows(std::int64_t rows) {
  if (rows <= 0) return;
  // One statement's rows get consecutive ids ending at the last one inserted (max(id) + 1 each).
  const std::int64_t last = sqlite3_last_insert_rowid(connection_.handle());
  if (change_ids_.first == 0) change_ids_.first = last - rows + 1;
  change_ids_.last = last;
}

}  // namespace statestore::internal

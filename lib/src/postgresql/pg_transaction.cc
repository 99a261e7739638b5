#include "postgresql/pg_transaction.h"

#include <unistd.h>

#include <algorithm>
#include <map>
#include <string>

#include "core/validate.h"
#include "postgresql/pg_sql.h"
#include "statestore/error.h"
#include "util/clock.h"
#include "util/key_range.h"

namespace statestore::internal {

PgTransaction::PgTransaction(PgConnection& connection, KeyspaceDirectory& keyspaces, bool read_only,
                             Origin origin, const std::vector<std::string>& redacted_keyspaces,
                             DamagedRowReporter* damaged_rows, const RedactionKey* redaction_key,
                             Group group)
    : connection_(connection),
      keyspaces_(keyspaces),
      read_only_(read_only),
      origin_(std::move(origin)),
      redacted_keyspaces_(redacted_keyspaces),
      damaged_rows_(damaged_rows),
      redaction_key_(redaction_key),
      group_(group) {}

Bytes PgTransaction::Digest(const Value& value) const {
  if (!redaction_key_) throw Error(ErrorCode::kInternal, "write transaction without redaction key");
  return redaction_key_->ValueDigest(value);
}

void PgTransaction::RequireWritable() const {
  if (read_only_) {
    throw Error(ErrorCode::kReadOnly,
                "write in a read-only transaction (use Store::transact to write)");
  }
}

std::optional<KeyspaceRef> PgTransaction::FindKeyspace(std::string_view name) {
  for (auto it = keyspaces_seen_.rbegin(); it != keyspaces_seen_.rend(); ++it) {
    if (it->first == name) return it->second;
  }
  if (auto ref = keyspaces_.Find(name)) return ref;
  PgResult r =
      connection_.Exec("cannot look up keyspace", pgsql::kSelectKeyspace, PgParams().Text(name));
  if (r.rows() == 0) return std::nullopt;
  KeyspaceRef ref{r.Int(0, 0), r.Bool(0, 1)};
  keyspaces_seen_.emplace_back(std::string(name), ref);
  return ref;
}

KeyspaceRef PgTransaction::KeyspaceForWrite(std::string_view name) {
  const bool want_redacted = std::find(redacted_keyspaces_.begin(), redacted_keyspaces_.end(),
                                       name) != redacted_keyspaces_.end();
  if (auto ref = FindKeyspace(name)) {
    if (want_redacted && !ref->redacted) {
      connection_.Exec("cannot mark keyspace redacted", pgsql::kMarkKeyspaceRedacted,
                       PgParams().Int(ref->id));
      ref->redacted = true;
      keyspaces_seen_.emplace_back(std::string(name), *ref);
    }
    return *ref;
  }
  PgResult r = connection_.Exec("cannot create keyspace", pgsql::kInsertKeyspace,
                                PgParams().Text(name).Bool(want_redacted));
  KeyspaceRef ref{r.Int(0, 0), want_redacted};
  keyspaces_seen_.emplace_back(std::string(name), ref);
  return ref;
}

std::optional<Entry> PgTransaction::ReadEntry(std::string_view keyspace, std::int64_t keyspace_id,
                                              std::string_view key) {
  PgResult r = connection_.Exec("cannot read entry", pgsql::kSelectEntry,
                                PgParams().Int(keyspace_id).Key(key));
  if (r.rows() == 0) return std::nullopt;
  std::optional<std::int64_t> expires_us;
  if (!r.IsNull(0, 3)) expires_us = r.Int(0, 3);
  // Invariant 8: an expired row is absent, whether it decodes or not.
  if (Expired(expires_us)) return std::nullopt;
  std::string problem;
  std::optional<Value> value = DecodePgValue(r, 0, 0, 1, &problem);
  if (!value) throw DamagedRowError(keyspace, key, problem);
  Entry e{std::string(key), std::move(*value), static_cast<std::uint64_t>(r.Int(0, 2)),
          std::nullopt, std::nullopt};
  if (expires_us) e.expires_at = FromMicros(*expires_us);
  if (!r.IsNull(0, 4)) e.lease = r.Int(0, 4);
  return e;
}

PgTransaction::OldRow PgTransaction::ReadOldRowAt(const PgResult& r, int row) {
  OldRow old{ReadPgCell(r, row, 0, 1), static_cast<std::uint64_t>(r.Int(row, 2)), std::nullopt,
             std::nullopt};
  if (!r.IsNull(row, 3)) old.expires_us = r.Int(row, 3);
  if (!r.IsNull(row, 4)) old.lease = r.Int(row, 4);
  return old;
}

std::optional<PgTransaction::OldRow> PgTransaction::ReadOldRow(std::int64_t keyspace_id,
                                                               std::string_view key) {
  PgResult r = connection_.Exec("cannot read entry", pgsql::kSelectEntry,
                                PgParams().Int(keyspace_id).Key(key));
  if (r.rows() == 0) return std::nullopt;
  return ReadOldRowAt(r, 0);
}

std::int64_t PgTransaction::Now() {
  if (!now_us_) now_us_ = clock_ && *clock_ ? NowMicros(*clock_) : ToMicros(Clock::now());
  return *now_us_;
}

std::int64_t PgTransaction::DeadlineAfter(std::chrono::milliseconds ttl) {
  // As TransactionImpl::DeadlineAfter: only an injected clock near the end of time overflows.
  std::int64_t deadline = 0;
  if (__builtin_add_overflow(Now(), std::chrono::microseconds(ttl).count(), &deadline)) {
    return INT64_MAX;
  }
  return deadline;
}

std::optional<Value> PgTransaction::get(std::string_view keyspace, std::string_view key) {
  auto e = get_entry(keyspace, key);
  if (!e) return std::nullopt;
  return std::move(e->value);
}

std::optional<Entry> PgTransaction::get_entry(std::string_view keyspace, std::string_view key) {
  ValidateKeyspace(keyspace);
  ValidateKey(key);
  auto found = FindKeyspace(keyspace);
  if (!found) return std::nullopt;
  if (const Buffered* b = FindBuffered(found->id, key)) {
    if (!b->value) return std::nullopt;
    Entry e{std::string(key), *b->value, b->version, std::nullopt, std::nullopt};
    if (b->expires_us) e.expires_at = FromMicros(*b->expires_us);  // after Now() (invariant 8)
    e.lease = b->lease;
    return e;
  }
  if (group_.cache != nullptr) {
    std::string id;
    id.reserve(keyspace.size() + 1 + key.size());
    id.append(keyspace).push_back('\0');
    id.append(key);
    if (group_.written->count(id) == 0) {
      CachedEntry cached;
      if (group_.cache->Lookup(keyspace, key, &cached)) return cached;
      const ReadCache::FillTicket ticket = group_.cache->BeginFill();
      CachedEntry entry = ReadEntry(keyspace, found->id, key);
      group_.cache->Fill(ticket, keyspace, key, entry);
      return entry;
    }
  }
  return ReadEntry(keyspace, found->id, key);
}

std::vector<Entry> PgTransaction::list(std::string_view keyspace, std::string_view prefix,
                                       std::size_t limit) {
  ValidateKeyspace(keyspace);
  ValidatePrefix(prefix);
  std::vector<Entry> out;
  auto found = FindKeyspace(keyspace);
  if (!found) return out;
  Flush();  // the server lists what this body wrote too
  const auto end = PrefixEnd(prefix);
  std::string from(prefix);
  bool after = false;  // later pages start after the last key seen (keys cannot hold NUL here)
  for (;;) {
    const std::int64_t want =
        limit == 0 ? std::int64_t{1} << 62 : static_cast<std::int64_t>(limit - out.size());
    PgParams params;
    params.Int(found->id).Key(from);
    if (end) params.Key(*end);
    params.Int(want).Int(Now());  // invariant 8: expired rows are not listed
    const char* sql = end ? (after ? pgsql::kListRangeAfter : pgsql::kListRange)
                          : (after ? pgsql::kListFromAfter : pgsql::kListFrom);
    PgResult r = connection_.Exec("cannot list entries", sql, params);
    std::size_t skipped = 0;
    std::string last;
    std::string problem;
    for (int i = 0; i < r.rows(); ++i) {
      Entry e;
      e.key = r.Text(i, 0);
      std::optional<Value> value = DecodePgValue(r, i, 1, 2, &problem);
      last = e.key;
      if (!value) {
        // One damaged row must not hide the rest of the keyspace (pg_value_codec.h).
        ++skipped;
        if (damaged_rows_ != nullptr) {
          damaged_rows_->Skipped(keyspace, e.key, "current value", problem);
        }
        continue;
      }
      e.value = std::move(*value);
      e.version = static_cast<std::uint64_t>(r.Int(i, 3));
      if (!r.IsNull(i, 4)) e.expires_at = FromMicros(r.Int(i, 4));
      if (!r.IsNull(i, 5)) e.lease = r.Int(i, 5);
      out.push_back(std::move(e));
    }
    // LIMIT counted the skipped rows too: read on past them (as TransactionImpl::list does).
    if (limit == 0 || skipped == 0 || static_cast<std::int64_t>(r.rows()) < want) break;
    from = std::move(last);
    after = true;
  }
  return out;
}

Revision PgTransaction::EnsureRevision() {
  if (revision_ != 0) return revision_;
  Revision head = known_head_.value_or(0);
  if (!known_head_) {
    PgResult r = connection_.Exec("cannot read head revision", pgsql::kHeadRevision);
    if (r.rows() == 0) throw Error(ErrorCode::kCorruption, "meta row 'head_revision' is missing");
    head = static_cast<Revision>(r.Int(0, 0));
  }
  revision_ = head + 1;
  return revision_;
}

const PgTransaction::Buffered* PgTransaction::FindBuffered(std::int64_t keyspace_id,
                                                           std::string_view key) const {
  auto it = buffer_.find(BufferKeyLess::View{keyspace_id, key});
  return it == buffer_.end() ? nullptr : &it->second;
}

void PgTransaction::Flush() {
  ResolveDeferred();  // before `entries` changes: they need the old rows
  // Invariant 10: the counts of keyspaces that may be bounded first, one statement per keyspace,
  // while `entries` still holds the rows from before these writes (the buffer is ordered by
  // keyspace, so each keyspace's keys are adjacent).
  // Keyspaces that cannot be bounded cost nothing here (no key lists are built for them).
  for (auto it = buffer_.begin(); it != buffer_.end();) {
    const std::int64_t id = it->first.keyspace_id;
    const bool bounded = MayBeBounded(id);
    std::vector<std::string_view> upserted, deleted;
    for (; it != buffer_.end() && it->first.keyspace_id == id; ++it) {
      if (bounded) (it->second.value ? upserted : deleted).push_back(it->first.key);
    }
    if (bounded) {
      connection_.Queue("cannot count the keys of a bounded keyspace", pgsql::kCountBoundedWrites,
                        PgParams().Int(id).Keys(upserted).Keys(deleted));
    }
  }
  for (const auto& [k, b] : buffer_) {
    if (b.value) {
      PgParams p;
      p.Int(k.keyspace_id).Key(k.key);
      BindPgValue(p, *b.value);
      p.Int(static_cast<std::int64_t>(b.version)).OptionalInt(b.expires_us).OptionalInt(b.lease);
      connection_.Queue(
          "cannot write entry",
          MayBeBounded(k.keyspace_id) ? pgsql::kUpsertBoundedEntry : pgsql::kUpsertEntry, p);
    } else {
      connection_.Queue("cannot erase entry", pgsql::kDeleteEntry,
                        PgParams().Int(k.keyspace_id).Key(k.key));
    }
  }
  buffer_.clear();
}

void PgTransaction::BindHistoryValue(PgParams& params, const KeyspaceRef& ref,
                                     const std::optional<Value>& value) const {
  if (!value) {
    params.Null().Null();
  } else if (ref.redacted) {
    BindPgDigest(params, value->type(), Digest(*value));
  } else {
    BindPgValue(params, *value);
  }
}

void PgTransaction::WriteChange(std::string_view keyspace, const KeyspaceRef& ref,
                                std::string_view key, const OldValue& old,
                                const std::optional<Value>& new_value,
                                std::optional<std::int64_t> new_expires_us,
                                std::optional<LeaseId> new_lease) {
  if (old.expired && old.expired->lease) {
    EndLease(*old.expired->lease, ChangeKind::kExpiry);  // invariant 9: with its other keys
  }
  const Revision revision = EnsureRevision();
  if (old.expired && !old.expired->lease) {
    QueueExpiry(ref, key, ++seq_, revision, *old.expired);  // invariant 8
  }
  QueueChange(ref, key, ++seq_, revision, old, new_value, new_expires_us, ChangeKind::kWrite);
  Buffer(keyspace, ref, key, new_value, new_expires_us, revision, /*drop_only=*/false, new_lease);
}

void PgTransaction::QueueExpiry(const KeyspaceRef& ref, std::string_view key, std::int64_t seq,
                                Revision revision, const OldRow& row) {
  OldValue old;
  old.stored = row;
  QueueChange(ref, key, seq, revision, old, std::nullopt, row.expires_us, ChangeKind::kExpiry);
}

void PgTransaction::QueueChange(const KeyspaceRef& ref, std::string_view key, std::int64_t seq,
                                Revision revision, const OldValue& old,
                                const std::optional<Value>& new_value,
                                std::optional<std::int64_t> new_expires_us, ChangeKind kind) {
  PgParams h;
  h.Int(static_cast<std::int64_t>(revision)).Int(seq).Int(ref.id).Key(key);
  if (old.buffered) {
    // Written earlier in this body: the old value is the one it wrote.
    BindHistoryValue(h, ref, *old.buffered);
  } else if (!old.stored || old.stored->stored.type < 0 || old.stored->stored.type > 5) {
    // Absent; or a tag outside the schema's CHECK, recorded as absent (invariant 5).
    h.Null().Null();
  } else if (ref.redacted) {
    std::string problem;
    std::optional<Value> decoded = DecodePgCell(old.stored->stored, &problem);
    // A damaged cell is digested as its raw bytes, so its digest matches no real value's.
    const Value subject =
        decoded ? *decoded
                : Value(Bytes(old.stored->stored.bytes.begin(), old.stored->stored.bytes.end()));
    BindPgDigest(h, static_cast<ValueType>(old.stored->stored.type), Digest(subject));
  } else {
    BindPgCell(h, old.stored->stored);
  }
  BindHistoryValue(h, ref, new_value);
  h.Bool(ref.redacted).Int(static_cast<std::int64_t>(kind)).OptionalInt(new_expires_us);
  connection_.Queue("cannot record change", pgsql::kInsertChange, h);
}

void PgTransaction::ResolveDeferred() {
  if (deferred_.empty()) return;
  std::vector<PgParams> params;
  params.reserve(deferred_.size());
  for (const Deferred& d : deferred_) params.push_back(PgParams().Int(d.ref.id).Key(d.key));
  // The stored rows are still those before this body: `entries` is written only by Flush, next.
  std::vector<PgResult> rows =
      connection_.ExecEach("cannot read entry", pgsql::kSelectEntry, params);
  for (std::size_t i = 0; i < deferred_.size(); ++i) {
    const Deferred& d = deferred_[i];
    OldValue old;
    if (rows[i].rows() > 0) {
      OldRow row = ReadOldRowAt(rows[i], 0);
      if (Expired(row.expires_us) && row.lease) {
        // Invariant 9: put() reads such a row first while a lease may be due.
        throw Error(ErrorCode::kInternal,
                    "a deferred write met a key of lease " + std::to_string(*row.lease) +
                        " past its deadline (the earliest lease deadline was wrong)");
      }
      if (Expired(row.expires_us)) {
        QueueExpiry(d.ref, d.key, d.seq, d.revision, row);  // invariant 8
      } else {
        old.stored = std::move(row);
      }
    }
    QueueChange(d.ref, d.key, d.seq + 1, d.revision, old, d.new_value, d.new_expires_us,
                ChangeKind::kWrite);
  }
  deferred_.clear();
}

void PgTransaction::Buffer(std::string_view keyspace, const KeyspaceRef& ref, std::string_view key,
                           const std::optional<Value>& new_value,
                           std::optional<std::int64_t> new_expires_us, Revision revision,
                           bool drop_only, std::optional<LeaseId> new_lease) {
  buffer_[BufferKey{ref.id, std::string(key)}] =
      Buffered{new_value, revision, new_expires_us, new_value ? new_lease : std::nullopt};
  if (new_value && MayBeBounded(ref.id)) wrote_bounded_key_ = true;  // invariant 10
  std::optional<Entry> entry;
  if (new_value) {
    entry = Entry{std::string(key), *new_value, revision, std::nullopt, std::nullopt};
    // ReadCache invariant 8: an entry with a deadline is dropped from the cache, not cached.
    if (new_expires_us) entry->expires_at = FromMicros(*new_expires_us);
    entry->lease = new_lease;
  }
  AddPendingWrite(keyspace, key, std::move(entry), drop_only);
}

void PgTransaction::AddPendingWrite(std::string_view keyspace, std::string_view key,
                                    std::optional<Entry> entry, bool drop_only) {
  PendingWrite w{std::string(keyspace), std::string(key), std::move(entry), {}, drop_only};
  w.cache_id.reserve(keyspace.size() + 1 + key.size());
  w.cache_id.append(keyspace).push_back('\0');
  w.cache_id.append(key);
  if (group_.written != nullptr) group_.written->insert(w.cache_id);
  writes_.push_back(std::move(w));
}

PgTransaction::OldValue PgTransaction::ReadOld(const KeyspaceRef& ref, std::string_view key) {
  OldValue old;
  if (const Buffered* b = FindBuffered(ref.id, key)) {
    old.buffered = b->value;
    old.exists = b->value.has_value();
    old.version = b->value ? b->version : 0;
    old.expires_us = b->value ? b->expires_us : std::nullopt;
    old.lease = b->value ? b->lease : std::nullopt;
    return old;
  }
  old.stored = ReadOldRow(ref.id, key);
  if (old.stored && Expired(old.stored->expires_us)) {
    old.expired = std::move(old.stored);  // invariant 8: absent
    old.stored.reset();
  }
  old.exists = old.stored.has_value();
  old.version = old.stored ? old.stored->version : 0;
  if (old.stored) {
    old.expires_us = old.stored->expires_us;
    old.lease = old.stored->lease;
  }
  return old;
}

bool PgTransaction::LeaseMayBeDue() {
  return group_.earliest_lease_deadline == nullptr || *group_.earliest_lease_deadline <= Now();
}

void PgTransaction::NoteUnversionedWrite() {
  if (group_.unversioned_writes != nullptr) *group_.unversioned_writes = true;
}

std::optional<Lease> PgTransaction::ReadLiveLease(LeaseId lease) {
  PgResult r = connection_.Exec("cannot read lease", pgsql::kSelectLease, PgParams().Int(lease));
  // Invariant 8's rule, as for keys: gone at its deadline.
  if (r.rows() == 0 || r.Int(0, 1) <= Now()) return std::nullopt;
  return Lease{lease, std::chrono::milliseconds(r.Int(0, 0)), FromMicros(r.Int(0, 1)), {}};
}

std::size_t PgTransaction::EndLease(LeaseId lease, ChangeKind kind) {
  Flush();  // the statements below see this body's writes of the lease's keys
  const bool expiry = kind == ChangeKind::kExpiry;
  const bool first_write = revision_ == 0;
  const Revision revision = EnsureRevision();
  // Keys of unredacted keyspaces: deleted and recorded in one statement, however many; redacted
  // ones need digests made here, one by one (as the sweep's batches).
  PgResult gone = connection_.Exec("cannot end lease", pgsql::kEndLeaseUnredacted,
                                   PgParams()
                                       .Int(lease)
                                       .Int(static_cast<std::int64_t>(revision))
                                       .Int(seq_)
                                       .Int(static_cast<std::int64_t>(kind)));
  seq_ += gone.rows();
  for (int i = 0; i < gone.rows(); ++i) {
    // An expiry leaves the read cache; a revoke's erase is cached as absent (as Buffer does).
    AddPendingWrite(gone.Text(i, 0), gone.Text(i, 1), std::nullopt, expiry);
  }
  PgResult redacted = connection_.Exec("cannot read the keys of a lease", pgsql::kLeaseRedactedKeys,
                                       PgParams().Int(lease));
  for (int i = 0; i < redacted.rows(); ++i) {
    const KeyspaceRef ref{redacted.Int(i, 1), /*redacted=*/true};
    const std::string key = redacted.Text(i, 2);
    // Columns 3.. are kSelectEntry's (type, value, version, expires_us).
    OldValue old;
    old.stored = OldRow{ReadPgCell(redacted, i, 3, 4),
                        static_cast<std::uint64_t>(redacted.Int(i, 5)), redacted.Int(i, 6), lease};
    QueueChange(ref, key, ++seq_, revision, old, std::nullopt,
                expiry ? old.stored->expires_us : std::nullopt, kind);
    Buffer(redacted.Text(i, 0), ref, key, std::nullopt, std::nullopt, revision, expiry);
  }
  connection_.Queue("cannot delete lease", pgsql::kDeleteLease, PgParams().Int(lease));
  const std::size_t ended = static_cast<std::size_t>(gone.rows() + redacted.rows());
  if (ended == 0 && first_write) {
    revision_ = 0;  // invariant 1: no key changed; the lease's row went without a revision
    NoteUnversionedWrite();
  }
  return ended;
}

LeaseId PgTransaction::grant_lease(std::chrono::milliseconds ttl) {
  ValidateLeaseTtl(ttl);
  RequireWritable();
  const std::int64_t deadline = DeadlineAfter(ttl);
  PgResult r = connection_.Exec("cannot grant lease", pgsql::kInsertLease,
                                PgParams().Int(ttl.count()).Int(deadline));
  // Invariant 9: later bodies of this group may meet this lease due.
  if (group_.earliest_lease_deadline != nullptr) {
    *group_.earliest_lease_deadline = std::min(*group_.earliest_lease_deadline, deadline);
  }
  NoteUnversionedWrite();
  return r.Int(0, 0);
}

bool PgTransaction::keep_alive(LeaseId lease) {
  ValidateLeaseId(lease);
  RequireWritable();
  const std::optional<Lease> live = ReadLiveLease(lease);
  if (!live) return false;
  Flush();  // the renewal reaches keys this body attached too
  // Invariant 9: the lease and every attached key get the same new deadline. A later one, so
  // the group's earliest deadline stays a lower bound.
  connection_.Queue("cannot renew lease", pgsql::kRenewLease,
                    PgParams().Int(lease).Int(DeadlineAfter(live->ttl)));
  NoteUnversionedWrite();
  return true;
}

bool PgTransaction::revoke_lease(LeaseId lease) {
  ValidateLeaseId(lease);
  RequireWritable();
  // An expired lease is gone already; its expiry is the sweep's to record (invariant 8).
  if (!ReadLiveLease(lease)) return false;
  EndLease(lease, ChangeKind::kWrite);
  return true;
}

namespace {

// Leases from kLiveLeasesWithKeys / kLeaseWithKeys rows (a lease's rows are adjacent).
std::vector<Lease> LeasesFromRows(const PgResult& r) {
  std::vector<Lease> out;
  for (int i = 0; i < r.rows(); ++i) {
    const LeaseId id = r.Int(i, 0);
    if (out.empty() || out.back().id != id) {
      out.push_back(Lease{id, std::chrono::milliseconds(r.Int(i, 1)), FromMicros(r.Int(i, 2)), {}});
    }
    if (!r.IsNull(i, 3)) out.back().keys.push_back(LeaseKey{r.Text(i, 3), r.Text(i, 4)});
  }
  return out;
}

}  // namespace

std::optional<Lease> PgTransaction::lease(LeaseId lease) {
  ValidateLeaseId(lease);
  Flush();  // keys this body attached
  std::vector<Lease> found = LeasesFromRows(
      connection_.Exec("cannot read lease", pgsql::kLeaseWithKeys, PgParams().Int(lease)));
  if (found.empty() || ToMicros(found[0].expires_at) <= Now()) return std::nullopt;
  return std::move(found[0]);
}

std::vector<Lease> PgTransaction::leases() {
  Flush();
  return LeasesFromRows(
      connection_.Exec("cannot list leases", pgsql::kLiveLeasesWithKeys, PgParams().Int(Now())));
}

bool PgTransaction::MayBeBounded(std::int64_t keyspace_id) const {
  if (group_.bounded_keyspaces == nullptr) return true;
  const std::vector<std::int64_t>& ids = *group_.bounded_keyspaces;
  return std::find(ids.begin(), ids.end(), keyspace_id) != ids.end();
}

void PgTransaction::EvictOverBound() {
  for (;;) {
    Flush();  // the counts below include every write of this body
    PgResult r = connection_.Exec("cannot find keys to evict", pgsql::kOverBoundVictims);
    if (r.rows() == 0) return;
    // Per keyspace over its bound: (excess, victims found). Fewer victims than the excess means
    // the count drifted from the rows (an edited schema): evicting cannot fix that, so it stops.
    std::map<std::int64_t, std::pair<std::int64_t, std::int64_t>> found;
    // Per keyspace: the write_order of its last victim gone (kRecordEvictedThrough).
    std::map<std::int64_t, std::int64_t> evicted_through;
    bool lease_ended = false;
    for (int i = 0; i < r.rows() && !lease_ended; ++i) {
      const std::string keyspace = r.Text(i, 0);
      const KeyspaceRef ref{r.Int(i, 1), r.Bool(i, 2)};
      auto& [excess, victims] = found[ref.id];
      excess = r.Int(i, 3);
      if (r.IsNull(i, 4)) continue;
      ++victims;
      const std::string key = r.Text(i, 4);
      OldRow row{ReadPgCell(r, i, 5, 6), static_cast<std::uint64_t>(r.Int(i, 7)), std::nullopt,
                 std::nullopt};
      if (!r.IsNull(i, 8)) row.expires_us = r.Int(i, 8);
      if (!r.IsNull(i, 9)) row.lease = r.Int(i, 9);
      const Revision revision = EnsureRevision();
      // Each victim is the smallest (write_order, key) left, so every key after it is at or
      // above its write_order — an expired lease key too (its lease's other keys just leave).
      evicted_through[ref.id] = r.Int(i, 10);
      if (Expired(row.expires_us) && row.lease) {
        // An expired key goes as the expiry it is, with its lease's other keys (invariant 9),
        // which may be later victims or in other keyspaces: count again.
        EndLease(*row.lease, ChangeKind::kExpiry);
        lease_ended = true;
      } else if (Expired(row.expires_us)) {
        QueueExpiry(ref, key, ++seq_, revision, row);  // invariant 8
        Buffer(keyspace, ref, key, std::nullopt, std::nullopt, revision, /*drop_only=*/true);
      } else {
        OldValue old;
        old.stored = std::move(row);
        QueueChange(ref, key, ++seq_, revision, old, std::nullopt, std::nullopt,
                    ChangeKind::kEviction);
        // The store's own removal: it leaves the read cache rather than filling it.
        Buffer(keyspace, ref, key, std::nullopt, std::nullopt, revision, /*drop_only=*/true);
      }
    }
    for (const auto& [id, through] : evicted_through) {
      connection_.Queue("cannot record eviction", pgsql::kRecordEvictedThrough,
                        PgParams().Int(id).Int(through));
    }
    if (lease_ended) continue;
    for (int i = 0; i < r.rows(); ++i) {
      const auto& [excess, victims] = found[r.Int(i, 1)];
      if (victims < excess) {
        throw Error(ErrorCode::kCorruption,
                    "keyspace " + r.Text(i, 0) + " counts " + std::to_string(excess) +
                        " keys over its bound but holds " + std::to_string(victims) +
                        " to evict (the schema was edited: see `statectl verify`); remove the "
                        "bound and set it again to recount (statectl max-keys STORE KEYSPACE none, "
                        "then N)");
      }
    }
    Flush();
    return;
  }
}

void PgTransaction::set_max_keys(std::string_view keyspace, std::optional<std::uint64_t> max_keys) {
  ValidateMaxKeys(keyspace, max_keys);
  RequireWritable();
  const std::optional<KeyspaceRef> ref =
      max_keys ? KeyspaceForWrite(keyspace) : FindKeyspace(keyspace);
  if (!ref) return;  // removing the bound of a keyspace that does not exist
  Flush();           // the marks and the count below cover this body's writes
  const bool had_bound =
      connection_
          .Exec("cannot read keyspace bound", pgsql::kSelectKeyBound, PgParams().Int(ref->id))
          .rows() > 0;
  if (!had_bound && !max_keys) return;  // no bound to remove
  // Invariant 10: a new bound marks and counts the keys in its own statement; removing one
  // clears the marks. Neither takes a revision (store.h), so the group is told.
  if (had_bound) {
    connection_.Queue("cannot store keyspace bound",
                      max_keys ? pgsql::kUpdateKeyBound : pgsql::kDeleteKeyBound,
                      max_keys ? PgParams().Int(ref->id).Int(static_cast<std::int64_t>(*max_keys))
                               : PgParams().Int(ref->id));
  } else {
    connection_.Queue("cannot store keyspace bound", pgsql::kInsertKeyBound,
                      PgParams().Int(ref->id).Int(static_cast<std::int64_t>(*max_keys)));
  }
  NoteUnversionedWrite();
  if (!max_keys) return;
  // Later bodies of the group write this keyspace with the counting statements.
  if (group_.bounded_keyspaces != nullptr && !MayBeBounded(ref->id)) {
    group_.bounded_keyspaces->push_back(ref->id);
  }
  EvictOverBound();
}

std::optional<KeyBound> PgTransaction::key_bound(std::string_view keyspace) {
  ValidateKeyspace(keyspace);
  const std::optional<KeyspaceRef> ref = FindKeyspace(keyspace);
  if (!ref) return std::nullopt;
  Flush();  // the count covers this body's writes
  PgResult r = connection_.Exec("cannot read keyspace bound", pgsql::kSelectKeyBound,
                                PgParams().Int(ref->id));
  if (r.rows() == 0) return std::nullopt;
  return KeyBound{static_cast<std::uint64_t>(r.Int(0, 0)), static_cast<std::uint64_t>(r.Int(0, 1))};
}

bool PgTransaction::SetDeadline(std::string_view keyspace, std::string_view key,
                                std::optional<std::chrono::milliseconds> ttl) {
  RequireWritable();
  const std::optional<KeyspaceRef> found = FindKeyspace(keyspace);
  if (!found) return false;
  const OldValue old = ReadOld(*found, key);
  if (!old.exists) return false;             // invariant 8: an expired key is the sweep's
  if (!ttl && !old.expires_us) return true;  // nothing to clear: no write
  std::optional<Value> value;
  if (old.buffered) {
    value = **old.buffered;
  } else {
    std::string problem;
    value = DecodePgCell(old.stored->stored, &problem);
    if (!value) throw DamagedRowError(keyspace, key, problem);
  }
  std::optional<std::int64_t> expires_us;
  if (ttl) expires_us = DeadlineAfter(*ttl);
  WriteChange(keyspace, KeyspaceForWrite(keyspace), key, old, value, expires_us);
  return true;
}

bool PgTransaction::expire(std::string_view keyspace, std::string_view key,
                           std::chrono::milliseconds ttl) {
  ValidateKeyspace(keyspace);
  ValidateKey(key);
  ValidateTtl(keyspace, key, ttl);
  return SetDeadline(keyspace, key, ttl);
}

bool PgTransaction::persist(std::string_view keyspace, std::string_view key) {
  ValidateKeyspace(keyspace);
  ValidateKey(key);
  return SetDeadline(keyspace, key, std::nullopt);
}

void PgTransaction::put(std::string_view keyspace, std::string_view key, const Value& value,
                        const PutOptions& options) {
  ValidateKeyspace(keyspace);
  ValidateKey(key);
  ValidateValue(keyspace, key, value);
  ValidatePutOptions(keyspace, key, options);
  RequireWritable();
  std::optional<std::int64_t> expires_us;
  std::optional<LeaseId> lease;
  if (options.lease) {
    // Before anything is written: a refused put changes nothing.
    const std::optional<Lease> live = ReadLiveLease(*options.lease);
    if (!live) {
      throw Error(ErrorCode::kNotFound, "put of " + DescribeKey(keyspace, key) + ": lease " +
                                            std::to_string(*options.lease) +
                                            " does not exist or has expired");
    }
    expires_us = ToMicros(live->expires_at);  // invariant 9: the lease's deadline
    lease = options.lease;
  } else if (options.ttl) {
    expires_us = DeadlineAfter(*options.ttl);
  }
  const KeyspaceRef ref = KeyspaceForWrite(keyspace);
  if (options.keep_ttl || FindBuffered(ref.id, key) != nullptr || LeaseMayBeDue()) {
    // keep_ttl needs the live key's deadline and lease now (the buffer holds them for the
    // body's reads); a row of a lease past its deadline ends the lease first (invariant 9).
    OldValue old = ReadOld(ref, key);
    if (options.keep_ttl) {
      expires_us = old.expires_us;
      lease = old.lease;
    }
    WriteChange(keyspace, ref, key, old, value, expires_us, lease);
    return;
  }
  if (ref.redacted) {
    // The old value is digested here, not in SQL: its row is read at the next Flush, together
    // with every other such write of the body (one round trip).
    const Revision revision = EnsureRevision();
    deferred_.push_back(Deferred{seq_ + 1, revision, ref, std::string(key), value, expires_us});
    seq_ += 2;  // Deferred: the expiry's seq, then the write's
    Buffer(keyspace, ref, key, value, expires_us, revision, /*drop_only=*/false, lease);
    return;
  }
  // The old value straight from the stored row, in the queued statement itself: no wait. It
  // takes two seqs (kChangeFromStored: an expiry of the stored row may come first).
  const Revision revision = EnsureRevision();
  PgParams p;
  p.Int(ref.id).Key(key);
  BindPgValue(p, value);
  p.Int(static_cast<std::int64_t>(revision)).Int(seq_ + 1).OptionalInt(expires_us).Int(Now());
  seq_ += 2;
  connection_.Queue("cannot record change", pgsql::kChangeFromStored, p);
  Buffer(keyspace, ref, key, value, expires_us, revision, /*drop_only=*/false, lease);
}

bool PgTransaction::erase(std::string_view keyspace, std::string_view key) {
  ValidateKeyspace(keyspace);
  ValidateKey(key);
  RequireWritable();
  if (!FindKeyspace(keyspace)) return false;
  const KeyspaceRef ref = KeyspaceForWrite(keyspace);
  if (ref.redacted || FindBuffered(ref.id, key) != nullptr) {
    OldValue old = ReadOld(ref, key);
    if (!old.exists) return false;  // absent or expired (invariant 8: the sweep records it)
    WriteChange(keyspace, ref, key, old, std::nullopt, std::nullopt);
    return true;
  }
  // Whether the key exists decides the return value, so this one waits for its answer.
  const bool first_write = revision_ == 0;
  const Revision revision = EnsureRevision();
  PgResult r = connection_.Exec("cannot record change", pgsql::kEraseChangeFromStored,
                                PgParams()
                                    .Int(ref.id)
                                    .Key(key)
                                    .Int(static_cast<std::int64_t>(revision))
                                    .Int(seq_ + 1)
                                    .Int(Now()));
  if (r.affected() == 0) {
    if (first_write) revision_ = 0;  // invariant 1: nothing written, no revision used
    return false;
  }
  ++seq_;
  Buffer(keyspace, ref, key, std::nullopt, std::nullopt, revision);
  return true;
}

void PgTransaction::put_if_version(std::string_view keyspace, std::string_view key,
                                   const Value& value, std::uint64_t expected_version) {
  ValidateKeyspace(keyspace);
  ValidateKey(key);
  ValidateValue(keyspace, key, value);
  RequireWritable();
  const KeyspaceRef ref = KeyspaceForWrite(keyspace);
  OldValue old = ReadOld(ref, key);
  if (old.version != expected_version) {
    throw Error(ErrorCode::kConflict, "compare-and-set on " + DescribeKey(keyspace, key) +
                                          ": expected version " + std::to_string(expected_version) +
                                          ", found " +
                                          (old.exists ? std::to_string(old.version) : "no key"));
  }
  // An expired key is absent (invariant 8): WriteChange records its expiry before the write.
  WriteChange(keyspace, ref, key, old, value, std::nullopt);
}

void PgTransaction::erase_if_version(std::string_view keyspace, std::string_view key,
                                     std::uint64_t expected_version) {
  ValidateKeyspace(keyspace);
  ValidateKey(key);
  RequireWritable();
  auto found = FindKeyspace(keyspace);
  OldValue old = found ? ReadOld(*found, key) : OldValue{};
  if (!old.exists || old.version != expected_version) {
    throw Error(ErrorCode::kConflict, "compare-and-erase on " + DescribeKey(keyspace, key) +
                                          ": expected version " + std::to_string(expected_version) +
                                          ", found " +
                                          (old.exists ? std::to_string(old.version) : "no key"));
  }
  WriteChange(keyspace, KeyspaceForWrite(keyspace), key, old, std::nullopt, std::nullopt);
}

void PgTransaction::savepoint(const std::function<void(Transaction&)>& body) {
  if (!body) throw Error(ErrorCode::kInvalidArgument, "savepoint body is empty");
  // Buffered writes go out first, so that what the buffer holds afterwards was all written
  // inside the savepoint (and is dropped with it on rollback).
  Flush();
  // Names are built from an integer depth only.
  const int depth = ++savepoint_depth_;
  const std::string name = "nested_" + std::to_string(depth);
  try {
    connection_.ExecScript("cannot begin savepoint", ("SAVEPOINT " + name).c_str());
  } catch (...) {
    --savepoint_depth_;
    throw;
  }
  const std::size_t writes_before = writes_.size();
  const std::size_t keyspaces_before = keyspaces_seen_.size();
  const Revision revision_before = revision_;
  const std::int64_t seq_before = seq_;
  try {
    body(*this);
  } catch (...) {
    --savepoint_depth_;
    connection_.DiscardQueued();  // the rollback undoes them, failed or not
    buffer_.clear();
    deferred_.clear();
    if (!connection_.broken() && connection_.InTransaction()) {
      connection_.ExecScript(
          "cannot roll back savepoint",
          ("ROLLBACK TO SAVEPOINT " + name + "; RELEASE SAVEPOINT " + name).c_str());
      writes_.resize(writes_before);
      keyspaces_seen_.resize(keyspaces_before);
      revision_ = revision_before;
      seq_ = seq_before;
    }
    throw;
  }
  --savepoint_depth_;
  connection_.ExecScript("cannot release savepoint", ("RELEASE SAVEPOINT " + name).c_str());
}

void PgTransaction::set_label(std::string_view label) {
  ValidateLabel(label);
  origin_.label = std::string(label);
}

PgTransaction::ExpiredCount PgTransaction::ExpireDue(std::size_t limit) {
  RequireWritable();
  Flush();  // the rows the sweep reads are the ones this transaction sees
  ExpiredCount count;
  // Leases first, each whole (invariant 9), then keys without a lease with what is left. A
  // lease counts as one more, so that a crowd of leases without keys is swept in batches too.
  while (count.keys + count.leases < limit) {
    PgResult due =
        connection_.Exec("cannot find expired leases", pgsql::kDueLease, PgParams().Int(Now()));
    if (due.rows() == 0) break;
    count.keys += EndLease(due.Int(0, 0), ChangeKind::kExpiry);
    ++count.leases;
  }
  if (count.keys + count.leases >= limit) return count;
  limit -= count.keys + count.leases;
  const bool first_write = revision_ == 0;
  const Revision revision = EnsureRevision();
  // Unredacted keys: one statement deletes the batch and records its expiries (one round trip,
  // so the write lock is held briefly however many keys are due).
  PgResult gone = connection_.Exec("cannot expire keys", pgsql::kExpireDueUnredacted,
                                   PgParams()
                                       .Int(Now())
                                       .Int(static_cast<std::int64_t>(limit))
                                       .Int(static_cast<std::int64_t>(revision))
                                       .Int(seq_));
  std::size_t expired = static_cast<std::size_t>(gone.rows());
  seq_ += gone.rows();
  for (int i = 0; i < gone.rows(); ++i) {
    AddPendingWrite(gone.Text(i, 0), gone.Text(i, 1), std::nullopt, /*drop_only=*/true);
  }
  if (expired < limit) {
    PgResult r =
        connection_.Exec("cannot find expired keys", pgsql::kDueRedactedKeys,
                         PgParams().Int(Now()).Int(static_cast<std::int64_t>(limit - expired)));
    for (int i = 0; i < r.rows(); ++i) {
      const std::string keyspace = r.Text(i, 0);
      const KeyspaceRef ref{r.Int(i, 1), /*redacted=*/true};
      const std::string key = r.Text(i, 2);
      // Columns 3.. are kSelectEntry's (type, value, version, expires_us).
      OldRow row{ReadPgCell(r, i, 3, 4), static_cast<std::uint64_t>(r.Int(i, 5)), r.Int(i, 6),
                 std::nullopt};
      QueueExpiry(ref, key, ++seq_, revision, row);
      Buffer(keyspace, ref, key, std::nullopt, std::nullopt, revision, /*drop_only=*/true);
    }
    expired += static_cast<std::size_t>(r.rows());
  }
  if (expired == 0 && first_write) revision_ = 0;  // invariant 1: nothing written
  count.keys += expired;
  return count;
}

Revision PgTransaction::Finish() {
  if (revision_ == 0) return 0;
  if (!last_commit_time_us_) {
    throw Error(ErrorCode::kInternal, "PgTransaction::Finish without StartAfter");
  }
  if (wrote_bounded_key_) EvictOverBound();  // invariant 10, in this body's revision
  // Invariant 6: a clock set back does not make history go back in time.
  commit_time_us_ = std::max(clock_ && *clock_ ? NowMicros(*clock_) : ToMicros(Clock::now()),
                             *last_commit_time_us_);
  Flush();
  connection_.Queue("cannot record commit", pgsql::kRecordCommit,
                    PgParams()
                        .Int(static_cast<std::int64_t>(revision_))
                        .Int(commit_time_us_)
                        .Int(static_cast<std::int64_t>(origin_.pid))
                        .Int(static_cast<std::int64_t>(origin_.thread_id))
                        .Text(origin_.label)
                        .Int(group_.writer_token));
  if (group_.last_revision != nullptr) *group_.last_revision = revision_;
  // Not waited for here: the next statement that needs an answer (the next body's read, a
  // savepoint's release, or COMMIT) gets every queued one's too — a group of bodies that only
  // write costs one round trip before COMMIT (invariant 7; a failure there fails the group).
  return revision_;
}

}  // namespace statestore::internal

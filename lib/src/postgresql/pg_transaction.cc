#include "postgresql/pg_transaction.h"

#include <unistd.h>

#include <algorithm>
#include <string>

#include "core/validate.h"
#include "postgresql/pg_sql.h"
#include "statestore/error.h"
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
  std::string problem;
  std::optional<Value> value = DecodePgValue(r, 0, 0, 1, &problem);
  if (!value) throw DamagedRowError(keyspace, key, problem);
  return Entry{std::string(key), std::move(*value), static_cast<std::uint64_t>(r.Int(0, 2)),
               std::nullopt, std::nullopt};
}

std::optional<PgTransaction::OldRow> PgTransaction::ReadOldRow(std::int64_t keyspace_id,
                                                               std::string_view key) {
  PgResult r = connection_.Exec("cannot read entry", pgsql::kSelectEntry,
                                PgParams().Int(keyspace_id).Key(key));
  if (r.rows() == 0) return std::nullopt;
  return OldRow{ReadPgCell(r, 0, 0, 1), static_cast<std::uint64_t>(r.Int(0, 2))};
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
    return Entry{std::string(key), *b->value, b->version, std::nullopt, std::nullopt};
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
    params.Int(want);
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
  for (const auto& [k, b] : buffer_) {
    if (b.value) {
      PgParams p;
      p.Int(k.keyspace_id).Key(k.key);
      BindPgValue(p, *b.value);
      p.Int(static_cast<std::int64_t>(b.version));
      connection_.Queue("cannot write entry", pgsql::kUpsertEntry, p);
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
                                const std::optional<Value>& new_value) {
  const Revision revision = EnsureRevision();
  QueueChange(ref, key, ++seq_, revision, old, new_value);
  Buffer(keyspace, ref, key, new_value, revision);
}

void PgTransaction::QueueChange(const KeyspaceRef& ref, std::string_view key, std::int64_t seq,
                                Revision revision, const OldValue& old,
                                const std::optional<Value>& new_value) {
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
  h.Bool(ref.redacted);
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
      old.stored =
          OldRow{ReadPgCell(rows[i], 0, 0, 1), static_cast<std::uint64_t>(rows[i].Int(0, 2))};
    }
    QueueChange(d.ref, d.key, d.seq, d.revision, old, d.new_value);
  }
  deferred_.clear();
}

void PgTransaction::Buffer(std::string_view keyspace, const KeyspaceRef& ref, std::string_view key,
                           const std::optional<Value>& new_value, Revision revision) {
  buffer_[BufferKey{ref.id, std::string(key)}] = Buffered{new_value, revision};
  std::string key_text(key);
  PendingWrite w{std::string(keyspace), key_text, std::nullopt, {}};
  w.cache_id.reserve(keyspace.size() + 1 + key_text.size());
  w.cache_id.append(keyspace).push_back('\0');
  w.cache_id.append(key_text);
  if (new_value) {
    w.entry = Entry{std::move(key_text), *new_value, revision, std::nullopt, std::nullopt};
  }
  if (group_.written != nullptr) group_.written->insert(w.cache_id);
  writes_.push_back(std::move(w));
}

PgTransaction::OldValue PgTransaction::ReadOld(const KeyspaceRef& ref, std::string_view key) {
  OldValue old;
  if (const Buffered* b = FindBuffered(ref.id, key)) {
    old.buffered = b->value;
    old.exists = b->value.has_value();
    old.version = b->value ? b->version : 0;
    return old;
  }
  old.stored = ReadOldRow(ref.id, key);
  old.exists = old.stored.has_value();
  old.version = old.stored ? old.stored->version : 0;
  return old;
}

namespace {

[[noreturn]] void RefuseTtl(std::string_view keyspace, std::string_view key) {
  throw Error(ErrorCode::kInvalidArgument,
              "time-to-live of " + DescribeKey(keyspace, key) +
                  ": keys cannot expire on the PostgreSQL engine yet (SQLite files only; README "
                  "\"Time-to-live\")");
}

[[noreturn]] void RefuseLeases() {
  throw Error(ErrorCode::kInvalidArgument,
              "leases are not available on the PostgreSQL engine yet (SQLite files only; README "
              "\"Leases\")");
}

}  // namespace

LeaseId PgTransaction::grant_lease(std::chrono::milliseconds ttl) {
  ValidateLeaseTtl(ttl);
  RequireWritable();
  RefuseLeases();
}

// No lease can exist on this engine (grant_lease refuses), so these answer "none".
bool PgTransaction::keep_alive(LeaseId lease) {
  ValidateLeaseId(lease);
  RequireWritable();
  return false;
}

bool PgTransaction::revoke_lease(LeaseId lease) {
  ValidateLeaseId(lease);
  RequireWritable();
  return false;
}

std::optional<Lease> PgTransaction::lease(LeaseId lease) {
  ValidateLeaseId(lease);
  return std::nullopt;
}

std::vector<Lease> PgTransaction::leases() { return {}; }

void PgTransaction::set_max_keys(std::string_view keyspace, std::optional<std::uint64_t> max_keys) {
  ValidateMaxKeys(keyspace, max_keys);
  RequireWritable();
  if (max_keys) {
    throw Error(ErrorCode::kInvalidArgument,
                "keyspace " + std::string(keyspace) +
                    ": bounded keyspaces are not available on the PostgreSQL engine yet (SQLite "
                    "files only; README \"Bounded keyspaces\")");
  }
}

std::optional<KeyBound> PgTransaction::key_bound(std::string_view keyspace) {
  ValidateKeyspace(keyspace);
  return std::nullopt;
}

bool PgTransaction::expire(std::string_view keyspace, std::string_view key,
                           std::chrono::milliseconds ttl) {
  ValidateKeyspace(keyspace);
  ValidateKey(key);
  ValidateTtl(keyspace, key, ttl);
  RequireWritable();
  RefuseTtl(keyspace, key);
}

bool PgTransaction::persist(std::string_view keyspace, std::string_view key) {
  ValidateKeyspace(keyspace);
  ValidateKey(key);
  RequireWritable();
  // No deadline can exist here, so there is nothing to write: a read of the key decides.
  const std::optional<KeyspaceRef> found = FindKeyspace(keyspace);
  return found && ReadOld(*found, key).exists;
}

void PgTransaction::put(std::string_view keyspace, std::string_view key, const Value& value,
                        const PutOptions& options) {
  ValidateKeyspace(keyspace);
  ValidateKey(key);
  ValidateValue(keyspace, key, value);
  ValidatePutOptions(keyspace, key, options);
  RequireWritable();
  if (options.ttl) RefuseTtl(keyspace, key);
  if (options.lease) RefuseLeases();
  const KeyspaceRef ref = KeyspaceForWrite(keyspace);
  if (FindBuffered(ref.id, key) != nullptr) {
    WriteChange(keyspace, ref, key, ReadOld(ref, key), value);
    return;
  }
  if (ref.redacted) {
    // The old value is digested here, not in SQL: its row is read at the next Flush, together
    // with every other such write of the body (one round trip).
    const Revision revision = EnsureRevision();
    deferred_.push_back(Deferred{++seq_, revision, ref, std::string(key), value});
    Buffer(keyspace, ref, key, value, revision);
    return;
  }
  // The old value straight from the stored row, in the queued statement itself: no wait.
  const Revision revision = EnsureRevision();
  PgParams p;
  p.Int(ref.id).Key(key);
  BindPgValue(p, value);
  p.Int(static_cast<std::int64_t>(revision)).Int(++seq_);
  connection_.Queue("cannot record change", pgsql::kChangeFromStored, p);
  Buffer(keyspace, ref, key, value, revision);
}

bool PgTransaction::erase(std::string_view keyspace, std::string_view key) {
  ValidateKeyspace(keyspace);
  ValidateKey(key);
  RequireWritable();
  if (!FindKeyspace(keyspace)) return false;
  const KeyspaceRef ref = KeyspaceForWrite(keyspace);
  if (ref.redacted || FindBuffered(ref.id, key) != nullptr) {
    OldValue old = ReadOld(ref, key);
    if (!old.exists) return false;
    WriteChange(keyspace, ref, key, old, std::nullopt);
    return true;
  }
  // Whether the key exists decides the return value, so this one waits for its answer.
  const bool first_write = revision_ == 0;
  const Revision revision = EnsureRevision();
  PgResult r = connection_.Exec(
      "cannot record change", pgsql::kEraseChangeFromStored,
      PgParams().Int(ref.id).Key(key).Int(static_cast<std::int64_t>(revision)).Int(seq_ + 1));
  if (r.affected() == 0) {
    if (first_write) revision_ = 0;  // invariant 1: nothing written, no revision used
    return false;
  }
  ++seq_;
  Buffer(keyspace, ref, key, std::nullopt, revision);
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
  WriteChange(keyspace, ref, key, old, value);
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
  WriteChange(keyspace, KeyspaceForWrite(keyspace), key, old, std::nullopt);
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

Revision PgTransaction::Finish() {
  if (revision_ == 0) return 0;
  if (!last_commit_time_us_) {
    throw Error(ErrorCode::kInternal, "PgTransaction::Finish without StartAfter");
  }
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

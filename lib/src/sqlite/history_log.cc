#include "sqlite/history_log.h"

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <set>
#include <string>
#include <utility>

#include "core/history_policy.h"
#include "core/validate.h"
#include "sqlite/schema_sql.h"
#include "sqlite/sqlite_error.h"
#include "sqlite/value_codec.h"
#include "statestore/error.h"
#include "statestore/session.h"
#include "util/clock.h"
#include "util/key_range.h"

namespace statestore::internal {

namespace {

std::int64_t ReadMeta(Connection& c, const char* name) {
  StatementUse q(c, sql::kSelectMeta);
  q->bind(1, name);
  if (!q->executeStep()) {
    throw Error(ErrorCode::kCorruption, std::string("meta row '") + name + "' is missing");
  }
  return q->getColumn(0).getInt64();
}

void WriteMeta(Connection& c, const char* name, std::int64_t value) {
  StatementUse q(c, sql::kUpdateMeta);
  q->bind(1, name);
  q->bind(2, static_cast<int64_t>(value));
  q->exec();
}

// The first revision `r` >= `from` such that every commit at or after `r` has a time >= t_us
// (head + 1 if no commit is that late). REQUIRES: `from` >= meta 'time_ordered_from', so commit
// times do not decrease from `from` on (migrations/sqlite/0005_history_indexes.sql): a lower bound
// by bisection over revisions, each probe one primary-key seek, instead of an index on time.
Revision FirstRevisionAtOrAfterTime(Connection& c, std::int64_t t_us, Revision from,
                                    Revision head) {
  Revision lo = from;
  Revision hi = head + 1;
  StatementUse q(c, sql::kCommitAtOrAfter);
  while (lo < hi) {
    const Revision mid = lo + (hi - lo) / 2;
    q->reset();
    q->bind(1, static_cast<int64_t>(mid));
    // No commit at or after mid counts as late enough: the answer is at most mid.
    const bool late = !q->executeStep() || q->getColumn(1).getInt64() >= t_us;
    if (late) {
      hi = mid;
    } else {
      lo = static_cast<Revision>(q->getColumn(0).getInt64()) + 1;
    }
  }
  return lo;
}

Commit ReadCommitRow(const SQLite::Statement& q) {
  Commit commit;
  commit.revision = static_cast<Revision>(q.getColumn(0).getInt64());
  commit.time = FromMicros(q.getColumn(1).getInt64());
  commit.origin.pid = q.getColumn(2).getInt64();
  commit.origin.thread_id = q.getColumn(3).getInt64();
  commit.origin.label = q.getColumn(4).getString();
  commit.partial = q.getColumn(5).getInt() != 0;
  return commit;
}

// Reads one change row into `commit` (invariant 4). A change that does not decode is skipped
// and reported to `damaged_rows`; with no reporter (revert, which must not undo a commit only in
// part) it throws kCorruption naming the revision and key.
void ReadChangeRow(const SQLite::Statement& q, Commit* commit, DamagedRowReporter* damaged_rows) {
  Change change;
  change.keyspace = q.getColumn(0).getString();
  change.key = q.getColumn(1).getString();
  change.redacted = q.getColumn(6).getInt() != 0;
  if (!q.isColumnNull(8)) change.expires_at = FromMicros(q.getColumn(8).getInt64());
  // Kind 1 is a removal by the store: an expiry keeps the deadline that passed, an eviction has
  // none (migrations/sqlite/0008_bounded_keyspaces.sql).
  if (q.getColumn(7).getInt() == 1) {
    change.kind = change.expires_at ? ChangeKind::kExpiry : ChangeKind::kEviction;
  }
  auto decode = change.redacted ? DecodeOptionalDigest : DecodeOptionalValue;
  std::string problem;
  const char* side = "old value";
  bool ok = decode(q, 2, 3, &change.old_value, &problem);
  if (ok) {
    side = "new value";
    ok = decode(q, 4, 5, &change.new_value, &problem);
  }
  if (ok) {
    commit->changes.push_back(std::move(change));
    return;
  }
  const std::string where = "history revision " + std::to_string(commit->revision) + ", " + side;
  if (damaged_rows == nullptr) {
    throw Error(ErrorCode::kCorruption, where + " of " + change.keyspace + "/" +
                                            Value(change.key).to_display(80) + " is damaged (" +
                                            problem + "; the file was edited outside statestore?)");
  }
  damaged_rows->Skipped(change.keyspace, change.key, where, problem);
}

// Filter on changes shared by the commit query and the change query. The SQL text is made of
// constant fragments only; every user-supplied value is bound.
struct ChangeFilter {
  std::string keyspace;
  std::string prefix;
  std::optional<std::string> prefix_end;

  bool active() const { return !keyspace.empty() || !prefix.empty(); }
  std::string Sql(const char* alias) const {
    std::string s;
    std::string a(alias);
    if (!keyspace.empty())
      s += " AND " + a + ".keyspace_id = (SELECT id FROM keyspaces WHERE name = :ks)";
    if (!prefix.empty()) {
      s += " AND " + a + ".key >= :prefix";
      if (prefix_end) s += " AND " + a + ".key < :prefix_end";
    }
    return s;
  }
  void Bind(SQLite::Statement& q) const {
    if (!keyspace.empty()) q.bind(":ks", keyspace);
    if (!prefix.empty()) {
      q.bind(":prefix", prefix);
      if (prefix_end) q.bind(":prefix_end", *prefix_end);
    }
  }
};

}  // namespace

HistoryBounds ReadHistoryBounds(Connection& c) {
  return CallSqlite("cannot read history bounds", [&] {
    HistoryBounds b;
    b.head = static_cast<Revision>(ReadMeta(c, sql::kHeadRevision));
    b.compacted_through = static_cast<Revision>(ReadMeta(c, sql::kCompactedThrough));
    b.first = b.compacted_through + 1;
    return b;
  });
}

std::vector<Commit> QueryHistory(Connection& c, const HistoryQuery& query,
                                 DamagedRowReporter* damaged_rows) {
  if (!query.keyspace.empty()) ValidateKeyspace(query.keyspace);
  ValidatePrefix(query.key_prefix);
  if (query.label) ValidateLabel(*query.label);
  ChangeFilter filter{query.keyspace, query.key_prefix, std::nullopt};
  if (!filter.prefix.empty()) filter.prefix_end = PrefixEnd(filter.prefix);

  std::string commit_sql =
      "SELECT c.revision, c.time_us, c.pid, c.thread_id, c.label, c.partial FROM commits c "
      "WHERE c.revision >= :from AND c.revision <= :to";
  if (query.since) commit_sql += " AND c.time_us >= :since";
  if (query.until) commit_sql += " AND c.time_us < :until";
  if (query.label) commit_sql += " AND c.label = :label";
  if (query.pid) commit_sql += " AND c.pid = :pid";
  if (filter.active()) {
    commit_sql +=
        " AND EXISTS (SELECT 1 FROM changes x WHERE x.id BETWEEN c.first_change AND "
        "c.last_change AND x.revision = c.revision" +
        filter.Sql("x") + ")";
  }
  commit_sql += query.newest_first ? " ORDER BY c.revision DESC" : " ORDER BY c.revision";
  commit_sql += " LIMIT :limit";

  std::string change_sql =
      "SELECT k.name, x.key, x.old_type, x.old_value, x.new_type, x.new_value, x.redacted, "
      "x.kind, x.expires_us FROM commits m CROSS JOIN changes x ON x.id BETWEEN m.first_change AND "
      "m.last_change AND x.revision = m.revision "
      "JOIN keyspaces k ON k.id = x.keyspace_id WHERE m.revision = :rev" +
      filter.Sql("x") + " ORDER BY x.seq";

  return CallSqlite("cannot query history", [&] {
    // Times narrow the revision range by bisection where commit times are ordered; the time
    // conditions in the SQL stay, so the result is exact either way.
    Revision from = query.from_revision;
    Revision to = query.to_revision == 0 ? static_cast<Revision>(INT64_MAX) : query.to_revision;
    if ((query.since || query.until) &&
        static_cast<Revision>(ReadMeta(c, sql::kTimeOrderedFrom)) <= from) {
      const auto head = static_cast<Revision>(ReadMeta(c, sql::kHeadRevision));
      if (query.since) from = FirstRevisionAtOrAfterTime(c, ToMicros(*query.since), from, head);
      if (query.until) {
        // Every commit before `end` is older than `until`, none after it is.
        const Revision end = FirstRevisionAtOrAfterTime(c, ToMicros(*query.until), from, head);
        if (end <= from) return std::vector<Commit>{};
        to = std::min(to, end - 1);
      }
    }
    std::vector<Commit> out;
    if (to < from) return out;
    SQLite::Statement commits(c.database(), commit_sql);
    commits.bind(":from", static_cast<int64_t>(from));
    commits.bind(":to", static_cast<int64_t>(to));
    if (query.since) commits.bind(":since", static_cast<int64_t>(ToMicros(*query.since)));
    if (query.until) commits.bind(":until", static_cast<int64_t>(ToMicros(*query.until)));
    if (query.label) commits.bind(":label", *query.label);
    if (query.pid) commits.bind(":pid", static_cast<int64_t>(*query.pid));
    filter.Bind(commits);
    commits.bind(":limit", static_cast<int64_t>(query.limit == 0 ? -1 : query.limit));
    SQLite::Statement changes(c.database(), change_sql);
    while (commits.executeStep()) {
      Commit commit = ReadCommitRow(commits);
      changes.reset();
      changes.bind(":rev", static_cast<int64_t>(commit.revision));
      filter.Bind(changes);
      while (changes.executeStep()) ReadChangeRow(changes, &commit, damaged_rows);
      out.push_back(std::move(commit));
    }
    return out;
  });
}

std::optional<Commit> ReadCommit(Connection& c, Revision revision,
                                 DamagedRowReporter* damaged_rows) {
  return CallSqlite("cannot read commit", [&]() -> std::optional<Commit> {
    StatementUse q(c, sql::kSelectCommit);
    q->bind(1, static_cast<int64_t>(revision));
    if (!q->executeStep()) return std::nullopt;
    Commit commit = ReadCommitRow(*q);
    StatementUse ch(c, sql::kSelectChangesOf);
    ch->bind(1, static_cast<int64_t>(revision));
    while (ch->executeStep()) ReadChangeRow(*ch, &commit, damaged_rows);
    return commit;
  });
}

namespace {

KeyspaceHistoryRow ReadKeyspaceHistoryRow(const SQLite::Statement& q) {
  KeyspaceHistoryRow row;
  row.id = q.getColumn(0).getInt64();
  row.name = q.getColumn(1).getString();
  if (!q.isColumnNull(4)) {
    HistoryPolicy p;
    p.keep_revisions = static_cast<std::uint64_t>(q.getColumn(2).getInt64());
    p.keep_for = std::chrono::seconds(q.getColumn(3).getInt64());
    p.keep_none = q.getColumn(4).getInt() != 0;
    row.stored = p;
  }
  row.compacted_through = static_cast<Revision>(q.getColumn(5).getInt64());
  row.scanned_through = static_cast<Revision>(q.getColumn(6).getInt64());
  return row;
}

// The highest revision whose changes of `ks` the policy allows removing now (0 = none).
// Invariant 2: never the head revision.
Revision KeyspaceCutoff(Connection& c, const KeyspaceHistoryRow& ks, const HistoryRetention& global,
                        Revision head, std::int64_t now_us) {
  if (head == 0) return 0;
  const EffectiveHistoryPolicy e = ResolveHistoryPolicy(ks.name, ks.stored, global);
  const HistoryPolicy& p = e.policy;
  Revision cutoff = 0;
  if (p.keep_none) cutoff = head;
  if (p.keep_revisions > 0) {
    if (e.source == HistoryPolicySource::kGlobal) {
      // HistoryRetention's meaning: the most recent revisions of the whole store.
      if (head > p.keep_revisions) cutoff = std::max<Revision>(cutoff, head - p.keep_revisions);
    } else {
      // The (keep_revisions + 1)-th newest revision that changed the keyspace: changes_by_keyspace
      // read backwards from the keyspace's end stops after keep_revisions + 1 of its revisions,
      // however much other keyspaces wrote since.
      StatementUse q(c,
                     "SELECT revision FROM changes WHERE keyspace_id = ?1 GROUP BY revision "
                     "ORDER BY revision DESC LIMIT 1 OFFSET ?2");
      q->bind(1, static_cast<int64_t>(ks.id));
      q->bind(2, static_cast<int64_t>(p.keep_revisions));
      if (q->executeStep()) {
        cutoff = std::max<Revision>(cutoff, static_cast<Revision>(q->getColumn(0).getInt64()));
      }
    }
  }
  if (p.keep_for.count() > 0) {
    std::int64_t oldest_kept =
        now_us - std::chrono::duration_cast<std::chrono::microseconds>(p.keep_for).count();
    // Every change older than oldest_kept: the revisions before the first commit at or after
    // it, found by bisection where times are ordered (FirstRevisionAtOrAfterTime); below that,
    // in a file whose clock once went back, by a scan of the commits there.
    const auto ordered_from = static_cast<Revision>(ReadMeta(c, sql::kTimeOrderedFrom));
    const Revision first_kept = FirstRevisionAtOrAfterTime(c, oldest_kept, ordered_from, head);
    if (first_kept > ordered_from) {
      cutoff = std::max<Revision>(cutoff, first_kept - 1);
    } else if (ordered_from > 0) {
      StatementUse q(c, "SELECT max(revision) FROM commits WHERE revision < ?2 AND time_us < ?1");
      q->bind(1, static_cast<int64_t>(oldest_kept));
      q->bind(2, static_cast<int64_t>(ordered_from));
      if (q->executeStep() && !q->isColumnNull(0)) {
        cutoff = std::max<Revision>(cutoff, static_cast<Revision>(q->getColumn(0).getInt64()));
      }
    }
  }
  if (cutoff >= head) cutoff = head - 1;
  return cutoff;
}

std::int64_t QueryCount(Connection& c, const char* sql, Revision from, Revision upto,
                        std::int64_t keyspace_id) {
  StatementUse q(c, sql);
  q->bind(1, static_cast<int64_t>(from));
  q->bind(2, static_cast<int64_t>(upto));
  q->bind(3, static_cast<int64_t>(keyspace_id));
  q->executeStep();
  return q->isColumnNull(0) ? 0 : q->getColumn(0).getInt64();
}

// Removes the changes of `ks` in revisions from..upto (invariants 1-2): marks the commits that
// keep other keyspaces' changes partial, deletes the commits left without changes, and advances
// the keyspace's and the store's watermarks. The changes are found through changes_by_keyspace,
// so the batch costs what the keyspace holds in from..upto, not what every keyspace wrote there
// (the commits' partial flags are still checked revision by revision).
void CompactKeyspaceRange(Connection& c, KeyspaceHistoryRow& ks, Revision from, Revision upto,
                          RetentionResult* result) {
  const Revision removed_max = static_cast<Revision>(
      QueryCount(c,
                 "SELECT max(revision) FROM changes WHERE revision BETWEEN ?1 AND ?2 "
                 "AND keyspace_id = ?3",
                 from, upto, ks.id));
  if (removed_max != 0) {
    {
      StatementUse q(c,
                     "UPDATE commits SET partial = 1 WHERE revision BETWEEN ?1 AND ?2 AND "
                     "partial = 0 AND EXISTS (SELECT 1 FROM changes x WHERE x.id BETWEEN "
                     "commits.first_change AND commits.last_change AND x.revision = "
                     "commits.revision AND +x.keyspace_id = ?3) AND EXISTS (SELECT 1 FROM "
                     "changes x WHERE x.id BETWEEN commits.first_change AND commits.last_change "
                     "AND x.revision = commits.revision AND +x.keyspace_id <> ?3)");
      q->bind(1, static_cast<int64_t>(from));
      q->bind(2, static_cast<int64_t>(upto));
      q->bind(3, static_cast<int64_t>(ks.id));
      q->exec();
    }
    {
      StatementUse q(c,
                     "DELETE FROM changes WHERE revision BETWEEN ?1 AND ?2 AND keyspace_id = ?3");
      q->bind(1, static_cast<int64_t>(from));
      q->bind(2, static_cast<int64_t>(upto));
      q->bind(3, static_cast<int64_t>(ks.id));
      result->changes_removed += static_cast<std::uint64_t>(q->exec());
    }
    {
      StatementUse q(c,
                     "DELETE FROM commits WHERE revision BETWEEN ?1 AND ?2 AND NOT EXISTS "
                     "(SELECT 1 FROM changes x WHERE x.id BETWEEN commits.first_change AND "
                     "commits.last_change AND x.revision = commits.revision)");
      q->bind(1, static_cast<int64_t>(from));
      q->bind(2, static_cast<int64_t>(upto));
      result->revisions_removed += static_cast<std::uint64_t>(q->exec());
    }
    ks.compacted_through = std::max(ks.compacted_through, removed_max);
    // Invariant 1: the store-wide watermark is the max over keyspaces, in this same transaction.
    if (static_cast<Revision>(ReadMeta(c, sql::kCompactedThrough)) < removed_max) {
      WriteMeta(c, sql::kCompactedThrough, static_cast<std::int64_t>(removed_max));
    }
  }
  ks.scanned_through = upto;
  StatementUse q(c, sql::kStoreCompaction);
  q->bind(1, static_cast<int64_t>(ks.id));
  q->bind(2, static_cast<int64_t>(ks.compacted_through));
  q->bind(3, static_cast<int64_t>(ks.scanned_through));
  q->exec();
}

}  // namespace

std::optional<KeyspaceHistoryRow> ReadKeyspaceHistory(Connection& c, std::string_view keyspace) {
  return CallSqlite("cannot read history policy", [&]() -> std::optional<KeyspaceHistoryRow> {
    StatementUse q(c, sql::kSelectKeyspaceHistoryByName);
    q->bind(1, std::string(keyspace));
    if (!q->executeStep()) return std::nullopt;
    return ReadKeyspaceHistoryRow(*q);
  });
}

std::vector<KeyspaceHistoryRow> ReadAllKeyspaceHistory(Connection& c) {
  return CallSqlite("cannot read history policies", [&] {
    std::vector<KeyspaceHistoryRow> rows;
    StatementUse q(c, sql::kSelectKeyspaceHistory);
    while (q->executeStep()) rows.push_back(ReadKeyspaceHistoryRow(*q));
    return rows;
  });
}

HistoryBounds ReadKeyspaceBounds(Connection& c, std::string_view keyspace) {
  ValidateKeyspace(keyspace);
  HistoryBounds b = ReadHistoryBounds(c);
  std::optional<KeyspaceHistoryRow> row = ReadKeyspaceHistory(c, keyspace);
  b.compacted_through = row ? row->compacted_through : 0;
  b.first = b.compacted_through + 1;
  return b;
}

bool StoreHistoryPolicy(Connection& c, std::string_view keyspace,
                        const std::optional<HistoryPolicy>& policy) {
  return CallSqlite("cannot store history policy", [&]() -> bool {
    std::optional<KeyspaceHistoryRow> row = ReadKeyspaceHistory(c, keyspace);
    if (row && row->stored == policy) return false;
    if (!row && !policy) return false;
    std::int64_t id = 0;
    if (row) {
      id = row->id;
    } else {
      // Not redacted here: a write to it marks it as Options::redacted_keyspaces says.
      StatementUse q(c, sql::kInsertKeyspace);
      q->bind(1, std::string(keyspace));
      q->bind(2, 0);
      q->exec();
      id = sqlite3_last_insert_rowid(c.handle());
    }
    if (policy) {
      StatementUse q(c, sql::kStorePolicy);
      q->bind(1, static_cast<int64_t>(id));
      q->bind(2, static_cast<int64_t>(policy->keep_revisions));
      q->bind(3, static_cast<int64_t>(policy->keep_for.count()));
      q->bind(4, policy->keep_none ? 1 : 0);
      q->exec();
    } else {
      StatementUse q(c, sql::kClearPolicy);
      q->bind(1, static_cast<int64_t>(id));
      q->exec();
    }
    return true;
  });
}

namespace {

// Below the oldest commit row there are no changes: a keyspace's cursor may start there.
Revision RetentionFloor(Connection& c) {
  return static_cast<Revision>(
      c.QueryInt("SELECT coalesce(min(revision), 1) - 1 FROM commits", "cannot read history"));
}

}  // namespace

bool RetentionDue(Connection& c, const HistoryRetention& global, std::int64_t now_us) {
  return CallSqlite("cannot apply history retention", [&] {
    const Revision head = static_cast<Revision>(ReadMeta(c, sql::kHeadRevision));
    if (head == 0) return false;
    const Revision floor = RetentionFloor(c);
    for (const KeyspaceHistoryRow& ks : ReadAllKeyspaceHistory(c)) {
      if (KeyspaceCutoff(c, ks, global, head, now_us) > std::max(ks.scanned_through, floor))
        return true;
    }
    return false;
  });
}

RetentionResult RunRetentionBatch(Connection& c, const HistoryRetention& global,
                                  std::uint64_t max_revisions, std::int64_t now_us) {
  return CallSqlite("cannot apply history retention", [&] {
    RetentionResult result;
    const Revision head = static_cast<Revision>(ReadMeta(c, sql::kHeadRevision));
    if (head == 0) return result;
    const Revision floor = RetentionFloor(c);
    for (KeyspaceHistoryRow& ks : ReadAllKeyspaceHistory(c)) {
      if (result.changes_removed >= kRetentionRowBudget) {
        result.more = true;
        break;
      }
      const Revision cutoff = KeyspaceCutoff(c, ks, global, head, now_us);
      const Revision scanned = std::max(ks.scanned_through, floor);
      if (cutoff <= scanned) continue;
      Revision upto = std::min<Revision>(cutoff, scanned + max_revisions);
      // Bound the rows a batch deletes too, not only its revisions: commits with many changes
      // (a session sweep writes ~190) made one 256-revision batch delete ~25,000 rows and hold
      // the write lock for ~1.2 s. Stop before the revision holding the budget's next row (but
      // take at least one revision, however large).
      {
        StatementUse q(c,
                       "SELECT revision FROM changes WHERE revision BETWEEN ?1 AND ?2 AND "
                       "keyspace_id = ?3 ORDER BY revision LIMIT 1 OFFSET ?4");
        q->bind(1, static_cast<int64_t>(scanned + 1));
        q->bind(2, static_cast<int64_t>(upto));
        q->bind(3, static_cast<int64_t>(ks.id));
        q->bind(4, static_cast<int64_t>(kRetentionRowBudget - result.changes_removed));
        if (q->executeStep()) {
          const auto over = static_cast<Revision>(q->getColumn(0).getInt64());
          upto = std::max<Revision>(scanned + 1, over - 1);
        }
      }
      CompactKeyspaceRange(c, ks, scanned + 1, upto, &result);
      if (upto < cutoff) result.more = true;
    }
    return result;
  });
}

void RevertInto(TransactionImpl& tx, Revision revision, bool force) {
  Connection& c = tx.connection();
  // Strict: a damaged change throws rather than be left out of the revert.
  std::optional<Commit> commit = ReadCommit(c, revision, /*damaged_rows=*/nullptr);
  if (commit && commit->partial) {
    // Invariant 2: retention removed the changes of some of its keyspaces, so writing back the
    // rest would undo the commit only in part.
    throw Error(ErrorCode::kNotFound,
                "cannot revert revision " + std::to_string(revision) +
                    ": it is only partly in history (the history policy of one of the keyspaces "
                    "it changed removed those changes); see Store::history_policy");
  }
  if (!commit) {
    HistoryBounds b = ReadHistoryBounds(c);
    throw Error(
        ErrorCode::kNotFound,
        "cannot revert revision " + std::to_string(revision) + ": not in history " +
            (revision < b.first && revision > 0
                 ? "(compacted away; retained revisions start at " + std::to_string(b.first) + ")"
                 : "(head revision is " + std::to_string(b.head) + ")"));
  }
  // The value a key had before `revision` is the old value of its first change in it.
  std::set<std::pair<std::string, std::string>> done;
  for (const Change& change : commit->changes) {
    auto id = std::make_pair(change.keyspace, change.key);
    if (!done.insert(id).second) continue;
    if (change.redacted) {
      throw Error(ErrorCode::kInvalidArgument,
                  "cannot revert revision " + std::to_string(revision) + ": keyspace '" +
                      change.keyspace +
                      "' is redacted, so history holds digests, not the old values");
    }
    if (!force) {
      Revision later = CallSqlite("cannot check later changes", [&]() -> Revision {
        StatementUse q(c, sql::kLaterChangeOfKey);
        StatementUse ks(c, sql::kSelectKeyspace);
        ks->bind(1, change.keyspace);
        if (!ks->executeStep()) return 0;
        q->bind(1, static_cast<int64_t>(ks->getColumn(0).getInt64()));
        q->bind(2, change.key);
        q->bind(3, static_cast<int64_t>(revision));
        if (!q->executeStep() || q->isColumnNull(0)) return 0;
        return static_cast<Revision>(q->getColumn(0).getInt64());
      });
      if (later != 0) {
        throw Error(ErrorCode::kConflict,
                    "cannot revert revision " + std::to_string(revision) + ": " + change.keyspace +
                        "/" + Value(change.key).to_display(80) + " was changed again in revision " +
                        std::to_string(later) + " (use force to overwrite)");
      }
    }
    if (change.old_value) {
      try {
        tx.put(change.keyspace, change.key, *change.old_value);
      } catch (const Error& e) {
        // A value history holds but a write may not: a NaN from a build before value.h's rule.
        if (e.code() != ErrorCode::kInvalidArgument) throw;
        throw Error(ErrorCode::kInvalidArgument,
                    "cannot revert revision " + std::to_string(revision) + ": " + e.what());
      }
    } else {
      tx.erase(change.keyspace, change.key);
    }
  }
}

}  // namespace statestore::internal

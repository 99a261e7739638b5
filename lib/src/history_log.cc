#include "history_log.h"

#include <algorithm>
#include <chrono>
#include <set>
#include <string>
#include <utility>

#include "key_range.h"
#include "schema_sql.h"
#include "statestore/error.h"
#include "validate.h"
#include "value_codec.h"

namespace statestore::internal {

namespace {

std::int64_t ToMicros(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}

Clock::time_point FromMicros(std::int64_t us) {
  return Clock::time_point(
      std::chrono::duration_cast<Clock::duration>(std::chrono::microseconds(us)));
}

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

Commit ReadCommitRow(const SQLite::Statement& q) {
  Commit commit;
  commit.revision = static_cast<Revision>(q.getColumn(0).getInt64());
  commit.time = FromMicros(q.getColumn(1).getInt64());
  commit.origin.pid = q.getColumn(2).getInt64();
  commit.origin.thread_id = q.getColumn(3).getInt64();
  commit.origin.label = q.getColumn(4).getString();
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
      "SELECT c.revision, c.time_us, c.pid, c.thread_id, c.label FROM commits c "
      "WHERE c.revision >= :from AND c.revision <= :to";
  if (query.since) commit_sql += " AND c.time_us >= :since";
  if (query.until) commit_sql += " AND c.time_us < :until";
  if (query.label) commit_sql += " AND c.label = :label";
  if (query.pid) commit_sql += " AND c.pid = :pid";
  if (filter.active()) {
    commit_sql += " AND EXISTS (SELECT 1 FROM changes x WHERE x.revision = c.revision" +
                  filter.Sql("x") + ")";
  }
  commit_sql += query.newest_first ? " ORDER BY c.revision DESC" : " ORDER BY c.revision";
  commit_sql += " LIMIT :limit";

  std::string change_sql =
      "SELECT k.name, x.key, x.old_type, x.old_value, x.new_type, x.new_value, x.redacted "
      "FROM changes x "
      "JOIN keyspaces k ON k.id = x.keyspace_id WHERE x.revision = :rev" +
      filter.Sql("x") + " ORDER BY x.seq";

  return CallSqlite("cannot query history", [&] {
    std::vector<Commit> out;
    SQLite::Statement commits(c.database(), commit_sql);
    commits.bind(":from", static_cast<int64_t>(query.from_revision));
    commits.bind(":to",
                 static_cast<int64_t>(query.to_revision == 0 ? INT64_MAX : query.to_revision));
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

Revision RetentionCutoff(Connection& c, const HistoryRetention& retention) {
  if (retention.keep_revisions == 0 && retention.keep_for.count() == 0) return 0;
  return CallSqlite("cannot apply history retention", [&]() -> Revision {
    HistoryBounds b = ReadHistoryBounds(c);
    if (b.head == 0) return 0;
    Revision cutoff = 0;
    if (retention.keep_revisions > 0 && b.head > retention.keep_revisions) {
      cutoff = b.head - retention.keep_revisions;
    }
    if (retention.keep_for.count() > 0) {
      std::int64_t oldest_kept =
          ToMicros(Clock::now()) -
          std::chrono::duration_cast<std::chrono::microseconds>(retention.keep_for).count();
      StatementUse q(c, "SELECT max(revision) FROM commits WHERE time_us < ?1");
      q->bind(1, static_cast<int64_t>(oldest_kept));
      if (q->executeStep() && !q->isColumnNull(0)) {
        cutoff = std::max<Revision>(cutoff, static_cast<Revision>(q->getColumn(0).getInt64()));
      }
    }
    // Invariant 2: the head revision is always kept.
    if (cutoff >= b.head) cutoff = b.head - 1;
    return cutoff;
  });
}

std::uint64_t CompactHistoryBatch(Connection& c, Revision cutoff, std::uint64_t max_revisions) {
  return CallSqlite("cannot compact history", [&]() -> std::uint64_t {
    Revision done = static_cast<Revision>(ReadMeta(c, sql::kCompactedThrough));
    if (cutoff <= done) return 0;
    Revision upto = std::min<Revision>(cutoff, done + max_revisions);
    {
      StatementUse q(c, "DELETE FROM changes WHERE revision <= ?1");
      q->bind(1, static_cast<int64_t>(upto));
      q->exec();
    }
    {
      StatementUse q(c, "DELETE FROM commits WHERE revision <= ?1");
      q->bind(1, static_cast<int64_t>(upto));
      q->exec();
    }
    WriteMeta(c, sql::kCompactedThrough, static_cast<std::int64_t>(upto));
    return upto - done;
  });
}

void RevertInto(TransactionImpl& tx, Revision revision, bool force) {
  Connection& c = tx.connection();
  // Strict: a damaged change throws rather than be left out of the revert.
  std::optional<Commit> commit = ReadCommit(c, revision, /*damaged_rows=*/nullptr);
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

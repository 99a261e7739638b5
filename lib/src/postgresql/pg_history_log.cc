#include "postgresql/pg_history_log.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>

#include "core/validate.h"
#include "postgresql/pg_value_codec.h"
#include "statestore/error.h"
#include "util/clock.h"
#include "util/key_range.h"

namespace statestore::internal {

namespace {

// The statements of this module (pg_sql.h holds the engine's shared ones). Columns and
// parameters are bigint unless said; booleans are real booleans.
namespace hsql {

inline constexpr char kSelectBounds[] =
    "SELECT (SELECT value FROM meta WHERE name = 'head_revision'), "
    "(SELECT value FROM meta WHERE name = 'compacted_through')";
inline constexpr char kHeadRevision[] = "SELECT value FROM meta WHERE name = 'head_revision'";
// Invariant 1: the store-wide watermark only rises, and is the max over keyspaces.
inline constexpr char kRaiseCompactedThrough[] =
    "UPDATE meta SET value = $1 WHERE name = 'compacted_through' AND value < $1";

inline constexpr char kCommitAtOrAfter[] =
    "SELECT revision, time_us FROM commits WHERE revision >= $1 ORDER BY revision LIMIT 1";

// A commit with its changes, one row per change in order (columns as ReadCommitRows expects); a
// commit with no change rows (none are written, but the SQLite engine tolerates one) is one row
// of NULL change columns.
inline constexpr char kSelectCommitWithChanges[] =
    "SELECT c.revision, c.time_us, c.pid, c.thread_id, c.label, c.partial, "
    "k.name, x.key, x.old_type, x.old_value, x.new_type, x.new_value, x.redacted, x.kind, "
    "x.expires_us FROM commits c LEFT JOIN (changes x JOIN keyspaces k ON k.id = x.keyspace_id) "
    "ON x.revision = c.revision WHERE c.revision = $1 ORDER BY x.seq";

// For each key `revision` ($1) changed, the first later revision that changed it again.
inline constexpr char kLaterChangesOfRevision[] =
    "SELECT k.name, x.key, min(y.revision) FROM changes x "
    "JOIN keyspaces k ON k.id = x.keyspace_id "
    "JOIN changes y ON y.keyspace_id = x.keyspace_id AND y.key = x.key AND y.revision > $1 "
    "WHERE x.revision = $1 GROUP BY k.name, x.key";

inline constexpr char kSelectKeyspaceHistory[] =
    "SELECT k.id, k.name, h.keep_revisions, h.keep_for_s, h.keep_none, "
    "coalesce(h.compacted_through, 0), coalesce(h.scanned_through, 0) FROM keyspaces k "
    "LEFT JOIN keyspace_history h ON h.keyspace_id = k.id ORDER BY k.id";
inline constexpr char kSelectKeyspaceHistoryByName[] =
    "SELECT k.id, k.name, h.keep_revisions, h.keep_for_s, h.keep_none, "
    "coalesce(h.compacted_through, 0), coalesce(h.scanned_through, 0) FROM keyspaces k "
    "LEFT JOIN keyspace_history h ON h.keyspace_id = k.id WHERE k.name = $1";
// ON CONFLICT: another writer of the same keyspace name cannot make this fail.
inline constexpr char kInsertKeyspaceIfAbsent[] =
    "INSERT INTO keyspaces (name, redacted) VALUES ($1, false) ON CONFLICT (name) DO NOTHING";
inline constexpr char kSelectKeyspaceId[] = "SELECT id FROM keyspaces WHERE name = $1";
inline constexpr char kStorePolicy[] =
    "INSERT INTO keyspace_history (keyspace_id, keep_revisions, keep_for_s, keep_none) "
    "VALUES ($1, $2, $3, $4) ON CONFLICT (keyspace_id) DO UPDATE SET "
    "keep_revisions = excluded.keep_revisions, keep_for_s = excluded.keep_for_s, "
    "keep_none = excluded.keep_none";
inline constexpr char kClearPolicy[] =
    "UPDATE keyspace_history SET keep_revisions = NULL, keep_for_s = NULL, keep_none = NULL "
    "WHERE keyspace_id = $1";
inline constexpr char kStoreCompaction[] =
    "INSERT INTO keyspace_history (keyspace_id, compacted_through, scanned_through) "
    "VALUES ($1, $2, $3) ON CONFLICT (keyspace_id) DO UPDATE SET "
    "compacted_through = excluded.compacted_through, scanned_through = excluded.scanned_through";

// Below the oldest commit row there are no changes: a keyspace's cursor may start there.
inline constexpr char kRetentionFloor[] = "SELECT coalesce(min(revision), 1) - 1 FROM commits";
// The ($2 + 1)-th newest revision that changed keyspace $1: DISTINCT over changes_by_keyspace
// read backwards stops after $2 + 1 of its revisions, however much other keyspaces wrote since.
inline constexpr char kNthNewestRevisionOfKeyspace[] =
    "SELECT DISTINCT revision FROM changes WHERE keyspace_id = $1 "
    "ORDER BY revision DESC LIMIT 1 OFFSET $2";
// The revision holding the ($4 + 1)-th change of keyspace $3 in revisions $1..$2.
inline constexpr char kRevisionAtRowBudget[] =
    "SELECT revision FROM changes WHERE keyspace_id = $3 AND revision BETWEEN $1 AND $2 "
    "ORDER BY revision LIMIT 1 OFFSET $4";
inline constexpr char kMaxRevisionOfKeyspace[] =
    "SELECT coalesce(max(revision), 0) FROM changes WHERE keyspace_id = $3 "
    "AND revision BETWEEN $1 AND $2";
inline constexpr char kMarkPartial[] =
    "UPDATE commits SET partial = true WHERE revision BETWEEN $1 AND $2 AND NOT partial "
    "AND EXISTS (SELECT 1 FROM changes x WHERE x.revision = commits.revision "
    "AND x.keyspace_id = $3) AND EXISTS (SELECT 1 FROM changes x WHERE "
    "x.revision = commits.revision AND x.keyspace_id <> $3)";
inline constexpr char kDeleteChangesOfKeyspace[] =
    "DELETE FROM changes WHERE keyspace_id = $3 AND revision BETWEEN $1 AND $2";
inline constexpr char kDeleteEmptyCommits[] =
    "DELETE FROM commits WHERE revision BETWEEN $1 AND $2 AND NOT EXISTS "
    "(SELECT 1 FROM changes x WHERE x.revision = commits.revision)";

}  // namespace hsql

// Revisions and counts are unsigned in the API and bigint in the schema; a value past INT64_MAX
// (a caller's "no bound") must not wrap to a negative bound.
std::int64_t ToBigint(std::uint64_t v) {
  return static_cast<std::int64_t>(std::min<std::uint64_t>(v, INT64_MAX));
}

Revision HeadRevision(PgConnection& c, const char* what) {
  PgResult r = c.Exec(what, hsql::kHeadRevision);
  if (r.rows() == 0) throw Error(ErrorCode::kCorruption, "meta row 'head_revision' is missing");
  return static_cast<Revision>(r.Int(0, 0));
}

// The first revision `r` >= `from` such that every commit at or after `r` has a time >= t_us
// (head + 1 if no commit is that late). Commit times do not decrease with revision (invariant 6),
// so this is a lower bound by bisection over revisions, each probe one primary-key seek, instead
// of an index on time. A probe is a round trip: about log2(head) of them.
Revision FirstRevisionAtOrAfterTime(PgConnection& c, const char* what, std::int64_t t_us,
                                    Revision from, Revision head) {
  Revision lo = from;
  Revision hi = head + 1;
  while (lo < hi) {
    const Revision mid = lo + (hi - lo) / 2;
    PgResult r = c.Exec(what, hsql::kCommitAtOrAfter, PgParams().Int(ToBigint(mid)));
    // No commit at or after mid counts as late enough: the answer is at most mid.
    const bool late = r.rows() == 0 || r.Int(0, 1) >= t_us;
    if (late) {
      hi = mid;
    } else {
      lo = static_cast<Revision>(r.Int(0, 0)) + 1;
    }
  }
  return lo;
}

// Columns of a commit-with-changes row: the commit's, then the change's (NULL name = no change).
enum : int {
  kColRevision = 0,
  kColTime,
  kColPid,
  kColThread,
  kColLabel,
  kColPartial,
  kColKeyspace,
  kColKey,
  kColOldType,
  kColOldValue,
  kColNewType,
  kColNewValue,
  kColRedacted,
  kColKind,
  kColExpires,
};

Commit ReadCommitColumns(const PgResult& r, int row) {
  Commit commit;
  commit.revision = static_cast<Revision>(r.Int(row, kColRevision));
  commit.time = FromMicros(r.Int(row, kColTime));
  commit.origin.pid = r.Int(row, kColPid);
  commit.origin.thread_id = r.Int(row, kColThread);
  commit.origin.label = r.Text(row, kColLabel);
  commit.partial = r.Bool(row, kColPartial);
  return commit;
}

// Reads the change of one row into `commit` (invariant 4). A change that does not decode is
// skipped and reported to `damaged_rows`; with no reporter (revert, which must not undo a commit
// only in part) it throws kCorruption naming the revision and key.
void ReadChangeColumns(const PgResult& r, int row, Commit* commit,
                       DamagedRowReporter* damaged_rows) {
  if (r.IsNull(row, kColKeyspace)) return;  // a commit without change rows
  Change change;
  change.keyspace = r.Text(row, kColKeyspace);
  change.key = r.Text(row, kColKey);
  change.redacted = r.Bool(row, kColRedacted);
  if (!r.IsNull(row, kColExpires)) change.expires_at = FromMicros(r.Int(row, kColExpires));
  auto decode = change.redacted ? DecodeOptionalPgDigest : DecodeOptionalPgValue;
  std::string problem;
  const char* side = "kind";
  // The kind is stored as is (0002_time_to_live.sql): unlike SQLite, where an eviction is kind 1
  // without a deadline, kind 1 here is an expiry with or without one. The schema's CHECK keeps
  // it in 0..2; anything else is a damaged row like an undecodable value.
  bool ok = true;
  switch (r.Int(row, kColKind)) {
    case 0:
      change.kind = ChangeKind::kWrite;
      break;
    case 1:
      change.kind = ChangeKind::kExpiry;
      break;
    case 2:
      change.kind = ChangeKind::kEviction;
      break;
    default:
      ok = false;
      problem = "kind " + std::to_string(r.Int(row, kColKind)) + " is not 0, 1 or 2";
  }
  if (ok) {
    side = "old value";
    ok = decode(r, row, kColOldType, kColOldValue, &change.old_value, &problem);
  }
  if (ok) {
    side = "new value";
    ok = decode(r, row, kColNewType, kColNewValue, &change.new_value, &problem);
  }
  if (ok) {
    commit->changes.push_back(std::move(change));
    return;
  }
  const std::string where = "history revision " + std::to_string(commit->revision) + ", " + side;
  if (damaged_rows == nullptr) {
    throw Error(ErrorCode::kCorruption,
                where + " of " + change.keyspace + "/" + Value(change.key).to_display(80) +
                    " is damaged (" + problem + "; the database was edited outside statestore?)");
  }
  damaged_rows->Skipped(change.keyspace, change.key, where, problem);
}

// Rows ordered by commit, then by change seq: one Commit per run of equal revisions.
std::vector<Commit> ReadCommitRows(const PgResult& r, DamagedRowReporter* damaged_rows) {
  std::vector<Commit> out;
  for (int row = 0; row < r.rows(); ++row) {
    const auto revision = static_cast<Revision>(r.Int(row, kColRevision));
    if (out.empty() || out.back().revision != revision) out.push_back(ReadCommitColumns(r, row));
    ReadChangeColumns(r, row, &out.back(), damaged_rows);
  }
  return out;
}

// Filter on changes shared by the commit condition and the change join of PgQueryHistory. The
// SQL text is made of constant fragments and parameter numbers only; every user-supplied value is
// bound.
struct ChangeFilter {
  std::string keyspace;
  std::string prefix;
  std::optional<std::string> prefix_end;

  bool active() const { return !keyspace.empty() || !prefix.empty(); }

  // Appends the filter's parameters to `params` (numbered from *count + 1, advancing *count) and
  // returns the conditions on `alias`, each starting with " AND ".
  std::string Bind(const char* alias, PgParams* params, int* count) const {
    std::string s;
    const std::string a(alias);
    auto next = [&] { return "$" + std::to_string(++*count); };
    if (!keyspace.empty()) {
      s += " AND " + a + ".keyspace_id = (SELECT id FROM keyspaces WHERE name = " + next() + ")";
      params->Text(keyspace);
    }
    if (!prefix.empty()) {
      // Byte-wise, as on SQLite (util/key_range.h): keys are bytea, and so are the bounds (the
      // prefix need not be valid UTF-8, and PrefixEnd's incremented last byte often is not).
      const std::string bytes = a + ".key";
      s += " AND " + bytes + " >= " + next();
      params->Bytes(reinterpret_cast<const std::uint8_t*>(prefix.data()), prefix.size());
      if (prefix_end) {
        s += " AND " + bytes + " < " + next();
        params->Bytes(reinterpret_cast<const std::uint8_t*>(prefix_end->data()),
                      prefix_end->size());
      }
    }
    return s;
  }
};

}  // namespace

HistoryBounds PgReadHistoryBounds(PgConnection& c) {
  PgResult r = c.Exec("cannot read history bounds", hsql::kSelectBounds);
  for (int column = 0; column < 2; ++column) {
    if (r.rows() == 0 || r.IsNull(0, column)) {
      throw Error(ErrorCode::kCorruption,
                  std::string("meta row '") +
                      (column == 0 ? "head_revision" : "compacted_through") + "' is missing");
    }
  }
  HistoryBounds b;
  b.head = static_cast<Revision>(r.Int(0, 0));
  b.compacted_through = static_cast<Revision>(r.Int(0, 1));
  b.first = b.compacted_through + 1;
  return b;
}

std::vector<Commit> PgQueryHistory(PgConnection& c, const HistoryQuery& query,
                                   DamagedRowReporter* damaged_rows) {
  if (!query.keyspace.empty()) ValidateKeyspace(query.keyspace);
  ValidatePrefix(query.key_prefix);
  if (query.label) ValidateLabel(*query.label);
  ChangeFilter filter{query.keyspace, query.key_prefix, std::nullopt};
  if (!filter.prefix.empty()) filter.prefix_end = PrefixEnd(filter.prefix);
  const char* what = "cannot query history";

  // Times narrow the revision range by bisection (invariant 6); the time conditions in the SQL
  // stay, so the result is exact either way.
  Revision from = query.from_revision;
  Revision to = query.to_revision == 0 ? static_cast<Revision>(INT64_MAX) : query.to_revision;
  if (query.since || query.until) {
    const Revision head = HeadRevision(c, what);
    if (query.since) from = FirstRevisionAtOrAfterTime(c, what, ToMicros(*query.since), from, head);
    if (query.until) {
      // Every commit before `end` is older than `until`, none after it is.
      const Revision end = FirstRevisionAtOrAfterTime(c, what, ToMicros(*query.until), from, head);
      if (end <= from) return {};
      to = std::min(to, end - 1);
    }
  }
  if (to < from) return {};

  // One statement, so one round trip whatever the number of commits: the selected commits (with
  // their filter and limit) joined to their matching changes, ordered by commit then seq.
  PgParams params;
  int count = 0;
  auto next = [&] { return "$" + std::to_string(++count); };
  std::string sql =
      "WITH sel AS (SELECT c.revision, c.time_us, c.pid, c.thread_id, c.label, c.partial "
      "FROM commits c WHERE c.revision >= " +
      next();
  params.Int(ToBigint(from));
  sql += " AND c.revision <= " + next();
  params.Int(ToBigint(to));
  if (query.since) {
    sql += " AND c.time_us >= " + next();
    params.Int(ToMicros(*query.since));
  }
  if (query.until) {
    sql += " AND c.time_us < " + next();
    params.Int(ToMicros(*query.until));
  }
  if (query.label) {
    sql += " AND c.label = " + next();
    params.Text(*query.label);
  }
  if (query.pid) {
    sql += " AND c.pid = " + next();
    params.Int(*query.pid);
  }
  // The same parameters serve the EXISTS and the join below.
  const std::string filter_sql = filter.Bind("x", &params, &count);
  if (filter.active()) {
    sql += " AND EXISTS (SELECT 1 FROM changes x WHERE x.revision = c.revision" + filter_sql + ")";
  }
  const char* order = query.newest_first ? " DESC" : "";
  sql += std::string(" ORDER BY c.revision") + order;
  if (query.limit > 0) {
    sql += " LIMIT " + next();
    params.Int(ToBigint(query.limit));
  }
  sql +=
      ") SELECT s.revision, s.time_us, s.pid, s.thread_id, s.label, s.partial, "
      "k.name, x.key, x.old_type, x.old_value, x.new_type, x.new_value, x.redacted, x.kind, "
      "x.expires_us FROM sel s "
      "LEFT JOIN (changes x JOIN keyspaces k ON k.id = x.keyspace_id) "
      "ON x.revision = s.revision" +
      filter_sql + " ORDER BY s.revision" + order + ", x.seq";
  PgResult r = c.Exec(what, sql.c_str(), params);
  return ReadCommitRows(r, damaged_rows);
}

std::optional<Commit> PgReadCommit(PgConnection& c, Revision revision,
                                   DamagedRowReporter* damaged_rows) {
  PgResult r = c.Exec("cannot read commit", hsql::kSelectCommitWithChanges,
                      PgParams().Int(ToBigint(revision)));
  std::vector<Commit> commits = ReadCommitRows(r, damaged_rows);
  if (commits.empty()) return std::nullopt;
  return std::move(commits.front());
}

namespace {

PgKeyspaceHistoryRow ReadKeyspaceHistoryRow(const PgResult& r, int row) {
  PgKeyspaceHistoryRow out;
  out.id = r.Int(row, 0);
  out.name = r.Text(row, 1);
  // The schema's CHECK keeps the three policy columns NULL together.
  if (!r.IsNull(row, 4)) {
    HistoryPolicy p;
    p.keep_revisions = static_cast<std::uint64_t>(r.Int(row, 2));
    p.keep_for = std::chrono::seconds(r.Int(row, 3));
    p.keep_none = r.Bool(row, 4);
    out.stored = p;
  }
  out.compacted_through = static_cast<Revision>(r.Int(row, 5));
  out.scanned_through = static_cast<Revision>(r.Int(row, 6));
  return out;
}

// The highest revision whose changes of `ks` the policy allows removing now (0 = none).
// Invariant 2: never the head revision.
Revision KeyspaceCutoff(PgConnection& c, const char* what, const PgKeyspaceHistoryRow& ks,
                        const HistoryRetention& global, Revision head, std::int64_t now_us) {
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
      PgResult r = c.Exec(what, hsql::kNthNewestRevisionOfKeyspace,
                          PgParams().Int(ks.id).Int(ToBigint(p.keep_revisions)));
      if (r.rows() > 0) cutoff = std::max<Revision>(cutoff, static_cast<Revision>(r.Int(0, 0)));
    }
  }
  if (p.keep_for.count() > 0) {
    const std::int64_t oldest_kept =
        now_us - std::chrono::duration_cast<std::chrono::microseconds>(p.keep_for).count();
    // Every change older than oldest_kept: the revisions before the first commit at or after it.
    // Times are ordered from revision 1 (invariant 6), so unlike SQLite no scan of an unordered
    // stretch is needed.
    const Revision first_kept = FirstRevisionAtOrAfterTime(c, what, oldest_kept, 1, head);
    if (first_kept > 1) cutoff = std::max<Revision>(cutoff, first_kept - 1);
  }
  if (cutoff >= head) cutoff = head - 1;
  return cutoff;
}

// Removes the changes of `ks` in revisions from..upto (invariants 1-2): marks the commits that
// keep other keyspaces' changes partial, deletes the commits left without changes, and advances
// the keyspace's and the store's watermarks. The changes are found through changes_by_keyspace,
// so the batch costs what the keyspace holds in from..upto, not what every keyspace wrote there
// (the commits' partial flags are still checked revision by revision).
void CompactKeyspaceRange(PgConnection& c, const char* what, PgKeyspaceHistoryRow& ks,
                          Revision from, Revision upto, PgRetentionResult* result) {
  const PgParams range = PgParams().Int(ToBigint(from)).Int(ToBigint(upto)).Int(ks.id);
  const auto removed_max =
      static_cast<Revision>(c.Exec(what, hsql::kMaxRevisionOfKeyspace, range).Int(0, 0));
  if (removed_max != 0) {
    c.Exec(what, hsql::kMarkPartial, range);
    result->changes_removed +=
        static_cast<std::uint64_t>(c.Exec(what, hsql::kDeleteChangesOfKeyspace, range).affected());
    result->revisions_removed += static_cast<std::uint64_t>(
        c.Exec(what, hsql::kDeleteEmptyCommits, PgParams().Int(ToBigint(from)).Int(ToBigint(upto)))
            .affected());
    ks.compacted_through = std::max(ks.compacted_through, removed_max);
    // Invariant 1: the store-wide watermark is the max over keyspaces, in this same transaction.
    c.Exec(what, hsql::kRaiseCompactedThrough, PgParams().Int(ToBigint(removed_max)));
  }
  ks.scanned_through = upto;
  c.Exec(
      what, hsql::kStoreCompaction,
      PgParams().Int(ks.id).Int(ToBigint(ks.compacted_through)).Int(ToBigint(ks.scanned_through)));
}

Revision RetentionFloor(PgConnection& c, const char* what) {
  return static_cast<Revision>(c.Exec(what, hsql::kRetentionFloor).Int(0, 0));
}

}  // namespace

std::optional<PgKeyspaceHistoryRow> PgReadKeyspaceHistory(PgConnection& c,
                                                          std::string_view keyspace) {
  PgResult r = c.Exec("cannot read history policy", hsql::kSelectKeyspaceHistoryByName,
                      PgParams().Text(keyspace));
  if (r.rows() == 0) return std::nullopt;
  return ReadKeyspaceHistoryRow(r, 0);
}

std::vector<PgKeyspaceHistoryRow> PgReadAllKeyspaceHistory(PgConnection& c) {
  PgResult r = c.Exec("cannot read history policies", hsql::kSelectKeyspaceHistory);
  std::vector<PgKeyspaceHistoryRow> rows;
  rows.reserve(static_cast<std::size_t>(r.rows()));
  for (int row = 0; row < r.rows(); ++row) rows.push_back(ReadKeyspaceHistoryRow(r, row));
  return rows;
}

HistoryBounds PgReadKeyspaceBounds(PgConnection& c, std::string_view keyspace) {
  ValidateKeyspace(keyspace);
  HistoryBounds b = PgReadHistoryBounds(c);
  std::optional<PgKeyspaceHistoryRow> row = PgReadKeyspaceHistory(c, keyspace);
  b.compacted_through = row ? row->compacted_through : 0;
  b.first = b.compacted_through + 1;
  return b;
}

bool PgStoreHistoryPolicy(PgTransaction& tx, std::string_view keyspace,
                          const std::optional<HistoryPolicy>& policy) {
  PgConnection& c = tx.connection();
  const char* what = "cannot store history policy";
  std::optional<PgKeyspaceHistoryRow> row = PgReadKeyspaceHistory(c, keyspace);
  if (row && row->stored == policy) return false;
  if (!row && !policy) return false;
  std::int64_t id = 0;
  if (row) {
    id = row->id;
  } else {
    // Not redacted here: a write to it marks it as Options::redacted_keyspaces says.
    c.Exec(what, hsql::kInsertKeyspaceIfAbsent, PgParams().Text(keyspace));
    PgResult r = c.Exec(what, hsql::kSelectKeyspaceId, PgParams().Text(keyspace));
    if (r.rows() == 0) {
      throw Error(ErrorCode::kInternal,
                  std::string(what) + ": keyspace '" + std::string(keyspace) + "' not created");
    }
    id = r.Int(0, 0);
  }
  if (policy) {
    c.Exec(what, hsql::kStorePolicy,
           PgParams()
               .Int(id)
               .Int(ToBigint(policy->keep_revisions))
               .Int(policy->keep_for.count())
               .Bool(policy->keep_none));
  } else {
    c.Exec(what, hsql::kClearPolicy, PgParams().Int(id));
  }
  return true;
}

bool PgRetentionDue(PgConnection& c, const HistoryRetention& global, std::int64_t now_us) {
  const char* what = "cannot apply history retention";
  const Revision head = HeadRevision(c, what);
  if (head == 0) return false;
  const Revision floor = RetentionFloor(c, what);
  for (const PgKeyspaceHistoryRow& ks : PgReadAllKeyspaceHistory(c)) {
    if (KeyspaceCutoff(c, what, ks, global, head, now_us) > std::max(ks.scanned_through, floor))
      return true;
  }
  return false;
}

PgRetentionResult PgRunRetentionBatch(PgConnection& c, const HistoryRetention& global,
                                      std::uint64_t max_revisions, std::int64_t now_us) {
  const char* what = "cannot apply history retention";
  PgRetentionResult result;
  const Revision head = HeadRevision(c, what);
  if (head == 0) return result;
  const Revision floor = RetentionFloor(c, what);
  for (PgKeyspaceHistoryRow& ks : PgReadAllKeyspaceHistory(c)) {
    if (result.changes_removed >= kPgRetentionRowBudget) {
      result.more = true;
      break;
    }
    const Revision cutoff = KeyspaceCutoff(c, what, ks, global, head, now_us);
    const Revision scanned = std::max(ks.scanned_through, floor);
    if (cutoff <= scanned) continue;
    Revision upto = std::min<Revision>(cutoff, scanned + max_revisions);
    // Bound the rows a batch deletes too, not only its revisions: commits with many changes (a
    // session sweep writes ~190) would make one batch delete tens of thousands of rows while
    // holding the write lock. Stop before the revision holding the budget's next row (but take
    // at least one revision, however large).
    {
      PgResult r = c.Exec(what, hsql::kRevisionAtRowBudget,
                          PgParams()
                              .Int(ToBigint(scanned + 1))
                              .Int(ToBigint(upto))
                              .Int(ks.id)
                              .Int(ToBigint(kPgRetentionRowBudget - result.changes_removed)));
      if (r.rows() > 0) {
        const auto over = static_cast<Revision>(r.Int(0, 0));
        upto = std::max<Revision>(scanned + 1, over - 1);
      }
    }
    CompactKeyspaceRange(c, what, ks, scanned + 1, upto, &result);
    if (upto < cutoff) result.more = true;
  }
  return result;
}

void PgRevertInto(PgTransaction& tx, Revision revision, bool force) {
  PgConnection& c = tx.connection();
  // Strict: a damaged change throws rather than be left out of the revert.
  std::optional<Commit> commit = PgReadCommit(c, revision, /*damaged_rows=*/nullptr);
  if (commit && commit->partial) {
    // Invariant 2: retention removed the changes of some of its keyspaces, so writing back the
    // rest would undo the commit only in part.
    throw Error(ErrorCode::kNotFound,
                "cannot revert revision " + std::to_string(revision) +
                    ": it is only partly in history (the history policy of one of the keyspaces "
                    "it changed removed those changes); see Store::history_policy");
  }
  if (!commit) {
    HistoryBounds b = PgReadHistoryBounds(c);
    throw Error(
        ErrorCode::kNotFound,
        "cannot revert revision " + std::to_string(revision) + ": not in history " +
            (revision < b.first && revision > 0
                 ? "(compacted away; retained revisions start at " + std::to_string(b.first) + ")"
                 : "(head revision is " + std::to_string(b.head) + ")"));
  }
  // The later changes of every key of the commit, in one round trip rather than one per key.
  // Read before any write below: a write adds a later change only to its own key, which the loop
  // has checked already (SQLite's per-key reads between the writes see the same).
  std::map<std::pair<std::string, std::string>, Revision> later;
  if (!force) {
    PgResult r = c.Exec("cannot check later changes", hsql::kLaterChangesOfRevision,
                        PgParams().Int(ToBigint(revision)));
    for (int row = 0; row < r.rows(); ++row) {
      later[{r.Text(row, 0), r.Text(row, 1)}] = static_cast<Revision>(r.Int(row, 2));
    }
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
      auto it = later.find(id);
      if (it != later.end()) {
        throw Error(ErrorCode::kConflict,
                    "cannot revert revision " + std::to_string(revision) + ": " + change.keyspace +
                        "/" + Value(change.key).to_display(80) + " was changed again in revision " +
                        std::to_string(it->second) + " (use force to overwrite)");
      }
    }
    // As on SQLite (history_log.cc): the old value comes back with a plain put, so without a
    // deadline, whatever the kind of the change (an expiry, an eviction, a write with a TTL) and
    // whatever deadline the key had before; a key the change created is erased.
    if (change.old_value) {
      try {
        tx.put(change.keyspace, change.key, *change.old_value);
      } catch (const Error& e) {
        // A value history holds but a write may not: a NaN from an older build or a foreign
        // writer.
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

// statestore/admin.h: Verify on a PostgreSQL store (admin/admin_pg.h) — the checks of
// admin_verify.cc that mean something on PostgreSQL, on one REPEATABLE READ, READ ONLY snapshot.
//
// Not checked here: PRAGMA integrity_check and foreign_key_check have no PostgreSQL counterpart
// a client can run (the server checks its own pages, with data checksums if the cluster was
// initialised with them, and enforces the schema's foreign keys and CHECKs on every write), so
// VerifyReport::integrity is "n/a (postgresql)". Checked:
//   1. meta 'head_revision' is the newest commit's revision (pg_transaction.h: both are written
//      in the commit's transaction), and every revision first..head has a commit row with at
//      least one change; no change lacks a commit; commit times never decrease with revision
//      (pg_history_log.h invariant 6);
//   2. per key, the retained history chains (each change's old value is the previous change's
//      new value), the last new value is the current state and the key's version the last
//      revision that wrote it; a key written after its keyspace's compacted revision has history.
//      An expiry or an eviction (changes.kind 1 or 2, 0002_time_to_live.sql) is a change without
//      a new value, so the chain takes it as the removal it is; as on SQLite (admin_verify.cc)
//      kinds and deadlines are checked no further (the schema's CHECK keeps kind in 0..2);
//   3. every stored value and every history cell decodes (pg_value_codec.h), digests are 32 bytes;
//   4. per keyspace retention watermarks are consistent (pg_history_log.h invariant 1);
//   5. every key attached to a lease (entries.lease_id, 0003_leases.sql) has that lease, and the
//      lease's deadline (PgTransaction invariant 9: reads decide by the key's row alone, so a
//      key whose deadline drifted from its lease's would outlive it or die before it) — as on
//      SQLite (admin_verify.cc). One indexed query (entries_by_lease);
//   6. bounded keyspaces (PgTransaction invariant 10, 0004_bounded_keyspaces.sql), as on SQLite
//      (admin_verify.cc, TransactionImpl invariant 9): a bounded keyspace's key_count is the
//      number of its rows (expired ones not swept yet included) and at most its max_keys; every
//      row of a bounded keyspace has write_order = its version (a NULL one is never evicted, a
//      different one is evicted out of turn), and no row of another keyspace has a write_order.
// Large tables are read through a cursor (PgForEachRow), so memory stays small.
#include <algorithm>
#include <climits>
#include <cstdint>
#include <functional>
#include <string>

#include "admin/admin_pg.h"
#include "admin/admin_verify_slots.h"
#include "postgresql/pg_connection.h"
#include "postgresql/pg_history_log.h"
#include "postgresql/pg_value_codec.h"
#include "statestore/error.h"
#include "statestore/session.h"
#include "statestore/store.h"

namespace statestore::internal {

namespace {

// (type, value) history cells as a Slot. Throws Error(kCorruption) with what is wrong.
Slot ReadPgSlot(const PgResult& r, int row, int type_col, int value_col, bool redacted) {
  std::optional<Value> value;
  std::string problem;
  const bool ok = redacted ? DecodeOptionalPgDigest(r, row, type_col, value_col, &value, &problem)
                           : DecodeOptionalPgValue(r, row, type_col, value_col, &value, &problem);
  if (!ok) throw Error(ErrorCode::kCorruption, problem);
  Slot s;
  if (!value) return s;
  s.present = true;
  s.type = static_cast<int>(r.Int(row, type_col));
  s.digest = redacted;
  s.value = std::move(*value);
  return s;
}

class PgVerifier {
 public:
  PgVerifier(PgConnection& c, const Store& store, VerifyReport& report,
             const ProgressCallback& progress)
      : c_(c), store_(store), report_(report), progress_(progress) {}

  void Problem(Revision rev, std::string ks, std::string key, std::string message) {
    if (report_.problems.size() >= kMaxVerifyProblems) return;
    report_.problems.push_back({rev, std::move(ks), std::move(key), std::move(message)});
  }

  void CheckCommits(const HistoryBounds& b) {
    PgResult newest = c_.Exec("cannot read commits", "SELECT max(revision) FROM commits");
    if (!newest.IsNull(0, 0) && static_cast<Revision>(newest.Int(0, 0)) != b.head) {
      Problem(0, "", "",
              "meta head_revision is " + std::to_string(b.head) + " but the newest commit is " +
                  std::to_string(newest.Int(0, 0)));
    }
    Revision expected = b.first;
    std::int64_t last_time = INT64_MIN;
    PgForEachRow(c_, "statestore_verify_commits",
                 "SELECT revision, time_us FROM commits ORDER BY revision",
                 [&](const PgResult& r, int i) {
                   const auto rev = static_cast<Revision>(r.Int(i, 0));
                   const std::int64_t time = r.Int(i, 1);
                   ++report_.commits_checked;
                   if (time < last_time) {
                     Problem(rev, "", "",
                             "revision " + std::to_string(rev) +
                                 ": commit time is earlier than the revision before it (time "
                                 "queries assume commit times never decrease)");
                   }
                   last_time = std::max(last_time, time);
                   if (rev < b.first) return;  // may remain, whole or partial (as on SQLite)
                   if (rev > b.head) {
                     Problem(rev, "", "",
                             "revision " + std::to_string(rev) + " is outside the retained range " +
                                 std::to_string(b.first) + ".." + std::to_string(b.head));
                   } else if (rev > expected) {
                     Problem(expected, "", "",
                             "revisions " + std::to_string(expected) + ".." +
                                 std::to_string(rev - 1) + " are missing from history");
                   }
                   if (rev >= expected) expected = rev + 1;
                 });
    if (b.head >= b.first && expected <= b.head) {
      Problem(expected, "", "",
              "revisions " + std::to_string(expected) + ".." + std::to_string(b.head) +
                  " are missing from history (head revision " + std::to_string(b.head) + ")");
    }
    PgResult empty = c_.Exec("cannot read commits",
                             "SELECT revision FROM commits c WHERE NOT EXISTS (SELECT 1 FROM "
                             "changes x WHERE x.revision = c.revision) ORDER BY revision LIMIT "
                             "1000");
    for (int i = 0; i < empty.rows(); ++i) {
      Problem(static_cast<Revision>(empty.Int(i, 0)), "", "",
              "revision " + std::to_string(empty.Int(i, 0)) + " has no changes");
    }
    PgResult orphans = c_.Exec("cannot read changes",
                               "SELECT DISTINCT revision FROM changes x WHERE NOT EXISTS (SELECT "
                               "1 FROM commits c WHERE c.revision = x.revision) ORDER BY revision "
                               "LIMIT 1000");
    for (int i = 0; i < orphans.rows(); ++i) {
      Problem(static_cast<Revision>(orphans.Int(i, 0)), "", "",
              "revision " + std::to_string(orphans.Int(i, 0)) + " has changes but no commit row");
    }
  }

  // Check 2: history chains against the current state, key by key. Each change row carries the
  // key's current row (a LEFT JOIN), read when the key's last change has been seen.
  void CheckChains() {
    PgResult count = c_.Exec("cannot count changes", "SELECT count(*) FROM changes");
    total_ = static_cast<std::uint64_t>(count.Int(0, 0));
    PgForEachRow(c_, "statestore_verify_changes",
                 "SELECT x.revision, x.keyspace_id, k.name, x.key, x.old_type, x.old_value, "
                 "x.new_type, x.new_value, x.redacted, k.redacted, e.type, e.value, e.version "
                 "FROM changes x JOIN keyspaces k ON k.id = x.keyspace_id LEFT JOIN entries e ON "
                 "e.keyspace_id = x.keyspace_id AND e.key = x.key ORDER BY x.keyspace_id, x.key, "
                 "x.revision, x.seq",
                 [&](const PgResult& r, int i) { ChangeRow(r, i); });
    if (key_.have) FinishKey();
    if (progress_) progress_(report_.changes_checked, total_);
    PgResult lost = c_.Exec(
        "cannot read entries",
        "SELECT k.name, e.key, e.version FROM entries e JOIN keyspaces k ON k.id = e.keyspace_id "
        "WHERE e.version > coalesce((SELECT h.compacted_through FROM keyspace_history h WHERE "
        "h.keyspace_id = e.keyspace_id), 0) AND NOT EXISTS (SELECT 1 FROM changes x WHERE "
        "x.revision = e.version AND x.keyspace_id = e.keyspace_id AND x.key = e.key) ORDER BY "
        "e.version LIMIT 1000");
    for (int i = 0; i < lost.rows(); ++i) {
      const auto version = static_cast<Revision>(lost.Int(i, 2));
      const std::string ks = lost.Text(i, 0);
      const std::string key = lost.Text(i, 1);
      Problem(version, ks, key,
              "revision " + std::to_string(version) + ": " + Name(ks, key) +
                  " was written by it but has no change in history");
    }
  }

  // Check 3 for keys without retained history: every current value decodes.
  void CheckEntriesDecode() {
    PgForEachRow(c_, "statestore_verify_entries",
                 "SELECT k.name, e.key, e.type, e.value FROM entries e JOIN keyspaces k ON k.id = "
                 "e.keyspace_id ORDER BY e.keyspace_id, e.key",
                 [&](const PgResult& r, int i) {
                   std::string problem;
                   if (DecodePgValue(r, i, 2, 3, &problem)) return;
                   const std::string ks = r.Text(i, 0);
                   const std::string key = r.Text(i, 1);
                   Problem(0, ks, key,
                           "current value of " + Name(ks, key) + " is unreadable (" +
                               Printable(problem, 200) + ")");
                 });
  }

  // Check 5. At most a thousand rows, as the other queries here.
  void CheckLeases() {
    PgResult q = c_.Exec("cannot check leases",
                         "SELECT k.name, e.key, e.lease_id, l.id IS NULL FROM entries e JOIN "
                         "keyspaces k ON k.id = e.keyspace_id LEFT JOIN leases l ON l.id = "
                         "e.lease_id WHERE e.lease_id IS NOT NULL AND (l.id IS NULL OR "
                         "e.expires_us IS DISTINCT FROM l.expires_us) ORDER BY e.keyspace_id, "
                         "e.key LIMIT 1000");
    for (int i = 0; i < q.rows(); ++i) {
      const std::string lease = std::to_string(q.Int(i, 2));
      Problem(0, q.Text(i, 0), q.Text(i, 1),
              q.Bool(i, 3) ? "attached to lease " + lease + ", which does not exist"
                           : "its deadline differs from that of its lease " + lease);
    }
  }

  // Check 6. The counts: one row per bounded keyspace; the marks: at most a thousand rows, as the
  // other queries here.
  void CheckKeyBounds() {
    PgResult counts = c_.Exec("cannot check keyspace bounds",
                              "SELECT k.name, b.key_count, b.max_keys, (SELECT count(*) FROM "
                              "entries e WHERE e.keyspace_id = b.keyspace_id) FROM keyspace_bounds "
                              "b JOIN keyspaces k ON k.id = b.keyspace_id ORDER BY k.name");
    for (int i = 0; i < counts.rows(); ++i) {
      const std::string ks = counts.Text(i, 0);
      const std::int64_t counted = counts.Int(i, 1);
      const std::int64_t max_keys = counts.Int(i, 2);
      const std::int64_t held = counts.Int(i, 3);
      if (counted != held) {
        Problem(0, ks, "",
                "bounded keyspace " + Printable(ks, 80) + " counts " + std::to_string(counted) +
                    " keys but holds " + std::to_string(held));
      }
      if (held > max_keys) {
        Problem(0, ks, "",
                "bounded keyspace " + Printable(ks, 80) + " holds " + std::to_string(held) +
                    " keys, above its bound " + std::to_string(max_keys));
      }
    }
    PgResult marks = c_.Exec(
        "cannot check keyspace bounds",
        "SELECT k.name, e.key, b.keyspace_id IS NOT NULL, e.write_order, e.version, "
        "b.evicted_through FROM entries e "
        "JOIN keyspaces k ON k.id = e.keyspace_id LEFT JOIN keyspace_bounds b ON b.keyspace_id = "
        "e.keyspace_id WHERE CASE WHEN b.keyspace_id IS NULL THEN e.write_order IS NOT NULL ELSE "
        "e.write_order IS DISTINCT FROM e.version OR e.write_order < b.evicted_through END "
        "ORDER BY e.keyspace_id, e.key LIMIT 1000");
    for (int i = 0; i < marks.rows(); ++i) {
      const std::string ks = marks.Text(i, 0);
      const std::string key = marks.Text(i, 1);
      std::string message;
      if (!marks.Bool(i, 2)) {
        message = Name(ks, key) + " has a write order (entries.write_order) but its keyspace " +
                  "has no bound";
      } else if (marks.IsNull(i, 3)) {
        message = Name(ks, key) + " is a key of a bounded keyspace without a write order " +
                  "(entries.write_order): eviction would never choose it";
      } else if (marks.Int(i, 3) != marks.Int(i, 4)) {
        message = Name(ks, key) + " has write order " + std::to_string(marks.Int(i, 3)) +
                  " but version " + std::to_string(marks.Int(i, 4)) +
                  " (entries.write_order): eviction would choose it out of turn";
      } else {
        // PgTransaction invariant 10: the search for victims starts at evicted_through.
        message = Name(ks, key) + " has write order " + std::to_string(marks.Int(i, 3)) +
                  " below its keyspace's evicted_through " + std::to_string(marks.Int(i, 5)) +
                  ": eviction would never choose it";
      }
      Problem(0, ks, key, std::move(message));
    }
  }

  // Check 4 (pg_history_log.h invariant 1).
  void CheckWatermarks(const HistoryBounds& b) {
    PgResult q = c_.Exec("cannot read history retention state",
                         "SELECT k.name, h.compacted_through, h.scanned_through FROM "
                         "keyspace_history h JOIN keyspaces k ON k.id = h.keyspace_id ORDER BY "
                         "k.name");
    for (int i = 0; i < q.rows(); ++i) {
      const std::string ks = q.Text(i, 0);
      const auto ct = static_cast<Revision>(q.Int(i, 1));
      const auto st = static_cast<Revision>(q.Int(i, 2));
      if (ct > b.compacted_through || ct > st) {
        Problem(ct, ks, "",
                "keyspace " + Printable(ks, 80) + " is compacted through revision " +
                    std::to_string(ct) + " (retention cursor " + std::to_string(st) +
                    ") but the store says " + std::to_string(b.compacted_through));
      }
    }
    PgResult left = c_.Exec("cannot read history retention state",
                            "SELECT k.name, min(x.revision) FROM changes x JOIN keyspace_history "
                            "h ON h.keyspace_id = x.keyspace_id JOIN keyspaces k ON k.id = "
                            "x.keyspace_id WHERE x.revision <= h.scanned_through GROUP BY k.name "
                            "ORDER BY k.name");
    for (int i = 0; i < left.rows(); ++i) {
      const std::string ks = left.Text(i, 0);
      const auto rev = static_cast<Revision>(left.Int(i, 1));
      Problem(rev, ks, "",
              "revision " + std::to_string(rev) + ": a change of keyspace " + Printable(ks, 80) +
                  " remains below the point its history retention removed everything up to");
    }
  }

 private:
  // The key whose changes are being walked, and its current row (from the LEFT JOIN).
  struct KeyState {
    bool have = false;
    std::int64_t ks_id = 0;
    std::string ks;
    std::string key;
    Slot last_new;
    Revision last_rev = 0;
    bool last_valid = false;
    bool hidden = false;  // the key's keyspace is redacted: never quote its values
    bool current_present = false;
    PgCell current;
    Revision current_version = 0;
  };

  void ChangeRow(const PgResult& r, int i) {
    const auto rev = static_cast<Revision>(r.Int(i, 0));
    const std::int64_t row_ks = r.Int(i, 1);
    std::string_view row_key = r.View(i, 3);
    if (!key_.have || row_ks != key_.ks_id || row_key != key_.key) {
      if (key_.have) FinishKey();
      key_ = KeyState{};
      key_.have = true;
      key_.ks_id = row_ks;
      key_.ks = r.Text(i, 2);
      key_.key = std::string(row_key);
      key_.hidden = r.Bool(i, 9) || key_.ks == kSessionsKeyspace;
      key_.current_present = !r.IsNull(i, 10);
      if (key_.current_present) {
        key_.current = ReadPgCell(r, i, 10, 11);
        key_.current_version = static_cast<Revision>(r.Int(i, 12));
      }
      ++report_.keys_checked;
    }
    const bool redacted = r.Bool(i, 8);
    key_.hidden = key_.hidden || redacted;
    Slot old_slot;
    Slot new_slot;
    try {
      old_slot = ReadPgSlot(r, i, 4, 5, redacted);
      new_slot = ReadPgSlot(r, i, 6, 7, redacted);
    } catch (const Error& e) {
      Problem(rev, key_.ks, key_.key,
              "revision " + std::to_string(rev) + ": change of " + Name(key_.ks, key_.key) +
                  " is unreadable (" + Printable(e.what(), 200) + ")");
      key_.last_valid = false;
      key_.last_rev = rev;
      return;
    }
    if (key_.last_valid && !SameSlot(key_.last_new, old_slot, store_, report_)) {
      Problem(rev, key_.ks, key_.key,
              "revision " + std::to_string(rev) + ": old value " +
                  Show(old_slot, key_.hidden, store_) + " of " + Name(key_.ks, key_.key) +
                  " does not match the new value " + Show(key_.last_new, key_.hidden, store_) +
                  " written by revision " + std::to_string(key_.last_rev));
    }
    key_.last_new = std::move(new_slot);
    key_.last_rev = rev;
    key_.last_valid = true;
    if (++report_.changes_checked % 1000 == 0 && progress_) {
      progress_(report_.changes_checked, total_);
    }
  }

  void FinishKey() {
    if (!key_.last_valid) return;
    Slot current;
    if (key_.current_present) {
      std::string problem;
      std::optional<Value> value = DecodePgCell(key_.current, &problem);
      if (!value) return;  // reported by CheckEntriesDecode
      current.present = true;
      current.type = static_cast<int>(key_.current.type);
      current.value = std::move(*value);
    }
    const std::string& ks = key_.ks;
    const std::string& key = key_.key;
    if (!SameSlot(key_.last_new, current, store_, report_)) {
      Problem(key_.last_rev, ks, key,
              "revision " + std::to_string(key_.last_rev) + " left " + Name(ks, key) + " = " +
                  Show(key_.last_new, key_.hidden, store_) + " but the current value is " +
                  Show(current, key_.hidden, store_));
    } else if (current.present && key_.current_version != key_.last_rev) {
      Problem(key_.last_rev, ks, key,
              Name(ks, key) + " has version " + std::to_string(key_.current_version) +
                  " but its last change in history is revision " + std::to_string(key_.last_rev));
    }
  }

  PgConnection& c_;
  const Store& store_;
  VerifyReport& report_;
  const ProgressCallback& progress_;
  std::uint64_t total_ = 0;
  KeyState key_;
};

}  // namespace

VerifyReport PgVerify(PgStore& store, const ProgressCallback& progress) {
  VerifyReport report;
  report.integrity = "n/a (postgresql)";
  store.ReadForAdmin([&](PgConnection& c) {
    report = VerifyReport{};
    report.integrity = "n/a (postgresql)";
    PgVerifier v(c, store, report, progress);
    const HistoryBounds b = PgReadHistoryBounds(c);
    v.CheckCommits(b);
    v.CheckChains();
    v.CheckEntriesDecode();
    v.CheckWatermarks(b);
    v.CheckLeases();
    v.CheckKeyBounds();
  });
  if (report.unverifiable > 0) {
    report.note = std::to_string(report.unverifiable) +
                  " redacted value(s) not verifiable without the redaction key";
  }
  return report;
}

}  // namespace statestore::internal

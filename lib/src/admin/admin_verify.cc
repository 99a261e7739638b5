// statestore/admin.h: Verify — integrity_check, foreign keys, and history/state consistency.
//
// The history check walks every retained change ordered by (keyspace, key, revision, seq), one
// key at a time, on one snapshot:
//   1. each change's old value equals the previous change's new value (a chain per key);
//   2. the key's last new value is its current value (absent if the last change erased it), and
//      its version is the revision of that last change;
//   3. a key whose version is newer than its keyspace's compacted revision has history
//      (retention is per keyspace: history_log.h invariant 1).
// Commits: every revision from the store-wide first retained one to the head has a commit row;
// older ones may remain (partly) where only other keyspaces' changes were removed.
// In redacted keyspaces history holds keyed digests (Store::value_digest); a plain value is
// compared with a digest by hashing it, which needs the redaction key: without it (a read-only
// Store without the key file) such a comparison is counted as not verifiable, not as a problem.
// Values are compared exactly (doubles bit for bit).
//
// Problem messages never quote a value of a redacted keyspace (one the file marks redacted, one
// whose history row is a digest, and "sessions"): they give its type, size and the start of its
// keyed digest (when the Store has the key), which is what history shows. Other values are quoted
// short (24 bytes), and values and keys are quoted with every byte outside printable ASCII as
// \xNN, so a message is one line that cannot drive a terminal.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "admin/admin_pg.h"
#include "admin/admin_util.h"
#include "admin/admin_verify_slots.h"
#include "sqlite/history_log.h"
#include "sqlite/sqlite_error.h"
#include "sqlite/value_codec.h"
#include "statestore/admin.h"
#include "statestore/error.h"
#include "statestore/session.h"
#include "statestore/store.h"

namespace statestore {

namespace internal {
namespace {

// Reads (type, value) columns. Throws Error(kCorruption) when they disagree.
Slot ReadSlot(const SQLite::Statement& q, int type_col, int value_col, bool redacted) {
  Slot s;
  if (q.isColumnNull(type_col)) return s;
  s.present = true;
  s.type = q.getColumn(type_col).getInt();
  s.digest = redacted;
  if (redacted) {
    auto d = ReadOptionalDigest(q, type_col, value_col);
    if (!d) throw Error(ErrorCode::kCorruption, "digest missing");
    s.value = *d;
    if (s.value.type() != ValueType::kBytes || s.value.as_bytes().size() != 32) {
      throw Error(ErrorCode::kCorruption, "digest is not 32 bytes");
    }
  } else {
    s.value = ReadValue(q, type_col, value_col);
  }
  return s;
}

class Verifier {
 public:
  Verifier(Connection& c, const Store& store, VerifyReport& report,
           const ProgressCallback& progress)
      : c_(c), store_(store), report_(report), progress_(progress) {}

  void Problem(Revision rev, std::string ks, std::string key, std::string message) {
    if (report_.problems.size() >= kMaxVerifyProblems) return;
    report_.problems.push_back({rev, std::move(ks), std::move(key), std::move(message)});
  }

  // TransactionImpl invariant 8: an attached key carries its lease's deadline, and its lease
  // exists (files older than schema 7 have no leases).
  void CheckLeases() {
    if (c_.QueryInt(
            "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'leases'") == 0) {
      return;
    }
    CallSqlite("cannot check leases", [&] {
      StatementUse q(
          c_,
          "SELECT k.name, e.key, e.lease_id, l.id IS NULL FROM entries e "
          "JOIN keyspaces k ON k.id = e.keyspace_id "
          "LEFT JOIN leases l ON l.id = e.lease_id WHERE e.lease_id IS NOT NULL "
          "AND (l.id IS NULL OR e.expires_us IS NOT l.expires_us) ORDER BY k.name, e.key");
      while (q->executeStep()) {
        const std::string lease = std::to_string(q->getColumn(2).getInt64());
        Problem(0, q->getColumn(0).getString(), q->getColumn(1).getString(),
                q->getColumn(3).getInt() != 0
                    ? "attached to lease " + lease + ", which does not exist"
                    : "its deadline differs from that of its lease " + lease);
      }
    });
  }

  // TransactionImpl invariant 9: a bounded keyspace's count is the number of its rows and within
  // its bound, and exactly the keys of bounded keyspaces are marked (files older than schema 8
  // have no bounds).
  void CheckKeyBounds() {
    if (c_.QueryInt("SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND "
                    "name = 'keyspace_bounds'") == 0) {
      return;
    }
    CallSqlite("cannot check keyspace bounds", [&] {
      StatementUse q(c_,
                     "SELECT k.name, b.key_count, b.max_keys, "
                     "(SELECT count(*) FROM entries e WHERE e.keyspace_id = b.keyspace_id) "
                     "FROM keyspace_bounds b JOIN keyspaces k ON k.id = b.keyspace_id "
                     "ORDER BY k.name");
      while (q->executeStep()) {
        const std::string keyspace = q->getColumn(0).getString();
        const std::int64_t counted = q->getColumn(1).getInt64();
        const std::int64_t max_keys = q->getColumn(2).getInt64();
        const std::int64_t held = q->getColumn(3).getInt64();
        if (counted != held) {
          Problem(0, keyspace, "",
                  "bounded keyspace counts " + std::to_string(counted) + " keys but holds " +
                      std::to_string(held));
        }
        if (held > max_keys) {
          Problem(0, keyspace, "",
                  "bounded keyspace holds " + std::to_string(held) + " keys, above its bound " +
                      std::to_string(max_keys));
        }
      }
    });
    CallSqlite("cannot check keyspace bounds", [&] {
      StatementUse q(c_,
                     "SELECT k.name, e.key, e.bounded IS NULL FROM entries e "
                     "JOIN keyspaces k ON k.id = e.keyspace_id "
                     "LEFT JOIN keyspace_bounds b ON b.keyspace_id = e.keyspace_id "
                     "WHERE (e.bounded IS NULL) <> (b.keyspace_id IS NULL) ORDER BY k.name, e.key");
      while (q->executeStep()) {
        Problem(0, q->getColumn(0).getString(), q->getColumn(1).getString(),
                q->getColumn(2).getInt() != 0
                    ? "key of a bounded keyspace not marked as such (entries.bounded): eviction "
                      "would never choose it"
                    : "marked as a key of a bounded keyspace, but its keyspace has no bound");
      }
    });
  }

  void CheckIntegrity() {
    report_.integrity = CallSqlite("PRAGMA integrity_check failed", [&] {
      std::string out;
      StatementUse q(c_, "PRAGMA integrity_check(100)");
      while (q->executeStep()) {
        if (!out.empty()) out += "; ";
        out += q->getColumn(0).getString();
      }
      return out.empty() ? std::string("ok") : out;
    });
    if (report_.integrity != "ok") Problem(0, "", "", "integrity_check: " + report_.integrity);
    CallSqlite("PRAGMA foreign_key_check failed", [&] {
      StatementUse q(c_, "PRAGMA foreign_key_check");
      while (q->executeStep()) {
        Problem(0, "", "",
                "foreign key violation: table " + q->getColumn(0).getString() + " row " +
                    q->getColumn(1).getString() + " refers to a missing row of " +
                    q->getColumn(2).getString());
      }
    });
  }

  void CheckCommits(const HistoryBounds& b) {
    CallSqlite("cannot read commits", [&] {
      Revision expected = b.first;
      // Commit times never decrease from meta 'time_ordered_from' on: time queries bisect
      // (transaction_impl.h invariant 6).
      const auto ordered_from = static_cast<Revision>(
          c_.QueryInt("SELECT value FROM meta WHERE name = 'time_ordered_from'"));
      std::int64_t last_time = INT64_MIN;
      StatementUse q(c_, "SELECT revision, time_us FROM commits ORDER BY revision");
      while (q->executeStep()) {
        auto rev = static_cast<Revision>(q->getColumn(0).getInt64());
        const std::int64_t time = q->getColumn(1).getInt64();
        ++report_.commits_checked;
        if (rev >= ordered_from && time < last_time) {
          Problem(rev, "", "",
                  "revision " + std::to_string(rev) +
                      ": commit time is earlier than the revision before it (time queries "
                      "from revision " +
                      std::to_string(ordered_from) + " on assume commit times never decrease)");
        }
        last_time = std::max(last_time, time);
        // Below b.first a commit may remain, whole or partial, when only other keyspaces'
        // changes were removed (history_log.h invariant 2); above the head none may exist.
        if (rev < b.first) continue;
        if (rev > b.head) {
          Problem(rev, "", "",
                  "revision " + std::to_string(rev) + " is outside the retained range " +
                      std::to_string(b.first) + ".." + std::to_string(b.head));
        } else if (rev > expected) {
          Problem(expected, "", "",
                  "revisions " + std::to_string(expected) + ".." + std::to_string(rev - 1) +
                      " are missing from history");
        }
        if (rev >= expected) expected = rev + 1;
      }
      if (b.head >= b.first && expected <= b.head) {
        Problem(expected, "", "",
                "revisions " + std::to_string(expected) + ".." + std::to_string(b.head) +
                    " are missing from history (head revision " + std::to_string(b.head) + ")");
      }
      StatementUse empty(c_,
                         "SELECT revision FROM commits c WHERE NOT EXISTS (SELECT 1 FROM changes "
                         "x WHERE x.id BETWEEN c.first_change AND c.last_change AND x.revision = "
                         "c.revision) ORDER BY revision");
      while (empty->executeStep()) {
        auto rev = static_cast<Revision>(empty->getColumn(0).getInt64());
        Problem(rev, "", "", "revision " + std::to_string(rev) + " has no changes");
      }
      // 0010_changes_by_commit_range.sql: history reads a revision's changes through the id
      // range of its commit row; a change outside it would be invisible to every query.
      StatementUse outside(c_,
                           "SELECT DISTINCT x.revision FROM changes x JOIN commits c ON "
                           "c.revision = x.revision WHERE c.first_change IS NULL OR x.id < "
                           "c.first_change OR x.id > c.last_change ORDER BY x.revision");
      while (outside->executeStep()) {
        auto rev = static_cast<Revision>(outside->getColumn(0).getInt64());
        Problem(rev, "", "",
                "revision " + std::to_string(rev) +
                    " has changes outside the range its commit row names: history queries "
                    "cannot see them");
      }
      StatementUse orphans(c_,
                           "SELECT DISTINCT revision FROM changes x WHERE NOT EXISTS (SELECT 1 "
                           "FROM commits c WHERE c.revision = x.revision) ORDER BY revision");
      while (orphans->executeStep()) {
        auto rev = static_cast<Revision>(orphans->getColumn(0).getInt64());
        Problem(rev, "", "", "revision " + std::to_string(rev) + " has changes but no commit row");
      }
    });
  }

  // history_log.h invariant 1: the store-wide watermark is the max of the keyspaces', and no
  // change of a keyspace is left at or below its retention cursor.
  void CheckWatermarks(const HistoryBounds& b) {
    CallSqlite("cannot read history retention state", [&] {
      StatementUse q(c_,
                     "SELECT k.name, h.compacted_through, h.scanned_through FROM keyspace_history "
                     "h JOIN keyspaces k ON k.id = h.keyspace_id ORDER BY k.name");
      while (q->executeStep()) {
        const std::string ks = q->getColumn(0).getString();
        const auto ct = static_cast<Revision>(q->getColumn(1).getInt64());
        const auto st = static_cast<Revision>(q->getColumn(2).getInt64());
        if (ct > b.compacted_through || ct > st) {
          Problem(ct, ks, "",
                  "keyspace " + Printable(ks, 80) + " is compacted through revision " +
                      std::to_string(ct) + " (retention cursor " + std::to_string(st) +
                      ") but the store says " + std::to_string(b.compacted_through));
        }
      }
      StatementUse left(c_,
                        "SELECT k.name, min(x.revision) FROM changes x JOIN keyspace_history h ON "
                        "h.keyspace_id = x.keyspace_id JOIN keyspaces k ON k.id = x.keyspace_id "
                        "WHERE x.revision <= h.scanned_through GROUP BY k.name");
      while (left->executeStep()) {
        const std::string ks = left->getColumn(0).getString();
        const auto rev = static_cast<Revision>(left->getColumn(1).getInt64());
        Problem(rev, ks, "",
                "revision " + std::to_string(rev) + ": a change of keyspace " + Printable(ks, 80) +
                    " remains below the point its history retention removed everything up to");
      }
    });
  }

  void CheckChains() {
    const std::uint64_t total =
        static_cast<std::uint64_t>(c_.QueryInt("SELECT count(*) FROM changes"));
    CallSqlite("cannot read history", [&] {
      StatementUse q(c_,
                     "SELECT x.revision, x.keyspace_id, k.name, x.key, x.old_type, x.old_value, "
                     "x.new_type, x.new_value, x.redacted, k.redacted FROM changes x JOIN "
                     "keyspaces k ON k.id = x.keyspace_id ORDER BY x.keyspace_id, x.key, "
                     "x.revision, x.seq");
      bool have_key = false;
      std::int64_t ks_id = 0;
      std::string ks;
      std::string key;
      Slot last_new;
      Revision last_rev = 0;
      bool last_valid = false;
      bool hidden = false;  // the key's keyspace is redacted: never quote its values
      while (q->executeStep()) {
        const auto rev = static_cast<Revision>(q->getColumn(0).getInt64());
        const std::int64_t row_ks = q->getColumn(1).getInt64();
        std::string row_key = q->getColumn(3).getString();
        if (!have_key || row_ks != ks_id || row_key != key) {
          if (have_key) FinishKey(ks_id, ks, key, last_new, last_rev, last_valid, hidden);
          have_key = true;
          ks_id = row_ks;
          ks = q->getColumn(2).getString();
          key = std::move(row_key);
          last_valid = false;
          hidden = q->getColumn(9).getInt() != 0 || ks == kSessionsKeyspace;
          ++report_.keys_checked;
        }
        const bool redacted = q->getColumn(8).getInt() != 0;
        hidden = hidden || redacted;
        Slot old_slot;
        Slot new_slot;
        try {
          old_slot = ReadSlot(*q, 4, 5, redacted);
          new_slot = ReadSlot(*q, 6, 7, redacted);
        } catch (const Error& e) {
          Problem(rev, ks, key,
                  "revision " + std::to_string(rev) + ": change of " + Name(ks, key) +
                      " is unreadable (" + Printable(e.what(), 200) + ")");
          last_valid = false;
          last_rev = rev;
          continue;
        }
        if (last_valid && !SameSlot(last_new, old_slot, store_, report_)) {
          Problem(rev, ks, key,
                  "revision " + std::to_string(rev) + ": old value " +
                      Show(old_slot, hidden, store_) + " of " + Name(ks, key) +
                      " does not match the new value " + Show(last_new, hidden, store_) +
                      " written by revision " + std::to_string(last_rev));
        }
        last_new = new_slot;
        last_rev = rev;
        last_valid = true;
        if (++report_.changes_checked % 1000 == 0 && progress_) {
          progress_(report_.changes_checked, total);
        }
      }
      if (have_key) FinishKey(ks_id, ks, key, last_new, last_rev, last_valid, hidden);
      if (progress_) progress_(report_.changes_checked, total);

      StatementUse lost(c_,
                        "SELECT k.name, e.key, e.version FROM entries e JOIN keyspaces k ON k.id "
                        "= e.keyspace_id WHERE e.version > coalesce((SELECT h.compacted_through "
                        "FROM keyspace_history h WHERE h.keyspace_id = e.keyspace_id), 0) AND "
                        "NOT EXISTS (SELECT 1 FROM changes x WHERE x.revision = e.version AND "
                        "x.keyspace_id = e.keyspace_id AND x.key = e.key) ORDER BY e.version");
      while (lost->executeStep()) {
        auto version = static_cast<Revision>(lost->getColumn(2).getInt64());
        std::string lks = lost->getColumn(0).getString();
        std::string lkey = lost->getColumn(1).getString();
        Problem(version, lks, lkey,
                "revision " + std::to_string(version) + ": " + Name(lks, lkey) +
                    " was written by it but has no change in history");
      }
    });
  }

 private:
  void FinishKey(std::int64_t ks_id, const std::string& ks, const std::string& key,
                 const Slot& last_new, Revision last_rev, bool last_valid, bool hidden) {
    if (!last_valid) return;
    StatementUse q(c_,
                   "SELECT type, value, version FROM entries WHERE keyspace_id = ?1 AND key = ?2");
    q->bind(1, static_cast<int64_t>(ks_id));
    q->bind(2, key);
    Slot current;
    Revision version = 0;
    if (q->executeStep()) {
      try {
        current.present = true;
        current.type = q->getColumn(0).getInt();
        current.value = ReadValue(*q, 0, 1);
      } catch (const Error& e) {
        Problem(last_rev, ks, key,
                "current value of " + Name(ks, key) + " is unreadable (" +
                    Printable(e.what(), 200) + ")");
        return;
      }
      version = static_cast<Revision>(q->getColumn(2).getInt64());
    }
    if (!SameSlot(last_new, current, store_, report_)) {
      Problem(last_rev, ks, key,
              "revision " + std::to_string(last_rev) + " left " + Name(ks, key) + " = " +
                  Show(last_new, hidden, store_) + " but the current value is " +
                  Show(current, hidden, store_));
    } else if (current.present && version != last_rev) {
      Problem(last_rev, ks, key,
              Name(ks, key) + " has version " + std::to_string(version) +
                  " but its last change in history is revision " + std::to_string(last_rev));
    }
  }

  Connection& c_;
  const Store& store_;
  VerifyReport& report_;
  const ProgressCallback& progress_;
};

}  // namespace
}  // namespace internal

VerifyReport Verify(Store& store, const ProgressCallback& progress) {
  using namespace internal;
  if (PgStore* pg = AsPgStore(store)) return PgVerify(*pg, progress);
  VerifyReport report;
  auto c = OpenAdminConnection(store.path());
  ReadTransaction tx(*c);
  Verifier v(*c, store, report, progress);
  v.CheckIntegrity();
  HistoryBounds b = ReadHistoryBounds(*c);
  v.CheckCommits(b);
  v.CheckChains();
  v.CheckWatermarks(b);
  v.CheckLeases();
  v.CheckKeyBounds();
  tx.Commit();
  if (report.unverifiable > 0) {
    report.note = std::to_string(report.unverifiable) +
                  " redacted value(s) not verifiable without the redaction key";
  }
  return report;
}

}  // namespace statestore

// Migration 0003's C++ step: schema-2 (unkeyed SHA-256) digests become keyed ones. See the
// design note in redaction_key.h for the digest forms; database_file.cc runs this inside the
// migration's IMMEDIATE transaction (redaction_key.h invariant 4).
//
// What is rewritten, and why verify (admin_verify.cc) still passes afterwards:
//   1. Every present side of every redacted change row: d -> keyed(d). Chains of digests stay
//      chains, and a final digest still matches the digest of the current value.
//   2. Keyspace 'sessions', principal index keys p/<old>/<id>: renamed to p/<new>/<id> in the
//      state and in every change row (all rows of one key are renamed alike, so their chain is
//      kept). Their values are null and need nothing more.
//   3. Keyspace 'sessions', expiry index values (the principal digest, a string) in the state:
//      old -> new. Their digest in history changes too, so the last change of each such key, if
//      redacted, gets the digest of the new value; unredacted change rows
//      (record_values_in_history) of x/ keys get old -> new in their plain values.
#include <sqlite3.h>

#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "core/redaction_key.h"
#include "sessions/session_keys.h"
#include "sqlite/connection.h"
#include "sqlite/migration_steps.h"
#include "sqlite/value_codec.h"
#include "statestore/error.h"
#include "statestore/session.h"

namespace statestore::internal {

namespace {

namespace keys = session_keys;

constexpr int kBatch = 512;

// A digest column value (BLOB of 32 bytes) -> its keyed form. Throws kCorruption otherwise.
Bytes RekeyColumn(const RedactionKey& key, const SQLite::Column& column, std::int64_t revision) {
  if (column.getType() != SQLITE_BLOB || column.getBytes() != 32) {
    throw Error(ErrorCode::kCorruption,
                "migration 3: redacted history of revision " + std::to_string(revision) +
                    " holds a value that is not a 32-byte digest; the file is damaged");
  }
  const auto* data = static_cast<const std::uint8_t*>(column.getBlob());
  return key.Rekey(Bytes(data, data + 32));
}

void RekeyRedactedHistory(Connection& c, const RedactionKey& key) {
  struct Row {
    std::int64_t revision, seq;
    std::optional<Bytes> old_digest, new_digest;
  };
  std::int64_t after_rev = -1, after_seq = -1;
  for (;;) {
    std::vector<Row> rows;
    {
      SQLite::Statement q(c.database(),
                          "SELECT revision, seq, old_type, old_value, new_type, new_value FROM "
                          "changes WHERE redacted = 1 AND (revision, seq) > (?1, ?2) ORDER BY "
                          "revision, seq LIMIT ?3");
      q.bind(1, static_cast<int64_t>(after_rev));
      q.bind(2, static_cast<int64_t>(after_seq));
      q.bind(3, kBatch);
      while (q.executeStep()) {
        Row r{q.getColumn(0).getInt64(), q.getColumn(1).getInt64(), std::nullopt, std::nullopt};
        if (!q.isColumnNull(2)) r.old_digest = RekeyColumn(key, q.getColumn(3), r.revision);
        if (!q.isColumnNull(4)) r.new_digest = RekeyColumn(key, q.getColumn(5), r.revision);
        rows.push_back(std::move(r));
      }
    }
    if (rows.empty()) return;
    SQLite::Statement u(c.database(),
                        "UPDATE changes SET old_value = coalesce(?3, old_value), new_value = "
                        "coalesce(?4, new_value) WHERE revision = ?1 AND seq = ?2");
    for (const Row& r : rows) {
      u.bind(1, static_cast<int64_t>(r.revision));
      u.bind(2, static_cast<int64_t>(r.seq));
      if (r.old_digest) {
        u.bind(3, r.old_digest->data(), static_cast<int>(r.old_digest->size()));
      } else {
        u.bind(3);
      }
      if (r.new_digest) {
        u.bind(4, r.new_digest->data(), static_cast<int>(r.new_digest->size()));
      } else {
        u.bind(4);
      }
      u.exec();
      u.reset();
      u.clearBindings();
    }
    after_rev = rows.back().revision;
    after_seq = rows.back().seq;
  }
}

// "p/<32 hex>/<id>" -> "p/<new>/<id>"; nullopt for a key of another form (left alone).
std::optional<std::string> RekeyPrincipalKey(const RedactionKey& key, const std::string& k) {
  const std::size_t start = keys::kPrincipalPrefix.size();
  const std::size_t end = start + keys::kPrincipalDigestChars;
  if (k.size() <= end || k[end] != '/') return std::nullopt;
  std::optional<std::string> digest =
      key.RekeyPrincipalDigest(std::string_view(k).substr(start, end - start));
  if (!digest) return std::nullopt;
  return keys::Principal(*digest, std::string_view(k).substr(end + 1));
}

std::vector<std::string> Strings(Connection& c, const char* sql, std::int64_t keyspace_id) {
  std::vector<std::string> out;
  SQLite::Statement q(c.database(), sql);
  q.bind(1, static_cast<int64_t>(keyspace_id));
  while (q.executeStep()) out.push_back(q.getColumn(0).getString());
  return out;
}

void RenamePrincipalKeys(Connection& c, const RedactionKey& key, std::int64_t ks) {
  // 'p0' is the first key after every 'p/...' ('0' follows '/').
  for (const auto& [select, update] :
       {std::pair{"SELECT key FROM entries WHERE keyspace_id = ?1 AND key >= 'p/' AND key < 'p0'",
                  "UPDATE entries SET key = ?3 WHERE keyspace_id = ?1 AND key = ?2"},
        std::pair{"SELECT DISTINCT key FROM changes WHERE keyspace_id = ?1 AND key >= 'p/' AND "
                  "key < 'p0'",
                  "UPDATE changes SET key = ?3 WHERE keyspace_id = ?1 AND key = ?2"}}) {
    SQLite::Statement u(c.database(), update);
    for (const std::string& old_key : Strings(c, select, ks)) {
      std::optional<std::string> new_key = RekeyPrincipalKey(key, old_key);
      if (!new_key) continue;
      u.bind(1, static_cast<int64_t>(ks));
      u.bind(2, old_key);
      u.bind(3, *new_key);
      u.exec();
      u.reset();
      u.clearBindings();
    }
  }
}

void RewriteExpiryIndex(Connection& c, const RedactionKey& key, std::int64_t ks) {
  constexpr int kString = static_cast<int>(ValueType::kString);
  // The state: value old -> new; the key's last change, if redacted, gets the new digest.
  std::vector<std::pair<std::string, std::string>> live;  // key, new value
  {
    SQLite::Statement q(c.database(),
                        "SELECT key, value FROM entries WHERE keyspace_id = ?1 AND key >= 'x/' "
                        "AND key < 'x0' AND type = 4");
    q.bind(1, static_cast<int64_t>(ks));
    while (q.executeStep()) {
      if (auto d = key.RekeyPrincipalDigest(q.getColumn(1).getString())) {
        live.emplace_back(q.getColumn(0).getString(), std::move(*d));
      }
    }
  }
  SQLite::Statement set_value(c.database(),
                              "UPDATE entries SET value = ?3 WHERE keyspace_id = ?1 AND key = ?2");
  SQLite::Statement last_change(c.database(),
                                "SELECT revision, seq FROM changes WHERE keyspace_id = ?1 AND key "
                                "= ?2 ORDER BY revision DESC, seq DESC LIMIT 1");
  SQLite::Statement set_digest(c.database(),
                               "UPDATE changes SET new_value = ?3 WHERE revision = ?1 AND seq = "
                               "?2 AND redacted = 1 AND new_type = 4");
  for (const auto& [k, v] : live) {
    set_value.bind(1, static_cast<int64_t>(ks));
    set_value.bind(2, k);
    set_value.bind(3, v);
    set_value.exec();
    set_value.reset();
    last_change.bind(1, static_cast<int64_t>(ks));
    last_change.bind(2, k);
    if (last_change.executeStep()) {
      set_digest.bind(1, last_change.getColumn(0).getInt64());
      set_digest.bind(2, last_change.getColumn(1).getInt64());
      Bytes digest = key.ValueDigest(Value(v));
      set_digest.bind(3, digest.data(), static_cast<int>(digest.size()));
      set_digest.exec();
      set_digest.reset();
    }
    last_change.reset();
  }
  // Unredacted history (SessionOptions::record_values_in_history) holds the values themselves.
  for (const char* column : {"old", "new"}) {
    const std::string select = std::string("SELECT revision, seq, ") + column +
                               "_value FROM changes WHERE keyspace_id = ?1 AND key >= 'x/' AND "
                               "key < 'x0' AND redacted = 0 AND " +
                               column + "_type = " + std::to_string(kString);
    const std::string update = std::string("UPDATE changes SET ") + column +
                               "_value = ?3 WHERE revision = ?1 AND seq = ?2";
    std::vector<std::tuple<std::int64_t, std::int64_t, std::string>> rows;
    {
      SQLite::Statement q(c.database(), select);
      q.bind(1, static_cast<int64_t>(ks));
      while (q.executeStep()) {
        if (auto d = key.RekeyPrincipalDigest(q.getColumn(2).getString())) {
          rows.emplace_back(q.getColumn(0).getInt64(), q.getColumn(1).getInt64(), std::move(*d));
        }
      }
    }
    SQLite::Statement u(c.database(), update);
    for (const auto& [rev, seq, v] : rows) {
      u.bind(1, static_cast<int64_t>(rev));
      u.bind(2, static_cast<int64_t>(seq));
      u.bind(3, v);
      u.exec();
      u.reset();
    }
  }
}

}  // namespace

RedactionKey MigrateToKeyedDigests(Connection& c, const Options& options) {
  // First the key (created and durable before anything digested with it commits: invariant 3).
  RedactionKey key = KeyForMigration(c.path(), options);
  CallSqlite("migration 3 (keyed_digests) failed", [&] {
    RekeyRedactedHistory(c, key);  // before RewriteExpiryIndex, which writes keyed digests
    std::optional<std::int64_t> sessions;
    {
      SQLite::Statement q(c.database(), "SELECT id FROM keyspaces WHERE name = ?1");
      q.bind(1, std::string(kSessionsKeyspace));
      if (q.executeStep()) sessions = q.getColumn(0).getInt64();
    }
    if (sessions) {
      RenamePrincipalKeys(c, key, *sessions);
      RewriteExpiryIndex(c, key, *sessions);
    }
    SQLite::Statement fp(c.database(), "INSERT INTO meta (name, value) VALUES (?1, ?2)");
    fp.bind(1, std::string(kFingerprintMetaName));
    fp.bind(2, static_cast<int64_t>(key.Fingerprint()));
    fp.exec();
  });
  return key;
}

}  // namespace statestore::internal

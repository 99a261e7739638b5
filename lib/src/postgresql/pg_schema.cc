#include "postgresql/pg_schema.h"

#include <sodium.h>

#include <optional>

#include "postgresql/pg_migrations.h"
#include "postgresql/pg_sql.h"
#include "statestore/error.h"

namespace statestore::internal {

namespace {

std::optional<std::int64_t> ReadMeta(PgConnection& c, const char* name) {
  PgResult r = c.Exec("cannot read meta", pgsql::kSelectMeta, PgParams().Text(name));
  if (r.rows() == 0) return std::nullopt;
  return r.Int(0, 0);
}

void WriteMeta(PgConnection& c, const char* name, std::int64_t value) {
  c.Exec("cannot write meta", pgsql::kUpsertMeta, PgParams().Text(name).Int(value));
}

RedactionKey ResolveKey(PgConnection& c, const Options& options) {
  const std::optional<std::int64_t> recorded = ReadMeta(c, kFingerprintMetaName);
  std::optional<RedactionKey> stored;
  {
    PgResult r = c.Exec("cannot read redaction key", "SELECT key FROM redaction_key");
    if (r.rows() == 1) stored = RedactionKey::FromBytes(r.View(0, 0));
  }
  const bool writable = !options.read_only;
  if (!options.redaction_key.empty()) {
    RedactionKey key = RedactionKey::FromBytes(options.redaction_key);
    if (recorded && *recorded != key.Fingerprint()) {
      if (!writable) return RedactionKey("Options::redaction_key is not the key of this store");
      throw Error(ErrorCode::kInvalidArgument,
                  "Options::redaction_key is not the key this store's digests were made with "
                  "(its fingerprint differs); pass the store's key");
    }
    if (!recorded && writable) WriteMeta(c, kFingerprintMetaName, key.Fingerprint());
    return key;
  }
  if (stored) {
    if (recorded && *recorded != stored->Fingerprint()) {
      throw Error(ErrorCode::kCorruption,
                  "the redaction key stored in the schema does not match the recorded fingerprint");
    }
    return *stored;
  }
  if (recorded) {
    if (!writable) return RedactionKey("the store was made with Options::redaction_key");
    throw Error(ErrorCode::kInvalidArgument,
                "this store's digests were made with Options::redaction_key, and none is set; "
                "pass the same 32-byte key");
  }
  if (!writable) return RedactionKey("the store has no redaction key yet");
  if (sodium_init() < 0) throw Error(ErrorCode::kInternal, "libsodium failed to initialize");
  std::string bytes(kRedactionKeyBytes, '\0');
  randombytes_buf(bytes.data(), bytes.size());
  RedactionKey key = RedactionKey::FromBytes(bytes);
  c.Exec("cannot store redaction key", "INSERT INTO redaction_key (key) VALUES ($1)",
         PgParams().Bytes(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()));
  sodium_memzero(bytes.data(), bytes.size());
  WriteMeta(c, kFingerprintMetaName, key.Fingerprint());
  return key;
}

}  // namespace

void ValidatePgSchemaName(const std::string& schema) {
  bool ok = !schema.empty() && schema.size() <= kMaxPgSchemaName &&
            ((schema[0] >= 'a' && schema[0] <= 'z') || schema[0] == '_') &&
            schema.rfind("pg_", 0) != 0;
  for (char ch : schema) {
    ok = ok && ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_');
  }
  if (!ok) {
    throw Error(ErrorCode::kInvalidArgument,
                "Options::postgres.schema must be 1..52 characters of [a-z0-9_], starting with a "
                "letter or '_' and not with 'pg_' (got '" +
                    Value(schema).to_display(70) + "')");
  }
}

std::string PgSessionSql(const Options& options, bool writer) {
  std::string sql =
      "SET search_path TO \"" + options.postgres.schema + "\"; SET synchronous_commit TO ";
  sql += options.durability == Durability::kFull ? "on" : "off";
  sql += "; SET client_min_messages TO warning";
  if (writer) {
    // The write lock's wait (postgresql/pg_group_writer.h); at least 1 ms (0 disables it).
    const long long ms = std::max<long long>(1, options.busy_timeout.count());
    sql += "; SET lock_timeout TO " + std::to_string(ms);
  }
  return sql;
}

std::string PgChannelName(const std::string& schema) { return "statestore_" + schema; }

int PgSchemaVersion() { return pg::kPgMigrationCount; }

RedactionKey PgCheckAndMigrate(PgConnection& c, const Options& options) {
  const std::string& schema = options.postgres.schema;
  c.ExecScript("cannot begin the schema check",
               options.read_only ? "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY" : "BEGIN");
  try {
    if (!options.read_only) {
      // Invariant 2: one migrator at a time per schema, across every process.
      c.Exec("cannot take the migration lock",
             "SELECT pg_advisory_xact_lock(hashtext('statestore schema ' || $1))",
             PgParams().Text(schema));
      c.ExecScript("cannot create the schema",
                   ("CREATE SCHEMA IF NOT EXISTS \"" + schema + "\"").c_str());
    }
    PgResult exists = c.Exec("cannot check the schema",
                             "SELECT to_regclass(quote_ident($1) || '.meta') IS NOT NULL",
                             PgParams().Text(schema));
    std::int64_t version = 0;
    if (exists.Bool(0, 0)) {
      version = ReadMeta(c, "schema_version").value_or(0);
      if (version < 1) {
        throw Error(ErrorCode::kCorruption,
                    "schema '" + schema +
                        "' has a meta table without a schema_version row: not "
                        "a statestore schema");
      }
    } else if (options.read_only) {
      throw Error(ErrorCode::kNotFound, "no statestore schema '" + schema +
                                            "' in this database (a read-only open creates none)");
    }
    if (version > pg::kPgMigrationCount) {
      throw Error(ErrorCode::kSchemaTooNew,
                  "schema '" + schema + "' is at version " + std::to_string(version) +
                      ", newer than this statestore knows (" +
                      std::to_string(pg::kPgMigrationCount) + "); upgrade the library");
    }
    if (version < pg::kPgMigrationCount && options.read_only) {
      throw Error(ErrorCode::kReadOnly, "schema '" + schema + "' is at version " +
                                            std::to_string(version) +
                                            " and needs migrating; open it writable once");
    }
    for (int i = static_cast<int>(version); i < pg::kPgMigrationCount; ++i) {
      const pg::Migration& m = pg::kPgMigrations[i];
      c.ExecScript(("cannot apply migration " + std::string(m.name)).c_str(), m.sql);
      WriteMeta(c, "schema_version", m.number);
    }
    RedactionKey key = ResolveKey(c, options);
    c.ExecScript("cannot commit the schema check", "COMMIT");
    return key;
  } catch (...) {
    if (!c.broken()) {
      try {
        c.ExecScript("rollback", "ROLLBACK");
      } catch (...) {
      }
    }
    throw;
  }
}

}  // namespace statestore::internal

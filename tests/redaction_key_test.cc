// Keyed redaction digests (issue 10): redacted history and the sessions principal index hold
// digests keyed with a secret that is not in the database file (lib/src/core/redaction_key.h), so a
// copied file or backup does not give away guessable values by hashing guesses.
#include <gtest/gtest.h>
#include <sodium.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "old_schemas.h"
#include "statestore/admin.h"
#include "statestore/statestore.h"
#include "test_util.h"

namespace statestore {
namespace {

using test::CatchError;
using test::Contains;
using test::FileExists;
using test::ReadFile;
using test::TempDir;
using test::WriteFile;

// The encoding digested (type tag byte, then the payload; numbers little-endian), written here
// independently of the library.
Bytes Encode(const Value& v) {
  Bytes e{static_cast<std::uint8_t>(v.type())};
  auto u64 = [&](std::uint64_t x) {
    for (int i = 0; i < 8; ++i) e.push_back(static_cast<std::uint8_t>(x >> (8 * i)));
  };
  switch (v.type()) {
    case ValueType::kNull:
      break;
    case ValueType::kBool:
      e.push_back(v.as_bool() ? 1 : 0);
      break;
    case ValueType::kInt:
      u64(static_cast<std::uint64_t>(v.as_int()));
      break;
    case ValueType::kDouble: {
      double d = v.as_double();
      std::uint64_t bits;
      std::memcpy(&bits, &d, sizeof bits);
      u64(bits);
      break;
    }
    case ValueType::kString:
      e.insert(e.end(), v.as_string().begin(), v.as_string().end());
      break;
    case ValueType::kBytes:
      e.insert(e.end(), v.as_bytes().begin(), v.as_bytes().end());
      break;
  }
  return e;
}

Bytes Sha256(const std::uint8_t* data, std::size_t n) {
  Bytes d(crypto_hash_sha256_BYTES);
  crypto_hash_sha256(d.data(), data, n);
  return d;
}
Bytes Sha256(const Bytes& b) { return Sha256(b.data(), b.size()); }
Bytes Sha256(std::string_view s) {
  return Sha256(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
}

Bytes Keyed(const std::string& key, const std::uint8_t* data, std::size_t n) {
  Bytes out(32);
  crypto_generichash(out.data(), 32, data, n, reinterpret_cast<const unsigned char*>(key.data()),
                     key.size());
  return out;
}
Bytes Keyed(const std::string& key, const Bytes& b) { return Keyed(key, b.data(), b.size()); }

std::string Hex(const Bytes& b, std::size_t bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < bytes && i < b.size(); ++i) {
    out.push_back(kHex[b[i] >> 4]);
    out.push_back(kHex[b[i] & 15]);
  }
  return out;
}

std::string OldPrincipalDigest(std::string_view principal) { return Hex(Sha256(principal), 16); }
std::string NewPrincipalDigest(const std::string& key, std::string_view principal) {
  Bytes sha = Sha256(principal);
  return Hex(Keyed(key, sha.data(), 16), 16);
}

std::string RandomKey() {
  std::string k(32, '\0');
  randombytes_buf(k.data(), k.size());
  return k;
}

Options Redacting() {
  Options o;
  o.redacted_keyspaces = {"secret"};
  o.sessions.sweep_interval = std::chrono::seconds(0);
  return o;
}

Options ReadOnly() {
  Options o = Redacting();
  o.read_only = true;
  return o;
}

// The digest history recorded for the last write of secret/<key>.
Bytes LastDigest(Store& store, const std::string& key) {
  HistoryQuery q;
  q.keyspace = "secret";
  q.key_prefix = key;
  q.newest_first = true;
  q.limit = 1;
  auto commits = store.history(q);
  EXPECT_EQ(commits.size(), 1u);
  const Change& ch = commits.at(0).changes.at(0);
  EXPECT_TRUE(ch.redacted);
  return ch.new_value->as_bytes();
}

class RedactionKeyTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_GE(sodium_init(), 0); }
  std::string db() const { return dir_.file("app.db"); }
  std::string key_file() const { return db() + "-key"; }

  // Creates app.db with a redacted value and two sessions; closes it.
  void MakeDatabase() {
    auto store = Store::open(db(), Redacting());
    store->put("secret", "password", "hunter2");
    store->put("secret", "count", 3);
    store->sessions().create(std::chrono::hours(1), {{"cart", Value(2)}}, "alice");
    store->sessions().create(std::chrono::hours(1), {}, "bob");
  }

  TempDir dir_;
};

TEST_F(RedactionKeyTest, HistoryDigestIsKeyedNotSha256) {
  auto store = Store::open(db(), Redacting());
  store->put("secret", "password", "hunter2");
  const Bytes stored = LastDigest(*store, "password");
  const Bytes sha = Sha256(Encode(Value("hunter2")));
  EXPECT_NE(stored, sha) << "an unkeyed SHA-256 lets anyone confirm a guessed password";
  ASSERT_TRUE(FileExists(key_file()));
  const std::string key = ReadFile(key_file());
  EXPECT_EQ(stored, Keyed(key, sha));
  EXPECT_EQ(store->value_digest(Value("hunter2")), stored);
  EXPECT_TRUE(store->has_redaction_key());
}

TEST_F(RedactionKeyTest, DigestsDifferBetweenDatabasesWithDifferentKeys) {
  TempDir other;
  auto a = Store::open(db(), Redacting());
  auto b = Store::open(other.file("app.db"), Redacting());
  a->put("secret", "password", "hunter2");
  b->put("secret", "password", "hunter2");
  EXPECT_NE(LastDigest(*a, "password"), LastDigest(*b, "password"));
  EXPECT_NE(ReadFile(key_file()), ReadFile(other.file("app.db-key")));
}

TEST_F(RedactionKeyTest, KeyFileIsCreated0600With32Bytes) {
  Store::open(db(), Redacting());
  struct stat st {};
  ASSERT_EQ(::lstat(key_file().c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(st.st_size, 32);
  EXPECT_EQ(st.st_nlink, 1u);
  EXPECT_FALSE(FileExists(key_file() + ".tmp"));
  // The key is not in the database file.
  const std::string key = ReadFile(key_file());
  EXPECT_EQ(ReadFile(db()).find(key), std::string::npos);
}

TEST_F(RedactionKeyTest, WritableOpenWithWrongOrMissingKeyIsRefusedAndChangesNothing) {
  MakeDatabase();
  const std::string bytes = ReadFile(db());
  const std::string key = ReadFile(key_file());
  for (bool missing : {false, true}) {
    SCOPED_TRACE(missing ? "missing key file" : "another key");
    ASSERT_EQ(::unlink(key_file().c_str()), 0);
    if (!missing) {
      WriteFile(key_file(), RandomKey());
      ::chmod(key_file().c_str(), 0600);
    }
    auto e = CatchError([&] { Store::open(db(), Redacting()); });
    ASSERT_TRUE(e);
    EXPECT_EQ(e->code(), ErrorCode::kInvalidArgument);
    EXPECT_TRUE(Contains(e->what(), "made with another redaction key")) << e->what();
    EXPECT_TRUE(Contains(e->what(), key_file())) << e->what();
    EXPECT_TRUE(Contains(e->what(), "Options::redaction_key")) << e->what();
    EXPECT_EQ(ReadFile(db()), bytes);
    if (!missing) {
      ASSERT_EQ(::unlink(key_file().c_str()), 0);
      WriteFile(key_file(), key);
      ::chmod(key_file().c_str(), 0600);
    }
  }
  // Options::redaction_key with the right key works without the file.
  Options o = Redacting();
  o.redaction_key = key;
  auto store = Store::open(db(), o);
  EXPECT_EQ(store->get("secret", "password"), Value("hunter2"));
  EXPECT_TRUE(Verify(*store).ok());
}

TEST_F(RedactionKeyTest, ReadOnlyOpenWithoutKeyWorksAndVerifySaysNotVerifiable) {
  MakeDatabase();
  ASSERT_EQ(::unlink(key_file().c_str()), 0);
  auto store = Store::open(db(), ReadOnly());
  EXPECT_FALSE(store->has_redaction_key());
  EXPECT_EQ(store->get("secret", "password"), Value("hunter2"));
  auto e = CatchError([&] { store->value_digest(Value(1)); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::kReadOnly);
  VerifyReport r = Verify(*store);
  EXPECT_TRUE(r.ok()) << (r.problems.empty() ? "" : r.problems[0].message);
  EXPECT_GT(r.unverifiable, 0u);
  EXPECT_TRUE(Contains(r.note, "not verifiable without the redaction key")) << r.note;
  // History still shows the stored digests.
  EXPECT_EQ(LastDigest(*store, "password").size(), 32u);
}

TEST_F(RedactionKeyTest, OptionsRedactionKeyIsUsedAndNoKeyFileIsCreated) {
  const std::string key = RandomKey();
  Options o = Redacting();
  o.redaction_key = key;
  {
    auto store = Store::open(db(), o);
    store->put("secret", "password", "hunter2");
    EXPECT_EQ(LastDigest(*store, "password"), Keyed(key, Sha256(Encode(Value("hunter2")))));
    const std::string id_digest = NewPrincipalDigest(key, "alice");
    store->sessions().create(std::chrono::hours(1), {}, "alice");
    EXPECT_EQ(store->list("sessions", "p/" + id_digest + "/").size(), 1u);
  }
  EXPECT_FALSE(FileExists(key_file()));
  // Without the option (and no file) a writable open is refused.
  auto e = CatchError([&] { Store::open(db(), Redacting()); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::kInvalidArgument);
  EXPECT_FALSE(FileExists(key_file()));
}

TEST_F(RedactionKeyTest, WrongLengthOptionKeyIsRefused) {
  for (std::size_t n : {1u, 31u, 33u, 64u}) {
    Options o = Redacting();
    o.redaction_key = std::string(n, 'k');
    auto e = CatchError([&] { Store::open(db(), o); });
    ASSERT_TRUE(e) << n;
    EXPECT_EQ(e->code(), ErrorCode::kInvalidArgument);
    EXPECT_TRUE(Contains(e->what(), "32 bytes")) << e->what();
    EXPECT_FALSE(FileExists(db())) << "nothing is created for a bad option";
  }
}

TEST_F(RedactionKeyTest, BackupHasNoKeyAndNeedsItToBeWritten) {
  TempDir backups;
  const std::string copy = backups.file("copy.db");
  {
    MakeDatabase();
    auto store = Store::open(db(), Redacting());
    Backup(*store, copy);
  }
  EXPECT_FALSE(FileExists(copy + "-key"));
  for (const std::string& name : test::ListDir(backups.path())) {
    EXPECT_EQ(name.find("-key"), std::string::npos) << name;
  }
  {
    auto ro = Store::open(copy, ReadOnly());
    EXPECT_FALSE(ro->has_redaction_key());
    VerifyReport r = Verify(*ro);
    EXPECT_TRUE(r.ok());
    EXPECT_GT(r.unverifiable, 0u);
    EXPECT_TRUE(Contains(r.note, "not verifiable")) << r.note;
  }
  const std::string bytes = ReadFile(copy);
  auto e = CatchError([&] { Store::open(copy, Redacting()); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::kInvalidArgument);
  EXPECT_TRUE(Contains(e->what(), "another redaction key")) << e->what();
  EXPECT_TRUE(Contains(e->what(), copy + "-key")) << e->what();
  EXPECT_EQ(ReadFile(copy), bytes);
  EXPECT_FALSE(FileExists(copy + "-key"));
  // With the key passed in, or the key file copied beside it, the copy opens writable.
  const std::string key = ReadFile(key_file());
  {
    Options o = Redacting();
    o.redaction_key = key;
    auto store = Store::open(copy, o);
    store->put("secret", "password", "swordfish");
    EXPECT_TRUE(Verify(*store).ok());
  }
  WriteFile(copy + "-key", key);
  ASSERT_EQ(::chmod((copy + "-key").c_str(), 0600), 0);
  auto store = Store::open(copy, Redacting());
  EXPECT_EQ(store->sessions().list("alice").size(), 1u);
  VerifyReport r = Verify(*store);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.unverifiable, 0u);
}

TEST_F(RedactionKeyTest, HostileKeyFilesAreRefusedClearly) {
  MakeDatabase();
  const std::string key = ReadFile(key_file());
  const std::string elsewhere = dir_.file("elsewhere");
  struct Case {
    const char* name;
    std::function<void()> make;
    const char* says;
  };
  auto plain = [&](const std::string& content, mode_t mode) {
    WriteFile(key_file(), content);
    ASSERT_EQ(::chmod(key_file().c_str(), mode), 0);
  };
  std::vector<Case> cases = {
      {"symlink",
       [&] {
         WriteFile(elsewhere, key);
         ::chmod(elsewhere.c_str(), 0600);
         ASSERT_EQ(::symlink(elsewhere.c_str(), key_file().c_str()), 0);
       },
       "symbolic link"},
      {"fifo", [&] { ASSERT_EQ(::mkfifo(key_file().c_str(), 0600), 0); }, "not a regular file"},
      {"directory", [&] { ASSERT_EQ(::mkdir(key_file().c_str(), 0700), 0); }, "not a regular file"},
      {"short", [&] { plain(key.substr(0, 31), 0600); }, "31 bytes"},
      {"long", [&] { plain(key + "x", 0600); }, "33 bytes"},
      {"group readable", [&] { plain(key, 0640); }, "mode 0640"},
      {"hard link",
       [&] {
         plain(key, 0600);
         ASSERT_EQ(::link(key_file().c_str(), elsewhere.c_str()), 0);
       },
       "2 links"},
  };
  if (::geteuid() == 0) {
    cases.push_back({"other owner",
                     [&] {
                       plain(key, 0600);
                       ASSERT_EQ(::chown(key_file().c_str(), 65534, 65534), 0);
                     },
                     "owned by uid 65534"});
  }
  const std::string bytes = ReadFile(db());
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    std::filesystem::remove_all(key_file());
    std::filesystem::remove(elsewhere);
    c.make();
    auto start = std::chrono::steady_clock::now();
    auto e = CatchError([&] { Store::open(db(), Redacting()); });
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
    ASSERT_TRUE(e);
    EXPECT_EQ(e->code(), ErrorCode::kInvalidArgument) << e->what();
    EXPECT_TRUE(Contains(e->what(), c.says)) << e->what();
    EXPECT_TRUE(Contains(e->what(), key_file())) << e->what();
    EXPECT_EQ(ReadFile(db()), bytes);
    // A read-only open still works, without the key.
    auto ro = Store::open(db(), ReadOnly());
    EXPECT_FALSE(ro->has_redaction_key());
    EXPECT_TRUE(Verify(*ro).ok());
  }
}

// ---- Migration from schema version 2 (unkeyed SHA-256 digests).

class Sql {
 public:
  explicit Sql(const std::string& path) {
    if (sqlite3_open(path.c_str(), &db_) != SQLITE_OK) throw std::runtime_error("open");
  }
  ~Sql() { sqlite3_close(db_); }
  void Exec(const std::string& sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
      std::string m = err ? err : "?";
      sqlite3_free(err);
      throw std::runtime_error(sql + ": " + m);
    }
  }
  sqlite3_stmt* Prepare(const std::string& sql) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &s, nullptr) != SQLITE_OK) {
      throw std::runtime_error(sql + ": " + sqlite3_errmsg(db_));
    }
    return s;
  }
  void Step(sqlite3_stmt* s) {
    int rc = sqlite3_step(s);
    if (rc != SQLITE_DONE) throw std::runtime_error(std::string("step: ") + sqlite3_errmsg(db_));
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
  }

 private:
  sqlite3* db_ = nullptr;
};

// The Value in columns (type, value) of `s`.
Value ColumnValue(sqlite3_stmt* s, int type_col, int value_col) {
  switch (static_cast<ValueType>(sqlite3_column_int(s, type_col))) {
    case ValueType::kNull:
      return Value();
    case ValueType::kBool:
      return Value(sqlite3_column_int(s, value_col) != 0);
    case ValueType::kInt:
      return Value(static_cast<std::int64_t>(sqlite3_column_int64(s, value_col)));
    case ValueType::kDouble:
      return Value(sqlite3_column_double(s, value_col));
    case ValueType::kString:
      return Value(std::string(reinterpret_cast<const char*>(sqlite3_column_text(s, value_col)),
                               sqlite3_column_bytes(s, value_col)));
    case ValueType::kBytes: {
      const auto* p = static_cast<const std::uint8_t*>(sqlite3_column_blob(s, value_col));
      return Value(Bytes(p, p + sqlite3_column_bytes(s, value_col)));
    }
  }
  throw std::runtime_error("bad type");
}

// Rewrites a file made with Options::redaction_key `key` and unredacted history into what the
// library wrote at schema version 2: SHA-256 digests in redacted history (keyspaces "secret" and
// "sessions"), SHA-256 principal digests, no fingerprint, user_version 2. Returns the old digest
// of every redacted change side, by (revision, seq, side).
std::map<std::tuple<std::int64_t, std::int64_t, int>, Bytes> MakeSchema2(
    const std::string& path, const std::string& key, const std::vector<std::string>& principals) {
  std::map<std::string, std::string> old_of;  // keyed principal digest -> SHA-256 one
  for (const auto& p : principals) old_of[NewPrincipalDigest(key, p)] = OldPrincipalDigest(p);
  auto old_principal_key = [&](const std::string& k) {
    // p/<32 hex>/<id>
    return "p/" + old_of.at(k.substr(2, 32)) + k.substr(34);
  };
  Sql sql(path);
  sql.Exec("BEGIN");
  sql.Exec("UPDATE keyspaces SET redacted = 1 WHERE name IN ('secret', 'sessions')");
  // Principal digests, in state and history.
  for (const char* table : {"entries", "changes"}) {
    std::vector<std::string> p_keys;
    sqlite3_stmt* q =
        sql.Prepare(std::string("SELECT DISTINCT key FROM ") + table + " WHERE key LIKE 'p/%'");
    while (sqlite3_step(q) == SQLITE_ROW) {
      p_keys.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(q, 0)));
    }
    sqlite3_finalize(q);
    sqlite3_stmt* u = sql.Prepare(std::string("UPDATE ") + table + " SET key = ?2 WHERE key = ?1");
    for (const auto& k : p_keys) {
      sqlite3_bind_text(u, 1, k.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(u, 2, old_principal_key(k).c_str(), -1, SQLITE_TRANSIENT);
      sql.Step(u);
    }
    sqlite3_finalize(u);
  }
  for (const auto& [now, old] : old_of) {
    sql.Exec("UPDATE entries SET value = '" + old + "' WHERE key LIKE 'x/%' AND value = '" + now +
             "'");
    for (const char* side : {"old", "new"}) {
      sql.Exec(std::string("UPDATE changes SET ") + side + "_value = '" + old +
               "' WHERE key LIKE 'x/%' AND " + side + "_value = '" + now + "'");
    }
  }
  // Values of redacted keyspaces -> SHA-256 digests.
  std::map<std::tuple<std::int64_t, std::int64_t, int>, Bytes> digests;
  sqlite3_stmt* q = sql.Prepare(
      "SELECT revision, seq, old_type, old_value, new_type, new_value FROM changes WHERE "
      "keyspace_id IN (SELECT id FROM keyspaces WHERE redacted = 1)");
  while (sqlite3_step(q) == SQLITE_ROW) {
    for (int side = 0; side < 2; ++side) {
      if (sqlite3_column_type(q, 2 + 2 * side) == SQLITE_NULL) continue;
      digests[{sqlite3_column_int64(q, 0), sqlite3_column_int64(q, 1), side}] =
          Sha256(Encode(ColumnValue(q, 2 + 2 * side, 3 + 2 * side)));
    }
  }
  sqlite3_finalize(q);
  sqlite3_stmt* u = sql.Prepare(
      "UPDATE changes SET redacted = 1, old_value = CASE WHEN ?3 = 0 THEN ?4 ELSE old_value END, "
      "new_value = CASE WHEN ?3 = 1 THEN ?4 ELSE new_value END WHERE revision = ?1 AND seq = ?2");
  for (const auto& [where, d] : digests) {
    sqlite3_bind_int64(u, 1, std::get<0>(where));
    sqlite3_bind_int64(u, 2, std::get<1>(where));
    sqlite3_bind_int(u, 3, std::get<2>(where));
    sqlite3_bind_blob(u, 4, d.data(), static_cast<int>(d.size()), SQLITE_TRANSIENT);
    sql.Step(u);
  }
  sqlite3_finalize(u);
  sql.Exec("DELETE FROM meta WHERE name = 'redaction_key_fingerprint'");
  sql.Exec("COMMIT");
  // Nor did time-to-live (version 6), per-keyspace history retention (version 4), ...
  sql.Exec(test::kUndoSchema10);
  sql.Exec(test::kUndoSchema9);
  sql.Exec(test::kUndoSchema8);
  sql.Exec(test::kUndoSchema7);
  sql.Exec(test::kUndoSchema6);
  sql.Exec("DROP TABLE keyspace_history");
  sql.Exec("ALTER TABLE commits DROP COLUMN partial");
  // Nor version 5's indexes: history was indexed by key and by time.
  sql.Exec("DROP INDEX changes_by_keyspace");
  sql.Exec("CREATE INDEX changes_by_key ON changes (keyspace_id, key, revision)");
  sql.Exec("CREATE INDEX commits_by_time ON commits (time_us)");
  sql.Exec("DELETE FROM meta WHERE name = 'time_ordered_from'");
  sql.Exec("PRAGMA user_version = 2");
  sql.Exec("PRAGMA wal_checkpoint(TRUNCATE)");
  return digests;
}

TEST_F(RedactionKeyTest, MigratesASchema2FileToKeyedDigests) {
  const std::string k1 = RandomKey();
  std::string alice_token;
  {
    Options o = Redacting();
    o.redacted_keyspaces.clear();  // plain history, so the test can compute the SHA-256 digests
    o.sessions.record_values_in_history = true;
    o.redaction_key = k1;
    auto store = Store::open(db(), o);
    store->put("secret", "password", "hunter2");
    store->put("secret", "password", "swordfish");
    store->put("secret", "count", 3);
    alice_token = store->sessions().create(std::chrono::hours(1), {{"cart", Value(2)}}, "alice");
    store->sessions().create(std::chrono::hours(2), {}, "alice");
    std::string bob = store->sessions().create(std::chrono::hours(1), {}, "bob");
    store->sessions().create(std::chrono::hours(1), {}, "carol");
    store->sessions().set_attribute(alice_token, "cart", Value(3));
    store->sessions().destroy(bob);  // history of an erased p/ key
  }
  auto old = MakeSchema2(db(), k1, {"alice", "bob", "carol"});
  ASSERT_FALSE(old.empty());
  ASSERT_FALSE(FileExists(key_file()));

  auto store = Store::open(db(), Redacting());  // migrates; creates a new key file
  ASSERT_TRUE(FileExists(key_file()));
  const std::string k2 = ReadFile(key_file());
  // Every old digest d became keyed(d), except the last digest of each live x/ key, whose
  // value now holds the keyed principal digest.
  std::size_t rekeyed = 0;
  for (const Commit& c : store->history()) {
    for (std::size_t i = 0; i < c.changes.size(); ++i) {
      const Change& ch = c.changes[i];
      if (ch.keyspace != "secret" && ch.keyspace != "sessions") continue;
      EXPECT_TRUE(ch.redacted) << ch.key;
      const std::optional<Value>* sides[2] = {&ch.old_value, &ch.new_value};
      for (int side = 0; side < 2; ++side) {
        auto it = old.find(
            {static_cast<std::int64_t>(c.revision), static_cast<std::int64_t>(i + 1), side});
        if (it == old.end()) continue;
        ASSERT_TRUE(sides[side]->has_value());
        const Bytes& now = (*sides[side])->as_bytes();
        if (now == Keyed(k2, it->second)) {
          ++rekeyed;
        } else {
          EXPECT_EQ(ch.key.rfind("x/", 0), 0u) << ch.key;
          EXPECT_EQ(side, 1);
          EXPECT_EQ(now, store->value_digest(*store->get("sessions", ch.key)));
        }
        EXPECT_NE(now, it->second);
      }
    }
  }
  EXPECT_GT(rekeyed, 10u);
  const std::string password_digest = Hex(LastDigest(*store, "password"), 32);
  EXPECT_EQ(password_digest, Hex(Keyed(k2, Sha256(Encode(Value("swordfish")))), 32));
  // The principal index uses the keyed digests, in state and history.
  EXPECT_EQ(store->list("sessions", "p/" + OldPrincipalDigest("alice")).size(), 0u);
  EXPECT_EQ(store->list("sessions", "p/" + NewPrincipalDigest(k2, "alice") + "/").size(), 2u);
  HistoryQuery q;
  q.keyspace = "sessions";
  q.key_prefix = "p/" + NewPrincipalDigest(k2, "bob") + "/";
  EXPECT_EQ(store->history(q).size(), 2u);  // created, destroyed
  VerifyReport r = Verify(*store);
  EXPECT_TRUE(r.ok()) << (r.problems.empty() ? "" : r.problems[0].message);
  EXPECT_EQ(r.unverifiable, 0u);
  EXPECT_EQ(store->sessions().list("alice").size(), 2u);
  EXPECT_EQ(store->sessions().list("carol").size(), 1u);
  EXPECT_EQ(store->sessions().destroy_all("alice"), 2u);
  EXPECT_TRUE(store->sessions().list("alice").empty());
  EXPECT_EQ(store->sessions().sweep(), 0u);
  EXPECT_TRUE(Verify(*store).ok());
}

TEST_F(RedactionKeyTest, FailedMigrationLeavesTheSchema2FileAsItWas) {
  const std::string k1 = RandomKey();
  {
    Options o = Redacting();
    o.redacted_keyspaces.clear();
    o.redaction_key = k1;
    auto store = Store::open(db(), o);
    store->put("secret", "password", "hunter2");
  }
  MakeSchema2(db(), k1, {});
  // A damaged digest makes the C++ step fail: nothing of the migration may remain.
  {
    Sql sql(db());
    sql.Exec("UPDATE changes SET new_value = x'00' WHERE redacted = 1");
    sql.Exec("PRAGMA wal_checkpoint(TRUNCATE)");
  }
  const std::string bytes = ReadFile(db());
  auto e = CatchError([&] { Store::open(db(), Redacting()); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::kCorruption) << e->what();
  EXPECT_EQ(ReadFile(db()), bytes);
  Sql sql(db());
  sqlite3_stmt* s = sql.Prepare("PRAGMA user_version");
  ASSERT_EQ(sqlite3_step(s), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(s, 0), 2);
  sqlite3_finalize(s);
  s = sql.Prepare("SELECT count(*) FROM meta WHERE name = 'redaction_key_fingerprint'");
  ASSERT_EQ(sqlite3_step(s), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(s, 0), 0);
  sqlite3_finalize(s);
}

}  // namespace
}  // namespace statestore

// PgGroupWriter — the PostgreSQL engine's half of group commit (core/group_writer.h): one
// connection that runs a group of callers' bodies in one server transaction.
//
// Design note. The write lock is the row lock on meta 'head_revision': Begin() runs BEGIN and
// SELECT ... FOR UPDATE on that row (waiting at most lock_timeout = Options::busy_timeout), so
// writers of every process on every machine commit one at a time, each body reads the head
// left by the last COMMIT, and revisions are gapless and in commit order (a watcher that resumes
// after revision N can never miss a commit that committed late with a smaller revision). The
// transaction runs at READ COMMITTED: holding that lock, each statement sees every earlier
// commit, so no serialization failure can occur on the store's own tables.
//
// Failures, by when they happen (the committer decides by IsLockConflict: retry, or fail):
//   - before COMMIT was sent — lock timeout (55P03), serialization failure or deadlock
//     (40001/40P01), or the connection broke (server restart, pg_terminate_backend): nothing was
//     committed; the committer re-runs the group within busy_timeout, reconnecting first.
//   - COMMIT sent and answered: committed, or an error that says it was not.
//   - COMMIT sent, no answer (the connection broke): the outcome is unknown to us but not to the
//     data. Every commit row of a group carries a random writer token, and the writer knows the
//     group's last revision. Commit() reconnects (within busy_timeout), takes the write lock —
//     so the lost transaction has ended either way, even if its backend outlived our socket —
//     and reads the commit row of that revision: our token means committed; another token, or
//     a head below that revision, means not committed (kUnavailable "nothing committed"); no
//     row although the head passed it (retention removed it), or no answer, is kCommitUnknown.
//     The body is never re-run. (Not pg_xact_status: after a crash that lost the commit record
//     the server hands the same transaction id out again, and its status then describes
//     another transaction.)
#ifndef STATESTORE_SRC_POSTGRESQL_PG_GROUP_WRITER_H_
#define STATESTORE_SRC_POSTGRESQL_PG_GROUP_WRITER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include "core/damaged_rows.h"
#include "core/group_writer.h"
#include "core/keyspace_directory.h"
#include "core/read_cache.h"
#include "core/redaction_key.h"
#include "postgresql/pg_change_listener.h"
#include "postgresql/pg_connection.h"
#include "statestore/options.h"

namespace statestore::internal {

class PgGroupWriter final : public GroupWriter {
 public:
  struct Dependencies {
    std::string conninfo;
    std::string session_sql;  // PgSessionSql(options, /*writer=*/true)
    std::string channel;      // PgChannelName
    std::string name;         // what log lines call the store
    KeyspaceDirectory* keyspaces;
    const Options* options;
    DamagedRowReporter* damaged_rows;
    const RedactionKey* redaction_key;
    PgChangeListener* listener;  // told the writer's backend (SetWriterBackend)
    ReadCache* cache;            // answers the bodies' reads when coherent (PgCommitGroup)
  };
  // Marks Errors that Commit() throws after COMMIT was sent: never retried.
  static constexpr int kAfterCommitSent = -1;

  // Throws: Error(kInternal) if libsodium (the writer tokens' randomness) cannot start.
  explicit PgGroupWriter(Dependencies deps);

  void Open() override;
  void Begin() override;
  WriteStart ReadWriteStart() override { return start_; }
  std::unique_ptr<EngineTransaction> NewTransaction(const Origin& origin) override;
  void Savepoint() override;
  void ReleaseSavepoint() override;
  void RollbackToSavepoint() override;
  bool InTransaction() const override;
  ChangeFeed& WriterFeed() override { return feed_; }
  void Commit() override;
  void Rollback() noexcept override;
  void AfterGroup() noexcept override {}
  bool IsLockConflict(const CapturedFailure& failure) const override;
  std::exception_ptr LockTimeout(const CapturedFailure& conflict) const override;
  const std::string& name() const override { return deps_.name; }
  void Abandon() noexcept override;

 private:
  void Reconnect();
  void BeginOnce();
  // After COMMIT's answer was lost: whether the group committed, from its commit row (design
  // note). Returns if it did; throws kUnavailable or kCommitUnknown if not or unknown.
  void ResolveLostCommit(const std::string& why);

  const Dependencies deps_;
  std::unique_ptr<PgConnection> connection_;
  PgChangeFeed feed_;
  WriteStart start_;
  std::int64_t writer_token_ = 0;  // this group's, drawn at Begin
  Revision group_last_ = 0;        // the group's last revision so far (0: none)
  // Whether the cache is coherent with the head this group locked (PgCommitGroup), and the
  // cache ids of the keys the group's bodies wrote.
  bool cache_coherent_ = false;
  bool connected_before_ = false;  // Reconnect: whether a connection was made before
  std::unordered_set<std::string> group_written_;
  // PgTransaction invariant 9: the earliest lease deadline the group may meet (INT64_MAX: none),
  // read with the write lock and lowered by the group's grants; and whether a body changed
  // leases without taking a revision (ResolveLostCommit cannot tell then whether it committed).
  std::int64_t earliest_lease_deadline_ = INT64_MAX;
  bool group_unversioned_writes_ = false;
  // PgTransaction invariant 10: the keyspaces that may be bounded, read with the write lock and
  // added to by the group's set_max_keys.
  std::vector<std::int64_t> bounded_keyspaces_;
  Revision before_savepoint_ = 0;  // group_last_ when the current body's savepoint began
};

}  // namespace statestore::internal

#endif  // STATESTORE_SRC_POSTGRESQL_PG_GROUP_WRITER_H_

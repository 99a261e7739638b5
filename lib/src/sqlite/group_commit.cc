#include "sqlite/group_commit.h"

#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <string_view>
#include <tuple>
#include <unordered_set>
#include <utility>

#include "core/body_scope.h"
#include "sqlite/background_maintenance.h"
#include "sqlite/history_log.h"
#include "sqlite/schema_sql.h"
#include "sqlite/sql_transaction.h"
#include "sqlite/sqlite_error.h"
#include "sqlite/transaction_impl.h"
#include "statestore/error.h"

namespace statestore::internal {

struct GroupCommitter::Request {
  const Body* body = nullptr;
  const std::function<void()>* between_groups = nullptr;  // RunBetweenGroups: runs alone
  Origin origin;
  bool done = false;  // GUARDED_BY(mu_)
  std::condition_variable cv;

  // Outcome, written by the leader before `done` is set.
  Revision revision = 0;
  std::exception_ptr error;
  std::vector<PendingWrite> writes;
  std::vector<std::pair<std::string, KeyspaceRef>> keyspaces;
};

GroupCommitter::GroupCommitter(Dependencies deps) : deps_(std::move(deps)) {}

Revision GroupCommitter::Submit(const Body& body, Origin origin) {
  Request request;
  request.body = &body;
  request.origin = std::move(origin);
  Enqueue(request);
  if (request.error) std::rethrow_exception(request.error);
  return request.revision;
}

void GroupCommitter::RunBetweenGroups(const std::function<void()>& fn) {
  Request request;
  request.between_groups = &fn;
  Enqueue(request);
  if (request.error) std::rethrow_exception(request.error);
}

void GroupCommitter::Enqueue(Request& request) {
  MutexLock lock(&mu_);
  if (!poisoned_.empty()) throw Error(ErrorCode::kIoError, poisoned_);
  queue_.push_back(&request);
  if (company_wanted_ != 0 && queue_.size() >= company_wanted_) {
    queue_.front()->cv.notify_one();  // the leader waiting for company has it (see below)
  }
  while (!request.done && queue_.front() != &request) lock.Wait(request.cv);
  if (!request.done && request.between_groups == nullptr) WaitForCompany(lock);
  if (!request.done) {
    // Leader: take a group from the front of the queue (this request first). A between-groups
    // request is never part of a group: it runs alone, and a group stops before it.
    std::vector<Request*> group;
    for (Request* r : queue_) {
      if (group.size() == kMaxGroup) break;
      if (r->between_groups != nullptr && !group.empty()) break;
      group.push_back(r);
      if (r->between_groups != nullptr) break;
    }
    last_group_size_ = group.size();
    lock.Unlock();
    bool committed_something = false;
    if (request.between_groups != nullptr) {
      try {
        (*request.between_groups)();
      } catch (...) {
        request.error = std::current_exception();
      }
    } else {
      try {
        RunGroup(group);
        for (Request* r : group) committed_something |= r->error == nullptr;
      } catch (...) {
        // RunGroup reports per request; anything escaping is a bug, but it must not leave
        // followers waiting forever.
        FailAll(group, std::current_exception());
      }
    }
    if (committed_something) RequestMaintenance();
    lock.Lock();
    for (Request* r : group) {
      queue_.pop_front();
      if (r != &request) {
        r->done = true;
        r->cv.notify_one();
      }
    }
    request.done = true;
    if (!queue_.empty()) queue_.front()->cv.notify_one();
  }
}

void GroupCommitter::WaitForCompany(MutexLock& lock) {
  // The callers the last group answered are on their way back with their next transactions; a
  // leader that took only those already queued would commit a smaller group and pay a whole
  // commit for the rest moments later (16 writers made groups of ~10, not ~16). So a leader that
  // finds fewer callers queued than the last group held waits for that many, at most a quarter
  // of what the last COMMIT took (that is what each late caller saves), and never longer than
  // kMaxCompanyWait. A lone writer never waits: its last group held one.
  const std::size_t wanted = last_group_size_;
  if (wanted <= 1 || queue_.size() >= wanted) return;
  const auto wait = std::min<std::chrono::nanoseconds>(last_commit_duration_ / 4, kMaxCompanyWait);
  if (wait.count() <= 0) return;
  const auto deadline = std::chrono::steady_clock::now() + wait;
  company_wanted_ = wanted;
  while (queue_.size() < wanted && std::chrono::steady_clock::now() < deadline) {
    lock.WaitUntil(queue_.front()->cv, deadline);
  }
  company_wanted_ = 0;
}

void GroupCommitter::RequestMaintenance() {
  // Always: policies stored by other processes (history_log.h invariant 5) and the built-in
  // default of "sessions" can make retention due whatever this process's Options say. A batch
  // with nothing to do only reads a few rows.
  if (deps_.maintenance != nullptr && commits_since_retention_ >= kCommitsPerRetentionBatch) {
    commits_since_retention_ = 0;
    deps_.maintenance->RequestRetention();  // invariant 7: the batch runs on another thread
  }
}

void GroupCommitter::Poison(const std::string& reason) {
  MutexLock lock(&mu_);
  if (poisoned_.empty()) {
    poisoned_ = "store refuses writes after an earlier failed commit (" + reason +
                "); the state on disk is safe up to the last acknowledged commit — reopen the "
                "store to continue";
  }
  deps_.log->error("statestore: {}: {}", deps_.wal_path, poisoned_);
}

namespace {

// The head revision and the newest commit's time (0: none) a group starts from.
std::pair<Revision, std::int64_t> ReadWriteStart(Connection& c) {
  return CallSqlite("cannot read head revision", [&] {
    StatementUse q(c, sql::kSelectWriteStart);
    q->executeStep();
    if (q->isColumnNull(0)) {
      throw Error(ErrorCode::kCorruption, "meta row 'head_revision' is missing");
    }
    return std::make_pair(static_cast<Revision>(q->getColumn(0).getInt64()),
                          q->isColumnNull(1) ? std::int64_t{0} : q->getColumn(1).getInt64());
  });
}

}  // namespace

GroupCommitter::Failure GroupCommitter::Failure::Unknown() {
  Failure f;
  f.exception = std::current_exception();
  return f;
}

template <typename F>
std::optional<GroupCommitter::Failure> GroupCommitter::Capture(F&& f) {
  try {
    f();
    return std::nullopt;
  } catch (const Error& e) {
    return Failure{std::current_exception(), e.code(), e.sqlite_code(), e.what()};
  } catch (const std::exception& e) {
    return Failure{std::current_exception(), ErrorCode::kInternal, 0, e.what()};
  } catch (...) {
    return Failure::Unknown();
  }
}

void GroupCommitter::RunGroup(const std::vector<Request*>& group) {
  if (auto failure = Capture([&] { OpenWriter(); })) {
    FailAll(group, failure->exception);
    return;
  }
  Connection& c = *writer_;  // invariant 8
  const auto deadline = std::chrono::steady_clock::now() + deps_.options->busy_timeout;
  // Invariant 2, optimistically: a group first runs without a SAVEPOINT per body. If a body
  // throws, the whole transaction is rolled back and the group re-run with one SAVEPOINT per
  // body, so the thrower rolls back alone (bodies may run more than once; Store::transact).
  // Bodies rarely throw, and a SAVEPOINT copies every page a body first touches into the
  // statement journal.
  bool use_savepoints = false;
  for (;;) {
    // Another process waiting for the write lock goes first (bounded; writer_turns.h).
    c.YieldToWaitingWriters();
    std::optional<WriteTransaction> tx;
    std::optional<Failure> failure = Capture([&] { tx.emplace(c); });
    c.EndLockWait();
    if (failure) {
      FailAll(group,
              failure->code == ErrorCode::kBusy ? LockTimeout(c, *failure) : failure->exception);
      Bump(deps_.counters->rollbacks, group.size());
      return;
    }

    const BodiesRun run = RunBodies(c, group, use_savepoints);
    switch (run.outcome) {
      case BodiesRun::kAllRan:
        break;
      case BodiesRun::kRerunWithSavepoints:
        use_savepoints = true;
        continue;
      case BodiesRun::kRolledBack:  // the group's only body threw; its caller has its error
        Bump(deps_.counters->rollbacks, group.size());
        c.AssertIdle();
        return;
      case BodiesRun::kBusy:
        tx->Rollback();
        if (std::chrono::steady_clock::now() < deadline) {
          Bump(deps_.counters->busy_retries);
          continue;
        }
        AbortGroup(group, run.failure, run.culprit);
        return;
      case BodiesRun::kFailed:
        tx->Rollback();
        AbortGroup(group, run.failure, run.culprit);
        return;
    }

    switch (CommitAndPublish(*tx, group, run.head_before, run.head, deadline)) {
      case CommitOutcome::kCommitted:
      case CommitOutcome::kFailed:
        c.AssertIdle();
        return;
      case CommitOutcome::kRetry:
        Bump(deps_.counters->busy_retries);
        continue;
    }
  }
}

void GroupCommitter::OpenWriter() {
  if (writer_ != nullptr) return;
  writer_ = deps_.pool->OpenUnpooled();
  writer_->set_announces_lock_waits(true);  // writer_turns.h
}

std::exception_ptr GroupCommitter::LockTimeout(const Connection& c, const Failure& busy) const {
  return std::make_exception_ptr(
      Error(ErrorCode::kBusy,
            "could not get the write lock on " + c.path() + " within " +
                std::to_string(deps_.options->busy_timeout.count()) +
                " ms: another connection held it (raise Options::busy_timeout or shorten its "
                "transactions)",
            busy.sqlite_code));
}

GroupCommitter::BodiesRun GroupCommitter::RunBodies(Connection& c,
                                                    const std::vector<Request*>& group,
                                                    bool use_savepoints) {
  BodiesRun run;
  for (Request* r : group) {
    r->revision = 0;
    r->error = nullptr;
    r->writes.clear();
    r->keyspaces.clear();
  }
  // The head this transaction begins on: bodies allocate revisions from it (TransactionImpl
  // invariant 1), and the read cache catches up to it before COMMIT (ReadCache invariant 4).
  std::int64_t last_time_us = 0;  // TransactionImpl invariant 6
  if (auto failure = Capture([&] { std::tie(run.head, last_time_us) = ReadWriteStart(c); })) {
    run.outcome = BodiesRun::kFailed;
    run.failure = std::move(*failure);
    return run;
  }
  run.head_before = run.head;

  for (Request* r : group) {
    if (use_savepoints) {
      if (auto failure = Capture([&] { c.Run("SAVEPOINT request"); })) {
        run.outcome = BodiesRun::kFailed;
        run.failure = std::move(*failure);
        return run;
      }
    }
    TransactionImpl tx(c, *deps_.keyspaces, /*read_only=*/false, r->origin,
                       deps_.options->redacted_keyspaces, deps_.damaged_rows, deps_.redaction_key);
    tx.StartAfter(run.head, last_time_us, &deps_.options->clock);
    std::optional<Failure> thrown = Capture([&] {
      {
        BodyScope scope;
        (*r->body)(tx);
      }
      const Revision revision = tx.Finish();
      if (use_savepoints) c.Run("RELEASE request");
      if (revision != 0) {
        run.head = revision;
        last_time_us = tx.commit_time_us();
      }
    });
    if (!thrown) {
      r->revision = run.head;
      r->writes = tx.writes();
      r->keyspaces = tx.keyspaces_seen();
      continue;
    }
    // The caller gets exactly what its body (or its Finish) threw.
    r->error = thrown->exception;
    if (!c.InTransaction()) {
      // Invariant 3: SQLite rolled back the whole transaction.
      run.outcome = BodiesRun::kFailed;
      run.culprit = r;
      run.failure = std::move(*thrown);
      return run;
    }
    if (thrown->sqlite_busy()) {
      run.outcome = BodiesRun::kBusy;
      run.culprit = r;
      run.failure = std::move(*thrown);
      return run;
    }
    if (!use_savepoints) {
      // Without a SAVEPOINT the thrower cannot roll back alone: roll back everything, and run
      // the group again with SAVEPOINTs if others share it.
      if (auto failure = Capture([&] { c.Run("ROLLBACK"); })) {
        run.outcome = BodiesRun::kFailed;
        run.failure = std::move(*failure);
        return run;
      }
      run.outcome = group.size() > 1 ? BodiesRun::kRerunWithSavepoints : BodiesRun::kRolledBack;
      return run;
    }
    if (auto failure = Capture([&] {
          c.Run("ROLLBACK TO request");
          c.Run("RELEASE request");
        })) {
      run.outcome = BodiesRun::kFailed;
      run.failure = std::move(*failure);
      return run;
    }
  }
  return run;
}

void GroupCommitter::FailAll(const std::vector<Request*>& group, const std::exception_ptr& error) {
  for (Request* r : group) {
    r->error = error;
    r->writes.clear();
    r->keyspaces.clear();
  }
}

void GroupCommitter::AbortGroup(const std::vector<Request*>& group, const Failure& cause,
                                const Request* culprit) {
  // Every request learns why nothing of it committed: the culprit (the body whose statement
  // failed) its own error, the others that the transaction they shared was rolled back, and why.
  const std::exception_ptr shared = std::make_exception_ptr(
      Error(cause.code,
            "transaction not committed: the SQLite transaction it shared with other writers was "
            "rolled back (" +
                cause.what + ")",
            cause.sqlite_code));
  for (Request* r : group) {
    r->writes.clear();
    r->keyspaces.clear();
    if (r != culprit) r->error = shared;
  }
  Bump(deps_.counters->rollbacks, group.size());
  if (cause.poisons()) Poison(cause.what);  // invariant 5
}

GroupCommitter::CommitOutcome GroupCommitter::CommitAndPublish(
    WriteTransaction& tx, const std::vector<Request*>& group, Revision head_before, Revision head,
    std::chrono::steady_clock::time_point deadline) {
  // Commit (invariant 1), with the cache protocol around it (invariant 6).
  deps_.cache->BeforeCommit(tx.connection(), head_before);
  const auto commit_start = std::chrono::steady_clock::now();
  if (auto failure = Capture([&] { tx.Commit(); })) {
    deps_.cache->AfterCommit(false, 0);
    tx.Rollback();
    if (failure->sqlite_busy() && std::chrono::steady_clock::now() < deadline) {
      return CommitOutcome::kRetry;
    }
    FailAll(group, std::make_exception_ptr(Error(failure->code, "commit failed: " + failure->what,
                                                 failure->sqlite_code)));
    Bump(deps_.counters->rollbacks, group.size());
    if (failure->poisons()) Poison(failure->what);  // invariant 5
    return CommitOutcome::kFailed;
  }
  last_commit_duration_ = std::chrono::steady_clock::now() - commit_start;
  Publish(group, deps_.cache->AfterCommit(true, head));
  return CommitOutcome::kCommitted;
}

void GroupCommitter::Publish(const std::vector<Request*>& group,
                             const ReadCache::PublishTicket& ticket) {
  std::uint64_t committed = 0;
  std::uint64_t wrote = 0;  // requests that made a revision
  for (Request* r : group) {
    if (r->error) {
      Bump(deps_.counters->rollbacks);
      continue;
    }
    ++committed;
    if (!r->writes.empty()) ++wrote;
    for (const auto& [name, ref] : r->keyspaces) deps_.keyspaces->Add(name, ref);
  }
  // Publish only the final value of each key: a key written several times in the group must
  // never be visible in an intermediate state, even for an instant (invariant 6).
  // AfterCommit opened the publish window (ReadCache invariant 6); EndPublish closes it.
  std::unordered_set<std::string_view> published;
  for (auto r = group.rbegin(); r != group.rend(); ++r) {
    if ((*r)->error) continue;
    for (auto w = (*r)->writes.rbegin(); w != (*r)->writes.rend(); ++w) {
      // Keyspace names contain no NUL, so keyspace + NUL + key identifies the key.
      std::string_view id = w->cache_id;
      if (!published.insert(id).second) continue;
      deps_.cache->Publish(ticket, w->keyspace, w->key, w->entry);
    }
  }
  deps_.cache->EndPublish();
  Bump(deps_.counters->commits, committed);
  if (committed > 0) {
    Bump(deps_.counters->groups);
    if (deps_.options->durability == Durability::kFull) Bump(deps_.counters->syncs);
  }
  std::uint64_t size = committed;
  std::uint64_t seen = deps_.counters->max_group_size.load(std::memory_order_relaxed);
  while (size > seen && !deps_.counters->max_group_size.compare_exchange_weak(
                            seen, size, std::memory_order_relaxed)) {
  }
  // Only revisions count: retention batches themselves (no writes) must not request more
  // retention, or a process running compact_history() would race its own background batches.
  commits_since_retention_ += wrote;
}

bool GroupCommitter::RetentionDueNow() {
  // A read transaction on this thread's connection: most passes find nothing to do, and then
  // take no write lock and make no commit (Stats::commits counts callers' transactions).
  Connection& c = deps_.pool->ForThisThread();
  ReadTransaction tx(c);
  const bool due =
      RetentionDue(c, deps_.options->history_retention, NowMicros(deps_.options->clock));
  tx.Commit();
  return due;
}

RetentionResult GroupCommitter::RetentionBatch() {
  RetentionResult result;
  if (!RetentionDueNow()) return result;
  Body body = [&](TransactionImpl& tx) {
    result = RunRetentionBatch(tx.connection(), deps_.options->history_retention,
                               kRevisionsPerRetentionBatch, NowMicros(deps_.options->clock));
  };
  Submit(body, Origin{});
  if (result.changes_removed > 0) Bump(deps_.counters->compaction_runs);
  return result;
}

std::uint64_t GroupCommitter::CompactHistory() {
  // Counts the batches of this call only: each batch's result comes from its own transaction.
  std::uint64_t total = 0;
  for (;;) {
    RetentionResult r = RetentionBatch();
    total += r.revisions_removed;
    if (!r.more && r.changes_removed == 0) break;
  }
  return total;
}

}  // namespace statestore::internal

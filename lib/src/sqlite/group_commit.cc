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
        FailGroup(group, std::current_exception());
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

void GroupCommitter::FailGroup(const std::vector<Request*>& group,
                               const std::exception_ptr& error) {
  for (Request* r : group) {
    r->error = error;
    r->writes.clear();
    r->keyspaces.clear();
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

void RollbackQuietly(Connection& c) {
  if (!c.InTransaction()) return;
  try {
    c.Run("ROLLBACK");
  } catch (...) {
    // Nothing more can be done; the connection reports the original error.
  }
}

bool IsSqliteBusy(const Error& e) { return e.code() == ErrorCode::kBusy && e.sqlite_code() != 0; }

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

void GroupCommitter::RunGroup(const std::vector<Request*>& group) {
  if (writer_ == nullptr) {
    try {
      writer_ = deps_.pool->OpenUnpooled();
      writer_->set_announces_lock_waits(true);  // writer_turns.h
    } catch (...) {
      FailGroup(group, std::current_exception());
      return;
    }
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
    for (Request* r : group) {
      r->revision = 0;
      r->error = nullptr;
      r->writes.clear();
      r->keyspaces.clear();
    }
    // Another process waiting for the write lock goes first (bounded; writer_turns.h).
    c.YieldToWaitingWriters();
    try {
      c.Run("BEGIN IMMEDIATE");
      c.EndLockWait();
    } catch (const Error& e) {
      c.EndLockWait();
      FailGroup(group, std::make_exception_ptr(
                           e.code() == ErrorCode::kBusy
                               ? Error(ErrorCode::kBusy,
                                       "could not get the write lock on " + c.path() + " within " +
                                           std::to_string(deps_.options->busy_timeout.count()) +
                                           " ms: another connection held it (raise "
                                           "Options::busy_timeout or shorten its transactions)",
                                       e.sqlite_code())
                               : e));
      Bump(deps_.counters->rollbacks, group.size());
      return;
    }

    // The head this transaction begins on: bodies allocate revisions from it (TransactionImpl
    // invariant 1), and the read cache catches up to it before COMMIT (ReadCache invariant 4).
    Revision head = 0;
    std::int64_t last_time_us = 0;  // TransactionImpl invariant 6
    std::exception_ptr group_failure;
    try {
      std::tie(head, last_time_us) = ReadWriteStart(c);
    } catch (...) {
      group_failure = std::current_exception();
    }
    const Revision head_before = head;

    bool retry = false;
    bool all_rolled_back = false;  // a body threw and the whole transaction was rolled back
    bool rerun_with_savepoints = false;
    for (Request* r : group) {
      if (group_failure) break;
      if (use_savepoints) {
        try {
          c.Run("SAVEPOINT request");
        } catch (...) {
          group_failure = std::current_exception();
          break;
        }
      }
      TransactionImpl tx(c, *deps_.keyspaces, /*read_only=*/false, r->origin,
                         deps_.options->redacted_keyspaces, deps_.damaged_rows,
                         deps_.redaction_key);
      tx.StartAfter(head, last_time_us);
      try {
        {
          BodyScope scope;
          (*r->body)(tx);
        }
        Revision revision = tx.Finish();
        if (use_savepoints) c.Run("RELEASE request");
        if (revision != 0) {
          head = revision;
          last_time_us = tx.commit_time_us();
        }
        r->revision = head;
        r->writes = tx.writes();
        r->keyspaces = tx.keyspaces_seen();
      } catch (...) {
        r->error = std::current_exception();
        if (!c.InTransaction()) {
          // Invariant 3: SQLite rolled back the whole transaction.
          group_failure = r->error;
          break;
        }
        try {
          std::rethrow_exception(r->error);
        } catch (const Error& e) {
          retry = IsSqliteBusy(e);
        } catch (...) {
        }
        if (retry) break;
        try {
          if (use_savepoints) {
            c.Run("ROLLBACK TO request");
            c.Run("RELEASE request");
          } else {
            c.Run("ROLLBACK");
            all_rolled_back = true;
            rerun_with_savepoints = group.size() > 1;
            break;
          }
        } catch (...) {
          group_failure = std::current_exception();
          break;
        }
      }
    }

    if (rerun_with_savepoints) {
      // The optimistic pass hit a throwing body; every body runs again, each in its SAVEPOINT.
      use_savepoints = true;
      continue;
    }
    if (all_rolled_back) {
      Bump(deps_.counters->rollbacks, group.size());
      c.AssertIdle();
      return;
    }
    if (retry && std::chrono::steady_clock::now() < deadline) {
      RollbackQuietly(c);
      Bump(deps_.counters->busy_retries);
      continue;
    }
    if (retry || group_failure) {
      RollbackQuietly(c);
      std::exception_ptr cause = group_failure;
      for (Request* r : group) {
        if (cause == nullptr && r->error) cause = r->error;
      }
      std::string why = "unknown error";
      ErrorCode code = ErrorCode::kInternal;
      int sqlite_code = 0;
      try {
        std::rethrow_exception(cause);
      } catch (const Error& e) {
        why = e.what();
        code = e.code();
        sqlite_code = e.sqlite_code();
      } catch (const std::exception& e) {
        why = e.what();
      } catch (...) {
      }
      for (Request* r : group) {
        r->writes.clear();
        r->keyspaces.clear();
        if (r->error == cause && cause != nullptr) continue;  // the culprit keeps its own error
        r->error = std::make_exception_ptr(
            Error(code,
                  "transaction not committed: the SQLite transaction it shared with other "
                  "writers was rolled back (" +
                      why + ")",
                  sqlite_code));
      }
      Bump(deps_.counters->rollbacks, group.size());
      if (code == ErrorCode::kIoError || code == ErrorCode::kFull) Poison(why);
      return;
    }

    // Commit (invariant 1), with the cache protocol around it (invariant 6).
    deps_.cache->BeforeCommit(c, head_before);
    const auto commit_start = std::chrono::steady_clock::now();
    try {
      c.Run("COMMIT");
      last_commit_duration_ = std::chrono::steady_clock::now() - commit_start;
    } catch (const Error& e) {
      deps_.cache->AfterCommit(false, 0);
      RollbackQuietly(c);
      if (IsSqliteBusy(e) && std::chrono::steady_clock::now() < deadline) {
        Bump(deps_.counters->busy_retries);
        continue;
      }
      FailGroup(group, std::make_exception_ptr(Error(
                           e.code(), std::string("commit failed: ") + e.what(), e.sqlite_code())));
      Bump(deps_.counters->rollbacks, group.size());
      if (e.code() == ErrorCode::kIoError || e.code() == ErrorCode::kFull) Poison(e.what());
      return;
    }
    ReadCache::PublishTicket ticket = deps_.cache->AfterCommit(true, head);

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
    c.AssertIdle();
    return;
  }
}

bool GroupCommitter::RetentionDueNow() {
  // A read transaction on this thread's connection: most passes find nothing to do, and then
  // take no write lock and make no commit (Stats::commits counts callers' transactions).
  Connection& c = deps_.pool->ForThisThread();
  c.Run("BEGIN");
  try {
    const bool due = RetentionDue(c, deps_.options->history_retention);
    c.Run("COMMIT");
    return due;
  } catch (...) {
    if (c.InTransaction()) {
      try {
        c.Run("ROLLBACK");
      } catch (...) {
        // Report the original failure.
      }
    }
    throw;
  }
}

RetentionResult GroupCommitter::RetentionBatch() {
  RetentionResult result;
  if (!RetentionDueNow()) return result;
  Body body = [&](TransactionImpl& tx) {
    result = RunRetentionBatch(tx.connection(), deps_.options->history_retention,
                               kRevisionsPerRetentionBatch);
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

#include "core/group_commit.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <string_view>
#include <unordered_set>
#include <utility>

#include "core/body_scope.h"
#include "statestore/error.h"

namespace statestore::internal {

// Where a queued caller sleeps. One per thread that ever submits (a thread has at most one request
// queued: bodies cannot submit), shared with the leader that answers it: the caller may return the
// moment it reads its answer, so the leader signals through its own reference and never touches
// the Request after the answer is set (invariant 10).
struct GroupCommitter::Waiter {
  Mutex mu;
  std::condition_variable cv;
};

struct GroupCommitter::Request {
  const Body* body = nullptr;
  const std::function<void()>* between_groups = nullptr;  // RunBetweenGroups: runs alone
  Origin origin;
  std::shared_ptr<Waiter> waiter;
  Turn turn = Turn::kQueued;  // guarded by waiter->mu

  // Outcome, written by the leader before `turn` becomes kDone.
  Revision revision = 0;
  std::exception_ptr error;
  std::vector<PendingWrite> writes;
  std::vector<std::pair<std::string, KeyspaceRef>> keyspaces;
};

std::shared_ptr<GroupCommitter::Waiter> GroupCommitter::ThisThreadsWaiter() {
  thread_local const std::shared_ptr<Waiter> waiter = std::make_shared<Waiter>();
  return waiter;
}

GroupCommitter::GroupCommitter(Dependencies deps) : deps_(std::move(deps)) {}

Revision GroupCommitter::Submit(const Body& body, Origin origin) {
  Request request;
  request.body = &body;
  request.origin = std::move(origin);
  request.waiter = ThisThreadsWaiter();
  Enqueue(request);
  if (request.error) std::rethrow_exception(request.error);
  return request.revision;
}

void GroupCommitter::RunBetweenGroups(const std::function<void()>& fn) {
  Request request;
  request.between_groups = &fn;
  request.waiter = ThisThreadsWaiter();
  Enqueue(request);
  if (request.error) std::rethrow_exception(request.error);
}

void GroupCommitter::Signal(Request& request, Turn turn) {
  // Invariant 10: after `turn` is set the caller may return and its Request be gone, but not its
  // Waiter, which `waiter` keeps. Notified after unlocking: the caller wakes to a free mutex.
  const std::shared_ptr<Waiter> waiter = request.waiter;
  {
    MutexLock lock(&waiter->mu);
    request.turn = turn;
  }
  waiter->cv.notify_one();
}

GroupCommitter::Turn GroupCommitter::AwaitTurn(Request& request) {
  Waiter& waiter = *request.waiter;
  MutexLock lock(&waiter.mu);
  // A notify meant for an earlier request of this thread may wake it early: hence the loop.
  while (request.turn == Turn::kQueued) lock.Wait(waiter.cv);
  return request.turn;
}

void GroupCommitter::Enqueue(Request& request) {
  MutexLock lock(&mu_);
  if (!poisoned_.empty()) throw Error(ErrorCode::kIoError, poisoned_);
  queue_.push_back(&request);
  if (company_wanted_ != 0 && queue_.size() >= company_wanted_) {
    company_cv_.notify_one();  // the leader waiting for company has it (see below)
  }
  if (queue_.front() != &request) {
    lock.Unlock();
    if (AwaitTurn(request) == Turn::kDone) return;  // another leader ran it
    lock.Lock();  // kLeading: the last leader handed on to this request, now at the front
  }
  if (request.between_groups == nullptr) WaitForCompany(lock);
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
      // followers waiting forever, nor the writer inside a transaction.
      deps_.writer->Rollback();
      FailAll(group, std::current_exception());
    }
  }
  if (committed_something) RequestMaintenance();
  lock.Lock();
  for (std::size_t i = 0; i < group.size(); ++i) queue_.pop_front();
  Request* next_leader = queue_.empty() ? nullptr : queue_.front();
  lock.Unlock();
  // The next leader first, so that its group starts while this one's callers wake up.
  if (next_leader != nullptr) Signal(*next_leader, Turn::kLeading);
  for (Request* r : group) {
    if (r != &request) Signal(*r, Turn::kDone);
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
    lock.WaitUntil(company_cv_, deadline);
  }
  company_wanted_ = 0;
}

void GroupCommitter::RequestMaintenance() {
  // Always, whatever this process's Options say: policies stored by other processes and the
  // built-in default of "sessions" can make retention due. A batch with nothing to do only
  // reads a few rows.
  if (deps_.request_maintenance && commits_since_maintenance_ >= kCommitsPerMaintenance) {
    commits_since_maintenance_ = 0;
    deps_.request_maintenance();  // invariant 7: the work runs on another thread
  }
}

void GroupCommitter::Poison(const std::string& reason) {
  MutexLock lock(&mu_);
  if (poisoned_.empty()) {
    poisoned_ = "store refuses writes after an earlier failed commit (" + reason +
                "); the state on disk is safe up to the last acknowledged commit — reopen the "
                "store to continue";
  }
  deps_.log->error("statestore: {}: {}", deps_.writer->name(), poisoned_);
}

void GroupCommitter::RunGroup(const std::vector<Request*>& group) {
  GroupWriter& writer = *deps_.writer;  // invariant 8
  if (auto failure = Capture([&] { writer.Open(); })) {
    FailAll(group, failure->exception);
    return;
  }
  const auto deadline = std::chrono::steady_clock::now() + deps_.options->busy_timeout;
  // Invariant 2, optimistically: a group first runs without a SAVEPOINT per body. If a body
  // throws, the whole transaction is rolled back and the group re-run with one SAVEPOINT per
  // body, so the thrower rolls back alone (bodies may run more than once; Store::transact).
  // Bodies rarely throw, and a SAVEPOINT copies every page a body first touches into the
  // statement journal.
  bool use_savepoints = false;
  for (;;) {
    if (std::optional<Failure> failure = Capture([&] { writer.Begin(); })) {
      FailAll(group,
              writer.IsLockConflict(*failure) ? writer.LockTimeout(*failure) : failure->exception);
      Bump(deps_.counters->rollbacks, group.size());
      writer.AfterGroup();
      return;
    }

    const BodiesRun run = RunBodies(group, use_savepoints);
    switch (run.outcome) {
      case BodiesRun::kAllRan:
        break;
      case BodiesRun::kRerunWithSavepoints:
        use_savepoints = true;
        continue;
      case BodiesRun::kRolledBack:  // the group's only body threw; its caller has its error
        Bump(deps_.counters->rollbacks, group.size());
        writer.AfterGroup();
        return;
      case BodiesRun::kBusy:
        writer.Rollback();
        if (std::chrono::steady_clock::now() < deadline) {
          Bump(deps_.counters->busy_retries);
          continue;
        }
        AbortGroup(group, run.failure, run.culprit);
        writer.AfterGroup();
        return;
      case BodiesRun::kFailed:
        writer.Rollback();
        AbortGroup(group, run.failure, run.culprit);
        writer.AfterGroup();
        return;
    }

    switch (CommitAndPublish(group, run.head_before, run.head, deadline)) {
      case CommitOutcome::kCommitted:
      case CommitOutcome::kFailed:
        writer.AfterGroup();
        return;
      case CommitOutcome::kRetry:
        Bump(deps_.counters->busy_retries);
        continue;
    }
  }
}

GroupCommitter::BodiesRun GroupCommitter::RunBodies(const std::vector<Request*>& group,
                                                    bool use_savepoints) {
  GroupWriter& writer = *deps_.writer;
  BodiesRun run;
  for (Request* r : group) {
    r->revision = 0;
    r->error = nullptr;
    r->writes.clear();
    r->keyspaces.clear();
  }
  // The head this transaction begins on: bodies allocate revisions from it (EngineTransaction
  // invariant 1), and the read cache catches up to it before COMMIT (ReadCache invariant 4).
  GroupWriter::WriteStart start;
  if (auto failure = Capture([&] { start = writer.ReadWriteStart(); })) {
    run.outcome = BodiesRun::kFailed;
    run.failure = std::move(*failure);
    return run;
  }
  run.head = start.head;
  run.head_before = start.head;
  std::int64_t last_time_us = start.last_commit_time_us;  // EngineTransaction invariant 3

  for (Request* r : group) {
    if (use_savepoints) {
      if (auto failure = Capture([&] { writer.Savepoint(); })) {
        run.outcome = BodiesRun::kFailed;
        run.failure = std::move(*failure);
        return run;
      }
    }
    std::unique_ptr<EngineTransaction> tx;
    std::optional<Failure> thrown = Capture([&] {
      tx = writer.NewTransaction(r->origin);
      tx->StartAfter(run.head, last_time_us, &deps_.options->clock);
      {
        BodyScope scope;
        (*r->body)(*tx);
      }
      const Revision revision = tx->Finish();
      if (use_savepoints) writer.ReleaseSavepoint();
      if (revision != 0) {
        run.head = revision;
        last_time_us = tx->commit_time_us();
      }
    });
    if (!thrown) {
      r->revision = run.head;
      r->writes = tx->writes();
      r->keyspaces = tx->keyspaces_seen();
      continue;
    }
    // The caller gets exactly what its body (or its Finish) threw.
    r->error = thrown->exception;
    // A conflict first: it may have ended the transaction too (PostgreSQL: the connection broke
    // before COMMIT was sent), and the group is then re-run rather than failed.
    if (writer.IsLockConflict(*thrown)) {
      run.outcome = BodiesRun::kBusy;
      run.culprit = r;
      run.failure = std::move(*thrown);
      return run;
    }
    if (!writer.InTransaction()) {
      // Invariant 3: the engine rolled back the whole transaction.
      run.outcome = BodiesRun::kFailed;
      run.culprit = r;
      run.failure = std::move(*thrown);
      return run;
    }
    if (!use_savepoints) {
      // Without a SAVEPOINT the thrower cannot roll back alone: roll back everything, and run
      // the group again with SAVEPOINTs if others share it.
      writer.Rollback();
      run.outcome = group.size() > 1 ? BodiesRun::kRerunWithSavepoints : BodiesRun::kRolledBack;
      return run;
    }
    if (auto failure = Capture([&] { writer.RollbackToSavepoint(); })) {
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
            "transaction not committed: the transaction it shared with other writers was rolled "
            "back (" +
                cause.what + ")",
            cause.engine_code));
  for (Request* r : group) {
    r->writes.clear();
    r->keyspaces.clear();
    if (r != culprit) r->error = shared;
  }
  Bump(deps_.counters->rollbacks, group.size());
  if (cause.poisons()) Poison(cause.what);  // invariant 5
}

GroupCommitter::CommitOutcome GroupCommitter::CommitAndPublish(
    const std::vector<Request*>& group, Revision head_before, Revision head,
    std::chrono::steady_clock::time_point deadline) {
  GroupWriter& writer = *deps_.writer;
  // Commit (invariant 1), with the cache protocol around it (invariant 6).
  deps_.cache->BeforeCommit(writer.WriterFeed(), head_before);
  const auto commit_start = std::chrono::steady_clock::now();
  if (auto failure = Capture([&] { writer.Commit(); })) {
    deps_.cache->AfterCommit(false, 0);
    writer.Rollback();
    if (writer.IsLockConflict(*failure) && std::chrono::steady_clock::now() < deadline) {
      return CommitOutcome::kRetry;
    }
    FailAll(group, std::make_exception_ptr(Error(failure->code, "commit failed: " + failure->what,
                                                 failure->engine_code)));
    Bump(deps_.counters->rollbacks, group.size());
    if (failure->poisons()) Poison(failure->what);  // invariant 5
    return CommitOutcome::kFailed;
  }
  last_commit_duration_ = std::chrono::steady_clock::now() - commit_start;
  Publish(group, deps_.cache->AfterCommit(true, head));
  RecordLocally(group, head_before, head);
  return CommitOutcome::kCommitted;
}

void GroupCommitter::RecordLocally(const std::vector<Request*>& group, Revision head_before,
                                   Revision head) noexcept {
  if (deps_.local_commits == nullptr || head <= head_before) return;
  try {
    // Every changed key has a pending write (the cache needs it): their keyspaces are all the
    // group's revisions changed (local_commit_log.h invariant 1). Few per group, many writes each.
    std::vector<std::string> changed;
    for (const Request* r : group) {
      if (r->error) continue;
      for (const PendingWrite& w : r->writes) {
        if (std::find(changed.begin(), changed.end(), w.keyspace) == changed.end()) {
          changed.push_back(w.keyspace);
        }
      }
    }
    deps_.local_commits->Record(head_before + 1, head, std::move(changed));
  } catch (...) {
    // Out of memory: the range stays unrecorded, which only ever means "cannot tell".
  }
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
      deps_.cache->Publish(ticket, w->keyspace, w->key, w->entry, w->drop_only);
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
  commits_since_maintenance_ += wrote;
}

}  // namespace statestore::internal

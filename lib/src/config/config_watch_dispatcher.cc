#include "config/config_watch_dispatcher.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <exception>
#include <utility>

#include "config/config_layers.h"
#include "config/config_value.h"
#include "statestore/error.h"

namespace statestore {
namespace internal {

WatchState::WatchState(std::shared_ptr<HubCore> hub_core, std::string watch_prefix,
                       WatchCallback cb, Revision next)
    : core(std::move(hub_core)),
      prefix(std::move(watch_prefix)),
      callback(std::move(cb)),
      first(next),
      delivered_through(next - 1) {}

void WatchState::Cancel() noexcept {
  std::thread to_join;
  {
    MutexLock lock(&core->mu);
    if (cancelled.load()) return;
    cancelled.store(true);
    active.store(false);
    auto& ws = core->watches;
    ws.erase(std::remove(ws.begin(), ws.end(), shared_from_this()), ws.end());
    if (core->stopping) return;  // Shutdown() took (and joins) the thread
    if (thread.get_id() == std::this_thread::get_id()) {
      core->zombies.push_back(shared_from_this());  // cannot join ourselves
    } else {
      to_join = std::move(thread);
    }
    core->cv.notify_all();
  }
  if (to_join.joinable()) to_join.join();
}

WatchHub::WatchHub(Source source) : src_(std::move(source)), core_(std::make_shared<HubCore>()) {}

WatchHub::~WatchHub() { Shutdown(); }

std::shared_ptr<WatchState> WatchHub::Add(std::string prefix, WatchCallback callback,
                                          Revision from) {
  const Revision head = src_.store->history_bounds().head;
  const Revision next = from == 0 ? head + 1 : from;
  auto w = std::make_shared<WatchState>(core_, std::move(prefix), std::move(callback), next);
  std::vector<std::thread> reaped;
  {
    MutexLock lock(&core_->mu);
    if (core_->stopping) {
      throw Error(ErrorCode::kInvalidArgument, "watch: the Store is closing");
    }
    auto& z = core_->zombies;
    for (auto it = z.begin(); it != z.end();) {
      if ((*it)->exited.load()) {
        reaped.push_back(std::move((*it)->thread));
        it = z.erase(it);
      } else {
        ++it;
      }
    }
    core_->observed_head = std::max(core_->observed_head, head);
    if (!poller_.joinable()) poller_ = std::thread([this] { PollLoop(); });
    w->thread = std::thread([this, w] { RunWatch(w); });
    core_->watches.push_back(w);
  }
  for (auto& t : reaped) t.join();
  return w;
}

void WatchHub::Nudge(Revision revision) {
  MutexLock lock(&core_->mu);
  if (revision > core_->observed_head) {
    core_->observed_head = revision;
    core_->cv.notify_all();
  }
}

void WatchHub::Shutdown() noexcept {
  std::vector<std::thread> threads;
  {
    MutexLock lock(&core_->mu);
    if (core_->stopping) return;
    core_->stopping = true;
    for (auto& w : core_->watches) {
      w->cancelled.store(true);
      w->active.store(false);
      threads.push_back(std::move(w->thread));
    }
    for (auto& w : core_->zombies) threads.push_back(std::move(w->thread));
    core_->watches.clear();
    core_->zombies.clear();
    if (poller_.joinable()) threads.push_back(std::move(poller_));
    core_->cv.notify_all();
  }
  for (auto& t : threads) {
    if (!t.joinable()) continue;
    // The last Store reference released inside a callback (not allowed, see config.h) would
    // otherwise deadlock here.
    if (t.get_id() == std::this_thread::get_id()) {
      t.detach();
    } else {
      t.join();
    }
  }
}

void WatchHub::PollLoop() {
  std::uint64_t last_counter = src_.change_counter();
  auto last_check = std::chrono::steady_clock::now();
  MutexLock lock(&core_->mu);
  while (!core_->stopping) {
    lock.WaitFor(core_->cv, src_.poll_interval,
                 [this]() REQUIRES(core_->mu) { return core_->stopping; });
    if (core_->stopping) break;
    lock.Unlock();
    const std::uint64_t counter = src_.change_counter();
    const auto now = std::chrono::steady_clock::now();
    std::optional<Revision> head;
    if (counter != last_counter || now - last_check >= kFullCheckInterval) {
      last_counter = counter;
      last_check = now;
      try {
        head = src_.store->history_bounds().head;
      } catch (const std::exception& e) {
        src_.log->warn("statestore: config watch poller cannot read the head revision: {}",
                       e.what());
      }
    }
    lock.Lock();
    if (head && *head > core_->observed_head) {
      core_->observed_head = *head;
      core_->cv.notify_all();
    }
  }
}

bool WatchHub::ToEvent(const Commit& commit, const std::string& prefix, WatchEvent* ev) const {
  ev->kind = WatchEvent::Kind::kChanges;
  ev->revision = commit.revision;
  ev->time = commit.time;
  ev->origin = commit.origin;
  ev->changes.clear();
  for (const Change& c : commit.changes) {
    if (c.keyspace != kConfigKeyspace) continue;
    auto parsed = ParseStorageKey(c.key);
    if (!parsed) continue;
    if (parsed->layer == ConfigLayer::kProfile &&
        (src_.profile.empty() || parsed->profile != src_.profile)) {
      continue;
    }
    if (std::string_view(parsed->key).substr(0, prefix.size()) != prefix) continue;
    try {
      ConfigChange change{parsed->key, parsed->layer, std::nullopt, std::nullopt, c.kind};
      if (c.redacted) {
        throw Error(ErrorCode::kInvalidArgument, "keyspace config is redacted");
      }
      if (c.old_value) change.old_value = DecodeConfigValue(parsed->key, *c.old_value);
      if (c.new_value) change.new_value = DecodeConfigValue(parsed->key, *c.new_value);
      ev->changes.push_back(std::move(change));
    } catch (const Error& e) {
      src_.log->warn("statestore: config watch skips a change at r{}: {}", commit.revision,
                     e.what());
    }
  }
  return !ev->changes.empty();
}

void WatchHub::Deliver(WatchState& w, const WatchEvent& event) const {
  std::string what;
  try {
    w.callback(event);
    return;
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
    what = "a non-standard exception";
  }
  // A callback that throws on every event must not flood the log: the 1st, 10th, 100th, ...
  const std::uint64_t n = w.failures.fetch_add(1) + 1;
  bool power_of_ten = true;
  for (std::uint64_t x = n; x > 1; x /= 10) {
    if (x % 10 != 0) power_of_ten = false;
  }
  if (power_of_ten) {
    src_.log->warn(
        "statestore: config watch callback for prefix \"{}\" threw at r{} ({} failure(s) so far; "
        "the event counts as delivered): {}",
        w.prefix, event.revision, n, what);
  }
}

void WatchHub::RunWatch(const std::shared_ptr<WatchState>& w) {
  Revision next = w->first;
  WatchEvent event;
  for (;;) {
    Revision head = 0;
    {
      MutexLock lock(&core_->mu);
      lock.Wait(core_->cv, [&]() REQUIRES(core_->mu) {
        return core_->stopping || w->cancelled.load() || core_->observed_head >= next;
      });
      if (core_->stopping || w->cancelled.load()) break;
      head = core_->observed_head;
    }
    if (src_.store->known_unchanged(kConfigKeyspace, next, head)) {
      // Invariant 1 without a read: this process committed all of (next, head] and none of it
      // changed config (local_commit_log.h), so there is nothing to deliver — and nothing that
      // compaction could have taken from this watch (invariant 2).
      next = head + 1;
      w->delivered_through.store(head);
      continue;
    }
    std::vector<Commit> commits;
    HistoryBounds bounds;
    try {
      HistoryQuery q;
      q.from_revision = next;
      q.to_revision = head;
      q.keyspace = std::string(kConfigKeyspace);
      q.limit = src_.batch;
      commits = src_.store->history(q);
      // The config keyspace's own bounds: other keyspaces' retention (session churn) removes
      // none of the changes a config watch delivers (history_log.h invariant 1).
      bounds = src_.store->history_bounds(kConfigKeyspace);
    } catch (const std::exception& e) {
      src_.log->warn("statestore: config watch on \"{}\" cannot read history: {}; retrying",
                     w->prefix, e.what());
      MutexLock lock(&core_->mu);
      lock.WaitFor(core_->cv, std::chrono::milliseconds(50),
                   [&]() REQUIRES(core_->mu) { return core_->stopping || w->cancelled.load(); });
      continue;
    }
    if (bounds.compacted_through >= next) {
      WatchEvent compacted;
      compacted.kind = WatchEvent::Kind::kCompacted;
      compacted.revision = next;
      compacted.compacted_through = bounds.compacted_through;
      if (!w->cancelled.load()) Deliver(*w, compacted);
      w->active.store(false);
      break;
    }
    const Revision scanned_to =
        commits.size() < src_.batch || commits.empty() ? head : commits.back().revision;
    bool stop = false;
    for (const Commit& commit : commits) {
      if (w->cancelled.load()) {
        stop = true;
        break;
      }
      if (ToEvent(commit, w->prefix, &event)) Deliver(*w, event);
      w->delivered_through.store(commit.revision);
    }
    if (stop) break;
    next = scanned_to + 1;
    w->delivered_through.store(scanned_to);
  }
  w->exited.store(true);
}

}  // namespace internal

// ---- Watch --------------------------------------------------------------------------------------

Watch& Watch::operator=(Watch&& other) noexcept {
  if (this != &other) {
    cancel();
    state_ = std::move(other.state_);
  }
  return *this;
}

Watch::~Watch() { cancel(); }

void Watch::cancel() noexcept {
  if (state_) state_->Cancel();
}

bool Watch::active() const noexcept { return state_ && state_->active.load(); }

Revision Watch::delivered_through() const noexcept {
  return state_ ? state_->delivered_through.load() : 0;
}

std::uint64_t Watch::callback_failures() const noexcept {
  return state_ ? state_->failures.load() : 0;
}

}  // namespace statestore

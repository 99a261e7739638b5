#include "sessions/session_events.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <exception>
#include <string>
#include <unordered_map>
#include <utility>

#include "sessions/session_keys.h"
#include "sessions/session_record.h"
#include "sessions/session_token.h"
#include "statestore/error.h"

namespace statestore {
namespace internal {

namespace keys = session_keys;

SessionListenerState::SessionListenerState(std::shared_ptr<SessionEventHubCore> hub_core,
                                           SessionEventCallback cb, Revision first)
    : core(std::move(hub_core)),
      callback(std::move(cb)),
      next(first),
      delivered_through(first - 1) {}

void SessionListenerState::Stop() noexcept {
  MutexLock lock(&core->mu);
  if (stopped) return;
  stopped = true;
  active.store(false);
  auto& ls = core->listeners;
  ls.erase(std::remove_if(ls.begin(), ls.end(), [this](const auto& p) { return p.get() == this; }),
           ls.end());
  // Invariant 3: on the hub thread (inside a callback) there is nothing to wait for.
  if (std::this_thread::get_id() == core->thread_id) return;
  lock.Wait(core->idle, [this]() REQUIRES(core->mu) { return core->running != this; });
}

SessionEventHub::SessionEventHub(Source source)
    : src_(std::move(source)), core_(std::make_shared<SessionEventHubCore>()) {}

SessionEventHub::~SessionEventHub() { Shutdown(); }

SessionListener SessionEventHub::Add(SessionEventCallback callback, Revision from) {
  const Revision head = src_.store->history_bounds().head;
  const Revision first = from == 0 ? head + 1 : from;
  auto l = std::make_shared<SessionListenerState>(core_, std::move(callback), first);
  MutexLock lock(&core_->mu);
  if (core_->stopping) {
    throw Error(ErrorCode::kInvalidArgument, "Sessions::listen: the Store is closing");
  }
  core_->observed_head = std::max(core_->observed_head, head);
  core_->listeners.push_back(l);
  if (!thread_.joinable()) {
    thread_ = std::thread([this] { Run(); });
    core_->thread_id = thread_.get_id();
  }
  core_->nudged = true;
  core_->wake.notify_all();
  return SessionListener(std::move(l));
}

void SessionEventHub::Nudge(Revision revision) noexcept {
  MutexLock lock(&core_->mu);
  if (revision > core_->observed_head) {
    core_->observed_head = revision;
    core_->nudged = true;
    core_->wake.notify_all();
  }
}

void SessionEventHub::Shutdown() noexcept {
  std::thread t;
  {
    MutexLock lock(&core_->mu);
    if (core_->stopping) return;
    core_->stopping = true;
    for (auto& l : core_->listeners) l->active.store(false);
    core_->listeners.clear();
    t = std::move(thread_);
    core_->wake.notify_all();
  }
  if (!t.joinable()) return;
  // The last Store reference dropped inside a callback would otherwise join itself.
  if (t.get_id() == std::this_thread::get_id()) {
    t.detach();
  } else {
    t.join();
  }
}

Revision SessionEventHub::Poll(std::uint64_t* last_counter,
                               std::chrono::steady_clock::time_point* last_check) {
  const std::uint64_t counter = src_.change_counter();
  const auto now = std::chrono::steady_clock::now();
  if (counter != *last_counter || now - *last_check >= kFullCheckInterval) {
    *last_counter = counter;
    *last_check = now;
    try {
      return src_.store->history_bounds().head;
    } catch (const std::exception& e) {
      src_.log->warn("statestore: session listener cannot read the head revision: {}", e.what());
    }
  }
  return 0;
}

void SessionEventHub::Run() {
  std::uint64_t last_counter = src_.change_counter();
  auto last_check = std::chrono::steady_clock::now();
  bool retry = false;  // a history read failed: wait before trying again
  MutexLock lock(&core_->mu);
  while (!core_->stopping) {
    const Revision observed = core_->observed_head;
    const bool behind = std::any_of(core_->listeners.begin(), core_->listeners.end(),
                                    [&](const auto& l) { return l->next <= observed; });
    if (retry || !behind) {
      const auto wait =
          retry ? std::max(src_.poll_interval, std::chrono::milliseconds(kRetryInterval))
                : src_.poll_interval;
      lock.WaitFor(core_->wake, wait,
                   [this]() REQUIRES(core_->mu) { return core_->stopping || core_->nudged; });
      core_->nudged = false;
      retry = false;
      if (core_->stopping) break;
    }
    lock.Unlock();
    const Revision polled = Poll(&last_counter, &last_check);
    lock.Lock();
    if (polled > core_->observed_head) core_->observed_head = polled;
    const Revision head = core_->observed_head;
    const auto listeners = core_->listeners;  // delivered to without holding mu
    lock.Unlock();
    for (const auto& l : listeners) {
      if (l->next <= head && !CatchUp(*l, head)) retry = true;
    }
    lock.Lock();
  }
}

bool SessionEventHub::CatchUp(SessionListenerState& l, Revision head) {
  while (l.next <= head) {
    {
      // l.core is core_ (Add); named through `l` so the analysis sees l.stopped's guard held.
      MutexLock lock(&l.core->mu);
      if (l.stopped || l.core->stopping) return true;
    }
    if (src_.store->known_unchanged(kSessionsKeyspace, l.next, head)) {
      // This process committed all of [next, head] and none of it changed a session
      // (local_commit_log.h): nothing to deliver, and no hole retention could have made.
      l.next = head + 1;
      l.delivered_through.store(head);
      return true;
    }
    std::vector<Commit> commits;
    HistoryBounds bounds;
    try {
      HistoryQuery q;
      q.from_revision = l.next;
      q.to_revision = head;
      q.keyspace = std::string(kSessionsKeyspace);
      q.limit = src_.batch;
      commits = src_.store->history(q);
      // The sessions keyspace's own bounds (it has its own retention policy): other keyspaces'
      // compaction neither hides a hole here nor raises a false "compacted".
      bounds = src_.store->history_bounds(kSessionsKeyspace);
    } catch (const std::exception& e) {
      src_.log->warn("statestore: session listener cannot read history from r{}: {}; retrying",
                     l.next, e.what());
      return false;
    }
    if (bounds.compacted_through >= l.next) {  // invariant 2: the scan may have a hole
      SessionEvent compacted;
      compacted.kind = SessionEvent::Kind::kCompacted;
      compacted.revision = l.next;
      compacted.compacted_through = bounds.compacted_through;
      Deliver(l, compacted);
      l.next = bounds.compacted_through + 1;
      l.delivered_through.store(bounds.compacted_through);
      continue;
    }
    const Revision scanned_to =
        commits.empty() || commits.size() < src_.batch ? head : commits.back().revision;
    for (const Commit& commit : commits) {
      for (const SessionEvent& event : ToEvents(commit)) Deliver(l, event);
      l.delivered_through.store(commit.revision);  // invariant 1: after all its events
    }
    l.next = scanned_to + 1;
    l.delivered_through.store(scanned_to);
  }
  return true;
}

void SessionEventHub::Deliver(SessionListenerState& l, const SessionEvent& event) {
  {
    // l.core is core_ (Add); named through `l` so the analysis sees l.stopped's guard held.
    MutexLock lock(&l.core->mu);
    if (l.stopped || l.core->stopping) return;  // invariant 3
    l.core->running = &l;
  }
  std::string what;
  try {
    l.callback(event);
  } catch (const std::exception& e) {
    what = e.what();
    if (what.empty()) what = "an exception with an empty message";
  } catch (...) {
    what = "a non-standard exception";
  }
  {
    MutexLock lock(&core_->mu);
    core_->running = nullptr;
    core_->idle.notify_all();
  }
  if (what.empty()) return;
  // A callback that throws on every event must not flood the log: the 1st, 10th, 100th, ...
  const std::uint64_t n = l.failures.fetch_add(1) + 1;
  bool power_of_ten = true;
  for (std::uint64_t x = n; x > 1; x /= 10) {
    if (x % 10 != 0) power_of_ten = false;
  }
  if (power_of_ten) {
    src_.log->warn(
        "statestore: session listener callback threw at r{} ({} failure(s) so far; the event "
        "counts as delivered): {}",
        event.revision, n, what);
  }
}

namespace {

// The principal of a record value from an unredacted history row; empty when it cannot be told.
std::string PrincipalOf(const Change& c, const std::optional<Value>& value) {
  if (c.redacted || !value) return {};
  try {
    return DecodeSessionRecord(*value, "(history)").principal;
  } catch (const Error&) {
    return {};  // a damaged or newer record: the event is still worth delivering
  }
}

}  // namespace

std::vector<SessionEvent> SessionEventHub::ToEvents(const Commit& commit) {
  struct Seen {
    bool before = false;  // present before the commit's first change of it
    bool after = false;   // present after its last change
    std::string principal;
  };
  std::vector<std::string> order;  // ids in the order of their first change
  std::unordered_map<std::string, Seen> seen;
  for (const Change& c : commit.changes) {
    if (c.keyspace != kSessionsKeyspace) continue;
    const std::string_view key = c.key;
    if (key.substr(0, keys::kRecordPrefix.size()) != keys::kRecordPrefix) continue;
    std::string id(key.substr(keys::kRecordPrefix.size()));
    if (id.size() != kSessionIdChars) continue;  // not a record key (invariant 4's ids)
    auto [it, inserted] = seen.try_emplace(id);
    if (inserted) {
      order.push_back(id);
      it->second.before = c.old_value.has_value();
      it->second.principal = PrincipalOf(c, c.old_value);
    }
    it->second.after = c.new_value.has_value();
    if (c.new_value) {
      std::string p = PrincipalOf(c, c.new_value);
      if (!p.empty()) it->second.principal = std::move(p);
    }
  }
  std::vector<std::string> appeared, disappeared;
  for (const auto& id : order) {
    const Seen& s = seen[id];
    if (!s.before && s.after) appeared.push_back(id);
    if (s.before && !s.after) disappeared.push_back(id);
  }
  auto make = [&](SessionEvent::Kind kind, const std::string& id) {
    SessionEvent e;
    e.kind = kind;
    e.revision = commit.revision;
    e.time = commit.time;
    e.origin = commit.origin;
    e.session_id = id;
    e.principal = seen[id].principal;
    return e;
  };
  std::vector<SessionEvent> events;
  if (commit.origin.label == keys::kRotateLabel && appeared.size() == 1 &&
      disappeared.size() == 1) {
    events.push_back(make(SessionEvent::Kind::kRotated, appeared[0]));
    events.back().previous_id = disappeared[0];
    return events;
  }
  const bool sweep = commit.origin.label == keys::kSweepLabel;
  for (const auto& id : order) {
    const Seen& s = seen[id];
    if (s.before && !s.after) {
      events.push_back(
          make(sweep ? SessionEvent::Kind::kExpired : SessionEvent::Kind::kDestroyed, id));
    } else if (!s.before && s.after) {
      events.push_back(make(SessionEvent::Kind::kCreated, id));
    }
  }
  return events;
}

}  // namespace internal

// ---- SessionListener ----------------------------------------------------------------------------

SessionListener& SessionListener::operator=(SessionListener&& other) noexcept {
  if (this != &other) {
    stop();
    state_ = std::move(other.state_);
  }
  return *this;
}

SessionListener::~SessionListener() { stop(); }

void SessionListener::stop() noexcept {
  if (state_) state_->Stop();
}

bool SessionListener::active() const noexcept { return state_ && state_->active.load(); }

Revision SessionListener::delivered_through() const noexcept {
  return state_ ? state_->delivered_through.load() : 0;
}

std::uint64_t SessionListener::callback_failures() const noexcept {
  return state_ ? state_->failures.load() : 0;
}

}  // namespace statestore

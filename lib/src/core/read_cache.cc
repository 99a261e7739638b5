#include "core/read_cache.h"

#include <algorithm>
#include <functional>

#include "core/store_counters.h"

namespace statestore::internal {

namespace {
constexpr std::size_t kShardCount = 64;
}  // namespace

struct alignas(64) ReadCache::Shard {
  struct Slot {
    std::string composite;
    CachedEntry entry;
    // CLOCK reference bit. Atomic because hits set it under the shared lock.
    std::unique_ptr<std::atomic<bool>> referenced = std::make_unique<std::atomic<bool>>(false);
  };
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };

  SharedMutex mu;
  std::uint64_t epoch GUARDED_BY(mu) = 0;
  std::vector<Slot> slots GUARDED_BY(mu);
  std::unordered_map<std::string, std::size_t, Hash, std::equal_to<>> index GUARDED_BY(mu);
  std::size_t hand GUARDED_BY(mu) = 0;

  void ClearIfStale(std::uint64_t current_epoch) REQUIRES(mu) {
    if (epoch == current_epoch) return;
    slots.clear();
    index.clear();
    hand = 0;
    epoch = current_epoch;
  }

  // REQUIRES: epoch current.
  void Upsert(std::string_view composite, const CachedEntry& entry, std::size_t capacity,
              bool only_if_absent) REQUIRES(mu) {
    auto it = index.find(composite);
    if (it != index.end()) {
      if (!only_if_absent) slots[it->second].entry = entry;
      return;
    }
    if (slots.size() < capacity) {
      slots.push_back(Slot{std::string(composite), entry});
      index.emplace(std::string(composite), slots.size() - 1);
      return;
    }
    // CLOCK: skip recently referenced slots (clearing their bit), evict the first cold one.
    for (;;) {
      Slot& victim = slots[hand];
      if (victim.referenced->exchange(false, std::memory_order_relaxed)) {
        hand = (hand + 1) % slots.size();
        continue;
      }
      index.erase(victim.composite);
      victim.composite.assign(composite);
      victim.entry = entry;
      index.emplace(victim.composite, hand);
      hand = (hand + 1) % slots.size();
      return;
    }
  }

  void Erase(std::string_view composite) REQUIRES(mu) {
    auto it = index.find(composite);
    if (it == index.end()) return;
    const std::size_t i = it->second;
    index.erase(it);
    if (i + 1 != slots.size()) {
      slots[i] = std::move(slots.back());
      index[slots[i].composite] = i;
    }
    slots.pop_back();
    if (hand >= slots.size()) hand = 0;
  }
};

ReadCache::ReadCache(std::size_t capacity, ChangeSignal* signal, StoreCounters* counters)
    : enabled_(capacity > 0 && signal != nullptr), signal_(signal), counters_(counters) {
  if (!enabled_) return;
  shard_count_ = capacity < kShardCount ? 1 : kShardCount;
  per_shard_capacity_ = (capacity + shard_count_ - 1) / shard_count_;
  shards_ = std::make_unique<Shard[]>(shard_count_);
  known_.store(signal_->Load(), std::memory_order_release);
}

ReadCache::~ReadCache() = default;

void ReadCache::ComposeKey(std::string_view keyspace, std::string_view key, std::string* out) {
  // Keyspace names cannot contain NUL, so "keyspace\0key" is unambiguous.
  out->assign(keyspace);
  out->push_back('\0');
  out->append(key);
}

ReadCache::Shard& ReadCache::ShardFor(const std::string& composite) {
  return shards_[std::hash<std::string_view>{}(composite) % shard_count_];
}

bool ReadCache::SyncWithShared(std::uint64_t* epoch) {
  std::uint64_t shared = signal_->Load();
  if (shared != known_.load(std::memory_order_acquire)) {
    // A degraded counter changes on every load (shared_generation.h invariant 6): catching up
    // would cost an SQLite read per lookup and still never settle. Read SQLite instead.
    if (!signal_->usable()) return false;
    // Invariant 2: readers never wait; one of them catches up, the others miss meanwhile.
    if (!sync_mu_.TryLock()) return false;
    shared = signal_->Load();
    if (shared != known_.load(std::memory_order_relaxed)) {
      CatchUpLocked(feed_, 0);
      known_.store(shared, std::memory_order_release);
    }
    sync_mu_.Unlock();
  }
  *epoch = epoch_.load(std::memory_order_acquire);
  return true;
}

Revision ReadCache::CatchUpLocked(ChangeFeed* feed, Revision through) {
  const Revision from = coherent_head_.load(std::memory_order_relaxed);
  if (through != 0 && through <= from) return from;
  // Invariant 3: before anything is dropped, so that a fill landing after a drop is refused.
  catchup_seq_.fetch_add(1, std::memory_order_acq_rel);
  thread_local std::vector<std::string> keys;
  keys.clear();
  Revision head = 0;
  const bool told =
      feed != nullptr && feed->ChangedKeys(from, through, kMaxCatchUpKeys, &head, &keys);
  if (told) {
    for (const std::string& composite : keys) Erase(composite);
    Bump(counters_->cache_keys_invalidated, keys.size());
  } else {
    epoch_.fetch_add(1, std::memory_order_acq_rel);
    Bump(counters_->cache_invalidations);
  }
  keys.clear();
  // After a drop-everything the cache is empty, and every fill or publish begun before it is
  // refused (epoch and sequence moved), so it is coherent with any state already committed —
  // `through`, or the snapshot's head — even one below `from` (the server lost commits: see
  // Forget). With neither known (SQLite failed) it stays where it was.
  const Revision target = through != 0 ? through : head;
  if (target > from || (!told && target != 0)) {
    coherent_head_.store(target, std::memory_order_release);
    return target;
  }
  return from;
}

void ReadCache::Forget() {
  if (!enabled_) return;
  MutexLock lock(&sync_mu_);
  catchup_seq_.fetch_add(1, std::memory_order_acq_rel);  // invariant 3, before the drop
  epoch_.fetch_add(1, std::memory_order_acq_rel);
  coherent_head_.store(0, std::memory_order_release);
  Bump(counters_->cache_invalidations);
}

void ReadCache::Erase(const std::string& composite) {
  Shard& shard = ShardFor(composite);
  WriterLock lock(&shard.mu);
  shard.ClearIfStale(epoch_.load(std::memory_order_acquire));
  shard.Erase(composite);
}

namespace {

void CopyOut(const CachedEntry& entry, CachedEntry* out) { *out = entry; }

void CopyOut(const CachedEntry& entry, std::optional<Value>* out) {
  if (entry) {
    *out = entry->value;
  } else {
    out->reset();
  }
}

}  // namespace

bool ReadCache::Lookup(std::string_view keyspace, std::string_view key, CachedEntry* out) {
  return LookupImpl(keyspace, key, out);
}

bool ReadCache::Lookup(std::string_view keyspace, std::string_view key, std::optional<Value>* out) {
  return LookupImpl(keyspace, key, out);
}

// The seqlock of invariant 6, reader side. The entry itself is read under the shard's reader
// lock, so there is no data race to excuse and no fence is needed (ThreadSanitizer does not model
// std::atomic_thread_fence, which this used to rely on). The ordering argument:
//   - publish_seq is an acquire load. If it reads the even value EndPublish stored (a release
//     RMW), every Publish of that window happened before this lookup, so the copy below sees
//     them or something newer.
//   - If the copy below reads an entry a Publish wrote, that Publish's WriterLock release
//     synchronizes with our ReaderLock acquire. The odd increment that opened the window
//     (AfterCommit) is sequenced before that Publish, so it happens before our second load of
//     publishing_, which by read-write coherence cannot return anything older than it: the
//     second load differs from publish_seq and the lookup is a miss.
//   - A reader that learned of the commit some other way (a SQLite read that saw its revision)
//     went through ObserveHead, whose acquire load of coherent_head_ reads AfterCommit's release
//     store (or a later one), which is sequenced after the window was opened: its later
//     publish_seq load returns odd (a miss) or the closed, published state. If it read an older
//     coherent_head_, ObserveHead caught up instead and the old entry is gone.
// So a relaxed second load is enough; the hot path stays two loads of one shared, read-mostly
// line plus the shard's reader lock.
template <typename Out>
bool ReadCache::LookupImpl(std::string_view keyspace, std::string_view key, Out* out) {
  if (!enabled_) return false;
  const std::uint64_t publish_seq = publishing_.load(std::memory_order_acquire);
  if (publish_seq & 1) return false;  // invariant 6: a commit is being published
  thread_local std::string composite;
  ComposeKey(keyspace, key, &composite);
  std::uint64_t epoch = 0;
  if (!SyncWithShared(&epoch)) return false;
  Shard& shard = ShardFor(composite);
  {
    ReaderLock lock(&shard.mu);
    if (shard.epoch == epoch) {
      auto it = shard.index.find(std::string_view(composite));
      if (it == shard.index.end()) return false;
      const Shard::Slot& slot = shard.slots[it->second];
      if (!slot.referenced->load(std::memory_order_relaxed)) {
        slot.referenced->store(true, std::memory_order_relaxed);
      }
      CopyOut(slot.entry, out);
    } else {
      epoch = 0;  // stale shard: clear it below
    }
  }
  if (epoch == 0) {
    WriterLock lock(&shard.mu);
    shard.ClearIfStale(epoch_.load(std::memory_order_acquire));
    return false;
  }
  // Seqlock validation: the copy above must not overlap a publish (see above for why relaxed).
  return publishing_.load(std::memory_order_relaxed) == publish_seq;
}

ReadCache::FillTicket ReadCache::BeginFill() {
  if (!enabled_) return {};
  FillTicket ticket;
  std::uint64_t epoch = 0;
  if (!SyncWithShared(&epoch)) return {};
  // Before the SQLite read: a catch-up that runs during it advances the sequence (invariant 3).
  ticket.catchup_seq = catchup_seq_.load(std::memory_order_acquire);
  ticket.valid = true;
  ticket.epoch = epoch;
  ticket.shared = known_.load(std::memory_order_acquire);
  return ticket;
}

void ReadCache::Fill(const FillTicket& ticket, std::string_view keyspace, std::string_view key,
                     const CachedEntry& entry) {
  if (!enabled_ || !ticket.valid) return;
  std::string composite;
  ComposeKey(keyspace, key, &composite);
  Shard& shard = ShardFor(composite);
  WriterLock lock(&shard.mu);
  // Invariant 3: every check under the shard lock.
  if (epoch_.load(std::memory_order_acquire) != ticket.epoch) return;
  if (catchup_seq_.load(std::memory_order_acquire) != ticket.catchup_seq) return;
  if (signal_->Load() != ticket.shared) return;
  shard.ClearIfStale(ticket.epoch);
  if (entry && entry->expires_at) return;  // invariant 8
  shard.Upsert(composite, entry, per_shard_capacity_, /*only_if_absent=*/true);
}

void ReadCache::BeforeCommit(ChangeFeed& writer_feed, Revision head_before) {
  // Bump even with the cache disabled here: other processes' caches depend on it.
  if (signal_ == nullptr) return;
  MutexLock lock(&sync_mu_);
  // Invariant 4: every commit up to head_before is complete (this transaction holds the write
  // lock), so catching up to it here accounts for every bump before ours.
  if (enabled_ && head_before == kHeadUnknown) {
    epoch_.fetch_add(1, std::memory_order_acq_rel);
    Bump(counters_->cache_invalidations);
  } else if (enabled_ && head_before > coherent_head_.load(std::memory_order_relaxed)) {
    CatchUpLocked(&writer_feed, head_before);
  }
  std::uint64_t before = signal_->Bump();
  pre_value_ = before;
  known_.store(before + 1, std::memory_order_release);
}

void ReadCache::ObserveHead(Revision head, FillTicket* ticket) {
  if (!enabled_ || head <= coherent_head_.load(std::memory_order_acquire)) return;
  MutexLock lock(&sync_mu_);
  if (head <= coherent_head_.load(std::memory_order_relaxed)) return;
  const std::uint64_t seq_before = catchup_seq_.load(std::memory_order_relaxed);
  const std::uint64_t epoch_before = epoch_.load(std::memory_order_relaxed);
  const Revision now = CatchUpLocked(feed_, head);
  // Only this catch-up ran since the ticket (sync_mu_ is held) and the cache is now coherent
  // with exactly the reader's snapshot: its value may go in.
  if (ticket != nullptr && ticket->valid && now == head && ticket->catchup_seq == seq_before) {
    ticket->catchup_seq = seq_before + 1;
    if (ticket->epoch == epoch_before) ticket->epoch = epoch_.load(std::memory_order_relaxed);
  }
}

ReadCache::PublishTicket ReadCache::AfterCommit(bool committed, Revision head) {
  if (signal_ == nullptr) return {};
  // Invariant 6: open the publish window before coherent_head_ can announce this commit (below).
  // Relaxed is enough: a reader that acquires coherent_head_ >= head, or takes a shard lock after
  // a Publish, is ordered after this increment (see LookupImpl).
  if (committed && enabled_) publishing_.fetch_add(1, std::memory_order_relaxed);
  MutexLock lock(&sync_mu_);
  std::uint64_t before = signal_->Bump();
  const bool alone = before == pre_value_ + 1;  // no other transaction began since our pre bump
  PublishTicket ticket;
  ticket.publish = committed && alone;
  if (!committed) {
    // Rare (a failed COMMIT); nothing to publish, and dropping everything is simplest to trust.
    epoch_.fetch_add(1, std::memory_order_acq_rel);
  }
  // Otherwise leave known_ behind: the bumps of whoever began meanwhile are caught up by the
  // next lookup (invariant 2), from our head at the earliest.
  if (alone) known_.store(before + 1, std::memory_order_release);
  // Invariant 4: Publish() publishes or drops every key of this commit inside the window.
  if (committed && head > coherent_head_.load(std::memory_order_relaxed)) {
    coherent_head_.store(head, std::memory_order_release);
  }
  ticket.epoch = epoch_.load(std::memory_order_acquire);
  ticket.catchup_seq = catchup_seq_.load(std::memory_order_acquire);
  return ticket;
}

void ReadCache::EndPublish() {
  // Release: a lookup whose acquire load reads this even value sees every Publish before it.
  if (enabled_) publishing_.fetch_add(1, std::memory_order_release);
}

void ReadCache::Publish(const PublishTicket& ticket, std::string_view keyspace,
                        std::string_view key, const CachedEntry& entry, bool drop_only) {
  if (!enabled_) return;
  std::string composite;
  ComposeKey(keyspace, key, &composite);
  Shard& shard = ShardFor(composite);
  WriterLock lock(&shard.mu);
  shard.ClearIfStale(epoch_.load(std::memory_order_acquire));
  // Invariant 4: publish only the newest value; otherwise the key must not stay cached at all.
  if (!ticket.publish || epoch_.load(std::memory_order_acquire) != ticket.epoch ||
      catchup_seq_.load(std::memory_order_acquire) != ticket.catchup_seq ||
      (entry && entry->expires_at) || drop_only) {  // invariant 8
    shard.Erase(composite);
    return;
  }
  shard.Upsert(composite, entry, per_shard_capacity_, /*only_if_absent=*/false);
}

}  // namespace statestore::internal

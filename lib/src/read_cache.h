// ReadCache — bounded, sharded cache of committed (keyspace, key) -> entry-or-absent.
//
// Design note. The cache answers Store::get without touching SQLite, and must never answer with a
// value that a completed commit (of this process or another) has replaced. Three counters carry
// that guarantee:
//
//   shared   SharedGeneration, in a file mapped by every process. Every writer bumps it twice per
//            SQLite transaction: once *while holding the write lock, before COMMIT* ("pre") and
//            once *after COMMIT, before transact() returns* ("post").
//   known_   this process's belief: the value of `shared` up to which the cache is coherent.
//   epoch_   this process's invalidation epoch. A shard whose `epoch` differs from epoch_ is stale
//            as a whole and is cleared by the next thread that touches it.
//
// Invariants:
//   1. Only committed data enters the cache: writers publish their changes after COMMIT
//      succeeded (never for a rolled-back body or a failed COMMIT); readers fill from SQLite
//      reads made outside any transaction (autocommit), i.e. committed data.
//   2. A lookup first compares `shared` with known_. Any difference means some transaction began
//      committing that this process has not accounted for: epoch_ is advanced (everything cached
//      so far is dropped) and known_ := shared. Because every foreign commit bumps `shared` before
//      it returns (post), a read that starts after a foreign commit returned cannot hit an entry
//      cached before it.
//   3. A fill records (shared, epoch_) before its SQLite read and inserts, under the shard lock,
//      only if both are unchanged and the key is absent. A commit that could have made the read
//      stale bumped `shared` in between (pre is before COMMIT, post after), so the stale fill is
//      refused — or it was inserted before the post bump, which then invalidates it (2).
//   4. This process's writer publishes its committed values only if no other transaction began
//      between its pre bump and its post bump (post returned pre + 1): the write lock was held
//      from pre until COMMIT, and any later transaction bumps (pre) before it can commit, so the
//      published values are the newest. Otherwise it advances epoch_ instead. Published entries
//      carry the epoch read at the post bump; a later invalidation makes them stale (2).
//   5. Monotonic reads. Between a foreign writer's COMMIT and its post bump, one reader's SQLite
//      read can return the new value while another's fill of the old value is still accepted
//      (`shared` has not moved). So every miss read also returns the head revision of its
//      snapshot, and coherent_head_ records the newest head the cache is known to be coherent
//      with. A read whose head is newer advances epoch_ (ObserveHead) before it fills, so a
//      thread that has seen revision N never afterwards hits an entry cached from before N: the
//      older fill carries the old epoch and is refused (3). The writer's AfterCommit advances
//      coherent_head_ to its own revision without a new epoch — but only after it opened the
//      publish window (6), so a reader it thereby spares the flush cannot hit a key of that
//      commit that is not published yet.
//   6. A commit's keys become visible in the cache all at once. The writer publishes only the
//      last value of each key, between AfterCommit(committed=true), which makes publishing_ odd
//      before it advances coherent_head_, and EndPublish, which makes it even again; a lookup
//      that overlaps a publish (odd, or changed while it looked) is a miss and reads SQLite,
//      where the commit is already complete. Readers never wait. The ordering uses only
//      acquire/release on publishing_ and coherent_head_ plus the shard locks, no fences
//      (ThreadSanitizer can check it); the argument is at ReadCache::LookupImpl.
//   7. Shards are cache-line aligned and chosen by key hash, so readers of different keys do not
//      write the same lock word; hits set a per-slot reference bit (CLOCK eviction) only when it
//      is clear, so steady hits do not write shared lines.
//
// Writes that bypass statestore (the sqlite3 shell) do not bump `shared`; such edits are not
// seen by cached reads until the next statestore commit. That is documented in the README.
#ifndef STATESTORE_SRC_READ_CACHE_H_
#define STATESTORE_SRC_READ_CACHE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "mutex.h"
#include "shared_generation.h"
#include "statestore/transaction.h"

namespace statestore::internal {

struct StoreCounters;

// What the cache holds per key: the committed entry, or nullopt for "known absent".
using CachedEntry = std::optional<Entry>;

class ReadCache {
 public:
  // A fill permit taken before reading SQLite (invariant 3).
  struct FillTicket {
    std::uint64_t shared = 0;
    std::uint64_t epoch = 0;
  };
  // Outcome of a publish (invariant 4).
  struct PublishTicket {
    bool publish = false;
    std::uint64_t epoch = 0;
  };

  // `capacity` 0 or a null `generation` disables the cache (every lookup misses). With a
  // generation, commits still bump it even when this process caches nothing, because other
  // processes' caches rely on it.
  ReadCache(std::size_t capacity, SharedGeneration* generation, StoreCounters* counters);
  ReadCache(const ReadCache&) = delete;
  ReadCache& operator=(const ReadCache&) = delete;
  ~ReadCache();

  bool enabled() const { return enabled_; }

  // Reports the head revision of the snapshot a reader just read (invariant 5). If this call
  // advanced the epoch straight from the one in `ticket`, the ticket moves to the new epoch: the
  // reader's snapshot is the newest known, so its fill may go into the freshly emptied cache.
  void ObserveHead(Revision head, FillTicket* ticket);

  // Returns true and sets *out on a hit: the whole entry, or (for Store::get) only its value.
  bool Lookup(std::string_view keyspace, std::string_view key, CachedEntry* out);
  bool Lookup(std::string_view keyspace, std::string_view key, std::optional<Value>* out);
  FillTicket BeginFill();
  void Fill(const FillTicket& ticket, std::string_view keyspace, std::string_view key,
            const CachedEntry& entry);

  // Writer side, called by the single in-process writer in this order around each SQLite
  // transaction: BeforeCommit() while holding the write lock, then COMMIT, then AfterCommit()
  // (also after a failed COMMIT, with committed=false), then Publish() per changed key, then
  // EndPublish().
  void BeforeCommit();
  // `head` is the head revision after the commit. With committed=true it opens the publish window
  // (invariant 6), which EndPublish() must close: every AfterCommit(true, ...) is followed by
  // exactly one EndPublish(), even when the ticket says not to publish.
  PublishTicket AfterCommit(bool committed, Revision head);
  void EndPublish();
  void Publish(const PublishTicket& ticket, std::string_view keyspace, std::string_view key,
               const CachedEntry& entry);

 private:
  struct Shard;

  template <typename Out>
  bool LookupImpl(std::string_view keyspace, std::string_view key, Out* out);
  std::uint64_t SyncWithShared();  // invariant 2; returns the current epoch
  Shard& ShardFor(const std::string& composite);
  static void ComposeKey(std::string_view keyspace, std::string_view key, std::string* out);

  const bool enabled_;
  SharedGeneration* const generation_;
  StoreCounters* const counters_;
  std::size_t per_shard_capacity_ = 0;
  std::unique_ptr<Shard[]> shards_;
  std::size_t shard_count_ = 0;

  Mutex sync_mu_;  // serializes changes of known_/epoch_
  std::atomic<std::uint64_t> known_{0};
  std::atomic<std::uint64_t> epoch_{1};
  std::atomic<Revision> coherent_head_{0};
  std::atomic<std::uint64_t> publishing_{0};          // seqlock, invariant 6
  std::uint64_t pre_value_ GUARDED_BY(sync_mu_) = 0;  // `shared` before the writer's pre bump
};

}  // namespace statestore::internal

#endif  // STATESTORE_SRC_READ_CACHE_H_

// ReadCache — bounded, sharded cache of committed (keyspace, key) -> entry-or-absent.
//
// Design note. The cache answers Store::get without touching SQLite, and must never answer with a
// value that a completed commit (of this process or another) has replaced. It is kept coherent
// key by key: when another process commits, only the keys that commit changed are dropped, found
// in the history tables (ChangeFeed) — so a second process writing unrelated keys does not empty
// this one's cache. Four counters carry the guarantee:
//
//   shared         the engine's ChangeSignal (change_signal.h; SQLite: SharedGeneration, a file
//                  mapped by every process). Every writer bumps it
//                  twice per SQLite transaction: once *while holding the write lock, before
//                  COMMIT* ("pre") and once *after COMMIT, before transact() returns* ("post").
//                  It only says "something may have changed"; which keys, the history says.
//   known_         this process's belief: the value of `shared` it has accounted for.
//   coherent_head_ the revision the cache is coherent with: no cached entry is older than the
//                  state at this revision (every commit up to it was caught up, published or
//                  dropped).
//   catchup_seq_   advanced by every catch-up; fills and publishes taken before one are refused.
//   epoch_         whole-cache invalidation, the fallback: a shard whose `epoch` differs from
//                  epoch_ is stale as a whole and is cleared by the next thread that touches it.
//
// A catch-up (CatchUpLocked) reads, in one SQLite snapshot, the keys changed by revisions
// (coherent_head_, through] and drops them (or, when history cannot tell — compacted since
// coherent_head_, too many keys, an SQLite error — advances epoch_), then sets coherent_head_.
//
// Invariants:
//   1. Only committed data enters the cache: writers publish their changes after COMMIT
//      succeeded (never for a rolled-back body or a failed COMMIT); readers fill from SQLite
//      reads made outside any write transaction, i.e. committed data.
//   2. A lookup first compares `shared` with known_. Any difference means some transaction began
//      committing that this process may not have accounted for: the thread catches up to the head
//      of a fresh snapshot, then known_ := the `shared` it read *before* that snapshot. Every
//      commit whose post bump preceded that load is in the snapshot and its keys are dropped; a
//      commit not yet in it bumps `shared` again (post) and is caught up by a later lookup.
//      Readers never wait: if another thread is catching up, the lookup is a miss.
//   3. A fill records (shared, epoch_, catchup_seq_) before its SQLite read and inserts, under
//      the shard lock, only if all three are unchanged and the key is absent. A commit that could
//      have made the read stale bumped `shared` in between (pre is before COMMIT, post after), so
//      the stale fill is refused — or it was inserted before the post bump, and the catch-up
//      that bump causes drops it (2). A catch-up advances catchup_seq_ before it drops anything,
//      so a fill that lands after the drop (in shard-lock order) sees the new value and is
//      refused; one that lands before is dropped.
//   4. The writer holds the write lock from its pre bump to COMMIT, so every other commit up to
//      the head it began on (head_before) is complete: BeforeCommit catches up to head_before
//      when coherent_head_ is behind, inside the write transaction, and absorbs its own pre bump.
//      After COMMIT it publishes its committed values only if no other transaction began between
//      its pre and post bumps (post returned pre + 1) and no catch-up ran meanwhile: then they
//      are the newest. Otherwise it drops its keys instead. Either way, afterwards no entry of
//      its keys is older than its commit, so coherent_head_ may advance to its head.
//   5. Monotonic reads. Between a foreign writer's COMMIT and its post bump, one reader's SQLite
//      read can return the new value while another's lookup still hits the old one (`shared`
//      has not moved). So every miss read also returns the head revision of its snapshot, and a
//      read whose head is newer than coherent_head_ catches up to that head (ObserveHead) before
//      it fills, so a thread that has seen revision N never afterwards hits an entry cached from
//      before N. The writer's AfterCommit advances coherent_head_ to its own revision — but only
//      after it opened the publish window (6), so a reader it thereby spares the catch-up cannot
//      hit a key of that commit that is not published (or dropped) yet.
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
//   8. An entry with a deadline (Entry::expires_at, a time-to-live) is never cached: whether it
//      is present depends on the reader's clock, which the cache does not keep. Fill leaves it
//      out and Publish drops the key instead. "Known absent" is cached as usual — an expired key
//      stays absent until a commit writes it again, and that commit is caught up like any other.
//
// Writes that bypass statestore (the sqlite3 shell) neither bump `shared` nor, in general, leave
// history: cached reads of such keys do not see them until the process reopens the file. That
// is documented in the README.
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

#include "core/change_signal.h"
#include "statestore/transaction.h"
#include "util/mutex.h"

namespace statestore::internal {

struct StoreCounters;

// What the cache holds per key: the committed entry, or nullopt for "known absent".
using CachedEntry = std::optional<Entry>;

// Where the cache learns which keys a range of revisions changed: the engine's history (SQLite:
// history_change_feed.h). An engine gives the cache two: one that reads on the calling
// thread's own connection (idle or inside a read transaction: SetChangeFeed), and one that reads
// inside the writer's transaction (BeforeCommit; GroupWriter::WriterFeed).
class ChangeFeed {
 public:
  virtual ~ChangeFeed() = default;
  // In one snapshot: sets *head to its head revision and appends "keyspace\0key" to *keys for
  // every change with revision in (after, through] (through 0: up to *head). Returns false —
  // and never throws — when history cannot tell: revisions after `after` were compacted, more
  // than `max_keys` changes, or the engine failed.
  virtual bool ChangedKeys(Revision after, Revision through, std::size_t max_keys, Revision* head,
                           std::vector<std::string>* keys) noexcept = 0;
};

class ReadCache {
 public:
  // A fill permit taken before reading SQLite (invariant 3).
  struct FillTicket {
    bool valid = false;  // false: the cache was not coherent when it was taken; never fill
    std::uint64_t shared = 0;
    std::uint64_t epoch = 0;
    std::uint64_t catchup_seq = 0;
  };
  // Outcome of a publish (invariant 4): publish the values, or drop the keys.
  struct PublishTicket {
    bool publish = false;
    std::uint64_t epoch = 0;
    std::uint64_t catchup_seq = 0;
  };
  // More changed keys than this in one catch-up: drop everything instead (cheaper, and bounds
  // how long a catch-up holds sync_mu_).
  static constexpr std::size_t kMaxCatchUpKeys = 4096;
  static constexpr Revision kHeadUnknown = ~Revision{0};

  // `capacity` 0 or a null `generation` disables the cache (every lookup misses). With a
  // generation, commits still bump it even when this process caches nothing, because other
  // processes' caches rely on it.
  ReadCache(std::size_t capacity, ChangeSignal* signal, StoreCounters* counters);
  ReadCache(const ReadCache&) = delete;
  ReadCache& operator=(const ReadCache&) = delete;
  ~ReadCache();

  bool enabled() const { return enabled_; }
  // The revision the cache is coherent with (coherent_head_ in the design note). A writer that
  // holds the write lock on head H and sees coherent_head() == H after ObserveHead(H) may answer
  // its own reads from the cache: no entry is older than H, and nothing newer can commit
  // (PostgreSQL engine: PgGroupWriter).
  Revision coherent_head() const { return coherent_head_.load(std::memory_order_acquire); }
  // Called once by the owner before the cache is used, with a head revision read after the
  // cache was created (an empty cache is coherent with any state). Null feed (or never
  // called): every foreign commit drops the whole cache.
  void SetChangeFeed(ChangeFeed* feed, Revision head) {
    feed_ = feed;
    coherent_head_.store(head, std::memory_order_release);
  }

  // Drops every entry and forgets which revision the cache is coherent with (coherent_head_ 0:
  // the next catch-up, from revision 0, drops everything again and settles on the head it
  // reads). For an engine whose server may have lost commits this cache saw, so that revision
  // numbers are reused for different commits — PostgreSQL after a lost connection: a crash or a
  // failover with synchronous_commit off, a restored backup. Fills and publishes begun before it
  // are refused (invariant 3).
  void Forget();

  // Reports the head revision of the snapshot a reader just read (invariant 5); catches up to
  // it if the cache is behind. May run an SQLite read on the calling thread's connection (see
  // ChangeFeed). If this call's catch-up was the only one since `ticket` was taken and brought
  // the cache exactly to `head`, the ticket stays valid: the reader's snapshot is the state the
  // cache is now coherent with.
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
  // `writer_feed` reads inside the write transaction; `head_before` is the head revision the
  // transaction began on (invariant 4), or kHeadUnknown (then the whole cache is dropped).
  void BeforeCommit(ChangeFeed& writer_feed, Revision head_before);
  // `head` is the head revision after the commit. With committed=true it opens the publish window
  // (invariant 6), which EndPublish() must close: every AfterCommit(true, ...) is followed by
  // exactly one EndPublish(), even when the ticket says not to publish.
  PublishTicket AfterCommit(bool committed, Revision head);
  void EndPublish();
  // `drop_only`: remove the key instead (PendingWrite::drop_only).
  void Publish(const PublishTicket& ticket, std::string_view keyspace, std::string_view key,
               const CachedEntry& entry, bool drop_only = false);

 private:
  struct Shard;

  template <typename Out>
  bool LookupImpl(std::string_view keyspace, std::string_view key, Out* out);
  // Invariant 2. Returns false when the cache cannot be trusted now (another thread is catching
  // up); else true, with *epoch the current epoch.
  bool SyncWithShared(std::uint64_t* epoch);
  // Drops what revisions (coherent_head_, through] changed (through 0: up to a fresh snapshot's
  // head) and advances coherent_head_. Returns the revision it is now coherent with.
  Revision CatchUpLocked(ChangeFeed* feed, Revision through) REQUIRES(sync_mu_);
  void Erase(const std::string& composite);
  Shard& ShardFor(const std::string& composite);
  static void ComposeKey(std::string_view keyspace, std::string_view key, std::string* out);

  const bool enabled_;
  ChangeSignal* const signal_;
  StoreCounters* const counters_;
  ChangeFeed* feed_ = nullptr;
  std::size_t per_shard_capacity_ = 0;
  std::unique_ptr<Shard[]> shards_;
  std::size_t shard_count_ = 0;

  Mutex sync_mu_;  // serializes changes of known_/epoch_
  std::atomic<std::uint64_t> known_{0};
  std::atomic<std::uint64_t> epoch_{1};
  std::atomic<Revision> coherent_head_{0};
  std::atomic<std::uint64_t> catchup_seq_{0};
  std::atomic<std::uint64_t> publishing_{0};          // seqlock, invariant 6
  std::uint64_t pre_value_ GUARDED_BY(sync_mu_) = 0;  // `shared` before the writer's pre bump
};

}  // namespace statestore::internal

#endif  // STATESTORE_SRC_READ_CACHE_H_

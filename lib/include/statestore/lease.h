// statestore::Lease — a time-to-live shared by keys that live and die together (etcd's leases).
//
// A program grants a lease with a TTL (Transaction::grant_lease), attaches keys to it by writing
// them with PutOptions::lease, and renews the lease while it is alive (keep_alive: the deadline
// becomes "now + the granted TTL" again, for every attached key at once). When the lease expires
// or is revoked, all its keys go in one revision: an expiry is recorded in history as changes of
// kind ChangeKind::kExpiry (commit label "expired"), a revoke as ordinary erases by the revoking
// transaction.
//
// An attached key behaves as a key with a time-to-live whose deadline is the lease's
// (Entry::expires_at, Entry::lease): absent to every read from that instant in every process,
// before any sweep. A later write decides whether it stays attached: a put with the same
// PutOptions::lease or with keep_ttl keeps it; a plain put, put_if_version, expire() or persist()
// detaches it (etcd's put without a lease does the same). Erasing an attached key detaches it
// and leaves the lease and its other keys alone.
//
// Lease ids are positive, assigned in increasing order and never reused in a file, so a program
// holding the id of a lease that expired cannot keep another lease alive by mistake. The id of a
// grant whose body rolled back is not handed out again either — on PostgreSQL by anyone (the
// sequence does not roll back), on SQLite by the same process (the file's sequence rolls back
// with the grant; another process may hand that id out for its next lease).
//
// Keep-alive and grant change no key's value or version and use no revision (like etcd); history
// records the deadline a key had when it was written (Change::expires_at), not later renewals.
#ifndef STATESTORE_LEASE_H_
#define STATESTORE_LEASE_H_

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace statestore {

using LeaseId = std::int64_t;

// A key attached to a lease.
struct LeaseKey {
  std::string keyspace;
  std::string key;

  friend bool operator==(const LeaseKey& a, const LeaseKey& b) {
    return a.keyspace == b.keyspace && a.key == b.key;
  }
};

// A live lease as Transaction::lease / Store::lease report it.
struct Lease {
  LeaseId id = 0;
  // The TTL it was granted with; keep_alive renews the deadline to now + ttl.
  std::chrono::milliseconds ttl{0};
  // When it expires, by the clock of the transaction that granted or last renewed it.
  std::chrono::system_clock::time_point expires_at;
  // Its keys, by keyspace then key (byte order).
  std::vector<LeaseKey> keys;
};

}  // namespace statestore

#endif  // STATESTORE_LEASE_H_

-- 0007_leases: keys that live and die together share a lease (statestore/lease.h). Applied files
-- are never edited: change the schema with a new NNNN_name.sql.

-- A lease: its granted TTL and its deadline (microseconds since the Unix epoch, by the clock of
-- the transaction that granted or renewed it). AUTOINCREMENT: ids are never reused, so the id of
-- a lease that expired can never renew another one.
CREATE TABLE leases (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  ttl_ms INTEGER NOT NULL CHECK (ttl_ms > 0),
  expires_us INTEGER NOT NULL
);
CREATE INDEX leases_by_expiry ON leases (expires_us);

-- entries.lease_id: the lease the key is attached to; NULL = none. Invariant (TransactionImpl
-- invariant 8): an attached key's expires_us equals its lease's, so reads decide by the row alone.
-- No foreign key: the sweep and revoke delete the keys and the lease in one transaction, and
-- foreign_keys stays off the write path.
ALTER TABLE entries ADD COLUMN lease_id INTEGER;
CREATE INDEX entries_by_lease ON entries (lease_id) WHERE lease_id IS NOT NULL;

-- V0005: every key holds the table's shard key. Sharded by user (docs/scaling.md, "After one
-- primary"), a shard can enforce a primary or unique key only if the key holds the column the
-- rows are distributed by: user_id for data_records, owner (the record's user) for data_audit;
-- idempotency_keys' key already starts with its scope. Citus refuses to distribute a table
-- whose keys do not; PostgreSQL's own hash partitioning by user_id asks the same.
-- The id stays the first column, so a lookup by id alone (GET /data/{id}) still probes the key.
-- Each ALTER rebuilds the key's index under an ACCESS EXCLUSIVE lock: on a large table, run it
-- in a maintenance window (the monthly partitions' indexes are rebuilt one by one).

ALTER TABLE data_records DROP CONSTRAINT data_records_pkey;
ALTER TABLE data_records ADD CONSTRAINT data_records_pkey PRIMARY KEY (id, created_at, user_id);

ALTER TABLE data_audit DROP CONSTRAINT data_audit_pkey;
ALTER TABLE data_audit ADD CONSTRAINT data_audit_pkey PRIMARY KEY (id, owner);

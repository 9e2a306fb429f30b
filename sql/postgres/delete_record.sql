-- name: delete_record
-- Deletes a record if it is still at :version and writes the audit row, in one statement.
-- created_at (known from the read before) prunes the scan to the record's partition.
-- returns: one row (how many records went: 0 when it is gone or at another version, else 1)
-- index: primary key (id, created_at, user_id)
-- shards: user_id (the user's shard; its audit row goes with it)
WITH gone AS (
    DELETE FROM data_records
     WHERE id = :id::uuid
       AND user_id = :user_id
       AND created_at = :created_at
       AND version = :version
    RETURNING id, user_id
), audited AS (
    INSERT INTO data_audit (actor, action, record_id, owner, request_id)
    SELECT :actor, 'delete', id, user_id, :request_id FROM gone
)
SELECT count(*) FROM gone

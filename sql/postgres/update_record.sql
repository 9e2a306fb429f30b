-- name: update_record
-- Replaces a record's payload if it is still at :version, counts its version up and writes
-- the audit row, in one statement; the trigger sets updated_at. created_at (known from the
-- read before) prunes the scan to the record's partition.
-- returns: zero rows (the record is gone or at another version) or one (id, user_id, payload, created_at, updated_at, version)
-- index: primary key (id, created_at, user_id)
-- shards: user_id (the user's shard; its audit row goes with it)
WITH changed AS (
    UPDATE data_records
       SET payload = :payload::jsonb, version = version + 1
     WHERE id = :id::uuid
       AND user_id = :user_id
       AND created_at = :created_at
       AND version = :version
    RETURNING id, user_id, payload, created_at, updated_at, version
), audited AS (
    INSERT INTO data_audit (actor, action, record_id, owner, request_id)
    SELECT :actor, 'update', id, user_id, :request_id FROM changed
)
SELECT id::text, user_id, payload::text, created_at, updated_at, version FROM changed

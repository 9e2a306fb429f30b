-- name: insert_record
-- Stores one record and its audit row in one statement (one round trip, one transaction); the
-- id comes from the service, the timestamps from the database clock.
-- returns: one row (created_at, updated_at)
-- index: primary key (id, created_at, user_id)
-- shards: user_id (the user's shard; its audit row goes with it)
WITH stored AS (
    INSERT INTO data_records (id, user_id, payload)
    VALUES (:id::uuid, :user_id, :payload::jsonb)
    RETURNING id, user_id, created_at, updated_at
), audited AS (
    INSERT INTO data_audit (actor, action, record_id, owner, request_id)
    SELECT :actor, 'create', id, user_id, :request_id FROM stored
)
SELECT created_at, updated_at FROM stored

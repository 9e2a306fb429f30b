-- name: insert_records
-- Stores many records and their audit rows in one statement (one round trip): three parallel
-- arrays of equal length. All rows share the transaction's created_at; keyset pages tell them
-- apart by id.
-- returns: one row (created_at)
-- index: primary key (id, created_at)
WITH stored AS (
    INSERT INTO data_records (id, user_id, payload)
    SELECT id, user_id, payload
      FROM unnest(:ids::uuid[], :user_ids::text[], :payloads::jsonb[]) AS r (id, user_id, payload)
    RETURNING id, user_id, created_at
), audited AS (
    INSERT INTO data_audit (actor, action, record_id, owner, request_id)
    SELECT :actor, 'create', id, user_id, :request_id FROM stored
)
SELECT max(created_at) AS created_at FROM stored

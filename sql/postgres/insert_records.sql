-- name: insert_records
-- Stores many records in one statement (one round trip): three parallel arrays of equal length.
-- All rows share the transaction's created_at; keyset pages tell them apart by id.
-- returns: one row (created_at)
-- index: primary key (id, created_at)
WITH stored AS (
    INSERT INTO data_records (id, user_id, payload)
    SELECT id, user_id, payload
      FROM unnest(:ids::uuid[], :user_ids::text[], :payloads::jsonb[]) AS r (id, user_id, payload)
    RETURNING created_at
)
SELECT max(created_at) AS created_at FROM stored

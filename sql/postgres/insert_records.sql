-- name: insert_records
-- Stores many records and their audit rows in one statement (one round trip): parallel arrays
-- of equal length, one element a record (a bulk request repeats its actor and request id;
-- concurrent single creates committed together each bring their own). All rows share the
-- transaction's created_at; keyset pages tell them apart by id.
-- returns: one row a stored record (id, created_at, updated_at)
-- index: primary key (id, created_at, user_id)
-- shards: fan-out: a bulk request's records may belong to several users
WITH stored AS (
    INSERT INTO data_records (id, user_id, payload)
    SELECT id, user_id, payload
      FROM unnest(:ids::uuid[], :user_ids::text[], :payloads::jsonb[]) AS r (id, user_id, payload)
    RETURNING id, user_id, created_at, updated_at
), audited AS (
    INSERT INTO data_audit (actor, action, record_id, owner, request_id)
    SELECT a.actor, 'create', s.id, s.user_id, a.request_id
      FROM stored AS s
      JOIN unnest(:ids::uuid[], :actors::text[], :request_ids::text[]) AS a (id, actor, request_id)
        ON a.id = s.id
)
SELECT id::text, created_at, updated_at FROM stored

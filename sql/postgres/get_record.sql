-- name: get_record
-- One record by id (every partition's primary key index is probed).
-- returns: zero or one row (id, user_id, payload, created_at, updated_at, version)
-- index: primary key (id, created_at)
SELECT id::text, user_id, payload::text, created_at, updated_at, version
  FROM data_records
 WHERE id = :id::uuid

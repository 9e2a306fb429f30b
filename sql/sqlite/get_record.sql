-- name: get_record
-- One record by id.
-- returns: zero or one row (id, user_id, payload, created_at, updated_at, version)
-- index: primary key on id
SELECT id, user_id, payload, created_at, updated_at, version
  FROM data_records
 WHERE id = :id

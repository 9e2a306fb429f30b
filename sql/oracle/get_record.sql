-- name: get_record
-- One record by id (a CLOB payload arrives as text, a native JSON one as OSON).
-- returns: zero or one row (id, user_id, payload, created_at, updated_at, version)
-- index: data_records_pk (id)
SELECT id, user_id, payload, created_at, updated_at, version
  FROM data_records
 WHERE id = :id

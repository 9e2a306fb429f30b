-- name: list_records
-- Cursor (keyset) mode: a user's records after (after_created_at, after_id), newest first,
-- narrowed by date range and JSON_VALUE of the payload's type/status. Absent filters are bound
-- as open bounds and NULLs, so one cursor serves every combination.
-- returns: up to :limit rows (id, user_id, payload, created_at, updated_at, version)
-- index: idx_data_records_user_created (user_id, created_at DESC, id DESC); partitions pruned by date
SELECT id, user_id, payload, created_at, updated_at, version
  FROM data_records
 WHERE user_id = :user_id
   AND created_at >= :created_from
   AND created_at < :created_to
   AND (created_at < :after_created_at OR (created_at = :after_created_at AND id < :after_id))
   AND (:type IS NULL OR JSON_VALUE(payload, '$.type' RETURNING VARCHAR2(100) NULL ON ERROR) = :type)
   AND (:status IS NULL OR JSON_VALUE(payload, '$.status' RETURNING VARCHAR2(100) NULL ON ERROR) = :status)
 ORDER BY created_at DESC, id DESC
 FETCH FIRST :limit ROWS ONLY

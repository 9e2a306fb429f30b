-- name: list_records
-- A user's records newest first, narrowed by date range and the payload's type/status.
-- Absent filters are bound as open bounds (created_from '0000-...', created_to '9999-...',
-- after_* '9999-...'/'') and NULL type/status, so one plan serves every combination.
-- Page mode binds offset; cursor (keyset) mode binds after_created_at/after_id and offset 0.
-- returns: up to :limit rows (id, user_id, payload, created_at, updated_at, version)
-- index: idx_data_records_user_created (user_id, created_at DESC, id DESC)
SELECT id, user_id, payload, created_at, updated_at, version
  FROM data_records
 WHERE user_id = :user_id
   AND created_at >= :created_from
   AND created_at < :created_to
   AND (created_at, id) < (:after_created_at, :after_id)
   AND (:type IS NULL OR payload ->> '$.type' = :type)
   AND (:status IS NULL OR payload ->> '$.status' = :status)
 ORDER BY created_at DESC, id DESC
 LIMIT :limit OFFSET :offset

-- name: list_records
-- A user's records newest first, narrowed by date range and the payload's type/status.
-- Absent filters are bound as open bounds (created_from '0000-...', created_to '9999-...',
-- after_* '9999-...'/'') and NULL type/status, so one plan serves every combination.
-- Page mode binds offset; cursor (keyset) mode binds after_created_at/after_id and offset 0.
-- One more row than the page says whether more follow. Each row carries its record written as
-- the API's JSON (the one Record encodes to: same fields, same order, the payload as stored,
-- timestamps with microseconds unless there are none), joined into the page by the service:
-- SQLite 3.40 has no ORDER BY inside an aggregate to build the array here in order.
-- returns: up to :limit + 1 rows (record, created_at, id)
-- index: idx_data_records_user_created (user_id, created_at DESC, id DESC)
SELECT '{"id":' || json_quote(id)
       || ',"user_id":' || json_quote(user_id)
       || ',"payload":' || payload
       || ',"created_at":"' || replace(created_at, '.000000Z', 'Z')
       || '","updated_at":"' || replace(updated_at, '.000000Z', 'Z')
       || '","version":' || version || '}',
       created_at, id
  FROM data_records
 WHERE user_id = :user_id
   AND created_at >= :created_from
   AND created_at < :created_to
   AND (created_at, id) < (:after_created_at, :after_id)
   AND (:type IS NULL OR payload ->> '$.type' = :type)
   AND (:status IS NULL OR payload ->> '$.status' = :status)
 ORDER BY created_at DESC, id DESC
 LIMIT :limit + 1 OFFSET :offset

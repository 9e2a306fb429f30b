-- name: list_records
-- Cursor (keyset) mode: a user's records after (after_created_at, after_id), newest first,
-- narrowed by date range and JSON_VALUE of the payload's type/status. Absent filters are bound
-- as open bounds and NULLs, so one cursor serves every combination.
-- The service binds one row more than the page: it only says that more follow. Each row
-- carries its record written as the API's JSON, as in list_records_counted.
-- returns: up to :limit rows (record, created_at, id)
-- index: idx_data_records_user_created (user_id, created_at DESC, id DESC); partitions pruned by date
SELECT JSON_OBJECT(
           'id' VALUE id,
           'user_id' VALUE user_id,
           'payload' VALUE payload FORMAT JSON,
           'created_at' VALUE TO_CHAR(created_at, 'YYYY-MM-DD"T"HH24:MI:SS')
               || CASE WHEN TO_CHAR(created_at, 'FF6') = '000000' THEN '' ELSE '.' || TO_CHAR(created_at, 'FF6') END || 'Z',
           'updated_at' VALUE TO_CHAR(updated_at, 'YYYY-MM-DD"T"HH24:MI:SS')
               || CASE WHEN TO_CHAR(updated_at, 'FF6') = '000000' THEN '' ELSE '.' || TO_CHAR(updated_at, 'FF6') END || 'Z',
           'version' VALUE version
           RETURNING CLOB),
       created_at, id
  FROM data_records
 WHERE user_id = :user_id
   AND created_at >= :created_from
   AND created_at < :created_to
   AND (created_at < :after_created_at OR (created_at = :after_created_at AND id < :after_id))
   AND (:type IS NULL OR JSON_VALUE(payload, '$.type' RETURNING VARCHAR2(100) NULL ON ERROR) = :type)
   AND (:status IS NULL OR JSON_VALUE(payload, '$.status' RETURNING VARCHAR2(100) NULL ON ERROR) = :status)
 ORDER BY created_at DESC, id DESC
 FETCH FIRST :limit ROWS ONLY

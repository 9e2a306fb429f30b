-- name: list_records_counted
-- Page mode, the ROWNUM way: rows first_row+1 .. last_row of the user's filtered records,
-- newest first, each carrying the total match count (a window count before paging). The
-- service binds one row more than the page: it only says that more follow.
-- Each row carries its record written as the API's JSON by JSON_OBJECT (the one Record encodes
-- to: same fields, same order, timestamps in UTC with a Z and microseconds unless there are
-- none); the service joins the rows into the page without decoding them.
-- returns: up to last_row - first_row rows (record, created_at, id, total)
-- index: idx_data_records_user_created (user_id, created_at DESC, id DESC)
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
       created_at, id, total
  FROM (
        SELECT ROWNUM AS rn, t.*
          FROM (
                SELECT id, user_id, payload,
                       created_at, updated_at, version, COUNT(*) OVER () AS total
                  FROM data_records
                 WHERE user_id = :user_id
                   AND created_at >= :created_from
                   AND created_at < :created_to
                   AND (:type IS NULL OR JSON_VALUE(payload, '$.type' RETURNING VARCHAR2(100) NULL ON ERROR) = :type)
                   AND (:status IS NULL OR JSON_VALUE(payload, '$.status' RETURNING VARCHAR2(100) NULL ON ERROR) = :status)
                 ORDER BY created_at DESC, id DESC
               ) t
         WHERE ROWNUM <= :last_row
       )
 WHERE rn > :first_row
 ORDER BY rn

-- name: list_records_counted
-- Page mode, the ROWNUM way: rows first_row+1 .. last_row of the user's filtered records,
-- newest first, each carrying the total match count (a window count before paging).
-- returns: up to last_row - first_row rows (id, user_id, payload, created_at, updated_at, version, total)
-- index: idx_data_records_user_created (user_id, created_at DESC, id DESC)
SELECT id, user_id, payload, created_at, updated_at, version, total
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

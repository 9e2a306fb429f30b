-- name: find_records_counted
-- Page mode of find_records, the ROWNUM way: rows first_row+1 .. last_row of the user's
-- records that the payload filters (:match), the search (:search) and list_records' filters
-- keep, in the order asked: relevance (SCORE), a payload field (numbers, then text, by
-- data_query), oldest first, or newest first (the default and every tie's order); each row
-- carries the total match count (a window count before paging).
-- returns: up to last_row - first_row rows (id, user_id, payload, created_at, updated_at, version, total)
-- index: idx_data_records_user_created (user_id, created_at DESC, id DESC); idx_data_records_payload_text for :search
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
                   AND (:match IS NULL OR data_query.matches(payload, :match) = 1)
                   AND (:search IS NULL OR CONTAINS(payload, :search, 1) > 0)
                 ORDER BY CASE WHEN :by_relevance = 1 THEN SCORE(1) END DESC NULLS LAST,
                          CASE WHEN :descending = 1 THEN data_query.number_at(payload, :sort_field) END DESC NULLS LAST,
                          CASE WHEN :descending = 1 THEN data_query.text_at(payload, :sort_field) END DESC NULLS LAST,
                          CASE WHEN :descending = 0 THEN data_query.number_at(payload, :sort_field) END ASC NULLS LAST,
                          CASE WHEN :descending = 0 THEN data_query.text_at(payload, :sort_field) END ASC NULLS LAST,
                          CASE WHEN :oldest_first = 1 THEN created_at END ASC,
                          CASE WHEN :oldest_first = 1 THEN id END ASC,
                          created_at DESC, id DESC
               ) t
         WHERE ROWNUM <= :last_row
       )
 WHERE rn > :first_row

-- name: count_records
-- How many of a user's records match the filters (page mode's total past the last page).
-- returns: one row (total)
-- index: idx_data_records_user_created (user_id, created_at DESC, id DESC)
SELECT COUNT(*) AS total
  FROM data_records
 WHERE user_id = :user_id
   AND created_at >= :created_from
   AND created_at < :created_to
   AND (:type IS NULL OR JSON_VALUE(payload, '$.type' RETURNING VARCHAR2(100) NULL ON ERROR) = :type)
   AND (:status IS NULL OR JSON_VALUE(payload, '$.status' RETURNING VARCHAR2(100) NULL ON ERROR) = :status)

-- name: count_found_records
-- How many of a user's records match find_records' filters (page mode's total past the end).
-- returns: one row (total)
-- index: as find_records
SELECT COUNT(*) AS total
  FROM data_records
 WHERE user_id = :user_id
   AND created_at >= :created_from
   AND created_at < :created_to
   AND (:type IS NULL OR JSON_VALUE(payload, '$.type' RETURNING VARCHAR2(100) NULL ON ERROR) = :type)
   AND (:status IS NULL OR JSON_VALUE(payload, '$.status' RETURNING VARCHAR2(100) NULL ON ERROR) = :status)
   AND (:match IS NULL OR data_query.matches(payload, :match) = 1)
   AND (:search IS NULL OR CONTAINS(payload, :search) > 0)

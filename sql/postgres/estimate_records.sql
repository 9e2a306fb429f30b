-- name: estimate_records
-- count=estimated: the planner's row estimate for the filtered query, from the table's
-- statistics (ANALYZE, autovacuum), planned with the bound values; nothing is counted.
-- returns: one row (the plan as JSON text: [0].Plan."Plan Rows" is the estimate)
-- index: none read (planning only)
-- shards: user_id (the user's shard)
EXPLAIN (FORMAT JSON)
SELECT 1
  FROM data_records
 WHERE user_id = :user_id
   AND created_at >= :created_from
   AND created_at < :created_to
   AND (:type::text IS NULL OR payload ->> 'type' = :type)
   AND (:status::text IS NULL OR payload ->> 'status' = :status)

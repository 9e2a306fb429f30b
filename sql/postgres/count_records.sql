-- name: count_records
-- How many of a user's records match the filters of list_records (page mode's total).
-- returns: one row (total)
-- index: idx_data_records_user_created (user_id, created_at DESC, id DESC)
-- shards: user_id (the user's shard)
SELECT count(*) AS total
  FROM data_records
 WHERE user_id = :user_id
   AND created_at >= :created_from
   AND created_at < :created_to
   AND (:type::text IS NULL OR payload ->> 'type' = :type)
   AND (:status::text IS NULL OR payload ->> 'status' = :status)

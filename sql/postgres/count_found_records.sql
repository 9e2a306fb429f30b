-- name: count_found_records
-- How many of a user's records match find_records' filters (page mode's total past the end).
-- returns: one row (total)
-- index: as find_records
-- shards: user_id (the user's shard)
SELECT count(*) AS total
  FROM data_records
 WHERE user_id = :user_id
   AND (:created_from::timestamptz IS NULL OR created_at >= :created_from)
   AND (:created_to::timestamptz IS NULL OR created_at < :created_to)
   AND (:type::text IS NULL OR payload ->> 'type' = :type)
   AND (:status::text IS NULL OR payload ->> 'status' = :status)
   AND (:match::jsonpath IS NULL OR payload @@ :match::jsonpath)
   AND (:search::text IS NULL
        OR jsonb_to_tsvector('simple'::regconfig, payload, '["string", "numeric"]'::jsonb)
           @@ websearch_to_tsquery('simple'::regconfig, :search::text))

-- name: list_records_counted
-- Page mode of list_records in one round trip: the same rows, each carrying how many match the
-- filters in all (a window count, computed before LIMIT/OFFSET). Cursor mode uses list_records,
-- which counts nothing, so deep keyset pages stay as cheap as the first.
-- returns: up to :limit rows (id, user_id, payload, created_at, updated_at, version, total); none past the end
-- index: idx_data_records_user_created (user_id, created_at DESC, id DESC)
-- shards: user_id (the user's shard)
SELECT id::text, user_id, payload::text, created_at, updated_at, version, count(*) OVER () AS total
  FROM data_records
 WHERE user_id = :user_id
   AND created_at >= :created_from
   AND created_at < :created_to
   AND (:type::text IS NULL OR payload ->> 'type' = :type)
   AND (:status::text IS NULL OR payload ->> 'status' = :status)
 ORDER BY created_at DESC, data_records.id DESC
 LIMIT :limit OFFSET :offset

-- name: export_records
-- Every record of a user that the filters match, newest first, for GET /data/export: read
-- through a server-side cursor (DECLARE ... FETCH n, in a read-only transaction), a batch at
-- a time as the client takes them.
-- returns: any number of rows (id, user_id, payload, created_at, updated_at, version)
-- index: idx_data_records_user_created (user_id, created_at DESC, id DESC); partitions pruned by date
-- shards: user_id (the user's shard)
SELECT id::text, user_id, payload::text, created_at, updated_at, version
  FROM data_records
 WHERE user_id = :user_id
   AND created_at >= :created_from
   AND created_at < :created_to
   AND (:type::text IS NULL OR payload ->> 'type' = :type)
   AND (:status::text IS NULL OR payload ->> 'status' = :status)
 ORDER BY created_at DESC, data_records.id DESC

-- name: list_records
-- A user's records newest first, narrowed by date range and the payload's type/status.
-- Absent filters are bound as open bounds (created_from 0001-01-01, created_to and
-- after_created_at 9999-12-31) and NULL type/status, so one prepared plan serves every
-- combination; partitions outside the range are pruned at execution.
-- ORDER BY names data_records.id: a bare `id` is the output column id::text, which no index
-- holds: every page would be sorted again, and postgres_fdw could not hand the order to a shard.
-- Page mode binds offset; cursor (keyset) mode binds after_created_at/after_id and offset 0.
-- returns: up to :limit rows (id, user_id, payload, created_at, updated_at, version)
-- index: idx_data_records_user_created (user_id, created_at DESC, id DESC)
-- shards: user_id (the user's shard)
SELECT id::text, user_id, payload::text, created_at, updated_at, version
  FROM data_records
 WHERE user_id = :user_id
   AND created_at >= :created_from
   AND created_at < :created_to
   AND (created_at, id) < (:after_created_at, :after_id::uuid)
   AND (:type::text IS NULL OR payload ->> 'type' = :type)
   AND (:status::text IS NULL OR payload ->> 'status' = :status)
 ORDER BY created_at DESC, data_records.id DESC
 LIMIT :limit OFFSET :offset

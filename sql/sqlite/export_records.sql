-- name: export_records
-- Every record of a user that the filters match, newest first, for GET /data/export: read
-- through one cursor, a batch (fetchmany) at a time as the client takes them.
-- returns: any number of rows (id, user_id, payload, created_at, updated_at, version)
-- index: idx_data_records_user_created (user_id, created_at DESC, id DESC)
SELECT id, user_id, payload, created_at, updated_at, version
  FROM data_records
 WHERE user_id = :user_id
   AND created_at >= :created_from
   AND created_at < :created_to
   AND (:type IS NULL OR payload ->> '$.type' = :type)
   AND (:status IS NULL OR payload ->> '$.status' = :status)
 ORDER BY created_at DESC, id DESC

-- name: export_found_records
-- Every record of a user that find_records' filters match, newest first, for GET /data/export
-- with payload.<field> or q: read through one cursor, a batch at a time, as export_records is.
-- returns: any number of rows (id, user_id, payload, created_at, updated_at, version)
-- index: as find_records
SELECT id, user_id, payload, created_at, updated_at, version
  FROM data_records
 WHERE user_id = :user_id
   AND created_at >= :created_from
   AND created_at < :created_to
   AND (:type IS NULL OR JSON_VALUE(payload, '$.type' RETURNING VARCHAR2(100) NULL ON ERROR) = :type)
   AND (:status IS NULL OR JSON_VALUE(payload, '$.status' RETURNING VARCHAR2(100) NULL ON ERROR) = :status)
   AND (:match IS NULL OR data_query.matches(payload, :match) = 1)
   AND (:search IS NULL OR CONTAINS(payload, :search) > 0)
 ORDER BY created_at DESC, id DESC

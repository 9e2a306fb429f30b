-- name: export_found_records
-- Every record of a user that find_records' filters match, newest first, for GET /data/export
-- with payload.<field> or q: read through a server-side cursor as export_records is.
-- returns: any number of rows (id, user_id, payload, created_at, updated_at, version)
-- index: as find_records
-- shards: user_id (the user's shard)
SELECT id::text, user_id, payload::text, created_at, updated_at, version
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
 ORDER BY created_at DESC, data_records.id DESC

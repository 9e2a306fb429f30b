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
   AND (:type IS NULL OR payload ->> '$.type' = :type)
   AND (:status IS NULL OR payload ->> '$.status' = :status)
   AND (:match IS NULL OR NOT EXISTS (
        SELECT 1
          FROM json_each(:match) AS f
         WHERE CASE f.value ->> '$.op'
                 WHEN 'exists' THEN (json_type(payload, f.value ->> '$.path') IS NOT NULL) <> (f.value ->> '$.present')
                 ELSE NOT EXISTS (
                      SELECT 1
                        FROM json_each(f.value, '$.values') AS v
                       WHERE json_type(payload, f.value ->> '$.path') IN (SELECT value FROM json_each(v.value, '$.types'))
                         AND CASE f.value ->> '$.op'
                               WHEN 'gt' THEN json_extract(payload, f.value ->> '$.path') > v.value ->> '$.value'
                               WHEN 'lt' THEN json_extract(payload, f.value ->> '$.path') < v.value ->> '$.value'
                               ELSE json_extract(payload, f.value ->> '$.path') IS v.value ->> '$.value'
                             END)
               END))
   AND (:search IS NULL OR id IN (
        SELECT s.id
          FROM data_records_text AS t
          JOIN data_records_search AS s ON s.docid = t.rowid
         WHERE data_records_text MATCH :search))
 ORDER BY created_at DESC, id DESC

-- name: count_found_records
-- How many of a user's records match find_records' filters (page mode's total past the end).
-- returns: one row (total)
-- index: as find_records
SELECT count(*) AS total
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

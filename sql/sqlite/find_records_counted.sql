-- name: find_records_counted
-- A user's records narrowed by any payload field (:match, a JSON array of filters built from
-- payload.<field> parameters: {path, op, present, values: [{types, value}]}, or NULL), by
-- full-text search (:search, an FTS5 query of quoted terms, or NULL) and by list_records' own
-- filters, in the order the client asks: by relevance (bm25), by a payload field
-- (:sort_field, a name bound as a value: its numbers in numeric order, then its strings in
-- byte order, then records without either), oldest first, or newest first (the default and
-- every tie's order). A filter compares the JSON type and the value: 1 is not true, nor "1".
-- Page mode: each row carries how many match in all (a window count, before LIMIT/OFFSET).
-- returns: up to :limit rows (id, user_id, payload, created_at, updated_at, version, total); none past the end
-- index: idx_data_records_user_created (user_id, created_at DESC, id DESC); data_records_text (FTS5) for :search
SELECT id, user_id, payload, created_at, updated_at, version, count(*) OVER () AS total
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
 ORDER BY CASE WHEN :by_relevance THEN (
               SELECT bm25(data_records_text)
                 FROM data_records_text
                WHERE data_records_text MATCH :search
                  AND rowid = (SELECT docid FROM data_records_search WHERE data_records_search.id = data_records.id)) END ASC,
          CASE WHEN :descending AND json_type(payload, '$.' || :sort_field) IN ('integer', 'real')
               THEN json_extract(payload, '$.' || :sort_field) END DESC NULLS LAST,
          CASE WHEN :descending AND json_type(payload, '$.' || :sort_field) = 'text'
               THEN json_extract(payload, '$.' || :sort_field) END DESC NULLS LAST,
          CASE WHEN NOT :descending AND json_type(payload, '$.' || :sort_field) IN ('integer', 'real')
               THEN json_extract(payload, '$.' || :sort_field) END ASC NULLS LAST,
          CASE WHEN NOT :descending AND json_type(payload, '$.' || :sort_field) = 'text'
               THEN json_extract(payload, '$.' || :sort_field) END ASC NULLS LAST,
          CASE WHEN :oldest_first THEN created_at END ASC,
          CASE WHEN :oldest_first THEN id END ASC,
          created_at DESC, id DESC
 LIMIT :limit OFFSET :offset

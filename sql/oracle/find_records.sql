-- name: find_records
-- Cursor mode of a list narrowed by any payload field (:match, a JSON document of filters from
-- payload.<field> parameters, read by data_query.matches; or NULL), by full-text search
-- (:search, an Oracle Text query of {escaped} terms joined by AND; or NULL) and by
-- list_records' own filters; newest first. Ordered as asked in page mode
-- (find_records_counted); here the binds of the order are taken and the order is the keyset's.
-- returns: up to :limit rows (id, user_id, payload, created_at, updated_at, version)
-- index: idx_data_records_user_created (user_id, created_at DESC, id DESC); idx_data_records_payload_text for :search
SELECT id, user_id, payload, created_at, updated_at, version
  FROM data_records
 WHERE user_id = :user_id
   AND created_at >= :created_from
   AND created_at < :created_to
   AND (created_at < :after_created_at OR (created_at = :after_created_at AND id < :after_id))
   AND (:type IS NULL OR JSON_VALUE(payload, '$.type' RETURNING VARCHAR2(100) NULL ON ERROR) = :type)
   AND (:status IS NULL OR JSON_VALUE(payload, '$.status' RETURNING VARCHAR2(100) NULL ON ERROR) = :status)
   AND (:match IS NULL OR data_query.matches(payload, :match) = 1)
   AND (:search IS NULL OR CONTAINS(payload, :search, 1) > 0)
 ORDER BY CASE WHEN :by_relevance = 1 THEN SCORE(1) END DESC NULLS LAST,
          CASE WHEN :descending = 1 THEN data_query.number_at(payload, :sort_field) END DESC NULLS LAST,
          CASE WHEN :descending = 1 THEN data_query.text_at(payload, :sort_field) END DESC NULLS LAST,
          CASE WHEN :descending = 0 THEN data_query.number_at(payload, :sort_field) END ASC NULLS LAST,
          CASE WHEN :descending = 0 THEN data_query.text_at(payload, :sort_field) END ASC NULLS LAST,
          CASE WHEN :oldest_first = 1 THEN created_at END ASC,
          CASE WHEN :oldest_first = 1 THEN id END ASC,
          created_at DESC, id DESC
 OFFSET :offset ROWS FETCH NEXT :limit ROWS ONLY

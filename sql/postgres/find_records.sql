-- name: find_records
-- A user's records narrowed by any payload field (:match, one jsonpath predicate built from
-- payload.<field> parameters, or NULL), by full-text search (:search, websearch_to_tsquery
-- text, or NULL) and by list_records' own filters, in the order the client asks: by relevance
-- to the search, by a payload field (:sort_field, a key bound as a value: its numbers in
-- numeric order, then its strings in byte order, then records without either), oldest first,
-- or newest first (the default and every tie's order). Cursor mode (after_*) is newest first only.
-- Each NULL filter (an absent date bound too: an open bound bound as a far date would make the
-- planner probe the index's ends, slow past many dead rows) folds away when planned with the
-- bound values, so a filter's index is used
-- when it is given (a generic plan would read the user's rows instead: still correct).
-- returns: up to :limit rows (id, user_id, payload, created_at, updated_at, version)
-- index: idx_data_records_payload (payload jsonb_path_ops) for :match's equalities;
--        idx_data_records_payload_text for :search; idx_data_records_user_created otherwise
-- shards: user_id (the user's shard)
SELECT id::text, user_id, payload::text, created_at, updated_at, version
  FROM data_records
 WHERE user_id = :user_id
   AND (:created_from::timestamptz IS NULL OR created_at >= :created_from)
   AND (:created_to::timestamptz IS NULL OR created_at < :created_to)
   AND (:after_created_at::timestamptz IS NULL OR (created_at, id) < (:after_created_at, :after_id::uuid))
   AND (:type::text IS NULL OR payload ->> 'type' = :type)
   AND (:status::text IS NULL OR payload ->> 'status' = :status)
   AND (:match::jsonpath IS NULL OR payload @@ :match::jsonpath)
   AND (:search::text IS NULL
        OR jsonb_to_tsvector('simple'::regconfig, payload, '["string", "numeric"]'::jsonb)
           @@ websearch_to_tsquery('simple'::regconfig, :search::text))
 ORDER BY CASE WHEN :by_relevance::boolean THEN
               ts_rank(jsonb_to_tsvector('simple'::regconfig, payload, '["string", "numeric"]'::jsonb),
                       websearch_to_tsquery('simple'::regconfig, :search::text)) END DESC NULLS LAST,
          CASE WHEN :descending::boolean AND jsonb_typeof(payload -> :sort_field::text) = 'number'
               THEN (payload ->> :sort_field::text)::numeric END DESC NULLS LAST,
          CASE WHEN :descending::boolean AND jsonb_typeof(payload -> :sort_field::text) = 'string'
               THEN payload ->> :sort_field::text END COLLATE "C" DESC NULLS LAST,
          CASE WHEN NOT :descending::boolean AND jsonb_typeof(payload -> :sort_field::text) = 'number'
               THEN (payload ->> :sort_field::text)::numeric END ASC NULLS LAST,
          CASE WHEN NOT :descending::boolean AND jsonb_typeof(payload -> :sort_field::text) = 'string'
               THEN payload ->> :sort_field::text END COLLATE "C" ASC NULLS LAST,
          CASE WHEN :oldest_first::boolean THEN created_at END ASC,
          CASE WHEN :oldest_first::boolean THEN data_records.id END ASC,
          created_at DESC, data_records.id DESC
 LIMIT :limit OFFSET :offset

-- name: list_records_counted
-- Page mode of list_records in one round trip, the page and its count in one row: the same
-- records, each counted among all that match the filters (a window count, computed before
-- LIMIT/OFFSET). Cursor mode uses list_records, which counts nothing, so deep keyset pages
-- stay as cheap as the first.
-- returns: one row (items, has_more, next_created_at, next_id, total); total is NULL past the end
-- index: idx_data_records_user_created (user_id, created_at DESC, id DESC)
SELECT '[' || coalesce(string_agg(
           '{"id":"' || id::text
           || '","user_id":' || to_json(user_id)::text
           || ',"payload":' || payload::text
           || ',"created_at":"' || to_char(created_at AT TIME ZONE 'UTC', CASE WHEN date_trunc('second', created_at) = created_at
                                   THEN 'YYYY-MM-DD"T"HH24:MI:SS"Z"' ELSE 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"' END)
           || '","updated_at":"' || to_char(updated_at AT TIME ZONE 'UTC', CASE WHEN date_trunc('second', updated_at) = updated_at
                                   THEN 'YYYY-MM-DD"T"HH24:MI:SS"Z"' ELSE 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"' END)
           || '","version":' || version || '}',
           ',' ORDER BY n) FILTER (WHERE n <= :limit), '') || ']' AS items,
       count(*) > :limit AS has_more,
       min(created_at) FILTER (WHERE n = :limit) AS next_created_at,
       min(id::text) FILTER (WHERE n = :limit) AS next_id,
       max(total) AS total
  FROM (
        SELECT id, user_id, payload, created_at, updated_at, version, total,
               row_number() OVER (ORDER BY created_at DESC, id DESC) AS n
          FROM (
                SELECT id, user_id, payload, created_at, updated_at, version, count(*) OVER () AS total
                  FROM data_records
                 WHERE user_id = :user_id
                   AND created_at >= :created_from
                   AND created_at < :created_to
                   AND (:type::text IS NULL OR payload ->> 'type' = :type)
                   AND (:status::text IS NULL OR payload ->> 'status' = :status)
                 ORDER BY created_at DESC, id DESC
                 LIMIT :limit + 1 OFFSET :offset
               ) AS selected
       ) AS page

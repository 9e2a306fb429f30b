-- name: list_records
-- A user's records newest first, narrowed by date range and the payload's type/status, as one
-- row: the page written as the API's JSON array, whether more follow, and where they start.
-- Absent filters are bound as open bounds (created_from 0001-01-01, created_to and
-- after_created_at 9999-12-31) and NULL type/status, so one prepared plan serves every
-- combination; partitions outside the range are pruned at execution.
-- Page mode binds offset; cursor (keyset) mode binds after_created_at/after_id and offset 0.
-- Each record's JSON is the one Record encodes to: the same fields in the same order, the
-- payload as stored, timestamps in UTC with a Z and microseconds unless there are none.
-- returns: one row (items, has_more, next_created_at, next_id)
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
       min(id::text) FILTER (WHERE n = :limit) AS next_id
  FROM (
        SELECT id, user_id, payload, created_at, updated_at, version,
               row_number() OVER (ORDER BY created_at DESC, id DESC) AS n
          FROM (
                SELECT id, user_id, payload, created_at, updated_at, version
                  FROM data_records
                 WHERE user_id = :user_id
                   AND created_at >= :created_from
                   AND created_at < :created_to
                   AND (created_at, id) < (:after_created_at, :after_id::uuid)
                   AND (:type::text IS NULL OR payload ->> 'type' = :type)
                   AND (:status::text IS NULL OR payload ->> 'status' = :status)
                 ORDER BY created_at DESC, id DESC
                 LIMIT :limit + 1 OFFSET :offset
               ) AS selected
       ) AS page

-- name: list_records_together
-- Page mode of list_records_counted for many pages in one statement: the pages that arrive
-- together (reads.py gathers those of one turn of the event loop), each of its own user, date
-- range, type, status, limit and offset, numbered by its place in the arrays (n). Each page is
-- list_records_counted's own lookup in a LATERAL subquery: the user's index in order, its rows
-- carrying its own window count. One round trip for all of them.
-- returns: for each page, up to its limit rows (id, user_id, payload, created_at, updated_at, version, total, n), by n then the page's order; none for a page past its end
-- index: idx_data_records_user_created (user_id, created_at DESC, id DESC), once for each page
-- shards: fan-out: the pages of several users; each user's page reads its own shard
SELECT r.id::text, r.user_id, r.payload::text, r.created_at, r.updated_at, r.version, r.total, wanted.n
  FROM unnest(:user_ids::text[], :created_from::timestamptz[], :created_to::timestamptz[],
              :types::text[], :statuses::text[], :limits::int[], :offsets::int[])
           WITH ORDINALITY AS wanted (user_id, created_from, created_to, type, status, row_limit, row_offset, n)
 CROSS JOIN LATERAL (
       SELECT id, user_id, payload, created_at, updated_at, version, count(*) OVER () AS total
         FROM data_records
        WHERE user_id = wanted.user_id
          AND created_at >= wanted.created_from
          AND created_at < wanted.created_to
          AND (wanted.type IS NULL OR payload ->> 'type' = wanted.type)
          AND (wanted.status IS NULL OR payload ->> 'status' = wanted.status)
        ORDER BY created_at DESC, data_records.id DESC
        LIMIT wanted.row_limit OFFSET wanted.row_offset
       ) AS r
 ORDER BY wanted.n, r.created_at DESC, r.id DESC

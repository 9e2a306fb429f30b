-- name: large_users
-- The users holding at least :rows rows of one partition of :records, as the planner's own
-- statistics know them: each partition's most common user_id values and their shares, kept by
-- ANALYZE and autovacuum. Their list pages are planned with their values each time
-- (app/adapters/db/postgres/plans.py). A prepared statement's generic plan is made for a user of
-- average size: on a table whose records sit in few partitions it reads every row of a large
-- user and sorts them (a page of 20 from a user of 50,000 records: 140 ms, against 1 ms planned
-- with the user's values).
-- returns: one row per user (user_id)
-- index: none (reads the catalog's statistics)
-- shards: none (the server's own statistics, no table's rows)
SELECT DISTINCT common.user_id
  FROM pg_partition_tree(:records::regclass) AS tree
  JOIN pg_class AS part ON part.oid = tree.relid
  JOIN pg_namespace AS ns ON ns.oid = part.relnamespace
  JOIN pg_stats AS stats
    ON stats.schemaname = ns.nspname AND stats.tablename = part.relname
   AND stats.attname = 'user_id' AND NOT stats.inherited
 CROSS JOIN LATERAL unnest(stats.most_common_vals::text::text[], stats.most_common_freqs)
       AS common(user_id, share)
 WHERE tree.isleaf
   AND common.share * part.reltuples >= :rows

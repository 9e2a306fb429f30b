-- name: ping
-- Readiness: the database answers and the schema is in place (migrations applied).
-- returns: zero or one row
-- index: none (reads at most one row)
-- shards: fan-out: at most one row, from any shard
SELECT 1 FROM data_records LIMIT 1

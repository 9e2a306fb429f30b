-- name: maintain_partitions
-- Makes sure monthly partitions exist from last month to a year ahead; run by every
-- `python -m app migrate` (and safe to run from a monthly CronJob).
-- returns: one row (partitions_created)
-- index: none
-- shards: fan-out: DDL on every shard
SELECT data_records_add_partitions((now() - interval '1 month')::date, 14) AS partitions_created

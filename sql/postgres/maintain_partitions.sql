-- name: maintain_partitions
-- Makes sure monthly partitions exist from last month to two months ahead, and drops the empty
-- ones further ahead (a list page without a date range looks into every partition: V0008).
-- Run by every `python -m app migrate`, and weekly by the chart's maintenance CronJob; run it
-- at least monthly elsewhere: rows of a month with no partition go to data_records_default.
-- returns: one row (partitions_created, partitions_dropped)
-- index: none
-- shards: fan-out: DDL on every shard
SELECT data_records_add_partitions((now() - interval '1 month')::date, 4) AS partitions_created,
       data_records_drop_empty_partitions((now() + interval '3 months')::date) AS partitions_dropped

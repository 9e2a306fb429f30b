-- name: maintain_partitions
-- Interval partitioning creates each month's partition on its first row: nothing to create.
-- returns: one row (partitions_created, always 0)
-- index: none
SELECT 0 AS partitions_created FROM dual

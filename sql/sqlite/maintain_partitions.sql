-- name: maintain_partitions
-- SQLite keeps one unpartitioned table: there is nothing to maintain.
-- returns: one row (partitions_created, always 0)
-- index: none
SELECT 0 AS partitions_created

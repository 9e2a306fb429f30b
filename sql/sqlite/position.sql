-- name: position
-- SQLite has one file and no replicas: every reader sees every committed write, so the
-- position is always 0 (read-your-writes holds without one).
-- returns: one row, one integer
-- index: none (reads no table)
SELECT 0

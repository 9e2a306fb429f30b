-- name: history
-- SQLite cannot tell a file restored from a backup from the one it replaced: no history, and
-- the caches of list pages are this process's own (a restore is a restart).
-- returns: one row, one null
-- index: none (reads no table)
SELECT NULL

-- name: history
-- Which history of the database this is: its DBID and the SCN of its incarnation's RESETLOGS
-- (a new incarnation after every point-in-time recovery opened with RESETLOGS, and after a
-- flashback). The caches of list pages belong to one history (app/services/history.py).
-- Needs SELECT on V$DATABASE (SELECT_CATALOG_ROLE or a direct grant), as position does.
-- returns: one row, one text
-- index: none (reads no table)
SELECT TO_CHAR(dbid) || ':' || TO_CHAR(resetlogs_change#) FROM v$database

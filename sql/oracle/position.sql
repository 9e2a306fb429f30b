-- name: position
-- The database's system change number: on the primary the current SCN (every write committed
-- before this call lies at or before it), on an Active Data Guard standby the SCN applied so
-- far (every change up to it is visible there). Read-your-writes on replicas compares the two.
-- Needs SELECT on V$DATABASE (SELECT_CATALOG_ROLE or a direct grant).
-- returns: one row, one number
-- index: none (reads no table)
SELECT current_scn FROM v$database

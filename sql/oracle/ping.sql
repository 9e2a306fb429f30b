-- name: ping
-- Readiness: the database answers and the schema is in place (migrations applied).
-- returns: zero or one row
-- index: none (reads at most one row)
SELECT 1 FROM data_records FETCH FIRST 1 ROWS ONLY

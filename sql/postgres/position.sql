-- name: position
-- Where this server is in the write-ahead log, in bytes: a primary's insert position (every
-- write acknowledged before this call lies at or before it), a standby's replay position
-- (every change up to it is visible there). Read-your-writes on replicas compares the two.
-- returns: one row, one bigint
-- index: none (reads no table)
-- shards: none (the server, no table)
SELECT (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_insert_lsn() END
        - '0/0'::pg_lsn)::bigint

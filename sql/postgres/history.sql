-- name: history
-- Which history of the database this is: the cluster's system identifier (new with every
-- initdb) and the timeline its server writes on (a new one after every restore from a backup
-- and every promotion; read from the current WAL file's name, which changes at once, where the
-- control file's checkpoint would lag until the next checkpoint). The caches of list pages
-- belong to one history: when it changes, the service stops answering pages read from another
-- (app/services/history.py).
-- returns: one row, one text
-- index: none (reads no table)
-- shards: none (the server, no table)
SELECT (SELECT system_identifier FROM pg_control_system())::text || ':'
       || CASE WHEN pg_is_in_recovery() THEN (SELECT timeline_id FROM pg_control_checkpoint())::text
               ELSE substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8) END

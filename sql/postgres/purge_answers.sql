-- name: purge_answers
-- Deletes expired idempotency keys, oldest first, at most :batch of them a call; the service
-- calls it every few minutes.
-- returns: nothing (the row count)
-- index: idx_idempotency_keys_expires
-- shards: fan-out: housekeeping over every shard's expired keys
DELETE FROM idempotency_keys
 WHERE (scope, idem_key) IN (
       SELECT scope, idem_key FROM idempotency_keys
        WHERE expires_at <= now()
        ORDER BY expires_at
        LIMIT :batch)

-- name: purge_answers
-- Deletes expired idempotency keys, at most :batch of them a call; the service calls it every
-- few minutes.
-- returns: nothing (the row count)
-- index: idx_idempotency_keys_expires
DELETE FROM idempotency_keys
 WHERE expires_at <= SYS_EXTRACT_UTC(SYSTIMESTAMP)
   AND ROWNUM <= :batch

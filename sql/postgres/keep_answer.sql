-- name: keep_answer
-- Keeps the answer to an idempotent request under its (caller, key), in the transaction that
-- stored its records. A key already kept and not yet expired is left alone and no row comes
-- back: the caller then rolls back and answers with the kept one. While another transaction
-- holds the same key uncommitted this waits for it (at most the connection's lock_timeout).
-- returns: one row (kept) when this request now owns the key, none when another does
-- index: primary key (scope, idem_key)
-- shards: scope (idempotency_keys is distributed by the caller's scope)
INSERT INTO idempotency_keys (scope, idem_key, fingerprint, status, body, expires_at)
VALUES (:scope, :idem_key, :fingerprint, :status, :body, now() + make_interval(secs => :ttl_seconds))
ON CONFLICT (scope, idem_key) DO UPDATE
   SET fingerprint = EXCLUDED.fingerprint,
       status = EXCLUDED.status,
       body = EXCLUDED.body,
       created_at = now(),
       expires_at = EXCLUDED.expires_at
 WHERE idempotency_keys.expires_at <= now()
RETURNING true AS kept

-- name: keep_answer
-- Keeps the answer to an idempotent request under its (caller, key), in the transaction that
-- stored its records. A key already kept and not yet expired is left alone and no row comes
-- back: the caller then rolls back and answers with the kept one.
-- returns: one row (kept) when this request now owns the key, none when another does
-- index: primary key (scope, idem_key)
INSERT INTO idempotency_keys (scope, idem_key, fingerprint, status, body, created_at, expires_at)
VALUES (:scope, :idem_key, :fingerprint, :status, :body, :now, :expires_at)
ON CONFLICT (scope, idem_key) DO UPDATE
   SET fingerprint = excluded.fingerprint,
       status = excluded.status,
       body = excluded.body,
       created_at = excluded.created_at,
       expires_at = excluded.expires_at
 WHERE idempotency_keys.expires_at <= :now
RETURNING 1 AS kept

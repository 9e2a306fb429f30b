-- name: kept_answer
-- The answer kept under a (caller, key) that has not expired, and the fingerprint of the
-- request that made it.
-- returns: zero or one row (fingerprint, status, body)
-- index: primary key (scope, idem_key)
-- shards: scope (idempotency_keys is distributed by the caller's scope)
SELECT fingerprint, status, body
  FROM idempotency_keys
 WHERE scope = :scope AND idem_key = :idem_key AND expires_at > now()

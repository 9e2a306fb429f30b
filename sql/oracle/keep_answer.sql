-- name: keep_answer
-- Keeps the answer to an idempotent request under its (caller, key), in the transaction that
-- stored its records; an expired key is taken over. A key already kept and not yet expired is
-- left alone (no row merged): the caller then rolls back and answers with the kept one. Two
-- transactions inserting one key at once: the second waits for the first and fails with
-- ORA-00001, which the caller treats the same way.
-- returns: nothing (the row count: 1 when this request now owns the key, 0 when another does)
-- index: idempotency_keys_pk (scope, idem_key)
MERGE INTO idempotency_keys k
USING (SELECT :scope AS scope, :idem_key AS idem_key FROM dual) n
   ON (k.scope = n.scope AND k.idem_key = n.idem_key)
 WHEN MATCHED THEN UPDATE
      SET k.fingerprint = :fingerprint,
          k.status = :status,
          k.body = :body,
          k.created_at = SYS_EXTRACT_UTC(SYSTIMESTAMP),
          k.expires_at = SYS_EXTRACT_UTC(SYSTIMESTAMP) + NUMTODSINTERVAL(:ttl_seconds, 'SECOND')
      WHERE k.expires_at <= SYS_EXTRACT_UTC(SYSTIMESTAMP)
 WHEN NOT MATCHED THEN INSERT (scope, idem_key, fingerprint, status, body, expires_at)
      VALUES (n.scope, n.idem_key, :fingerprint, :status, :body,
              SYS_EXTRACT_UTC(SYSTIMESTAMP) + NUMTODSINTERVAL(:ttl_seconds, 'SECOND'))

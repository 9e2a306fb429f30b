-- V0003: idempotency keys (the IETF Idempotency-Key header) on POST /data and POST /data/bulk.
-- One row a (caller, key): the fingerprint of the first request and its answer, written in the
-- same transaction as the records it created, so a retry can never create them twice.

CREATE TABLE idempotency_keys (
    scope        TEXT    NOT NULL,
    idem_key     TEXT    NOT NULL,
    fingerprint  TEXT    NOT NULL,
    status       INTEGER NOT NULL,
    body         BLOB    NOT NULL,
    created_at   TEXT    NOT NULL,
    expires_at   TEXT    NOT NULL,
    PRIMARY KEY (scope, idem_key)
) STRICT, WITHOUT ROWID;

-- The purge of expired keys.
CREATE INDEX idx_idempotency_keys_expires ON idempotency_keys (expires_at);

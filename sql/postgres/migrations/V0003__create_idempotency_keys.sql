-- V0003: idempotency keys (the IETF Idempotency-Key header) on POST /data and POST /data/bulk.
-- One row a (caller, key): the fingerprint of the first request and its answer, written in the
-- same transaction as the records it created, so a retry can never create them twice.

CREATE TABLE idempotency_keys (
    scope        varchar(200) NOT NULL,
    idem_key     varchar(255) NOT NULL,
    fingerprint  char(64)     NOT NULL,
    status       smallint     NOT NULL,
    body         bytea        NOT NULL,
    created_at   timestamptz  NOT NULL DEFAULT now(),
    expires_at   timestamptz  NOT NULL,
    PRIMARY KEY (scope, idem_key)
);

-- The purge of expired keys.
CREATE INDEX idx_idempotency_keys_expires ON idempotency_keys (expires_at);

-- V0003: idempotency keys (the IETF Idempotency-Key header) on POST /data and POST /data/bulk.
-- One row a (caller, key): the fingerprint of the first request and its answer, written in the
-- same transaction as the records it created, so a retry can never create them twice.

CREATE TABLE idempotency_keys (
    scope        VARCHAR2(200) NOT NULL,
    idem_key     VARCHAR2(255) NOT NULL,
    fingerprint  CHAR(64)      NOT NULL,
    status       NUMBER(3)     NOT NULL,
    body         BLOB          NOT NULL,
    created_at   TIMESTAMP(6)  DEFAULT SYS_EXTRACT_UTC(SYSTIMESTAMP) NOT NULL,
    expires_at   TIMESTAMP(6)  NOT NULL,
    CONSTRAINT idempotency_keys_pk PRIMARY KEY (scope, idem_key)
);

-- The purge of expired keys.
CREATE INDEX idx_idempotency_keys_expires ON idempotency_keys (expires_at);

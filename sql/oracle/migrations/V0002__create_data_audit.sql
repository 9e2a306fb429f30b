-- V0002: the audit trail. Every create, update and delete of a record writes one row here in
-- the same transaction as the change: who (the token's subject, or "anonymous"), what, when
-- and the request id. No foreign key: the trail outlives the records it tells of.

CREATE TABLE data_audit (
    id           NUMBER GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    occurred_at  TIMESTAMP(6)  DEFAULT SYS_EXTRACT_UTC(SYSTIMESTAMP) NOT NULL,
    actor        VARCHAR2(200) NOT NULL,
    action       VARCHAR2(10)  NOT NULL CHECK (action IN ('create', 'update', 'delete')),
    record_id    VARCHAR2(32)  NOT NULL,
    owner        VARCHAR2(100) NOT NULL,
    request_id   VARCHAR2(64)  NOT NULL
);

CREATE INDEX idx_data_audit_record ON data_audit (record_id);
CREATE INDEX idx_data_audit_occurred ON data_audit (occurred_at);

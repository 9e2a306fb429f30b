-- V0002: the audit trail. Every create, update and delete of a record writes one row here in
-- the same statement or transaction as the change: who (the token's subject, or "anonymous"),
-- what, when and the request id. No foreign key: the trail outlives the records it tells of.

CREATE TABLE data_audit (
    id           bigint       GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    occurred_at  timestamptz  NOT NULL DEFAULT now(),
    actor        varchar(200) NOT NULL,
    action       varchar(10)  NOT NULL CHECK (action IN ('create', 'update', 'delete')),
    record_id    uuid         NOT NULL,
    owner        varchar(100) NOT NULL,
    request_id   varchar(64)  NOT NULL
);

CREATE INDEX idx_data_audit_record ON data_audit (record_id);
CREATE INDEX idx_data_audit_occurred ON data_audit (occurred_at);

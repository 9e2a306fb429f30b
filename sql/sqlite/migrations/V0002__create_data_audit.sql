-- V0002: the audit trail. Every create, update and delete of a record writes one row here in
-- the same transaction as the change: who (the token's subject, or "anonymous"), what, when
-- and the request id. No foreign key: the trail outlives the records it tells of.

CREATE TABLE data_audit (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    occurred_at  TEXT NOT NULL,
    actor        TEXT NOT NULL,
    action       TEXT NOT NULL CHECK (action IN ('create', 'update', 'delete')),
    record_id    TEXT NOT NULL,
    owner        TEXT NOT NULL,
    request_id   TEXT NOT NULL
) STRICT;

CREATE INDEX idx_data_audit_record ON data_audit (record_id);
CREATE INDEX idx_data_audit_occurred ON data_audit (occurred_at);

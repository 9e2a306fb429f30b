-- name: insert_audit
-- One audit row, written in the transaction of the change it records.
-- returns: nothing
-- index: none (appends)
INSERT INTO data_audit (occurred_at, actor, action, record_id, owner, request_id)
VALUES (:occurred_at, :actor, :action, :record_id, :owner, :request_id)

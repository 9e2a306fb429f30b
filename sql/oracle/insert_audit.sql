-- name: insert_audit
-- One audit row, written in the transaction of the change it records (executed once per
-- change, or with every row of a bulk change through executemany).
-- returns: nothing
-- index: none (appends)
INSERT INTO data_audit (actor, action, record_id, owner, request_id)
VALUES (:actor, :action, :record_id, :owner, :request_id)

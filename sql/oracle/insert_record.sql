-- name: insert_record
-- Stores one record in one round trip: the id (SYS_GUID) and timestamps come back through
-- RETURNING ... INTO.
-- returns: out binds :id, :created_at, :updated_at
-- index: data_records_pk (id)
INSERT INTO data_records (user_id, payload)
VALUES (:user_id, :payload)
RETURNING id, created_at, updated_at INTO :id, :created_at, :updated_at

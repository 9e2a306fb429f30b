-- name: insert_record
-- Stores one record; created_at and updated_at start equal.
-- returns: nothing (the caller knows every value it bound)
-- index: primary key on id
INSERT INTO data_records (id, user_id, payload, created_at, updated_at)
VALUES (:id, :user_id, :payload, :created_at, :created_at)

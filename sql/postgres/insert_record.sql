-- name: insert_record
-- Stores one record; the id comes from the service, the timestamps from the database clock.
-- returns: one row (created_at, updated_at)
-- index: primary key (id, created_at)
INSERT INTO data_records (id, user_id, payload)
VALUES (:id::uuid, :user_id, :payload::jsonb)
RETURNING created_at, updated_at

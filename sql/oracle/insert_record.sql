-- name: insert_record
-- Stores one record in one round trip: the id comes from the service (a UUIDv7, as 32
-- uppercase hex digits), the timestamps from the database clock through RETURNING ... INTO.
-- returns: out binds :created_at, :updated_at
-- index: data_records_pk (id)
INSERT INTO data_records (id, user_id, payload)
VALUES (:id, :user_id, :payload)
RETURNING created_at, updated_at INTO :created_at, :updated_at

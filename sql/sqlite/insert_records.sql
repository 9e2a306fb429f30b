-- name: insert_records
-- Stores many records in one statement: :rows is a JSON array of [id, user_id, payload].
-- returns: nothing (the caller knows every value it bound)
-- index: primary key on id
INSERT INTO data_records (id, user_id, payload, created_at, updated_at)
SELECT r.value ->> '$[0]', r.value ->> '$[1]', json(r.value -> '$[2]'), :created_at, :created_at
  FROM json_each(:rows) AS r

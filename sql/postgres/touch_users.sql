-- name: touch_users
-- POST /procedures/touch_users: calls the PL/pgSQL function of V0007, which touches every
-- record of the listed users (updated_at, version) and audits each, in this statement's
-- transaction.
-- returns: one row (touched)
-- index: idx_data_records_user_created (user_id, ...), one probe a user
-- shards: fan-out (the listed users' shards: several users may span them)
SELECT data_records_touch_users(:user_ids::text[], :actor, :request_id) AS touched

-- name: touch_users
-- POST /procedures/touch_users on SQLite, one statement: every record of the listed users (a
-- JSON array) gets updated_at and its version counted up; the repository writes each
-- returned row's audit row (insert_audit) in the same transaction.
-- returns: one row a record touched (id, user_id)
-- index: idx_data_records_user_created (user_id, ...), one probe a user
UPDATE data_records
   SET updated_at = :updated_at, version = version + 1
 WHERE user_id IN (SELECT value FROM json_each(:user_ids))
RETURNING id, user_id

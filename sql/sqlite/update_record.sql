-- name: update_record
-- Replaces a record's payload if it is still at :version, counts its version up and sets
-- updated_at (the service's clock, as for created_at). Runs in the transaction that writes
-- the audit row.
-- returns: nothing (1 row changed, or 0: the record is gone or at another version)
-- index: primary key on id
UPDATE data_records
   SET payload = :payload, version = version + 1, updated_at = :updated_at
 WHERE id = :id
   AND user_id = :user_id
   AND version = :version

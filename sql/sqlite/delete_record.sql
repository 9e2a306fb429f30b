-- name: delete_record
-- Deletes a record if it is still at :version. Runs in the transaction that writes the audit row.
-- returns: nothing (1 row deleted, or 0: the record is gone or at another version)
-- index: primary key on id
DELETE FROM data_records
 WHERE id = :id
   AND user_id = :user_id
   AND version = :version

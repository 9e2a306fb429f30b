-- name: delete_record
-- Deletes a record if it is still at :version; the audit row (insert_audit) follows in the
-- same transaction.
-- returns: SQL%ROWCOUNT 1, or 0 (the record is gone or at another version)
-- index: data_records_pk (id)
DELETE FROM data_records
 WHERE id = :id
   AND user_id = :user_id
   AND version = :version

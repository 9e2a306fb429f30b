-- name: update_record
-- Replaces a record's payload if it is still at :version and counts its version up; the
-- trigger sets updated_at, and RETURNING ... INTO brings it back in the same round trip. The
-- audit row (insert_audit) follows in the same transaction.
-- returns: SQL%ROWCOUNT 1 (out binds :updated_at, :new_version) or 0 (gone, or at another version)
-- index: data_records_pk (id)
UPDATE data_records
   SET payload = :payload, version = version + 1
 WHERE id = :id
   AND user_id = :user_id
   AND version = :version
RETURNING updated_at, version INTO :updated_at, :new_version

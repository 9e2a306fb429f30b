-- V0004: each record's version, for optimistic locking (ETag / If-Match on PATCH and DELETE).
-- 1 when stored; every change counts it up in the same UPDATE that makes it. updated_at alone
-- could not serve: SQLite's clock has millisecond steps, and two changes can share one.
-- Existing rows start at 1 (a constant default: SQLite adds the column without a rewrite).

ALTER TABLE data_records ADD COLUMN version INTEGER NOT NULL DEFAULT 1 CHECK (version >= 1);

-- updated_at: the service sets it with the change, from the clock that set created_at
-- (microseconds, as in the other dialects); the trigger now keeps it for any other UPDATE
-- of the owner or the payload (one by hand), with the database's millisecond clock.
DROP TRIGGER trg_data_records_updated_at;

CREATE TRIGGER trg_data_records_updated_at
AFTER UPDATE OF user_id, payload ON data_records
FOR EACH ROW
WHEN NEW.updated_at = OLD.updated_at
BEGIN
    UPDATE data_records
       SET updated_at = strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')
     WHERE id = NEW.id;
END;

-- V0001: the data_records table, its indexes and the updated_at trigger (SQLite).
-- Released migrations are never edited: a change is a new V000N file.
-- Timestamps are UTC text of one fixed width (2026-01-31T12:00:00.000000Z), so text order is
-- time order and the (created_at, id) keyset compares as the other dialects do.

CREATE TABLE data_records (
    id          TEXT NOT NULL PRIMARY KEY,
    user_id     TEXT NOT NULL CHECK (length(user_id) BETWEEN 1 AND 100),
    payload     TEXT NOT NULL CHECK (json_valid(payload) AND json_type(payload) = 'object'),
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
) STRICT;

-- A user's records newest first, and keyset pages over (created_at, id).
CREATE INDEX idx_data_records_user_created ON data_records (user_id, created_at DESC, id DESC);

-- Date-range scans across users (retention, exports).
CREATE INDEX idx_data_records_created_at ON data_records (created_at);

-- updated_at follows every change of the owner or the payload.
CREATE TRIGGER trg_data_records_updated_at
AFTER UPDATE OF user_id, payload ON data_records
FOR EACH ROW
BEGIN
    UPDATE data_records
       SET updated_at = strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')
     WHERE id = NEW.id;
END;

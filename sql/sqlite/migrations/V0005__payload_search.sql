-- V0005: full-text search of the payload (GET /data?q=..., sql/sqlite/find_records.sql): an
-- FTS5 table of each record's string and number values, kept in step by triggers.
-- FTS5 finds rows by its own integer rowid, and data_records' implicit rowid may change in a
-- VACUUM; data_records_search gives each record a docid of its own (an INTEGER PRIMARY KEY,
-- which VACUUM keeps) that the text's rowid is.
-- Payload filters (payload.<field>=...) need no index here: json_extract over a user's rows.

CREATE TABLE data_records_search (
    docid INTEGER PRIMARY KEY,
    id    TEXT NOT NULL UNIQUE
) STRICT;

-- unicode61: words split at anything not a letter or digit, case and diacritics folded.
CREATE VIRTUAL TABLE data_records_text USING fts5 (body, tokenize = 'unicode61');

CREATE TRIGGER trg_data_records_text_insert
AFTER INSERT ON data_records
FOR EACH ROW
BEGIN
    INSERT INTO data_records_search (id) VALUES (NEW.id);
    INSERT INTO data_records_text (rowid, body)
    VALUES ((SELECT docid FROM data_records_search WHERE id = NEW.id),
            (SELECT group_concat(value, ' ') FROM json_tree(NEW.payload)
              WHERE type IN ('text', 'integer', 'real')));
END;

CREATE TRIGGER trg_data_records_text_update
AFTER UPDATE OF payload ON data_records
FOR EACH ROW
BEGIN
    UPDATE data_records_text
       SET body = (SELECT group_concat(value, ' ') FROM json_tree(NEW.payload)
                    WHERE type IN ('text', 'integer', 'real'))
     WHERE rowid = (SELECT docid FROM data_records_search WHERE id = NEW.id);
END;

CREATE TRIGGER trg_data_records_text_delete
AFTER DELETE ON data_records
FOR EACH ROW
BEGIN
    DELETE FROM data_records_text WHERE rowid = (SELECT docid FROM data_records_search WHERE id = OLD.id);
    DELETE FROM data_records_search WHERE id = OLD.id;
END;

-- The records stored before this migration.
INSERT INTO data_records_search (id) SELECT id FROM data_records ORDER BY created_at;

INSERT INTO data_records_text (rowid, body)
SELECT s.docid,
       (SELECT group_concat(j.value, ' ') FROM json_tree(r.payload) AS j
         WHERE j.type IN ('text', 'integer', 'real'))
  FROM data_records AS r
  JOIN data_records_search AS s ON s.id = r.id;

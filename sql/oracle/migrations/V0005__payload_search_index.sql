-- V0005: the payload's search index, for GET /data?q=... (CONTAINS in find_records.sql and its
-- kin). The optional V0101 made the same index on request; a schema that has it keeps it.
-- A JSON search index is an Oracle Text CONTEXT index over every string and number of the
-- payload; SYNC (ON COMMIT) makes a record searchable once its insert commits, at the cost of
-- slower commits (measure with your own writes). The schema user needs the CTXAPP role.
-- Payload filters (payload.<field>=...) run through the data_query package (plsql/), which
-- reads the field named by a bind: SQL/JSON paths must be literals, so no index serves them
-- beyond the user's own (idx_data_records_user_created).
DECLARE
    existing NUMBER;
BEGIN
    SELECT COUNT(*) INTO existing FROM user_indexes WHERE index_name = 'IDX_DATA_RECORDS_PAYLOAD_TEXT';
    IF existing = 0 THEN
        EXECUTE IMMEDIATE q'[CREATE SEARCH INDEX idx_data_records_payload_text ON data_records (payload)
            FOR JSON PARAMETERS ('SYNC (ON COMMIT)')]';
    END IF;
END;
/

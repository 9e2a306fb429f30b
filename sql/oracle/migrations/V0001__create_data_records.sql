-- V0001: data_records for Oracle Database 19c or newer.
-- Released migrations are never edited: a change is a new V000N file.
-- Applied by `python -m app migrate` (statements end with ";", PL/SQL blocks with "/"), or by
-- hand in SQL*Plus / SQLcl: see docs/oracle.md.
--
-- * id: 32 hex characters of SYS_GUID(); the service supplies its own only for bulk inserts.
-- * payload: the native JSON type on 21c and newer, else a CLOB with an IS JSON check; chosen
--   here, at migration time, from the database's version.
-- * created_at / updated_at: TIMESTAMP(6) in UTC. Interval partitioning cannot use a
--   TIMESTAMP WITH TIME ZONE key, so the zone is fixed (UTC) instead of stored.
-- * Interval partitioning by month: Oracle creates each month's partition when its first row
--   arrives, so no month is ever missing.

DECLARE
    major_version  PLS_INTEGER;
    payload_type   VARCHAR2(100);
BEGIN
    SELECT TO_NUMBER(REGEXP_SUBSTR(version_full, '^[0-9]+'))
      INTO major_version
      FROM product_component_version
     WHERE product LIKE 'Oracle%'
       AND ROWNUM = 1;
    payload_type := CASE WHEN major_version >= 21 THEN 'JSON' ELSE 'CLOB CHECK (payload IS JSON)' END;
    EXECUTE IMMEDIATE
        'CREATE TABLE data_records (
             id          VARCHAR2(32)  DEFAULT RAWTOHEX(SYS_GUID()) NOT NULL,
             user_id     VARCHAR2(100) NOT NULL,
             payload     ' || payload_type || ' NOT NULL,
             created_at  TIMESTAMP(6)  DEFAULT SYS_EXTRACT_UTC(SYSTIMESTAMP) NOT NULL,
             updated_at  TIMESTAMP(6)  DEFAULT SYS_EXTRACT_UTC(SYSTIMESTAMP) NOT NULL,
             CONSTRAINT data_records_pk PRIMARY KEY (id)
         )
         PARTITION BY RANGE (created_at) INTERVAL (NUMTOYMINTERVAL(1, ''MONTH''))
         (PARTITION p_before_2026 VALUES LESS THAN (TIMESTAMP ''2026-01-01 00:00:00''))';
END;
/

-- A user's records newest first, and keyset pages over (created_at, id); one index partition
-- per table partition.
CREATE INDEX idx_data_records_user_created
    ON data_records (user_id, created_at DESC, id DESC) LOCAL;

-- Function-based index for the JSON_VALUE(payload, '$.type') filter of the architecture document.
CREATE INDEX idx_data_records_payload_type
    ON data_records (user_id, JSON_VALUE(payload, '$.type' RETURNING VARCHAR2(100) NULL ON ERROR)) LOCAL;

-- updated_at follows every change of a row.
CREATE OR REPLACE TRIGGER trg_data_records_updated_at
    BEFORE UPDATE ON data_records
    FOR EACH ROW
BEGIN
    :NEW.updated_at := SYS_EXTRACT_UTC(SYSTIMESTAMP);
END trg_data_records_updated_at;
/

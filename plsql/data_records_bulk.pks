-- data_records_bulk (spec): bulk operations on data_records, for Oracle.
-- Applied by the migration runner as a repeatable object (re-applied whenever this file
-- changes, after the versioned migrations); or by hand: @plsql/data_records_bulk.pks
-- The service may call only the procedures on its allow-list (app/adapters/db/oracle.py).
CREATE OR REPLACE PACKAGE data_records_bulk AUTHID DEFINER AS

    TYPE user_id_list IS TABLE OF VARCHAR2(100) INDEX BY PLS_INTEGER;
    -- VARCHAR2, not CLOB: index-by tables of scalars bind as arrays from python-oracledb. A payload
    -- over 32,767 bytes goes through array DML (the default bulk path) instead.
    TYPE payload_list IS TABLE OF VARCHAR2(32767) INDEX BY PLS_INTEGER;
    TYPE id_list      IS TABLE OF VARCHAR2(32) INDEX BY PLS_INTEGER;
    TYPE number_list  IS TABLE OF NUMBER INDEX BY PLS_INTEGER;
    TYPE id_table     IS TABLE OF VARCHAR2(32);
    TYPE owner_table  IS TABLE OF VARCHAR2(100);

    -- Inserts p_user_ids(i), p_payloads(i) for i in 1 .. count with FORALL ... SAVE EXCEPTIONS:
    -- a refused row never stops the others. p_ids(i) is the new row's id (NULL when refused);
    -- p_failed_indexes / p_failed_codes list each refused row's index and ORA- error number.
    PROCEDURE insert_many (
        p_user_ids        IN  user_id_list,
        p_payloads        IN  payload_list,
        p_ids             OUT id_list,
        p_failed_indexes  OUT number_list,
        p_failed_codes    OUT number_list
    );

    -- Sets updated_at to now on every record of the listed users, and counts each one's version
    -- up (its ETag changes with its answer); p_touched counts the rows.
    -- Writes an 'update' audit row for each, naming p_actor and p_request_id.
    PROCEDURE touch_users (
        p_user_ids    IN  user_id_list,
        p_actor       IN  VARCHAR2,
        p_request_id  IN  VARCHAR2,
        p_touched     OUT NUMBER
    );

    -- Retention: deletes records created before p_cutoff (UTC); p_purged counts them. Writes a
    -- 'delete' audit row for each. Whole months older than the cutoff are better dropped as
    -- partitions by a DBA (docs/oracle.md), which the audit trail does not see.
    PROCEDURE purge_before (
        p_cutoff      IN  TIMESTAMP,
        p_actor       IN  VARCHAR2,
        p_request_id  IN  VARCHAR2,
        p_purged      OUT NUMBER
    );

END data_records_bulk;
/

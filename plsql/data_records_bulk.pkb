-- data_records_bulk (body). See the spec for what each procedure promises.
CREATE OR REPLACE PACKAGE BODY data_records_bulk AS

    dml_errors EXCEPTION;
    PRAGMA EXCEPTION_INIT(dml_errors, -24381);

    PROCEDURE insert_many (
        p_user_ids        IN  user_id_list,
        p_payloads        IN  payload_list,
        p_ids             OUT id_list,
        p_failed_indexes  OUT number_list,
        p_failed_codes    OUT number_list
    ) IS
        failed  PLS_INTEGER;
    BEGIN
        IF p_user_ids.COUNT = 0 THEN
            RETURN;
        END IF;
        -- Ids are made first, so each stays aligned with its row whichever rows fail.
        FOR i IN 1 .. p_user_ids.COUNT LOOP
            p_ids(i) := RAWTOHEX(SYS_GUID());
        END LOOP;
        BEGIN
            FORALL i IN 1 .. p_user_ids.COUNT SAVE EXCEPTIONS
                INSERT INTO data_records (id, user_id, payload)
                VALUES (p_ids(i), p_user_ids(i), p_payloads(i));
        EXCEPTION
            WHEN dml_errors THEN
                FOR e IN 1 .. SQL%BULK_EXCEPTIONS.COUNT LOOP
                    failed := SQL%BULK_EXCEPTIONS(e).ERROR_INDEX;
                    p_failed_indexes(e) := failed;
                    p_failed_codes(e) := SQL%BULK_EXCEPTIONS(e).ERROR_CODE;
                    p_ids(failed) := NULL;
                END LOOP;
        END;
    END insert_many;

    PROCEDURE touch_users (
        p_user_ids  IN  user_id_list,
        p_touched   OUT NUMBER
    ) IS
    BEGIN
        p_touched := 0;
        IF p_user_ids.COUNT = 0 THEN
            RETURN;
        END IF;
        FORALL i IN 1 .. p_user_ids.COUNT
            UPDATE data_records
               SET updated_at = SYS_EXTRACT_UTC(SYSTIMESTAMP)
             WHERE user_id = p_user_ids(i);
        FOR i IN 1 .. p_user_ids.COUNT LOOP
            p_touched := p_touched + SQL%BULK_ROWCOUNT(i);
        END LOOP;
    END touch_users;

    PROCEDURE purge_before (
        p_cutoff  IN  TIMESTAMP,
        p_purged  OUT NUMBER
    ) IS
    BEGIN
        DELETE FROM data_records WHERE created_at < p_cutoff;
        p_purged := SQL%ROWCOUNT;
    END purge_before;

END data_records_bulk;
/

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

    PROCEDURE audit_rows (
        p_ids         IN  id_table,
        p_owners      IN  owner_table,
        p_action      IN  VARCHAR2,
        p_actor       IN  VARCHAR2,
        p_request_id  IN  VARCHAR2
    ) IS
    BEGIN
        FORALL i IN 1 .. p_ids.COUNT
            INSERT INTO data_audit (actor, action, record_id, owner, request_id)
            VALUES (p_actor, p_action, p_ids(i), p_owners(i), p_request_id);
    END audit_rows;

    PROCEDURE touch_users (
        p_user_ids    IN  user_id_list,
        p_actor       IN  VARCHAR2,
        p_request_id  IN  VARCHAR2,
        p_touched     OUT NUMBER
    ) IS
        ids     id_table;
        owners  owner_table;
    BEGIN
        p_touched := 0;
        IF p_user_ids.COUNT = 0 THEN
            RETURN;
        END IF;
        FORALL i IN 1 .. p_user_ids.COUNT
            UPDATE data_records
               SET updated_at = SYS_EXTRACT_UTC(SYSTIMESTAMP), version = version + 1
             WHERE user_id = p_user_ids(i)
            RETURNING id, user_id BULK COLLECT INTO ids, owners;
        p_touched := ids.COUNT;
        audit_rows(ids, owners, 'update', p_actor, p_request_id);
    END touch_users;

    PROCEDURE purge_before (
        p_cutoff      IN  TIMESTAMP,
        p_actor       IN  VARCHAR2,
        p_request_id  IN  VARCHAR2,
        p_purged      OUT NUMBER
    ) IS
        ids     id_table;
        owners  owner_table;
    BEGIN
        DELETE FROM data_records WHERE created_at < p_cutoff
        RETURNING id, user_id BULK COLLECT INTO ids, owners;
        p_purged := ids.COUNT;
        audit_rows(ids, owners, 'delete', p_actor, p_request_id);
    END purge_before;

END data_records_bulk;
/

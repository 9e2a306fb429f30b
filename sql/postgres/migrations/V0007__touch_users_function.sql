-- V0007: touch_users as a PL/pgSQL function, the PostgreSQL side of the PL/SQL package's
-- data_records_bulk.touch_users (POST /procedures/touch_users; sql/postgres/touch_users.sql).
-- Every record of the listed users gets a new updated_at (the trigger sets it) and its version
-- counted up, each with an update audit row naming the caller and the request, in the
-- statement's transaction; returns how many records it touched.

CREATE FUNCTION data_records_touch_users(p_user_ids text[], p_actor text, p_request_id text)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    touched integer;
BEGIN
    WITH changed AS (
        UPDATE data_records
           SET version = version + 1
         WHERE user_id = ANY (p_user_ids)
        RETURNING id, user_id
    ), audited AS (
        INSERT INTO data_audit (actor, action, record_id, owner, request_id)
        SELECT p_actor, 'update', id, user_id, p_request_id FROM changed
    )
    SELECT count(*) INTO touched FROM changed;
    RETURN touched;
END
$$;

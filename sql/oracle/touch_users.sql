-- name: touch_users
-- POST /procedures/touch_users on Oracle: the PL/SQL package's FORALL update of every record
-- of the listed users (updated_at, version), which writes each one's audit row; :touched
-- (OUT) counts them. The service commits after the call.
-- returns: :touched (OUT)
-- index: idx_data_records_user_created (user_id, ...), one probe a user
BEGIN
    data_records_bulk.touch_users(
        p_user_ids   => :user_ids,
        p_actor      => :actor,
        p_request_id => :request_id,
        p_touched    => :touched
    );
END;

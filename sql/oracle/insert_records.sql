-- name: insert_records
-- Array DML: executed once with every row (executemany, batcherrors=True), so a refused row is
-- reported by its offset and never stops the others. The service supplies the ids.
-- returns: nothing; refused rows through the cursor's batch errors
-- index: data_records_pk (id)
INSERT INTO data_records (id, user_id, payload)
VALUES (:id, :user_id, :payload)

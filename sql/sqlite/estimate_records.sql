-- name: estimate_records
-- count=estimated on SQLite, which keeps no row estimates: an exact count that stops at :cap,
-- so a list never counts a million rows to show page one (a total of :cap means "at least").
-- returns: one row (total)
-- index: idx_data_records_user_created (user_id, created_at DESC, id DESC)
SELECT count(*) AS total
  FROM (SELECT 1
          FROM data_records
         WHERE user_id = :user_id
           AND created_at >= :created_from
           AND created_at < :created_to
           AND (:type IS NULL OR payload ->> '$.type' = :type)
           AND (:status IS NULL OR payload ->> '$.status' = :status)
         LIMIT :cap)

-- name: estimate_records
-- count=estimated: the optimizer statistics' rows per user (NUM_ROWS of the table over
-- NUM_DISTINCT of user_id, as DBMS_STATS last gathered them); nothing is counted, and the
-- date and payload filters are not estimated. NULL before statistics were first gathered.
-- returns: one row (total)
-- index: none (the data dictionary)
SELECT ROUND(t.num_rows / NULLIF(c.num_distinct, 0)) AS total
  FROM user_tables t
  JOIN user_tab_col_statistics c
    ON c.table_name = t.table_name
 WHERE t.table_name = 'DATA_RECORDS'
   AND c.column_name = 'USER_ID'

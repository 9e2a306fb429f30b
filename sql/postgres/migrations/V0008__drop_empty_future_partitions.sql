-- V0008: data_records_drop_empty_partitions, which sql/postgres/maintain_partitions.sql calls.
-- Every list page without a date range looks into every partition, empty or not: the year of
-- empty months V0001's maintenance made ahead cost PostgreSQL a third of its rate on list pages
-- (15 partitions against 5: pgbench with the service's own statement, docs/performance.md).
-- Maintenance now keeps two months ahead and drops the monthly partitions (data_records_yYYYYmMM,
-- the ones data_records_add_partitions makes) from `first_month` on that hold no row. A
-- partition is taken with a lock wait of 100 ms at most: one the table's readers keep busy is
-- left for the next run, so the drop never stalls the service's reads for longer than that.
CREATE FUNCTION data_records_drop_empty_partitions(first_month date) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    dropped integer := 0;
    has_rows boolean;
    part regclass;
BEGIN
    PERFORM set_config('lock_timeout', '100ms', true);
    FOR part IN
        SELECT c.oid::regclass
          FROM pg_inherits AS i
          JOIN pg_class AS c ON c.oid = i.inhrelid
         WHERE i.inhparent = 'data_records'::regclass
           AND c.relname ~ '^data_records_y[0-9]{4}m[0-9]{2}$'
           AND to_date(substr(c.relname, 15), 'YYYY"m"MM') >= date_trunc('month', first_month)
         ORDER BY c.relname DESC
    LOOP
        BEGIN
            EXECUTE format('LOCK TABLE ONLY data_records, ONLY %s IN ACCESS EXCLUSIVE MODE', part);
            EXECUTE format('SELECT EXISTS (SELECT FROM %s)', part) INTO has_rows;
            CONTINUE WHEN has_rows;
            EXECUTE format('DROP TABLE %s', part);
            dropped := dropped + 1;
        EXCEPTION WHEN lock_not_available THEN
            RAISE NOTICE 'data_records_drop_empty_partitions: % is busy, left for the next run', part;
        END;
    END LOOP;
    RETURN dropped;
END
$$;

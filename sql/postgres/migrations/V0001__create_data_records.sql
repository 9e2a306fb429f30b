-- V0001: data_records, range-partitioned by month on created_at (PostgreSQL 13+).
-- Released migrations are never edited: a change is a new V000N file.

CREATE TABLE data_records (
    id          uuid         NOT NULL DEFAULT gen_random_uuid(),
    user_id     varchar(100) NOT NULL,
    payload     jsonb        NOT NULL CHECK (jsonb_typeof(payload) = 'object'),
    created_at  timestamptz  NOT NULL DEFAULT now(),
    updated_at  timestamptz  NOT NULL DEFAULT now(),
    -- A partitioned table's keys must hold the partition key.
    PRIMARY KEY (id, created_at)
) PARTITION BY RANGE (created_at);

-- Rows outside every monthly partition land here instead of failing the insert.
CREATE TABLE data_records_default PARTITION OF data_records DEFAULT;

-- A user's records newest first, and keyset pages over (created_at, id).
CREATE INDEX idx_data_records_user_created ON data_records (user_id, created_at DESC, id DESC);

-- The payload's type, as the architecture document's JSON queries filter on it.
CREATE INDEX idx_data_records_payload_type ON data_records (user_id, (payload ->> 'type'), created_at DESC);

-- updated_at follows every change of a row.
CREATE FUNCTION data_records_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END
$$;

CREATE TRIGGER trg_data_records_updated_at
    BEFORE UPDATE ON data_records
    FOR EACH ROW EXECUTE FUNCTION data_records_touch();

-- Creates the monthly partitions data_records_yYYYYmMM from first_month on, `months` of them,
-- skipping those that exist; returns how many it created. `python -m app migrate` calls it on
-- every run (sql/postgres/maintain_partitions.sql), so partitions are made a year ahead.
CREATE FUNCTION data_records_add_partitions(first_month date, months integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    created integer := 0;
    month_start date;
    partition_name text;
BEGIN
    FOR i IN 0 .. months - 1 LOOP
        month_start := (date_trunc('month', first_month) + make_interval(months => i))::date;
        partition_name := format('data_records_y%sm%s', to_char(month_start, 'YYYY'), to_char(month_start, 'MM'));
        CONTINUE WHEN to_regclass(partition_name) IS NOT NULL;
        EXECUTE format(
            'CREATE TABLE %I PARTITION OF data_records FOR VALUES FROM (%L) TO (%L)',
            partition_name, month_start, (month_start + interval '1 month')::date);
        created := created + 1;
    END LOOP;
    RETURN created;
END
$$;

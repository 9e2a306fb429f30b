-- The coordinator of the user-sharded layout (docs/scaling.md, "Sharded by user on PostgreSQL
-- alone"): the database the service connects to. data_records and data_audit become tables
-- hash-partitioned by user (user_id, and owner: the record's user) whose partitions are
-- foreign tables on the shards, through postgres_fdw; every statement of sql/postgres runs on
-- it unchanged, and a statement that names its user reaches that user's shard alone.
--
-- Run once, after `python -m app migrate` made the coordinator like any other database and
-- every shard ran shard.sql, with the shards named in order (their number is their hash
-- remainder, so the list is never reordered):
--
--   PGOPTIONS='-c sharding.shards=app@10.0.0.1:5432/records,app@10.0.0.2:5432/records' \
--     psql -1 -d records -f sql/postgres/sharding/coordinator.sql
--
-- Each shard is user@host:port/database. A statement that reaches every shard (a read by id)
-- asks them all at once (async_capable); bulk loads without RETURNING go 100 rows a trip. The user mappings carry no password: add one with
-- ALTER USER MAPPING ... OPTIONS (ADD password '...') where the shards ask for it.
--
-- What it does not promise: a statement that writes to two shards (a bulk request of several
-- users, the group commit of creates of several users) commits on each shard in turn, with no
-- two-phase commit: a shard that fails after another committed leaves that other's rows
-- stored. idempotency_keys stays on the coordinator (postgres_fdw cannot run INSERT ... ON
-- CONFLICT DO UPDATE on a foreign table), so a kept answer commits just after the records it
-- tells of. Keys are enforced on each shard, and hold the user (V0005), so they hold for all.
-- Citus distributed tables lift both limits (two-phase commit, distributed idempotency_keys).

CREATE EXTENSION IF NOT EXISTS postgres_fdw;

DROP TABLE data_records;
DROP TABLE data_audit;

-- The columns of the shards' tables (V0001, V0002, V0004), in the same order; the shards check
-- the payload, the action and the version, and set updated_at.
CREATE TABLE data_records (
    id          uuid         NOT NULL DEFAULT gen_random_uuid(),
    user_id     varchar(100) NOT NULL,
    payload     jsonb        NOT NULL,
    created_at  timestamptz  NOT NULL DEFAULT now(),
    updated_at  timestamptz  NOT NULL DEFAULT now(),
    version     integer      NOT NULL DEFAULT 1
) PARTITION BY HASH (user_id);

CREATE TABLE data_audit (
    id           bigint       GENERATED ALWAYS AS IDENTITY,
    occurred_at  timestamptz  NOT NULL DEFAULT now(),
    actor        varchar(200) NOT NULL,
    action       varchar(10)  NOT NULL,
    record_id    uuid         NOT NULL,
    owner        varchar(100) NOT NULL,
    request_id   varchar(64)  NOT NULL
) PARTITION BY HASH (owner);

DO $$
DECLARE
    shards text[] := string_to_array(current_setting('sharding.shards'), ',');
    parts text[];
    server text;
BEGIN
    IF coalesce(array_length(shards, 1), 0) = 0 THEN
        RAISE EXCEPTION 'sharding.shards names no shard';
    END IF;
    FOR i IN 1 .. coalesce(array_length(shards, 1), 0) LOOP
        parts := regexp_match(trim(shards[i]), '^([^@]+)@([^:/]+):([0-9]+)/(.+)$');
        IF parts IS NULL THEN
            RAISE EXCEPTION 'shard % is "%", not user@host:port/database', i - 1, shards[i];
        END IF;
        server := format('shard%s', i - 1);
        EXECUTE format('CREATE SERVER %I FOREIGN DATA WRAPPER postgres_fdw '
                       'OPTIONS (host %L, port %L, dbname %L, async_capable ''true'')',
                       server, parts[2], parts[3], parts[4]);
        EXECUTE format('CREATE USER MAPPING FOR CURRENT_USER SERVER %I OPTIONS (user %L)', server, parts[1]);
        EXECUTE format('CREATE FOREIGN TABLE %I PARTITION OF data_records FOR VALUES WITH (MODULUS %s, REMAINDER %s) '
                       'SERVER %I OPTIONS (table_name %L, batch_size ''100'')',
                       'data_records_' || server, array_length(shards, 1), i - 1, server, 'data_records');
        EXECUTE format('CREATE FOREIGN TABLE %I PARTITION OF data_audit FOR VALUES WITH (MODULUS %s, REMAINDER %s) '
                       'SERVER %I OPTIONS (table_name %L, batch_size ''100'')',
                       'data_audit_' || server, array_length(shards, 1), i - 1, server, 'data_audit');
    END LOOP;
END
$$;

-- The monthly partitions live on the shards, made by each shard's own `python -m app migrate`;
-- the coordinator's migrate has none to make or drop.
CREATE OR REPLACE FUNCTION data_records_add_partitions(first_month date, months integer) RETURNS integer
LANGUAGE sql AS $$ SELECT 0 $$;
CREATE OR REPLACE FUNCTION data_records_drop_empty_partitions(first_month date) RETURNS integer
LANGUAGE sql AS $$ SELECT 0 $$;

-- V0006: indexes for filters on any payload field and for full-text search of the payload
-- (GET /data?payload.<field>=...&q=..., sql/postgres/find_records.sql and its kin).
-- jsonb_path_ops answers `payload @@ <jsonpath>` for the path's equalities (and containment);
-- the text index holds the payload's string and number values as words ('simple': no
-- language's stemming or stop words, so a search finds the words as written, in any language).
-- Both are GIN with fastupdate (the default: a write adds its entries to a pending list) and
-- a pending list of 256 kB instead of the server's 4 MB: the insert that finds the list full
-- folds it into the index, and 4 MB at a time made that insert wait (served POST p99 3.5x the
-- build without these indexes; 256 kB: 1.2x; fastupdate off: 1.2x at 0.86x the rate).
-- Measured in docs/performance.md ("Query power").
-- On a partitioned table each monthly partition gets its own; on a large table, build them in
-- a maintenance window (CREATE INDEX on a partitioned table cannot run CONCURRENTLY).

CREATE INDEX idx_data_records_payload ON data_records USING gin (payload jsonb_path_ops)
    WITH (gin_pending_list_limit = 256);

CREATE INDEX idx_data_records_payload_text ON data_records
    USING gin (jsonb_to_tsvector('simple'::regconfig, payload, '["string", "numeric"]'::jsonb))
    WITH (gin_pending_list_limit = 256);

-- V0006: indexes for filters on any payload field and for full-text search of the payload
-- (GET /data?payload.<field>=...&q=..., sql/postgres/find_records.sql and its kin).
-- jsonb_path_ops answers `payload @@ <jsonpath>` for the path's equalities (and containment);
-- the text index holds the payload's string and number values as words ('simple': no
-- language's stemming or stop words, so a search finds the words as written, in any language).
-- Both are GIN with fastupdate (the default): a write adds to a pending list that vacuum or
-- the list's size folds in, so an insert pays little; measured in docs/performance.md.
-- On a partitioned table each monthly partition gets its own; on a large table, build them in
-- a maintenance window (CREATE INDEX on a partitioned table cannot run CONCURRENTLY).

CREATE INDEX idx_data_records_payload ON data_records USING gin (payload jsonb_path_ops);

CREATE INDEX idx_data_records_payload_text ON data_records
    USING gin (jsonb_to_tsvector('simple'::regconfig, payload, '["string", "numeric"]'::jsonb));

-- V0101 (optional): an Oracle Text index over the whole payload, for CONTAINS(payload, ...)
-- searches. Not applied unless a DBA asks for it: `python -m app migrate --optional V0101`
-- (or run by hand, see docs/oracle.md). Needs the CTXAPP role for the schema user, and Oracle
-- Text installed. SYNC (ON COMMIT) keeps it current at the cost of slower commits.

CREATE SEARCH INDEX idx_data_records_payload_text ON data_records (payload) FOR JSON
    PARAMETERS ('SYNC (ON COMMIT)');

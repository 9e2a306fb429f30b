-- V0004: each record's version, for optimistic locking (ETag / If-Match on PATCH and DELETE).
-- 1 when stored; every change counts it up in the same UPDATE that makes it, so two changes
-- in one clock tick still differ (updated_at is the transaction's start time).
-- A constant default: PostgreSQL 11+ adds the column to every partition without a rewrite.

ALTER TABLE data_records ADD COLUMN version integer NOT NULL DEFAULT 1 CHECK (version >= 1);

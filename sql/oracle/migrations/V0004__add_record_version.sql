-- V0004: each record's version, for optimistic locking (ETag / If-Match on PATCH and DELETE).
-- 1 when stored; every change counts it up in the same UPDATE that makes it, so two changes
-- within one tick of SYSTIMESTAMP still differ.
-- NOT NULL with a DEFAULT: Oracle 11g+ adds the column as metadata only, without touching rows.

ALTER TABLE data_records ADD (version NUMBER(10) DEFAULT 1 NOT NULL CONSTRAINT data_records_version_ck CHECK (version >= 1));

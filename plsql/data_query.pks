-- data_query (spec): what find_records and its kin ask of a payload on Oracle, where a SQL/JSON
-- path must be a literal: the field a client names arrives as a bind and is read here with
-- JSON_OBJECT_T, never spliced into SQL. Applied by the migration runner as a repeatable
-- object, as data_records_bulk is. A payload is taken as the column's own type (JSON on 21c
-- and newer, a CLOB elsewhere), which JSON_OBJECT_T's constructor reads either way.
CREATE OR REPLACE PACKAGE data_query AUTHID DEFINER AS

    -- 1 when the payload holds every filter of p_filters, else 0. p_filters is the document the
    -- service binds as :match (app/adapters/db/matching.py): an array of
    -- {"field", "op": eq|in|gt|lt|exists, "present": 0|1, "values": [{"types": [...], "value"}]},
    -- types naming the JSON type the value must have: text, integer/real, true, false, null.
    FUNCTION matches (p_payload IN data_records.payload%TYPE, p_filters IN VARCHAR2) RETURN NUMBER DETERMINISTIC;

    -- A top-level field's value when it is a number, else NULL (sort=payload.<field>).
    FUNCTION number_at (p_payload IN data_records.payload%TYPE, p_field IN VARCHAR2) RETURN NUMBER DETERMINISTIC;

    -- A top-level field's value when it is a string, else NULL (sort=payload.<field>).
    FUNCTION text_at (p_payload IN data_records.payload%TYPE, p_field IN VARCHAR2) RETURN VARCHAR2 DETERMINISTIC;

END data_query;
/

-- data_query (body): see data_query.pks.
CREATE OR REPLACE PACKAGE BODY data_query AS

    FUNCTION type_of (p_value IN JSON_ELEMENT_T) RETURN VARCHAR2 IS
    BEGIN
        IF p_value IS NULL THEN
            RETURN NULL;
        ELSIF p_value.is_string THEN
            RETURN 'text';
        ELSIF p_value.is_number THEN
            RETURN 'integer';
        ELSIF p_value.is_true THEN
            RETURN 'true';
        ELSIF p_value.is_false THEN
            RETURN 'false';
        ELSIF p_value.is_null THEN
            RETURN 'null';
        END IF;
        RETURN 'other';
    END type_of;

    -- Whether the payload's value (of JSON type p_type) and the wanted one compare as p_op asks.
    FUNCTION compares (p_have IN JSON_ELEMENT_T, p_type IN VARCHAR2, p_want IN JSON_OBJECT_T, p_op IN VARCHAR2)
        RETURN BOOLEAN IS
        wanted_types JSON_ARRAY_T := p_want.get_array('types');
        have_text    VARCHAR2(32767);
        want_text    VARCHAR2(32767);
        kind_matches BOOLEAN := FALSE;
    BEGIN
        FOR i IN 0 .. wanted_types.get_size - 1 LOOP
            IF wanted_types.get_string(i) = p_type
               OR (p_type = 'integer' AND wanted_types.get_string(i) = 'real') THEN
                kind_matches := TRUE;
            END IF;
        END LOOP;
        IF NOT kind_matches THEN
            RETURN FALSE;
        ELSIF p_type IN ('true', 'false', 'null') THEN
            RETURN p_op IN ('eq', 'in');
        ELSIF p_type = 'integer' THEN
            IF p_op = 'gt' THEN
                RETURN p_have.to_number > p_want.get_number('value');
            ELSIF p_op = 'lt' THEN
                RETURN p_have.to_number < p_want.get_number('value');
            END IF;
            RETURN p_have.to_number = p_want.get_number('value');
        END IF;
        have_text := p_have.to_string;  -- JSON text: "..." with its quotes, on both sides
        want_text := p_want.get('value').to_string;
        IF p_op = 'gt' THEN
            RETURN have_text > want_text;
        ELSIF p_op = 'lt' THEN
            RETURN have_text < want_text;
        END IF;
        RETURN have_text = want_text;
    END compares;

    FUNCTION matches (p_payload IN data_records.payload%TYPE, p_filters IN VARCHAR2) RETURN NUMBER DETERMINISTIC IS
        payload  JSON_OBJECT_T := JSON_OBJECT_T(p_payload);
        filters  JSON_ARRAY_T := JSON_ARRAY_T.parse(p_filters);
        filter   JSON_OBJECT_T;
        wanted   JSON_ARRAY_T;
        have     JSON_ELEMENT_T;
        op       VARCHAR2(10);
        found    BOOLEAN;
    BEGIN
        FOR i IN 0 .. filters.get_size - 1 LOOP
            filter := TREAT(filters.get(i) AS JSON_OBJECT_T);
            op := filter.get_string('op');
            IF op = 'exists' THEN
                IF payload.has(filter.get_string('field')) != (filter.get_number('present') = 1) THEN
                    RETURN 0;
                END IF;
            ELSE
                have := payload.get(filter.get_string('field'));
                IF have IS NULL THEN
                    RETURN 0;
                END IF;
                wanted := filter.get_array('values');
                found := FALSE;
                FOR j IN 0 .. wanted.get_size - 1 LOOP
                    IF compares(have, type_of(have), TREAT(wanted.get(j) AS JSON_OBJECT_T), op) THEN
                        found := TRUE;
                        EXIT;
                    END IF;
                END LOOP;
                IF NOT found THEN
                    RETURN 0;
                END IF;
            END IF;
        END LOOP;
        RETURN 1;
    END matches;

    FUNCTION number_at (p_payload IN data_records.payload%TYPE, p_field IN VARCHAR2) RETURN NUMBER DETERMINISTIC IS
        have JSON_ELEMENT_T;
    BEGIN
        IF p_field IS NULL THEN
            RETURN NULL;
        END IF;
        have := JSON_OBJECT_T(p_payload).get(p_field);
        IF have IS NULL OR NOT have.is_number THEN
            RETURN NULL;
        END IF;
        RETURN have.to_number;
    END number_at;

    FUNCTION text_at (p_payload IN data_records.payload%TYPE, p_field IN VARCHAR2) RETURN VARCHAR2 DETERMINISTIC IS
        have JSON_ELEMENT_T;
    BEGIN
        IF p_field IS NULL THEN
            RETURN NULL;
        END IF;
        have := JSON_OBJECT_T(p_payload).get(p_field);
        IF have IS NULL OR NOT have.is_string THEN
            RETURN NULL;
        END IF;
        RETURN SUBSTR(have.to_string, 2, LENGTH(have.to_string) - 2);
    END text_at;

END data_query;
/

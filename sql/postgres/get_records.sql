-- name: get_records
-- Many records by id in one statement: the reads by id that arrive together (reads.py gathers
-- those of one turn of the event loop), each among the records created within its own
-- [created_from, created_to), as get_record. One round trip for all of them. The lookup is a
-- LATERAL subquery with LIMIT 1 (an id names one record) so that it stays one primary-key
-- probe an id, the partitions pruned by that id's range as it runs, whatever the table's size:
-- joined plainly, a small table gets a hash join over every partition.
-- returns: one row for each id found (id, user_id, payload, created_at, updated_at, version), in no order
-- index: primary key (id, created_at, user_id), once for each id; partitions pruned at execution
-- shards: fan-out: the reads by id name no user, as get_record
SELECT r.id, r.user_id, r.payload, r.created_at, r.updated_at, r.version
  FROM unnest(:ids::uuid[], :created_from::timestamptz[], :created_to::timestamptz[])
           AS wanted (id, created_from, created_to)
 CROSS JOIN LATERAL (
       SELECT id::text, user_id, payload::text, created_at, updated_at, version
         FROM data_records
        WHERE id = wanted.id
          AND created_at >= wanted.created_from
          AND created_at < wanted.created_to
        LIMIT 1
       ) AS r

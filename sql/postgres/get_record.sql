-- name: get_record
-- One record by id, among those created within [created_from, created_to): the range a UUIDv7
-- id names (its moment, give or take the clocks' skew) prunes the lookup to the one or two
-- monthly partitions it can lie in. Ids that carry no time are looked up with open bounds
-- (0001-01-01 to 9999-12-31): every partition's primary key index is probed.
-- returns: zero or one row (id, user_id, payload, created_at, updated_at, version)
-- index: primary key (id, created_at, user_id); partitions pruned at execution
-- shards: fan-out: GET /data/{id} names no user; one primary-key probe on each shard
SELECT id::text, user_id, payload::text, created_at, updated_at, version
  FROM data_records
 WHERE id = :id::uuid
   AND created_at >= :created_from
   AND created_at < :created_to

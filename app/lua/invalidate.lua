-- A user wrote: move the user's generation on and drop every cached page in one step,
-- without scanning the keyspace.
-- KEYS[1] user_data:{user} (hash of pages)   KEYS[2] user_data:{user}:gen
-- ARGV[1] how long the generation is kept, in seconds (far longer than any read takes)
local generation = redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], ARGV[1])
redis.call('DEL', KEYS[1])
return generation

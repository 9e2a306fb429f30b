-- Caches a page unless the user wrote since the reader looked (read-your-writes).
-- KEYS[1] user_data:{user} (hash of pages)   KEYS[2] user_data:{user}:gen
-- ARGV[1] page key   ARGV[2] page   ARGV[3] TTL in seconds   ARGV[4] generation the page was read under
-- The hash expires TTL seconds after its first page, so no page outlives the TTL.
if (redis.call('GET', KEYS[2]) or '0') ~= ARGV[4] then
    return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3], 'NX')
return 1

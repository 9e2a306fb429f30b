-- The per-user token bucket and, in the same round trip, the user's cached page.
-- All keys share the user's hash tag ({user_id}), so the script is safe on Redis Cluster.
--
-- KEYS[1]  rate_limit:{user}         hash: t (tokens left), ts (last refill, ms of Redis's clock)
-- KEYS[2]  user_data:{user}          hash of cached pages, field = page key   (optional)
-- KEYS[3]  user_data:{user}:gen      the user's write generation              (optional)
-- ARGV[1]  rate (tokens a window; 0 skips the bucket)    ARGV[2]  window in seconds
-- ARGV[3]  page key    ARGV[4]  generation the caller already holds the page for ('' if none)
--
-- Returns {allowed, tokens left, ms until the next token, generation, page or nil}; the page is
-- nil when refused, when absent, or when the caller's copy is current.
local rate = tonumber(ARGV[1])
local allowed, left, wait_ms = 1, 0, 0
if rate > 0 then
    local window_ms = tonumber(ARGV[2]) * 1000
    local clock = redis.call('TIME')
    local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
    local state = redis.call('HMGET', KEYS[1], 't', 'ts')
    local tokens = tonumber(state[1]) or rate
    local stamp = tonumber(state[2]) or now
    local per_ms = rate / window_ms
    tokens = math.min(rate, tokens + math.max(0, now - stamp) * per_ms)
    if tokens >= 1 then
        tokens = tokens - 1
    else
        allowed = 0
        wait_ms = math.ceil((1 - tokens) / per_ms)
    end
    redis.call('HSET', KEYS[1], 't', string.format('%.6f', tokens), 'ts', string.format('%d', now))
    redis.call('PEXPIRE', KEYS[1], window_ms)
    left = math.floor(tokens)
end
if allowed == 0 or #KEYS < 3 then
    return {allowed, left, wait_ms, false, false}
end
local generation = redis.call('GET', KEYS[3]) or '0'
if generation == ARGV[4] then
    return {allowed, left, wait_ms, generation, false}
end
return {allowed, left, wait_ms, generation, redis.call('HGET', KEYS[2], ARGV[3])}

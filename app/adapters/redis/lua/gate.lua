-- The per-user token bucket and, in the same round trip, the user's cached page and a lease.
-- All keys share the user's hash tag ({user_id}), so the script is safe on Redis Cluster.
--
-- KEYS[1]  rate_limit:{user}         hash: t (tokens left), ts (last refill, ms of Redis's clock)
-- KEYS[2]  user_data:{user}          hash of cached pages, field = page key   (optional)
-- KEYS[3]  user_data:{user}:gen      the user's write generation              (optional)
-- KEYS[4]  user_data:{user}:leases   sorted set: holder -> ms its read lease ends (optional)
-- KEYS[5]  user_data:{user}:asked    hash: page key -> misses counted (optional)
-- ARGV[1]  tokens wanted (0 skips the bucket; more than 1 leases the spare ones to the caller)
-- ARGV[2]  bucket size (tokens a window)    ARGV[3]  window in seconds
-- ARGV[4]  page key    ARGV[5]  generation the caller already holds the page for ('' if none)
-- ARGV[6]  read lease in ms (0: none)       ARGV[7]  the caller's holder id
-- ARGV[8]  '1' when the request needs a token of its own, '0' when it holds one already and
--          only tops up its process's spare tokens (an empty bucket then refuses nothing)
-- ARGV[9]  misses of a page before it is worth keeping (1: at once; more counts them in KEYS[5])
-- ARGV[10] seconds the misses are counted, from the first one counted
--
-- Returns {allowed, tokens granted, tokens left, ms until the next token, generation, page or
-- false, keep}; the page is false when refused, when absent, or when the caller's copy is
-- current; keep is 0 for a page absent and asked for fewer than ARGV[9] times, else 1.
-- A read lease promises the holder that no write of this user is acknowledged before the
-- holder has been told (invalidate.lua) or the lease has ended.
local want = tonumber(ARGV[1])
local allowed, granted, left, wait_ms = 1, 0, 0, 0
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
if want > 0 then
    local rate = tonumber(ARGV[2])
    local window_ms = tonumber(ARGV[3]) * 1000
    local state = redis.call('HMGET', KEYS[1], 't', 'ts')
    local tokens = tonumber(state[1]) or rate
    local stamp = tonumber(state[2]) or now
    local per_ms = rate / window_ms
    tokens = math.min(rate, tokens + math.max(0, now - stamp) * per_ms)
    if tokens >= 1 then
        granted = math.min(want, math.floor(tokens))
        tokens = tokens - granted
    elseif ARGV[8] ~= '0' then
        allowed = 0
        wait_ms = math.ceil((1 - tokens) / per_ms)
    end
    redis.call('HSET', KEYS[1], 't', string.format('%.6f', tokens), 'ts', string.format('%d', now))
    redis.call('PEXPIRE', KEYS[1], window_ms)
    left = math.floor(tokens)
end
if allowed == 0 or #KEYS < 3 then
    return {allowed, granted, left, wait_ms, false, false, 1}
end
local lease_ms = tonumber(ARGV[6])
if #KEYS >= 4 and lease_ms > 0 then
    redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now)
    redis.call('ZADD', KEYS[4], now + lease_ms, ARGV[7])
    redis.call('PEXPIRE', KEYS[4], lease_ms)  -- every lease has the same length: this is the last end
end
local generation = redis.call('GET', KEYS[3]) or '0'
if generation == ARGV[5] then
    return {allowed, granted, left, wait_ms, generation, false, 1}
end
local page = redis.call('HGET', KEYS[2], ARGV[4])
local min_uses = tonumber(ARGV[9]) or 1
if page or min_uses <= 1 or #KEYS < 5 or ARGV[4] == '' then
    return {allowed, granted, left, wait_ms, generation, page, 1}
end
-- The count is kept once reached: a page in demand is kept again at once after a write.
local asked = redis.call('HINCRBY', KEYS[5], ARGV[4], 1)
if redis.call('PTTL', KEYS[5]) < 0 then
    redis.call('PEXPIRE', KEYS[5], math.max(1, tonumber(ARGV[10])) * 1000)
end
return {allowed, granted, left, wait_ms, generation, false, asked >= min_uses and 1 or 0}

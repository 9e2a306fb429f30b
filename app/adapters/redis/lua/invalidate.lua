-- A user wrote: move the user's generation on, drop every cached page and end every read lease
-- in one step, without scanning the keyspace.
-- KEYS[1] user_data:{user} (hash of pages)   KEYS[2] user_data:{user}:gen
-- KEYS[3] user_data:{user}:leases (sorted set: holder -> ms its lease ends)
-- ARGV[1] how long the generation is kept, in seconds (far longer than any read takes)
-- ARGV[2] the writer's holder id   ARGV[3] channel prefix   ARGV[4] the message to the holders
--
-- Each other holder of a live lease is told on its channel (prefix .. holder); the writer waits
-- for their acknowledgements, and waits out the leases of holders nobody was listening for.
-- Returns {generation, holders told, ms their leases still run, ms the unheard ones still run}.
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
-- A generation that was lost (expired, or Redis restarted empty) starts again above any it
-- had before, from the clock: a page copy kept under an old number can never match again.
if redis.call('EXISTS', KEYS[2]) == 0 then
    redis.call('SET', KEYS[2], string.format('%d', now * 1000))
end
local generation = redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], ARGV[1])
redis.call('DEL', KEYS[1])
local held = redis.call('ZRANGEBYSCORE', KEYS[3], '(' .. now, '+inf', 'WITHSCORES')
redis.call('DEL', KEYS[3])
local told, told_ms, unheard_ms = 0, 0, 0
local message = generation .. ' ' .. ARGV[4]
for i = 1, #held, 2 do
    local holder, remaining = held[i], tonumber(held[i + 1]) - now
    if holder ~= ARGV[2] then
        if redis.call('PUBLISH', ARGV[3] .. holder, message) > 0 then
            told = told + 1
            told_ms = math.max(told_ms, remaining)
        else
            unheard_ms = math.max(unheard_ms, remaining)
        end
    end
end
return {generation, told, told_ms, unheard_ms}

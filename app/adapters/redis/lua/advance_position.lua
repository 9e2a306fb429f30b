-- A user's latest write position, kept only while a replica could still lack it.
-- KEYS[1] user_data:{user}:position   ARGV[1] the write's position   ARGV[2] seconds to keep it
-- A position lower than the one kept changes nothing (writes of other processes may finish in
-- any order); the time to keep it starts again with each write.
local kept = tonumber(redis.call('GET', KEYS[1]) or '0')
local position = tonumber(ARGV[1])
if position < kept then
    position = kept
end
redis.call('SET', KEYS[1], string.format('%d', position), 'EX', ARGV[2])
return 1

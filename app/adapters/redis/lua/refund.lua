-- Spare tokens a process was handed and did not spend go back to the user's bucket.
-- KEYS[1] rate_limit:{user}   ARGV[1] tokens
-- The gate caps the bucket at its size when it next refills it; a bucket that has expired is
-- full already.
if redis.call('EXISTS', KEYS[1]) == 1 then
    redis.call('HINCRBYFLOAT', KEYS[1], 't', ARGV[1])
end
return 0

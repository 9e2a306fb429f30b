-- One wrk script for every scenario; SCENARIO picks the request. Counts answers by class and
-- prints one machine-readable RESULT line in done().
--   post       POST /data, ~1 KB payload, users w1..w{POST_USERS}
--   get_hot    GET /data page 1 of u1..u{HOT_USERS} (cache hits after the first)
--   get_hot_gzip  the same with Accept-Encoding: gzip (the stored page's gzip copy answers)
--   get_hot_304   the same with If-None-Match: the page's ETag from TAGS_FILE ("user<TAB>tag"
--                 lines), so every answer is a 304 (counted as answered)
--   get_cold   GET /data with a random page_size 10..100: nearly every request misses the cache
--   get_by_id  GET /data/{id} over the ids in IDS_FILE
--   write_read a user's write, then a read of that user's page (read-your-writes: the read
--              misses the cache the write dropped), users r1..r{POST_USERS}
--   get_filtered  get_cold's pages narrowed by two payload fields (payload.active=true&payload.seq__gt=3)
--   get_searched  get_cold's pages narrowed by a full-text search for one of 97 tags (q=tagN)
--   health     GET /health
local scenario = os.getenv("SCENARIO") or "health"
local function env_int(name, default) return tonumber(os.getenv(name) or "") or default end
local hot_users, cold_users, post_users = env_int("HOT_USERS", 5000), env_int("COLD_USERS", 10000),
   env_int("POST_USERS", 10000)
local ids = {}
local body = '{"user_id":"%s","payload":{"title":"bench","type":"order","status":"open","seq":%d,' ..
   '"tags":["alpha","beta","gamma"],"attrs":{"color":"blue","size":7},"body":"' ..
   string.rep("0123456789abcdef", 56) .. '"}}'
local threads = {}
local turn, writer = 0, 0

function setup(thread) table.insert(threads, thread) end

function init(args)
   math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)") or "0", 16) % 100000)
   if scenario == "get_by_id" then
      for line in io.lines(os.getenv("IDS_FILE")) do ids[#ids + 1] = line end
   elseif scenario == "get_hot_304" then
      for line in io.lines(os.getenv("TAGS_FILE")) do
         local user, tag = line:match("^(%S+)\t(.+)$")
         ids[#ids + 1] = {user, tag}
      end
   end
   wrk.headers["Content-Type"] = "application/json"
end

function request()
   if scenario == "post" then
      return wrk.format("POST", "/data", nil, string.format(body, "w" .. math.random(post_users), math.random(1e6)))
   elseif scenario == "get_hot" then
      return wrk.format("GET", "/data?user_id=u" .. math.random(hot_users) .. "&page=1&page_size=20")
   elseif scenario == "get_hot_gzip" then
      return wrk.format("GET", "/data?user_id=u" .. math.random(hot_users) .. "&page=1&page_size=20",
         {["Accept-Encoding"] = "gzip"})
   elseif scenario == "get_hot_304" then
      local pick = ids[math.random(#ids)]
      return wrk.format("GET", "/data?user_id=" .. pick[1] .. "&page=1&page_size=20",
         {["If-None-Match"] = pick[2]})
   elseif scenario == "get_cold" then
      return wrk.format("GET", string.format("/data?user_id=u%d&page=1&page_size=%d",
         math.random(cold_users), math.random(10, 100)))
   elseif scenario == "get_filtered" then
      return wrk.format("GET", string.format("/data?user_id=u%d&page=1&page_size=%d&payload.active=true" ..
         "&payload.seq__gt=3", math.random(cold_users), math.random(10, 100)))
   elseif scenario == "get_searched" then
      return wrk.format("GET", string.format("/data?user_id=u%d&page=1&page_size=%d&q=tag%d",
         math.random(cold_users), math.random(10, 100), math.random(0, 96)))
   elseif scenario == "get_by_id" then
      return wrk.format("GET", "/data/" .. ids[math.random(#ids)])
   elseif scenario == "write_read" then
      turn = turn + 1
      if turn % 2 == 1 then
         writer = math.random(post_users)
         return wrk.format("POST", "/data", nil, string.format(body, "r" .. writer, turn))
      end
      return wrk.format("GET", "/data?user_id=r" .. writer .. "&page=1&page_size=20")
   end
   return wrk.format("GET", "/health")
end

ok, limited, other = 0, 0, 0
function response(status, headers, resp_body)
   if (status >= 200 and status < 300) or status == 304 then ok = ok + 1
   elseif status == 429 then limited = limited + 1
   else other = other + 1 end
end

function done(summary, latency, requests)
   local n_ok, n_limited, n_other = 0, 0, 0
   for _, t in ipairs(threads) do
      n_ok = n_ok + (t:get("ok") or 0)
      n_limited = n_limited + (t:get("limited") or 0)
      n_other = n_other + (t:get("other") or 0)
   end
   local secs = summary.duration / 1e6
   local e = summary.errors
   io.write(string.format('RESULT {"requests":%d,"req_s":%.1f,"ok_req_s":%.1f,"p50_ms":%.2f,' ..
      '"p99_ms":%.2f,"status_429":%d,"other_non2xx":%d,"socket_errors":%d}\n',
      summary.requests, summary.requests / secs, n_ok / secs, latency:percentile(50) / 1000,
      latency:percentile(99) / 1000, n_limited, n_other, e.connect + e.read + e.write + e.timeout))
end

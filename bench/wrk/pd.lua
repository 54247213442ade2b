-- wrk script: one PagerDuty Events v2 "trigger" per request.
--
--   wrk ... -s bench/wrk/pd.lua http://127.0.0.1:PORT/v2/enqueue -- RUN_TAG [ROUTING_KEY] [KEYS]
--
-- With KEYS 0 (the default) every request carries a new dedup_key
-- ("k-<run>-<thread>-<n>"), so each request is a distinct alert, never a
-- dedup hit; RUN_TAG keeps warm-up and measured runs (and repeated runs
-- against one server) apart. With KEYS N each thread cycles over N keys
-- ("c-<thread>-<n mod N>", the same in every run): after the first N
-- requests of a thread, triggers are re-sends of open alerts.

local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(dir .. "common.lua")

setup = common.setup
done = common.done

local run_tag, routing_key, keys
local n = 0
local prefix

function init(args)
   run_tag = args[1] or "run"
   routing_key = args[2] or "benchbenchbenchbenchbenchbench01"
   keys = tonumber(args[3] or "0")
   wrk.method = "POST"
   wrk.headers["Content-Type"] = "application/json"
   prefix = string.format("%s-%d", run_tag, thread_id or 0)
end

local function key()
   if keys > 0 then
      return string.format("c-%d-%d", thread_id or 0, n % keys)
   end
   return string.format("k-%s-%d", prefix, n)
end

function request()
   n = n + 1
   local body = string.format(
      '{"routing_key":"%s","event_action":"trigger","dedup_key":"%s",' ..
      '"payload":{"summary":"bench %s-%d","source":"bench-host","severity":"critical"}}',
      routing_key, key(), prefix, n)
   return wrk.format(nil, nil, nil, body)
end

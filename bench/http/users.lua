-- users.lua - wrk script: POST the provisioning form as user0..user(N-1) in turn (N from the
-- environment variable USERS, default 100), so concurrent requests carry different credentials
-- and no two of them share a password check. The password of user<i> is pw-user<i>.
local n = tonumber(os.getenv("USERS") or "100")
local i = 0
local threads = 0

function setup(thread)
   thread:set("tid", threads)
   threads = threads + 1
end

function init(args)
   -- threads start far apart in the user list (tid is the global set by setup)
   i = math.floor((tid or 0) * n / 2) % n
end

request = function()
   i = (i + 1) % n
   local body = "username=user" .. i .. "&password=pw-user" .. i .. "&os=Linux"
   return wrk.format("POST", "/jitsi", { ["Content-Type"] = "application/x-www-form-urlencoded", ["User-Agent"] = "Jitsi/2.10.5550" }, body)
end

-- Deliberate failures for the lua plugin's integration tests, one route each (mounted at /t).
local routes = {}

routes["/boom"] = function()
  local function explode() error("deliberate failure") end
  explode()
end

routes["/chunk"] = function()
  return 200, {}, coroutine.wrap(function() coroutine.yield({}) end)
end

routes["/status"] = function()
  return "OK", {}, "body"
end

routes["/log"] = function(env)
  env.error:write("note from the app")
  return 200, {["Content-Type"] = "text/plain"}, "logged"
end

routes["/vars"] = function(env)
  local out = env.SCRIPT_NAME .. "|" .. env.PATH_INFO .. "|" .. env.REQUEST_METHOD
  return 200, {["Content-Type"] = "text/plain"}, out
end

return function(env)
  local route = routes[env.PATH_INFO]
  if not route then
    return 404, {["Content-Type"] = "text/plain"}, "no route\n"
  end
  return route(env)
end

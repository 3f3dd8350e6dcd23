-- The Lua default app (`lua = ...`) of the routing test: says it is the root app, and where.
return function(env)
  return 200, {["Content-Type"] = "text/plain"}, "luaroot " .. env.SCRIPT_NAME .. "|" .. env.PATH_INFO
end

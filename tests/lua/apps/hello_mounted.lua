-- The Lua half of the side-by-side test: says which language answered, and where.
return function(env)
  return 200, {["Content-Type"] = "text/plain"}, "lua " .. env.SCRIPT_NAME .. "|" .. env.PATH_INFO
end

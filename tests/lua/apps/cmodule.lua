-- Loads a Lua C module (lfs.so, from Debian's lua-filesystem): it needs LuaJIT's lua_* symbols
-- to be global in the process. Says "absent" when the module is not installed at all.
local ok, lfs = pcall(require, "lfs")
return function(env)
  if ok then
    return 200, {["Content-Type"] = "text/plain"}, "lfs " .. tostring(lfs.currentdir ~= nil)
  end
  if tostring(lfs):find("module 'lfs' not found", 1, true) then
    return 200, {["Content-Type"] = "text/plain"}, "absent"
  end
  return 500, {["Content-Type"] = "text/plain"}, tostring(lfs)
end

-- An app written against Debian's lua-wsapi helpers (wsapi.request / wsapi.response), which
-- run unchanged under kiln: a form that greets whoever posts their name.
local request = require "wsapi.request"
local response = require "wsapi.response"

local app = {}

function app.run(wsapi_env)
  local req = request.new(wsapi_env)
  local res = response.new(200, {["Content-Type"] = "text/html; charset=utf-8"})
  local name = req.POST.name or req.GET.name
  if name and name ~= "" then
    res:set_cookie("name", name)
    res:write("<p>Hello, ", (name:gsub("[<>&\"]", "")), "!</p>")
  end
  res:write([[<form method="post" action="]], req.script_name, req.path_info, [[">]],
            [[<input name="name"> <button>Greet</button></form>]])
  return res:finish()
end

return app

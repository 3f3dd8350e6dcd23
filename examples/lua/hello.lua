-- Hello world as a WSAPI app: kiln --http-socket 127.0.0.1:8080 --plugins lua --lua hello.lua
return function(wsapi_env)
  local body = "Hello, world!\n"
  return 200, {["Content-Type"] = "text/plain", ["Content-Length"] = #body},
    coroutine.wrap(function() coroutine.yield(body) end)
end

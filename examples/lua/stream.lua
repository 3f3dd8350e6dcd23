-- A streaming body from a coroutine: each yield goes out as it is produced (chunked on
-- HTTP/1.1). Headers with several values are given as a table: one header line each.
return function(wsapi_env)
  local count = tonumber(wsapi_env.QUERY_STRING:match("n=(%d+)")) or 5
  local headers = {
    ["Content-Type"] = "text/plain",
    ["Set-Cookie"] = {"first=1; Path=/", "second=2; Path=/"},
  }
  return "200 OK", headers, coroutine.wrap(function()
    for i = 1, count do
      coroutine.yield(string.format("line %d of %d\n", i, count))
    end
  end)
end

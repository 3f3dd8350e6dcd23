-- Echoes the request body back, reading it in 64 KiB pieces so a large upload never sits in
-- memory twice: curl --data-binary @big.file http://127.0.0.1:8080/
return function(wsapi_env)
  local input = wsapi_env.input
  local headers = {["Content-Type"] = wsapi_env.CONTENT_TYPE ~= "" and wsapi_env.CONTENT_TYPE
                   or "application/octet-stream"}
  if wsapi_env.CONTENT_LENGTH and wsapi_env.CONTENT_LENGTH ~= "" then
    headers["Content-Length"] = wsapi_env.CONTENT_LENGTH
  end
  return 200, headers, function()
    return input:read(65536)  -- nil at the end of the body ends the response
  end
end

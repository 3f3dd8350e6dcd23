-- A script that does not compile: kiln must refuse to start and name this file and line 4.
return function(env)
  local greeting = "hello"
  greeting = = "bye"
  return 200, {}, greeting
end

// Small clients for the lua plugin's integration tests: an HTTP/1.1 exchange that sends and
// reads interleaved (so large echoes never deadlock) and de-chunks, and a uwsgi request with a
// chosen modifier1, as nginx's `uwsgi_modifier1` sends it.
#pragma once

#include <cstdint>
#include <string>

namespace kiln::lua_test {

struct Reply {
  int status = 0;
  std::string head;
  std::string body;  // de-chunked when the response was chunked
  bool chunked = false;
};

// Sends `raw` on a new connection to `address` (unix path or host:port) and reads until the
// server closes. Records a test failure when no complete response head arrives.
Reply Exchange(const std::string& address, const std::string& raw);

// An HTTP/1.1 request with Connection: close (and Content-Length for a body).
Reply Http(const std::string& address, const std::string& method, const std::string& target,
           const std::string& body = "", const std::string& extra_headers = "");

// A GET as nginx's uwsgi_pass sends it, with the given modifier1.
Reply Uwsgi(const std::string& address, uint8_t modifier1, const std::string& path);

// Paths of the files the tests use, in the source tree.
std::string Examples(const std::string& file);  // examples/lua/<file>
std::string Apps(const std::string& file);      // tests/lua/apps/<file>

}  // namespace kiln::lua_test

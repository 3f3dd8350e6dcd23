// The lua plugin's integration tests talk to kiln through the shared client
// (tests/lib/kiln_process.h); these wrappers record a test failure instead of returning a
// status, and name the files the tests serve.
#pragma once

#include <cstdint>
#include <string>

#include "tests/lib/kiln_process.h"

namespace kiln::lua_test {

using Reply = kiln::testing::Response;

// An HTTP/1.1 request with Connection: close (and Content-Length for a body); `extra_headers`
// are whole "Name: value\r\n" lines. A failed exchange is a test failure and an empty Reply.
Reply Http(const std::string& address, const std::string& method, const std::string& target,
           const std::string& body = "", const std::string& extra_headers = "");

// A GET as nginx's uwsgi_pass sends it, with the given modifier1.
Reply Uwsgi(const std::string& address, uint8_t modifier1, const std::string& path);

// Paths of the files the tests use, in the source tree.
std::string Examples(const std::string& file);  // examples/lua/<file>
std::string Apps(const std::string& file);      // tests/lua/apps/<file>

}  // namespace kiln::lua_test

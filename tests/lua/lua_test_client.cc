// The lua plugin integration tests' wrappers over the shared client.
#include "tests/lua/lua_test_client.h"

#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace kiln::lua_test {
namespace {

// Large echoes and slow apps get more time than the shared client's default.
constexpr absl::Duration kTimeout = absl::Seconds(30);

Reply OrFailure(absl::StatusOr<kiln::testing::Response> r) {
  if (!r.ok()) {
    ADD_FAILURE() << r.status();
    return Reply{};
  }
  return *std::move(r);
}

}  // namespace

std::string Examples(const std::string& file) {
  return std::string(KILN_LUA_SOURCE_DIR) + "/examples/lua/" + file;
}
std::string Apps(const std::string& file) {
  return std::string(KILN_LUA_SOURCE_DIR) + "/tests/lua/apps/" + file;
}

Reply Http(const std::string& address, const std::string& method, const std::string& target,
           const std::string& body, const std::string& extra_headers) {
  std::string req = method + " " + target + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n";
  if (!body.empty() || method == "POST") {
    req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  }
  return OrFailure(kiln::testing::Exchange(address, req + extra_headers + "\r\n" + body, kTimeout));
}

Reply Uwsgi(const std::string& address, uint8_t modifier1, const std::string& path) {
  return OrFailure(kiln::testing::UwsgiRequest(address, modifier1, path, kTimeout));
}

}  // namespace kiln::lua_test

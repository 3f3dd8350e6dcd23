// The lua plugin integration tests' clients.
#include "tests/lua/lua_test_client.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/numbers.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/lib/kiln_process.h"

namespace kiln::lua_test {
namespace {

std::string Dechunk(const std::string& in, bool* ok) {
  std::string out;
  size_t pos = 0;
  *ok = false;
  for (;;) {
    size_t eol = in.find("\r\n", pos);
    if (eol == std::string::npos) {
      return out;
    }
    size_t size = std::stoul(in.substr(pos, eol - pos), nullptr, 16);
    pos = eol + 2;
    if (size == 0) {
      *ok = true;
      return out;
    }
    out += in.substr(pos, size);
    pos += size + 2;
  }
}

void AppendVar(std::string* out, const std::string& k, const std::string& v) {
  out->push_back(static_cast<char>(k.size() & 0xff));
  out->push_back(static_cast<char>(k.size() >> 8));
  *out += k;
  out->push_back(static_cast<char>(v.size() & 0xff));
  out->push_back(static_cast<char>(v.size() >> 8));
  *out += v;
}

}  // namespace

std::string Examples(const std::string& file) {
  return std::string(KILN_LUA_SOURCE_DIR) + "/examples/lua/" + file;
}
std::string Apps(const std::string& file) {
  return std::string(KILN_LUA_SOURCE_DIR) + "/tests/lua/apps/" + file;
}

// Sends `raw` and reads until the peer closes (the requests say Connection: close). Sends and
// reads interleaved, as a real client does, so a server echoing a large body never blocks on
// a client that is still sending.
Reply Exchange(const std::string& address, const std::string& raw) {
  Reply reply;
  auto fd = kiln::testing::Connect(address);
  if (!fd.ok()) {
    ADD_FAILURE() << fd.status();
    return reply;
  }
  size_t off = 0;
  std::string data;
  absl::Time deadline = absl::Now() + absl::Seconds(30);
  char buf[65536];
  while (absl::Now() < deadline) {
    pollfd p{*fd, static_cast<short>(POLLIN | (off < raw.size() ? POLLOUT : 0)), 0};
    if (poll(&p, 1, 200) <= 0) {
      continue;
    }
    if ((p.revents & POLLOUT) != 0) {
      ssize_t n = send(*fd, raw.data() + off, raw.size() - off, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        off += static_cast<size_t>(n);
      }
    }
    if ((p.revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
      ssize_t n = recv(*fd, buf, sizeof(buf), MSG_DONTWAIT);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        break;
      }
      if (n > 0) {
        data.append(buf, static_cast<size_t>(n));
      }
    }
  }
  close(*fd);
  size_t end = data.find("\r\n\r\n");
  if (end == std::string::npos) {
    ADD_FAILURE() << "no complete response head: " << data.substr(0, 200);
    return reply;
  }
  reply.head = data.substr(0, end);
  reply.body = data.substr(end + 4);
  if (reply.head.size() > 12) {
    (void)absl::SimpleAtoi(reply.head.substr(9, 3), &reply.status);
  }
  if (reply.head.find("Transfer-Encoding: chunked") != std::string::npos) {
    bool ok = false;
    reply.body = Dechunk(reply.body, &ok);
    reply.chunked = true;
    EXPECT_TRUE(ok) << "chunked body did not end with the last chunk";
  }
  return reply;
}

Reply Http(const std::string& address, const std::string& method, const std::string& target,
           const std::string& body, const std::string& extra_headers) {
  std::string req = method + " " + target + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n";
  if (!body.empty() || method == "POST") {
    req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  }
  return Exchange(address, req + extra_headers + "\r\n" + body);
}

Reply Uwsgi(const std::string& address, uint8_t modifier1, const std::string& path) {
  std::string vars;
  AppendVar(&vars, "REQUEST_METHOD", "GET");
  AppendVar(&vars, "REQUEST_URI", path);
  AppendVar(&vars, "PATH_INFO", path);
  AppendVar(&vars, "QUERY_STRING", "");
  AppendVar(&vars, "CONTENT_TYPE", "");
  AppendVar(&vars, "CONTENT_LENGTH", "");
  AppendVar(&vars, "SERVER_PROTOCOL", "HTTP/1.1");
  AppendVar(&vars, "SERVER_NAME", "localhost");
  AppendVar(&vars, "SERVER_PORT", "80");
  AppendVar(&vars, "REMOTE_ADDR", "127.0.0.1");
  AppendVar(&vars, "HTTP_HOST", "localhost");
  std::string pkt;
  pkt.push_back(static_cast<char>(modifier1));
  pkt.push_back(static_cast<char>(vars.size() & 0xff));
  pkt.push_back(static_cast<char>(vars.size() >> 8));
  pkt.push_back(0);
  return Exchange(address, pkt + vars);
}

}  // namespace kiln::lua_test

// The built-in test handler's few endpoints and the no-app handler (see builtin_handler.h).
#include "core/net/builtin_handler.h"

#include <algorithm>
#include <chrono>
#include <string>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "core/base/strings.h"
#include "core/log/logger.h"

namespace kiln::net {
namespace {

// The value of `key` in a query string ("s=2&x=y"), or "".
std::string_view QueryParam(std::string_view query, std::string_view key) {
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view item = query.substr(0, amp);
    if (item.size() > key.size() && item.substr(0, key.size()) == key && item[key.size()] == '=') {
      return item.substr(key.size() + 1);
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return {};
}

// What /vars shows: the request line, addresses and body framing. Request headers (HTTP_*)
// carry credentials (Authorization, Cookie) and so may variables a front end adds
// (REMOTE_USER, AUTH_TYPE, any uwsgi_param): an allow-list, so nothing new leaks by default.
constexpr std::string_view kShownVars[] = {
    "REQUEST_METHOD",  "REQUEST_URI",    "PATH_INFO",    "QUERY_STRING",   "SCRIPT_NAME",
    "SERVER_PROTOCOL", "REQUEST_SCHEME", "HTTPS",        "SERVER_NAME",    "SERVER_PORT",
    "REMOTE_ADDR",     "REMOTE_PORT",    "CONTENT_TYPE", "CONTENT_LENGTH", "DOCUMENT_ROOT"};

bool Shown(std::string_view name) {
  return std::find(std::begin(kShownVars), std::end(kShownVars), name) != std::end(kShownVars);
}

void Reply(protocol::RequestContext& r, int status, std::string_view body) {
  if (r.StartResponse(status, "", {{"Content-Type", "text/plain"}}).ok()) {
    (void)r.WriteBody(body);
  }
}

}  // namespace

void BuiltinHandler::Handle(protocol::RequestContext& r) {
  // Endpoints are matched on the last path segment, so they work under any mount point
  // (/echo, /app/echo).
  std::string_view path = r.Var("PATH_INFO").value_or("");
  if (size_t slash = path.rfind('/'); slash != std::string_view::npos) path.remove_prefix(slash);
  const std::string_view query = r.Var("QUERY_STRING").value_or("");
  if (path == "/echo") {
    std::string body;
    char buf[16384];
    while (true) {
      absl::StatusOr<size_t> n = r.ReadBody(buf, sizeof(buf));
      if (!n.ok()) return;  // the core answers with the body's error status
      if (*n == 0) break;
      body.append(buf, *n);
    }
    Reply(r, 200, body);
  } else if (path == "/vars") {
    std::string body;
    r.ForEachVar([&](std::string_view k, std::string_view v) {
      if (Shown(k)) absl::StrAppend(&body, base::Av(k), "=", base::Av(v), "\n");
    });
    Reply(r, 200, body);
  } else if (path == "/sleep") {
    double secs = 0;
    if (!absl::SimpleAtod(base::Av(QueryParam(query, "s")), &secs)) secs = 1;
    secs = std::clamp(secs, 0.0, 3600.0);
    std::this_thread::sleep_for(std::chrono::duration<double>(secs));
    Reply(r, 200, "slept\n");
  } else if (path == "/chunks") {
    int n = 3;
    (void)absl::SimpleAtoi(base::Av(QueryParam(query, "n")), &n);
    n = std::clamp(n, 0, 100000);
    if (!r.StartResponse(200, "", {{"Content-Type", "text/plain"}}).ok()) return;
    for (int i = 0; i < n; ++i) {
      if (!r.WriteBody(absl::StrCat("chunk ", i, "\n")).ok()) return;
    }
  } else if (path == "/bytes") {
    uint64_t n = 0;
    (void)absl::SimpleAtoi(base::Av(QueryParam(query, "n")), &n);
    if (!r.StartResponse(200, "", {{"Content-Type", "application/octet-stream"}}).ok()) return;
    const std::string piece(65536, 'x');
    while (n > 0) {
      const size_t len = static_cast<size_t>(std::min<uint64_t>(n, piece.size()));
      if (!r.WriteBody(std::string_view(piece).substr(0, len)).ok()) return;
      n -= len;
    }
  } else if (path == "/status") {
    int code = 200;
    if (!absl::SimpleAtoi(base::Av(QueryParam(query, "code")), &code) || code < 100 ||
        code > 999) {
      code = 400;
    }
    Reply(r, code, absl::StrCat("status ", code, "\n"));
  } else {
    Reply(r, 200, "hello from kiln\n");
  }
}

void NoAppHandler::Handle(protocol::RequestContext& r) {
  // The request log line names the request; this line says why it failed.
  log::Error("--- no app loaded: answering 500 (need-app = false; see the start-up log) ---");
  Reply(r, 500, "Internal Server Error\n");
}

}  // namespace kiln::net

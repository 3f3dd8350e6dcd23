// Request reading, routing and answer framing for the stats servers' HTTP side.
#include "core/process/stats_http.h"

#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace kiln::process {

bool ReadStatsRequest(int fd, std::string* in) {
  char buf[2048];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n > 0) {
      in->append(buf, static_cast<size_t>(n));
      if (in->find("\r\n\r\n") != std::string::npos || in->find("\n\n") != std::string::npos ||
          in->size() >= kMaxStatsRequestBytes) {
        return true;
      }
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return false;
    return true;  // the client closed its side: answer what it sent
  }
}

std::string HttpAnswer(int code, std::string_view reason, std::string_view type,
                       std::string_view body, bool head_only) {
  std::string out = absl::StrFormat(
      "HTTP/1.0 %d %s\r\nConnection: close\r\nAccess-Control-Allow-Origin: *\r\n"
      "Content-Type: %s\r\nContent-Length: %d\r\n\r\n",
      code, reason, type, body.size());
  if (!head_only) out.append(body);
  return out;
}

std::string AnswerStatsRequest(std::string_view request, const StatsPages& pages) {
  size_t eol = request.find_first_of("\r\n");
  std::string_view line = request.substr(0, eol);
  size_t sp1 = line.find(' ');
  if (request.size() >= kMaxStatsRequestBytes || sp1 == std::string_view::npos) {
    return HttpAnswer(400, "Bad Request", "text/plain", "bad request\n", false);
  }
  std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1);
  target = target.substr(0, target.find(' '));
  target = target.substr(0, target.find('?'));
  const bool head = method == "HEAD";
  if (target == "/metrics") {
    return HttpAnswer(200, "OK", kPrometheusContentType, pages.metrics(), head);
  }
  if (target == "/ready") {
    Readiness r = pages.ready();
    return r.ready ? HttpAnswer(200, "OK", "text/plain", "ready\n", head)
                   : HttpAnswer(503, "Service Unavailable", "text/plain",
                                absl::StrCat("not ready: ", r.why, "\n"), head);
  }
  if (target == "/live") {
    return HttpAnswer(200, "OK", "text/plain", "alive\n", head);
  }
  return HttpAnswer(200, "OK", "application/json", pages.json(), head);
}

std::string PrometheusLabel(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') {
      out.push_back('\\');
      out.push_back(c);
    } else if (c == '\n') {
      out.append("\\n");
    } else {
      out.push_back(c);
    }
  }
  return out;
}

void PrometheusFamily(std::string* out, std::string_view name, std::string_view type,
                      std::string_view help) {
  out->append(absl::StrFormat("# HELP %s %s\n# TYPE %s %s\n", name, help, name, type));
}

}  // namespace kiln::process

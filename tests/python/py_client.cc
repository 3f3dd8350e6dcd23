// The HTTP client and helpers of py_client.h.
#include "tests/python/py_client.h"

#include <poll.h>
#include <unistd.h>

#include <cstdlib>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"

namespace kiln::testing {
namespace {

std::string Dechunk(std::string_view in) {
  std::string out;
  size_t pos = 0;
  while (pos < in.size()) {
    size_t eol = in.find("\r\n", pos);
    if (eol == std::string_view::npos) break;
    size_t len = std::strtoul(std::string(in.substr(pos, eol - pos)).c_str(), nullptr, 16);
    if (len == 0) break;
    out.append(in.substr(eol + 2, len));
    pos = eol + 2 + len + 2;
  }
  return out;
}

}  // namespace

std::string HeaderOf(const Response& r, std::string_view name) {
  std::string lower_name = absl::AsciiStrToLower(std::string(name));
  size_t pos = r.head.find("\r\n");
  while (pos != std::string::npos && pos + 2 < r.head.size()) {
    size_t end = r.head.find("\r\n", pos + 2);
    std::string line = r.head.substr(pos + 2, end == std::string::npos ? std::string::npos
                                                                        : end - pos - 2);
    size_t colon = line.find(':');
    if (colon != std::string::npos &&
        absl::AsciiStrToLower(line.substr(0, colon)) == lower_name) {
      return std::string(absl::StripAsciiWhitespace(line.substr(colon + 1)));
    }
    pos = end;
  }
  return "";
}

absl::StatusOr<Response> HttpRequest(std::string_view address, std::string_view method,
                                     std::string_view target, std::string_view body,
                                     std::string_view content_type, absl::Duration timeout) {
  absl::StatusOr<int> fd = Connect(address);
  if (!fd.ok()) return fd.status();
  std::string req = absl::StrFormat("%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n",
                                    method, target);
  if (!content_type.empty()) req += absl::StrFormat("Content-Type: %s\r\n", content_type);
  if (!body.empty() || method == "POST") {
    req += absl::StrFormat("Content-Length: %d\r\n", body.size());
  }
  req += "\r\n";
  req += body;
  size_t sent = 0;
  while (sent < req.size()) {
    ssize_t n = ::write(*fd, req.data() + sent, req.size() - sent);
    if (n <= 0) {
      ::close(*fd);
      return absl::UnavailableError("write failed");
    }
    sent += static_cast<size_t>(n);
  }
  std::string raw;
  absl::Time deadline = absl::Now() + timeout;
  char buf[65536];
  for (;;) {
    int ms = static_cast<int>(absl::ToInt64Milliseconds(deadline - absl::Now()));
    struct pollfd p = {*fd, POLLIN, 0};
    if (ms <= 0 || ::poll(&p, 1, ms) <= 0) {
      ::close(*fd);
      return absl::DeadlineExceededError("no complete answer in time: " + raw);
    }
    ssize_t n = ::read(*fd, buf, sizeof(buf));
    if (n <= 0) break;
    raw.append(buf, static_cast<size_t>(n));
  }
  ::close(*fd);
  size_t split = raw.find("\r\n\r\n");
  if (split == std::string::npos || raw.size() < 12) {
    return absl::DataLossError("not an HTTP answer: " + raw);
  }
  Response r;
  r.head = raw.substr(0, split);
  r.body = raw.substr(split + 4);
  int status = 0;
  if (!absl::SimpleAtoi(raw.substr(9, 3), &status)) {
    return absl::DataLossError("bad status line: " + r.head);
  }
  r.status = status;
  if (absl::AsciiStrToLower(HeaderOf(r, "Transfer-Encoding")) == "chunked") {
    r.body = Dechunk(r.body);
  }
  return r;
}

bool WaitFor200(std::string_view address, std::string_view target, absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    absl::StatusOr<Response> r = HttpRequest(address, "GET", target, "", "", absl::Seconds(2));
    if (r.ok() && r->status == 200) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

std::string LsanOptionsForPython() {
  return "suppressions=" + SourceDir() + "/tests/python/lsan.supp:print_suppressions=0";
}

std::string SourceDir() {
  const char* s = std::getenv("KILN_SOURCE_DIR");
  return s != nullptr ? s : ".";
}

}  // namespace kiln::testing

// HTTP/1.x request heads, strictly per RFC 9112: obs-fold, CL+TE, TE in HTTP/1.0, a list or
// differing or non-numeric Content-Length, "*" but for OPTIONS, a bad absolute-form authority
// are 400; unknown transfer codings 501; versions other than 1.0/1.1 505.
// Hand-written (docs/protocols.md says why): a small state-free scan over complete lines.
#include "core/protocol/http1_parser.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_format.h"
#include "core/protocol/tchar.h"

namespace kiln::protocol {
namespace {

// Repeated headers are joined by a scan of the ones before, so the count is capped (a head
// of 16k one-letter headers would otherwise cost quadratic time).
constexpr size_t kMaxHeaderFields = 512;

bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if ((a[i] | 0x20) != (b[i] | 0x20)) return false;
  }
  return true;
}

std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') return (c | 0x20) - 'a' + 10;
  return -1;
}

// Finds the next line in [pos, len): returns the end of its content (before CR LF / LF) and
// sets *next past the LF. npos when no LF yet.
size_t LineEnd(const char* buf, size_t pos, size_t len, size_t* next) {
  const void* lf = std::memchr(buf + pos, '\n', len - pos);
  if (lf == nullptr) return std::string_view::npos;
  size_t end = static_cast<const char*>(lf) - buf;
  *next = end + 1;
  if (end > pos && buf[end - 1] == '\r') --end;
  return end;
}

HttpParseResult Error(int status, std::string message) {
  HttpParseResult r;
  r.status = ParseStatus::kError;
  r.http_status = status;
  r.message = std::move(message);
  return r;
}

// Calls fn(element) for each comma-separated, OWS-trimmed list element (RFC 9110 5.6.1).
template <typename Fn>
void ForEachListElement(std::string_view value, Fn fn) {
  while (true) {
    size_t comma = value.find(',');
    fn(TrimOws(value.substr(0, comma)));
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
}

struct HeaderState {
  int host_count = 0;
  std::string_view host;
  bool has_cl = false;
  uint64_t content_length = 0;
  bool has_te = false;
  bool te_chunked_last = false;
  bool te_unknown = false;
  int te_chunked_count = 0;
  bool conn_close = false;
  bool conn_keep_alive = false;
  bool expect_continue = false;
};

// Content-Length: one decimal number per line, and repeated lines must agree (RFC 9112 6.3).
// A list in one line ("5, 5") is refused even when its members agree: RFC 9112 6.3 allows
// either answer, nginx and Gunicorn refuse it, and accepting it would hand the app the raw
// list as CONTENT_LENGTH (the variable carries the header value).
bool AddContentLength(std::string_view value, HeaderState* st, std::string* why) {
  if (value.find(',') != std::string_view::npos) {
    *why = absl::StrFormat("Content-Length \"%s\" is a list, not one number of bytes",
                           value.substr(0, 64));
    return false;
  }
  bool ok = true;
  ForEachListElement(value, [&](std::string_view el) {
    if (!ok) return;
    if (el.empty() || el.size() > 19) {
      ok = false;
      *why = absl::StrFormat("Content-Length \"%s\" is not a number of bytes", el);
      return;
    }
    uint64_t n = 0;
    for (char c : el) {
      if (c < '0' || c > '9') {
        ok = false;
        *why = absl::StrFormat("Content-Length \"%s\" is not a number of bytes", el);
        return;
      }
      n = n * 10 + static_cast<uint64_t>(c - '0');
    }
    if (st->has_cl && n != st->content_length) {
      ok = false;
      *why = absl::StrFormat("differing Content-Length values %u and %u", st->content_length, n);
      return;
    }
    st->has_cl = true;
    st->content_length = n;
  });
  return ok;
}

void AddTransferEncoding(std::string_view value, HeaderState* st) {
  st->has_te = true;
  ForEachListElement(value, [&](std::string_view el) {
    if (el.empty()) return;
    if (IEquals(el, "chunked")) {
      ++st->te_chunked_count;
      st->te_chunked_last = true;
    } else {
      st->te_unknown = true;
      st->te_chunked_last = false;
    }
  });
}

void AddConnection(std::string_view value, HeaderState* st) {
  ForEachListElement(value, [&](std::string_view el) {
    if (IEquals(el, "close")) st->conn_close = true;
    if (IEquals(el, "keep-alive")) st->conn_keep_alive = true;
  });
}

// "HTTP_" + upper-cased name with '-' -> '_', in the arena.
std::string_view CgiHeaderName(std::string_view name, Arena* arena) {
  char* p = arena->Allocate(5 + name.size());
  std::memcpy(p, "HTTP_", 5);
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    if (c == '-') c = '_';
    p[5 + i] = c;
  }
  return std::string_view(p, 5 + name.size());
}

// Adds a header var; a repeated header is joined with ", " (RFC 9110 5.3), Cookie with "; ".
void AddHeaderVar(std::string_view cgi_name, std::string_view value, Request* req,
                  size_t first_header_var) {
  for (size_t i = first_header_var; i < req->vars.size(); ++i) {
    Var& v = req->vars[i];
    if (v.name == cgi_name) {
      v.value = req->arena.Join(v.value, cgi_name == "HTTP_COOKIE" ? "; " : ", ", value);
      return;
    }
  }
  req->vars.push_back({cgi_name, value});
}

// RFC 3986 3.1: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ).
bool ValidScheme(std::string_view scheme) {
  if (scheme.empty() || (scheme[0] | 0x20) < 'a' || (scheme[0] | 0x20) > 'z') return false;
  for (char c : scheme) {
    const bool alpha = (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
    if (!alpha && !(c >= '0' && c <= '9') && c != '+' && c != '-' && c != '.') return false;
  }
  return true;
}

// The authority of an absolute-form target: host [ ":" port ] (RFC 3986 3.2), non-empty. The
// host is an IP-literal in brackets or reg-name/IPv4 characters; userinfo is refused, as RFC
// 9110 4.2.4 says a recipient should.
bool ValidAuthority(std::string_view authority) {
  std::string_view host = authority;
  std::string_view port;
  if (!host.empty() && host[0] == '[') {
    const size_t close = host.find(']');
    if (close == std::string_view::npos || close == 1) return false;
    for (char c : host.substr(1, close - 1)) {
      if (HexValue(c) < 0 && c != ':' && c != '.') return false;
    }
    std::string_view rest = host.substr(close + 1);
    host = host.substr(0, close + 1);
    if (!rest.empty()) {
      if (rest[0] != ':') return false;
      port = rest.substr(1);
    }
  } else {
    if (const size_t colon = host.find(':'); colon != std::string_view::npos) {
      port = host.substr(colon + 1);
      host = host.substr(0, colon);
    }
    if (host.empty()) return false;
    for (char c : host) {
      const bool alnum = ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') || (c >= '0' && c <= '9');
      if (!alnum && std::strchr("-._~%!$&'()*+,;=", c) == nullptr) return false;
    }
  }
  for (char c : port) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// Splits the request target into PATH_INFO (decoded) and QUERY_STRING (RFC 9112 3.2).
bool SplitTarget(std::string_view target, Request* req, std::string* why) {
  std::string_view path = target;
  std::string_view query;
  if (size_t q = path.find('?'); q != std::string_view::npos) {
    query = path.substr(q + 1);
    path = path.substr(0, q);
  }
  if (target == "*") {
    path = {};  // asterisk-form: OPTIONS only, checked by the caller
  } else if (!path.empty() && path[0] != '/') {
    // absolute-form: scheme "://" authority path
    size_t sep = path.find("://");
    if (sep == std::string_view::npos || !ValidScheme(path.substr(0, sep))) {
      *why = absl::StrFormat("request target \"%s\" is neither a path nor an absolute URI",
                             target);
      return false;
    }
    size_t slash = path.find('/', sep + 3);
    if (!ValidAuthority(path.substr(sep + 3, slash == std::string_view::npos
                                                   ? std::string_view::npos
                                                   : slash - sep - 3))) {
      *why = absl::StrFormat("request target \"%s\" has an invalid authority (RFC 3986 3.2)",
                             target);
      return false;
    }
    path = slash == std::string_view::npos ? std::string_view("/") : path.substr(slash);
  }
  std::string_view decoded;
  if (!PercentDecode(path, &req->arena, &decoded)) {
    *why = absl::StrFormat("request path \"%s\" has a bad or NUL percent-escape", path);
    return false;
  }
  req->vars.push_back({"PATH_INFO", decoded});
  req->vars.push_back({"QUERY_STRING", query});
  return true;
}

// Parses "METHOD SP target SP HTTP/x.y".
HttpParseResult ParseRequestLine(std::string_view line, Request* req, HttpHead* head) {
  size_t sp1 = line.find(' ');
  size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
    return Error(400, absl::StrFormat("request line \"%s\" is not METHOD SP target SP version",
                                      line.substr(0, 200)));
  }
  std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  if (method.empty()) return Error(400, "empty request method");
  for (char c : method) {
    if (!IsTchar(static_cast<unsigned char>(c))) {
      return Error(400, absl::StrFormat("request method \"%s\" has a character outside RFC "
                                        "9110 tchar", method.substr(0, 64)));
    }
  }
  if (target.empty()) return Error(400, "empty request target");
  if (target == "*" && method != "OPTIONS") {
    return Error(400, absl::StrFormat("request target \"*\" is only valid for OPTIONS, not %s "
                                      "(RFC 9112 3.2.4)", method.substr(0, 64)));
  }
  for (char c : target) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f) {
      return Error(400, "request target has a control character");
    }
  }
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || version[6] != '.' ||
      version[5] < '0' || version[5] > '9' || version[7] < '0' || version[7] > '9') {
    return Error(400, absl::StrFormat("\"%s\" is not an HTTP version",
                                      version.substr(0, 64)));
  }
  if (version[5] != '1') {
    return Error(505, absl::StrFormat("%s is not supported; kiln speaks HTTP/1.0 and HTTP/1.1",
                                      version));
  }
  head->minor_version = version[7] - '0';
  if (head->minor_version > 1) {
    return Error(505, absl::StrFormat("%s is not supported; kiln speaks HTTP/1.0 and HTTP/1.1",
                                      version));
  }
  head->is_head = method == "HEAD";
  req->vars.push_back({"REQUEST_METHOD", method});
  req->vars.push_back({"REQUEST_URI", target});
  std::string why;
  if (!SplitTarget(target, req, &why)) return Error(400, why);
  req->vars.push_back({"SERVER_PROTOCOL", version});
  HttpParseResult ok;
  ok.status = ParseStatus::kComplete;
  return ok;
}

// One "name: value" field line. Fills st and vars.
HttpParseResult ParseField(std::string_view line, HeaderState* st, Request* req,
                           size_t first_header_var) {
  if (line[0] == ' ' || line[0] == '\t') {
    return Error(400, "obsolete line folding (a header line starting with whitespace) is not "
                      "accepted (RFC 9112 5.2)");
  }
  size_t colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0) {
    return Error(400, absl::StrFormat("header line \"%s\" has no name before ':'",
                                      line.substr(0, 64)));
  }
  std::string_view name = line.substr(0, colon);
  for (char c : name) {
    if (!IsTchar(static_cast<unsigned char>(c))) {
      return Error(400, absl::StrFormat("header name \"%s\" has a character outside RFC 9110 "
                                        "tchar (no whitespace before ':')", name.substr(0, 64)));
    }
  }
  std::string_view value = TrimOws(line.substr(colon + 1));
  for (char c : value) {
    auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && u != '\t') || u == 0x7f) {
      return Error(400, absl::StrFormat("header \"%s\" has a control character in its value",
                                        name.substr(0, 64)));
    }
  }
  std::string why;
  if (IEquals(name, "content-length")) {
    if (!AddContentLength(value, st, &why)) return Error(400, why);
    req->Set("CONTENT_LENGTH", value);
  } else if (IEquals(name, "content-type")) {
    req->Set("CONTENT_TYPE", value);
  } else if (name.find('_') != std::string_view::npos) {
    // Dropped: see the header comment.
  } else {
    if (IEquals(name, "host")) {
      ++st->host_count;
      st->host = value;
    } else if (IEquals(name, "transfer-encoding")) {
      AddTransferEncoding(value, st);
    } else if (IEquals(name, "connection")) {
      AddConnection(value, st);
    } else if (IEquals(name, "expect")) {
      st->expect_continue = IEquals(value, "100-continue");
    }
    AddHeaderVar(CgiHeaderName(name, &req->arena), value, req, first_header_var);
  }
  HttpParseResult ok;
  ok.status = ParseStatus::kComplete;
  return ok;
}

// Body framing and connection facts from the collected header state (RFC 9112 6, 9.3).
HttpParseResult Finish(const HeaderState& st, HttpHead* head) {
  if (st.has_te) {
    if (head->minor_version == 0) {
      return Error(400, "Transfer-Encoding in an HTTP/1.0 request: the framing is faulty "
                        "(RFC 9112 6.1)");
    }
    if (st.has_cl) {
      return Error(400, "both Transfer-Encoding and Content-Length: refused as a possible "
                        "request smuggling attempt (RFC 9112 6.1)");
    }
    if (st.te_unknown) {
      return Error(501, "Transfer-Encoding other than chunked is not implemented");
    }
    if (!st.te_chunked_last || st.te_chunked_count != 1) {
      return Error(400, "Transfer-Encoding must name chunked exactly once, last");
    }
    head->framing = BodyFraming::kChunked;
  } else if (st.has_cl) {
    head->framing = st.content_length > 0 ? BodyFraming::kContentLength : BodyFraming::kNone;
    head->content_length = st.content_length;
  }
  if (head->minor_version >= 1) {
    if (st.host_count == 0) return Error(400, "HTTP/1.1 request without a Host header");
    head->keep_alive = !st.conn_close;
  } else {
    head->keep_alive = st.conn_keep_alive && !st.conn_close;
  }
  if (st.host_count > 1) return Error(400, "more than one Host header");
  head->expect_continue = st.expect_continue && head->minor_version >= 1;
  HttpParseResult ok;
  ok.status = ParseStatus::kComplete;
  return ok;
}

void AddServerVars(const HeaderState& st, const ConnectionInfo& conn, Request* req) {
  std::string_view name = conn.server_name;
  std::string_view port = conn.server_port;
  if (st.host_count == 1 && !st.host.empty()) {
    std::string_view host = st.host;
    size_t colon = host.rfind(':');
    size_t bracket = host.rfind(']');
    if (colon != std::string_view::npos &&
        (bracket == std::string_view::npos || colon > bracket)) {
      name = host.substr(0, colon);
      if (colon + 1 < host.size()) port = host.substr(colon + 1);
    } else {
      name = host;
    }
  }
  req->vars.push_back({"REMOTE_ADDR", conn.remote_addr});
  req->vars.push_back({"REMOTE_PORT", conn.remote_port});
  req->vars.push_back({"SERVER_NAME", name});
  req->vars.push_back({"SERVER_PORT", port});
  req->vars.push_back({"REQUEST_SCHEME", conn.scheme});
  if (conn.scheme == "https") req->vars.push_back({"HTTPS", "on"});
}

}  // namespace

bool HttpHeadEndArrived(const char* buf, size_t len, size_t* scanned) {
  // One pass from LF to LF (memchr), each looked at for "\n\n" or "\n\r\n" after it: two
  // searches, one per marker, read a complete head three times over.
  const size_t from = *scanned > 3 ? *scanned - 3 : 0;
  const char* const end = buf + len;
  const char* p = buf + std::min(from, len);
  while (p < end) {
    p = static_cast<const char*>(std::memchr(p, '\n', static_cast<size_t>(end - p)));
    if (p == nullptr) break;
    if (end - p >= 2 && (p[1] == '\n' || (end - p >= 3 && p[1] == '\r' && p[2] == '\n'))) {
      return true;
    }
    ++p;
  }
  *scanned = len;
  return false;
}

bool PercentDecode(std::string_view in, Arena* arena, std::string_view* out) {
  if (in.find('%') == std::string_view::npos) {
    *out = in;
    return true;
  }
  char* p = arena->Allocate(in.size());
  size_t n = 0;
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      p[n++] = in[i];
      continue;
    }
    if (i + 2 >= in.size()) return false;
    int hi = HexValue(in[i + 1]);
    int lo = HexValue(in[i + 2]);
    if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) return false;
    p[n++] = static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  *out = std::string_view(p, n);
  return true;
}

HttpParseResult ParseHttp1(const char* buf, size_t len, size_t max_head,
                           const ConnectionInfo& conn, Request* req, HttpHead* head) {
  size_t start = 0;
  while (start < len && (buf[start] == '\r' || buf[start] == '\n') && start < 8) ++start;
  size_t next = 0;
  size_t line_end = LineEnd(buf, start, len, &next);
  if (line_end == std::string_view::npos) {
    if (len - start > max_head) {
      return Error(414, absl::StrFormat("request line longer than the %u-byte limit (raise "
                                        "buffer-size)", max_head));
    }
    return HttpParseResult{};
  }
  if (line_end - start > max_head) {
    return Error(414, absl::StrFormat("request line of %u bytes is over the %u-byte limit "
                                      "(raise buffer-size)", line_end - start, max_head));
  }
  // Find the blank line that ends the head before doing any work.
  size_t pos = next;
  size_t head_end = std::string_view::npos;
  while (true) {
    size_t n = 0;
    size_t e = LineEnd(buf, pos, len, &n);
    if (e == std::string_view::npos) break;
    if (e == pos) {
      head_end = n;
      break;
    }
    pos = n;
    if (pos - start > max_head) break;
  }
  if (head_end == std::string_view::npos || head_end - start > max_head) {
    if ((head_end == std::string_view::npos ? len : head_end) - start > max_head) {
      return Error(431, absl::StrFormat("request header block over the %u-byte limit (raise "
                                        "buffer-size)", max_head));
    }
    return HttpParseResult{};
  }
  req->Clear();
  *head = HttpHead{};
  HttpParseResult r = ParseRequestLine(std::string_view(buf + start, line_end - start), req, head);
  if (r.status != ParseStatus::kComplete) return r;
  HeaderState st;
  const size_t first_header_var = req->vars.size();
  pos = next;
  size_t fields = 0;
  while (true) {
    size_t n = 0;
    size_t e = LineEnd(buf, pos, len, &n);
    if (e == pos) break;
    if (++fields > kMaxHeaderFields) {
      return Error(431, absl::StrFormat("more than %u header fields", kMaxHeaderFields));
    }
    r = ParseField(std::string_view(buf + pos, e - pos), &st, req, first_header_var);
    if (r.status != ParseStatus::kComplete) return r;
    pos = n;
  }
  r = Finish(st, head);
  if (r.status != ParseStatus::kComplete) return r;
  AddServerVars(st, conn, req);
  req->head_bytes = head_end - start;
  r.consumed = head_end;
  return r;
}

}  // namespace kiln::protocol

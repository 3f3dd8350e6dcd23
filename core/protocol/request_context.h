// The one shape of a request as the core hands it to a handler, whatever protocol carried it.
// The serving loop (core/net) implements RequestContext per request; handlers (the plugin set,
// the built-in test handler) consume it; core/plugin/host_api.cc maps the C SDK's request
// functions onto it. It lives in the protocol layer, below both net and plugin, so neither
// depends on the other. Knows nothing of sockets or parsers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/protocol/request.h"

namespace kiln::protocol {

class RequestContext {
 public:
  virtual ~RequestContext() = default;

  // CGI variable by exact name (REQUEST_METHOD, PATH_INFO, QUERY_STRING, HTTP_HOST, ...).
  // The view stays valid until the handler returns.
  virtual std::optional<std::string_view> Var(std::string_view name) const = 0;
  // Every variable in arrival order (the last of duplicate keys wins for Var()).
  virtual void ForEachVar(absl::FunctionRef<void(std::string_view, std::string_view)> fn) const = 0;
  virtual size_t VarCount() const = 0;
  // uwsgi modifiers (0 for HTTP requests).
  virtual uint8_t Modifier1() const = 0;
  virtual uint8_t Modifier2() const = 0;

  // Reads up to `len` body bytes into buf. Returns 0 at the end of the body (Content-Length
  // reached, last chunk seen). An error means the client went away, timed out or sent a
  // malformed body; the handler should give up on the request.
  virtual absl::StatusOr<size_t> ReadBody(char* buf, size_t len) = 0;

  // Sets status and headers. May be called once; the core may hold them back until the first
  // body write or the end of the request so it can frame the response (Content-Length for a
  // single-chunk body, chunked otherwise on HTTP/1.1). Headers must not contain CR or LF:
  // InvalidArgument if they do, and nothing is sent.
  virtual absl::Status StartResponse(int status, std::string_view reason,
                                     const std::vector<Header>& headers) = 0;
  // Appends body bytes. StartResponse must have been called.
  virtual absl::Status WriteBody(std::string_view data) = 0;
  // Sends `length` bytes of `fd` from `offset` with sendfile(2) where the transport allows.
  // The caller keeps ownership of fd.
  virtual absl::Status SendFile(int fd, int64_t offset, int64_t length) = 0;
  // True once StartResponse succeeded.
  virtual bool ResponseStarted() const = 0;

  // This worker's id (1..processes) and the thread's core id (0..threads-1).
  virtual int WorkerId() const = 0;
  virtual int CoreId() const = 0;

  // The handler says the application failed this request (a plugin's KILN_ERROR, a Python
  // exception): counted as an exception in the stats.
  virtual void NoteAppError() {}
};

// Something that answers requests: the plugin set (routing by mount point and modifier1) or
// the built-in test handler. Called on a worker thread; must not throw.
class Handler {
 public:
  virtual ~Handler() = default;
  virtual void Handle(RequestContext& request) = 0;
};

}  // namespace kiln::protocol

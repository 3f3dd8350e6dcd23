// Handlers built into the core, used when no handler plugin is loaded.
//
// BuiltinHandler is kiln's test handler, so the serving path can be tested and smoke-checked
// without any language runtime. It answers only when `builtin-handler = true` asks for it:
// a server that starts with no app must not look healthy. Knows only RequestContext.
// Endpoints match the last path segment, so /echo and /app/echo are the same.
//   /echo            answers the request body
//   /vars            one "NAME=value" line per CGI variable of a fixed list (request line,
//                    server and peer address, content type and length); never a request
//                    header (HTTP_*), REMOTE_USER, AUTH_TYPE or anything nginx adds
//   /sleep?s=N       sleeps N seconds (may be fractional) first: for harakiri and timeouts
//   /chunks?n=N      N body writes (a streamed, chunked response)
//   /bytes?n=N       N bytes of 'x', streamed in 64 KiB writes
//   /status?code=N   answers status N
//   anything else    "hello from kiln\n"
//
// NoAppHandler answers every request 500 and logs "no app loaded", as uWSGI does: what runs
// with `need-app = false` when no application is configured.
#pragma once

#include "core/protocol/request_context.h"

namespace kiln::net {

class BuiltinHandler : public protocol::Handler {
 public:
  void Handle(protocol::RequestContext& request) override;
};

class NoAppHandler : public protocol::Handler {
 public:
  void Handle(protocol::RequestContext& request) override;
};

}  // namespace kiln::net

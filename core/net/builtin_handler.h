// A handler built into the core, used when no handler plugin is loaded, so the serving path
// can be tested and smoke-checked without any language runtime. Knows only RequestContext.
// Endpoints match the last path segment, so /echo and /app/echo are the same.
//   /echo            answers the request body
//   /vars            one "NAME=value" line per CGI variable
//   /sleep?s=N       sleeps N seconds (may be fractional) first: for harakiri and timeouts
//   /chunks?n=N      N body writes (a streamed, chunked response)
//   /bytes?n=N       N bytes of 'x', streamed in 64 KiB writes
//   /status?code=N   answers status N
//   anything else    "hello from kiln\n"
#pragma once

#include "core/plugin/request_context.h"

namespace kiln::net {

class BuiltinHandler : public plugin::Handler {
 public:
  void Handle(plugin::RequestContext& request) override;
};

}  // namespace kiln::net

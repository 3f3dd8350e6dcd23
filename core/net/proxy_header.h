// http-enable-proxy-protocol on the serving side: which accepted connections must begin with
// a PROXY header (HTTP sockets, from the peers proxy-protocol-from lists), and taking that
// header off the front of a connection's buffer. The parsing is protocol/proxy_protocol.h.
#pragma once

#include <sys/socket.h>

#include <string>

#include "core/net/connection.h"
#include "core/net/serve_loop.h"
#include "core/protocol/request.h"

namespace kiln::net {

// True when a connection accepted on `ls` from `peer` (null: unknown) must begin with a PROXY
// header: the option is on, the socket speaks HTTP, and the peer is one proxy-protocol-from
// lists (any peer when it lists none; a unix socket's peer always, its file mode decides who
// connects).
bool ProxyHeaderExpected(const ServeOptions& options, const ListenSocket& ls,
                         const struct sockaddr_storage* peer);

// Reads the PROXY header at the start of c's buffer. kComplete: the header's bytes are
// consumed, c->proxy_header_pending is cleared and c's peer is the client the header named
// (LOCAL and UNKNOWN keep the socket's peer). kIncomplete: wait for more (the head's deadline
// bounds the wait). kError: *why says what is wrong; the caller closes the connection.
protocol::ParseStatus TakeProxyHeader(Connection* c, std::string* why);

}  // namespace kiln::net

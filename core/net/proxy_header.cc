// The serving side of the PROXY protocol. A connection that is expected to start with the
// header and does not is closed without an answer: what it sent was never meant for an HTTP
// parser, and answering could let a client that reaches kiln directly look like the proxy.
#include "core/net/proxy_header.h"

#include <utility>

#include "core/net/cidr.h"
#include "core/protocol/proxy_protocol.h"

namespace kiln::net {

bool ProxyHeaderExpected(const ServeOptions& options, const ListenSocket& ls,
                         const sockaddr_storage* peer) {
  if (!options.proxy_protocol || ls.protocol != Protocol::kHttp) return false;
  if (!ls.tcp || options.proxy_protocol_from.empty()) return true;
  return peer != nullptr && InAnyRange(options.proxy_protocol_from, *peer);
}

protocol::ParseStatus TakeProxyHeader(Connection* c, std::string* why) {
  protocol::ProxyParseResult r = protocol::ParseProxyHeader(c->data(), c->size());
  if (r.status == protocol::ParseStatus::kIncomplete && c->Full()) {
    *why = "PROXY header larger than the read buffer";
    return protocol::ParseStatus::kError;
  }
  if (r.status == protocol::ParseStatus::kError) *why = r.message;
  if (r.status != protocol::ParseStatus::kComplete) return r.status;
  c->Consume(r.consumed);
  c->proxy_header_pending = false;
  if (r.header.HasClientAddress()) {
    c->SetProxiedPeer(std::move(r.header.src_addr), r.header.src_port);
  }
  return protocol::ParseStatus::kComplete;
}

}  // namespace kiln::net

// A request a handler took over (protocol::AsyncRequest): the handler's thread queues what it
// wants done (start, write, read more body, finish) and the serving thread that owns the
// connection does it without ever waiting on the client, reporting back through the handler's
// protocol::AsyncEvents. docs/design.md, "Requests answered from an event loop".
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "core/net/connection.h"
#include "core/net/connection_request.h"
#include "core/net/websocket_conn.h"
#include "core/protocol/request.h"
#include "core/protocol/request_context.h"

namespace kiln::net {

class ServeThread;
class AsyncConn;

// One call of the handler, queued for the serving thread.
struct AsyncCmd {
  enum class Kind { kStart, kWrite, kWantBody, kFinish,
                    // WebSocket (websocket_conn.cc): status is the close code; flag says
                    // binary for kWsSend; text is the subprotocol, the message or the reason.
                    kWsAccept, kWsSend, kWsReceive, kWsClose };
  Kind kind;
  AsyncConn* conn;
  int status = 0;
  bool flag = false;  // kWrite: more to come; kFinish: ok
  std::string text;   // kStart: reason; kWrite: the bytes
  std::vector<std::pair<std::string, std::string>> headers;
};

class AsyncConn final : public protocol::AsyncRequest {
 public:
  AsyncConn(ServeThread& thread, protocol::AsyncEvents* events)
      : events(events), thread_(thread) {}

  // protocol::AsyncRequest: any thread.
  void Start(int status, std::string reason,
             std::vector<std::pair<std::string, std::string>> headers) override;
  void Write(std::string data, bool more) override;
  void WantBody() override;
  void Finish(bool ok) override;
  void WsAccept(std::string subprotocol,
                std::vector<std::pair<std::string, std::string>> headers) override;
  void WsSend(std::string data, bool binary) override;
  void WsReceive() override;
  void WsClose(uint16_t code, std::string reason) override;

  // The rest belongs to the serving thread. An AsyncConn is kept for reuse when its request
  // is done (ServeThread::spare_async_): Reuse gives it its next request's events and leaves
  // what only holds capacity (req's storage, buffers, out) as it is.
  void Reuse(protocol::AsyncEvents* next_events);
  std::unique_ptr<protocol::AsyncEvents> events;
  // The head: swapped with the serving thread's Request at Detached, which takes this one's
  // storage (its variables' capacity, its arena) for its next request.
  std::unique_ptr<protocol::Request> req;
  // Response buffers of its own (ConnectionRequest::Detach), kept across reuse; before ctx, so
  // they outlive it.
  std::unique_ptr<ResponseBuffers> buffers;
  std::optional<ConnectionRequest> ctx;
  std::unique_ptr<WsConn> ws;  // a WebSocket (DetachWebSocket); null for an HTTP request
  std::unique_ptr<Connection> conn;
  // The node conn had in the serving thread's table: it goes back there with conn (no malloc).
  std::unordered_map<int, std::unique_ptr<Connection>>::node_type conn_node;
  int fd = -1;
  absl::Time start;
  std::string out;     // framed bytes not yet handed to the kernel, from out_pos on
  size_t out_pos = 0;
  uint64_t sent = 0;   // response bytes handed to the kernel
  uint64_t drained_at = 0;  // `sent` at the last OnDrained
  bool want_body = false;
  bool gone = false;      // the client went away (OnDisconnect sent)
  bool finished = false;  // Finish processed: flushing, then the connection goes on or closes
  bool cut = false;       // an app error after the response started: close, no framing end
  int next = 0;           // ServeThread::After once finished
  uint32_t epoll_mask = 0;
  // The connection is watched exactly for what the request needs (AsyncUpdateEpoll). Until a
  // readable event or a sweep sets it, a request waiting on its handler only leaves the
  // connection as it was: registered for EPOLLIN as in conns_, or not in the epoll set yet.
  bool watch_exact = false;
  // While waiting on the client (to take response bytes, or for body bytes the handler asked
  // for): when it gives up, socket-timeout after the last progress. Swept by ServeThread.
  absl::Time io_deadline = absl::InfiniteFuture();

 private:
  void Post(AsyncCmd&& cmd);
  ServeThread& thread_;
};

}  // namespace kiln::net

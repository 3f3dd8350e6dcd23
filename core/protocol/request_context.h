// The one shape of a request as the core hands it to a handler, whatever protocol carried it.
// The serving loop (core/net) implements RequestContext per request; handlers (the plugin set,
// the built-in test handler) consume it; core/plugin/host_api.cc maps the C SDK's request
// functions onto it. It lives in the protocol layer, below both net and plugin, so neither
// depends on the other. Knows nothing of sockets or parsers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/protocol/request.h"

namespace kiln::protocol {

// What a handler that took a request over (RequestContext::Detach) is told, on the serving
// thread that owns the connection. Implemented by the handler side (core/plugin maps it onto a
// plugin's on_async_event); the serving loop owns the object from Detach on and deletes it when
// the request is done, after its last call.
class AsyncEvents {
 public:
  virtual ~AsyncEvents() = default;
  // Body bytes the handler asked for (AsyncRequest::WantBody); `more` false on the last piece
  // (which may be empty). The view lives for the call.
  virtual void OnBody(std::string_view data, bool more) = 0;
  // The client went away, or its body could not be read: nothing it sends will arrive and what
  // the handler writes is dropped. At most once.
  virtual void OnDisconnect() = 0;
  // Every response byte framed so far (`sent` in total) has been handed to the kernel: the
  // handler may write more without growing memory (backpressure).
  virtual void OnDrained(uint64_t sent) = 0;
  // WebSocket (DetachWebSocket): one whole message the handler asked for (WsReceive), its
  // fragments joined; text has been checked to be UTF-8.
  virtual void OnWsMessage(std::string_view data, bool binary) { (void)data, (void)binary; }
  // WebSocket: the connection is closing with `code`: the client's close frame (1005 when it
  // had no code), or the close kiln sent because the client broke the protocol (1002, 1007,
  // 1009). Nothing more arrives; at most once, and never after OnDisconnect.
  virtual void OnWsClose(uint16_t code, std::string_view reason) { (void)code, (void)reason; }
};

// A request a handler took over: the serving thread went back to its other connections, and the
// handler answers from its own thread (an event loop). Every method may be called from any
// thread; it copies its arguments, queues them for the serving thread and wakes it, which does
// the framing and the socket I/O without waiting on the client. Called on the serving thread
// itself (an event loop driving it, Handler::DriveThread), a method does its work at once. After Finish the handle is
// gone: the handler must not use it again.
class AsyncRequest {
 public:
  virtual ~AsyncRequest() = default;
  virtual void Start(int status, std::string reason, std::vector<std::pair<std::string,
                     std::string>> headers) = 0;
  // Appends body bytes. `more` says more are coming: the piece goes out now (chunked framing
  // unless the app declared a Content-Length); the last piece (more false) lets a one-piece
  // body be sent with a Content-Length. Finish still has to follow.
  virtual void Write(std::string data, bool more) = 0;
  // Asks for the next piece of the body (answered once by OnBody, or OnDisconnect).
  virtual void WantBody() = 0;
  // The handler is done: `ok` ends the response as written (an unstarted one gets 500); not ok
  // answers 500 when nothing was started and otherwise cuts the connection.
  virtual void Finish(bool ok) = 0;

  // WebSocket (a request taken over with DetachWebSocket; docs/websocket.md). Accept answers
  // 101 with the chosen subprotocol (empty: none) and extra headers. Send queues one message
  // (text is the caller's UTF-8). WsReceive asks for the next message (answered once by
  // OnWsMessage, OnWsClose or OnDisconnect). WsClose sends a close frame, or before Accept
  // refuses the handshake with 403. Finish still ends it: after Accept it closes with 1000
  // (ok) or 1011 unless a close was sent; before, it answers 403 (ok) or 500.
  virtual void WsAccept(std::string subprotocol,
                        std::vector<std::pair<std::string, std::string>> headers) {
    (void)subprotocol, (void)headers;
  }
  virtual void WsSend(std::string data, bool binary) { (void)data, (void)binary; }
  virtual void WsReceive() {}
  virtual void WsClose(uint16_t code, std::string reason) { (void)code, (void)reason; }
};

// What RequestContext::DetachWebSocket came to.
enum class WsDetach {
  kNotWebSocket,  // no WebSocket upgrade asked for, or this transport cannot carry one
  kAnswered,      // a broken handshake: the context answered it (400 or 426); just return
  kDetached,      // taken over: *out is the WebSocket's AsyncRequest
};

class RequestContext {
 public:
  virtual ~RequestContext() = default;

  // CGI variable by exact name (REQUEST_METHOD, PATH_INFO, QUERY_STRING, HTTP_HOST, ...).
  // The view stays valid until the handler returns.
  virtual std::optional<std::string_view> Var(std::string_view name) const = 0;
  // Every variable in arrival order (the last of duplicate keys wins for Var()).
  virtual void ForEachVar(absl::FunctionRef<void(std::string_view, std::string_view)> fn) const = 0;
  virtual size_t VarCount() const = 0;
  // SCRIPT_NAME and PATH_INFO as Var() reads them (absent is empty): what routing a request to
  // a mounted app, or to a static file, looks at. The serving loop's requests answer from the
  // pass that found the log line's variables, without a lookup by name.
  struct Paths {
    std::string_view script_name, path_info;
  };
  virtual Paths PathVars() const {
    return {Var("SCRIPT_NAME").value_or(""), Var("PATH_INFO").value_or("")};
  }
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

  // Names a function called around each wait for the client inside ReadBody, WriteBody and
  // SendFile: fn(ctx, 1) before the wait, fn(ctx, 0) after it, on the calling thread (the
  // SDK's request_wait_hook). Null fn removes it; the plugin set removes it when the
  // handler returns. No default: a plugin that set one keeps its lock (the GIL) across these
  // calls, so a context that waits and drops the hook would hold every other thread.
  virtual void SetWaitHook(void (*fn)(void* ctx, int waiting), void* ctx) = 0;
  // Takes the request over (see AsyncRequest): null when this transport cannot. From then on
  // the serving loop owns `events` (even on null, it deletes it), and the handler must not call
  // any other method of this context once it returns.
  virtual AsyncRequest* Detach(AsyncEvents* events) {
    delete events;
    return nullptr;
  }
  // Takes a WebSocket upgrade request over (RFC 6455 handshake checked here). The serving
  // loop owns `events` from the call on, whatever the result.
  virtual WsDetach DetachWebSocket(AsyncEvents* events, AsyncRequest** out) {
    (void)out;
    delete events;
    return WsDetach::kNotWebSocket;
  }
};

// One serving thread, run step by step by a handler's event loop (Handler::DriveThread): the
// loop watches fd() (readable when there is work) and calls Step() then, and again by the
// deadline Step() returns. Everything it calls back (Handle, AsyncEvents) runs inside Step()
// or inside an AsyncRequest call made on this thread.
class ServeStepper {
 public:
  virtual ~ServeStepper() = default;
  virtual int fd() const = 0;
  // Runs what is ready without waiting. Microseconds until it wants to run again (>= 0), or
  // kStopGraceful (a graceful stop is complete: this thread's requests are done, and so are the
  // worker's other serving threads, whose requests the same event loop may be answering) or
  // kStopNow (an immediate stop: requests in flight are abandoned).
  static constexpr int64_t kStopGraceful = -1;
  static constexpr int64_t kStopNow = -2;
  virtual int64_t Step() = 0;
};

// Something that answers requests: the plugin set (routing by mount point and modifier1) or
// the built-in test handler. Called on a worker thread; must not throw.
class Handler {
 public:
  virtual ~Handler() = default;
  virtual void Handle(RequestContext& request) = 0;
  // A serving thread about to run its loop offers itself (`stepper`) to the handler, which may
  // run it from an event loop of its own (a plugin's on_serve_thread): true once it did and the
  // stepper said stop; false to let the thread run its own loop.
  virtual bool DriveThread(ServeStepper& stepper) {
    (void)stepper;
    return false;
  }
  // Every serving thread of the worker stopped; their taken-over requests (AsyncRequest) are
  // destroyed when this returns (a plugin's on_serve_threads_done).
  virtual void ServeThreadsDone() {}
};


}  // namespace kiln::protocol

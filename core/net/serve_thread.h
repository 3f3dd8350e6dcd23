// One serving thread of a ServeLoop: its own epoll, the shared listen sockets (EPOLLEXCLUSIVE),
// the connections it accepted. Heads are read here under deadlines; a complete request runs
// the handler synchronously on this thread.
#pragma once

#include <pthread.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "core/base/unique_fd.h"
#include "core/net/async_request.h"
#include "core/net/connection.h"
#include "core/net/connection_request.h"
#include "core/net/serve_loop.h"
#include "core/protocol/http1_parser.h"
#include "core/protocol/request.h"

namespace kiln::net {

struct CommonVars;  // serve_thread.cc

class ServeThread final : public Detacher, public protocol::ServeStepper {
 public:
  ServeThread(ServeLoop& loop, int core_id, int wake_fd);
  ~ServeThread();
  void Run();

  // protocol::ServeStepper: a handler's event loop runs this thread (Handler::DriveThread).
  int fd() const override { return epoll_.Get(); }
  int64_t Step() override;

  // Detacher: the handler running on this thread takes its request over.
  protocol::AsyncRequest* DetachCurrent(protocol::AsyncEvents* events,
                                        std::string** sink) override;
  ResponseBuffers* DetachedBuffers() override;
  protocol::AsyncRequest* DetachCurrentWebSocket(protocol::AsyncEvents* events,
                                                 std::string** sink,
                                                 const protocol::WsHandshake& hs) override;
  // Any thread: a detached request's command. Done at once when called on this thread
  // outside its own processing (an event loop driving it calls from its callbacks); otherwise
  // queued, and this thread woken.
  void PostAsync(AsyncCmd&& cmd);

 private:
  void Accept(size_t socket_index, bool last_event);
  // A connection accept4 returned: set up, in conns_, reading its head; not yet in epoll.
  Connection* Adopt(int fd, const ListenSocket& ls, const sockaddr_storage* peer,
                    absl::Time now);
  void Register(Connection* c);
  // The instance stops (ServeLoop::Stop's drain_listeners): takes every queued connection
  // and shuts the listen sockets down (listen_drain.cc). Once per thread.
  void DrainListeners();
  // Accepts until the queue is empty (or the socket shut down); the connections join epoll
  // and are served as their requests are read. Returns how many it took.
  int AcceptQueued(const ListenSocket& ls);
  void SetAccepting(bool on);
  // What the connection does once a response is out.
  enum class After {
    kNextRequest,    // read the next request
    kDiscardBody,    // throw away the unread rest of the body in the event loop, then go on
    kClose,          // nothing unread: close now
    kLingeringClose,  // the client may still be sending: LingeringClose
    kDetached         // a handler took the request over: the connection is in async_
  };
  // What reading a head (ParseHead) or a post-buffered body (CollectBody) came to.
  enum class Progress {
    kReady,     // a request (or its whole body) is here
    kWait,      // more bytes are needed
    kClosed,    // the connection was closed (and is gone)
    kAnswered,  // an error answer went out and the connection is lingering
  };


  // Accepts unless stopping, paused after an accept error, or waiting for the request of a
  // connection just accepted on a unix socket (see Accept).
  void UpdateAccepting(absl::Time now);
  // Stopping: closes idle keep-alive connections idle for keepalive_drain (reading first
  // what may have arrived on them).
  void CloseDrained(absl::Time now);
  // Read and serve what c has sent. False when c was closed (and is gone).
  bool OnEvent(Connection* c);
  bool ProcessBuffered(Connection* c);
  // Parses one head from c's buffer.
  Progress ParseHead(Connection* c, protocol::HttpHead* head, size_t* consumed);
  // True when a post-buffered body is still arriving: the loop collects it (CollectBody).
  bool WaitForBufferedBody(Connection* c, const protocol::HttpHead& head, size_t head_len);
  // Takes in what arrived of a post-buffered body: kReady when it is complete, kWait to wait;
  // when it cannot be stored, answers 500 and returns kAnswered (lingering) or kClosed.
  Progress CollectBody(Connection* c);
  // Gives back c's share of the post-buffering-memory budget, its spool, its large buffer.
  void ReleaseBody(Connection* c);
  After ServeOne(Connection* c, const protocol::HttpHead& head);
  // The end of a request once its handler is done: framing, observer, log; what comes next.
  After FinishRequest(Connection* c, ConnectionRequest& ctx, const protocol::Request& req,
                      absl::Time start, bool static_file);
  void LogRequest(Connection* c, const ConnectionRequest& ctx, const protocol::Request& req,
                  absl::Time start, absl::Duration duration);
  // Points harakiri's clock (the observer) at the oldest detached request not yet finished.
  void MarkOldestInFlight();
  // Detached requests (serve_thread_async.cc).
  After Detached(Connection* c, ConnectionRequest&& ctx, absl::Time start);
  // a's handler is done: it leaves in_flight_ (its node kept for the next request).
  void LeaveInFlight(AsyncConn* a);
  void RunAsyncCommands();
  // With `settle` false (another command for the same connection comes next), the framed
  // bytes wait for it: the flush, and the release or epoll update, happen once after it.
  void RunAsyncCommand(AsyncCmd& cmd, bool settle = true);
  // Runs the commands this thread's own handler calls queued while it was busy (local_cmds_),
  // and those they lead to, until none is left.
  void RunLocalCommands();
  // One turn of the loop: waits up to timeout_ms for events, handles them, sweeps when due.
  // Microseconds until the next sweep (or fresh-connection deadline); sets stopped_ when done.
  int64_t Turn(int timeout_ms);
  void AsyncOnEvent(AsyncConn* a, uint32_t events);
  void AsyncPumpBody(AsyncConn* a);
  void AsyncFlush(AsyncConn* a);
  void AsyncGone(AsyncConn* a);
  // Closes detached connections whose client made no progress for socket-timeout.
  void SweepAsync(absl::Time now);
  void AsyncUpdateEpoll(AsyncConn* a);
  // WebSocket connections (websocket_conn.cc): a command of the handler's, the end of one
  // (Finish), and reading the client's frames while the handler wants a message.
  void WsCommand(AsyncConn* a, AsyncCmd& cmd);
  void WsFinish(AsyncConn* a, bool ok);
  void WsPump(AsyncConn* a);
  // A graceful stop: every open WebSocket gets a close with 1001 (going away) and its handler
  // hears it, so the worker does not wait for clients that may stay for hours.
  void WsGoingAway();
  // Queues a close frame (once).
  void WsSendClose(AsyncConn* a, uint16_t code, std::string_view reason);
  // The sweep found a's keepalive time come (websocket-ping-freq): pings a client heard nothing
  // from for that long, or closes one that sent nothing within websocket-pong-tolerance of the
  // ping; otherwise sets the next time to look.
  void WsKeepalive(AsyncConn* a, absl::Time now);
  // After Finish and the last byte sent: the connection goes back to conns_ (next request,
  // discard, linger) or closes, and the AsyncConn is deleted.
  void AsyncRelease(AsyncConn* a);
  // Reads and throws away what a kDiscardingBody or kLingering connection sent.
  bool Discard(Connection* c);
  // Closes after an answer while the client may still be sending (see the definition). True
  // while c lingers (it is in the epoll set, or Accept adds it); false when it is gone.
  bool LingeringClose(Connection* c);
  void Close(Connection* c);
  void Sweep(absl::Time now);

  ServeLoop& loop_;
  const ServeOptions& options_;
  int core_id_;
  int wake_fd_;
  int pid_ = 0;
  base::UniqueFd epoll_;
  bool accepting_ = false;
  bool accept_paused_ = false;
  bool drained_ = false;  // DrainListeners ran
  int fresh_fd_ = -1;  // a unix-socket connection accepted before its request arrived
  absl::Time fresh_until_ = absl::InfinitePast();
  absl::Time accept_resume_ = absl::InfinitePast();
  absl::Time last_accept_error_log_ = absl::InfinitePast();
  size_t capacity_;
  std::unordered_map<int, std::unique_ptr<Connection>> conns_;
  // Closed connections' nodes, each holding a blank Connection, for Adopt to reuse.
  static constexpr size_t kSpareConnections = 16;
  std::vector<decltype(conns_)::node_type> spare_conns_;
  protocol::Request req_;
  std::string log_line_;  // the default request line, reused
  std::string client_text_;  // the client as the observer names it, reused
  // The common variables of the request ServeOne is serving, found once for its harakiri
  // entry and read again by its log line (null outside ServeOne, or when nobody asked).
  const CommonVars* serving_vars_ = nullptr;
  // Lent to each request this thread serves in turn (ResponseBuffers).
  ResponseBuffers response_buffers_;
  // Detached requests by fd; the one the running handler just detached (ServeOne takes it).
  std::unordered_map<int, std::unique_ptr<AsyncConn>> async_;
  AsyncConn* detaching_ = nullptr;
  // Done requests' AsyncConns, in their async_ nodes, for DetachCurrent to reuse (at most
  // kSpareAsync): a request answered from an event loop then allocates nearly nothing.
  static constexpr size_t kSpareAsync = 16;
  std::vector<decltype(async_)::node_type> spare_async_;
  decltype(async_)::node_type detaching_node_;  // the node detaching_ came from, if any
  // The detached requests whose handler has not finished, oldest first (MarkOldestInFlight).
  std::set<std::pair<absl::Time, AsyncConn*>> in_flight_;
  std::vector<decltype(in_flight_)::node_type> spare_in_flight_;  // LeaveInFlight's, reused
  std::mutex async_mu_;  // guards async_cmds_, which other threads fill
  std::vector<AsyncCmd> async_cmds_;
  // Commands the handler called on this thread while it was busy (a request answered inside
  // its own on_request, as an ASGI app that completes at once): run at the end of the turn,
  // with no lock and no wakeup.
  std::vector<AsyncCmd> local_cmds_;
  std::vector<AsyncCmd> running_cmds_;  // RunLocalCommands' batch, swapped with local_cmds_
  std::vector<protocol::Header> start_headers_;  // RunAsyncCommand's, reused
  pthread_t owner_{};      // the thread running Run
  bool busy_ = false;      // inside Turn or a command: a command from here is queued, not run
  bool stopped_ = false;   // the loop is done (stop, and nothing left in hand)
  absl::Time next_sweep_ = absl::InfiniteFuture();
  // The last sweep's time (or a WebSocket accept's, if later): the clock a WebSocket's reads
  // stamp WsConn::heard with, so a frame costs no clock read.
  absl::Time ws_clock_ = absl::InfinitePast();
  std::vector<epoll_event> events_;
  // Marks the thread busy for a scope (nested scopes keep it busy).
  struct Busy {
    explicit Busy(bool& b) : flag(b), was(b) { b = true; }
    ~Busy() { flag = was; }
    bool& flag;
    bool was;
  };
};

}  // namespace kiln::net

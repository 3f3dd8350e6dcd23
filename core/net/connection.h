// One accepted client connection: its read buffer, its peer/server names, and I/O helpers
// that wait with poll() under a timeout (the handler's blocking view of a non-blocking
// socket). No protocol knowledge beyond which one the listen socket speaks.
//
// Ownership: the read buffer holds bytes not yet parsed or consumed, and nothing else. Once a
// head is parsed, the Request copies it (protocol::Request::OwnHead) before it is consumed,
// so the buffer may move, compact or be overwritten by body reads at any time; no view into
// it outlives the call that made it.
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/base/unique_fd.h"
#include "core/net/serve_loop.h"

namespace kiln::net {

class Connection {
 public:
  // kReadingBody: the event loop collects a post-buffered body (see `body`). kDiscardingBody:
  // the response is out and the event loop throws away the rest of a body the app did not
  // read (`discard_left` bytes), then serves the next request. kLingering: an answer is out,
  // the write side is shut down, and what the client still sends is thrown away until it
  // closes, `discard_left` bytes or the deadline (ServeThread::LingeringClose).
  enum class State { kIdle, kReadingHead, kReadingBody, kDiscardingBody, kLingering };

  // The read buffer starts small, grows up to `max_capacity` bytes (which must exceed the head
  // limit) and is released while the connection is idle, so idle keep-alive connections cost
  // no buffer. `peer` is the address accept(2) returned (null: none); `tcp` says whether the
  // listen socket is TCP, so the local address is looked up (once, when first asked for) only
  // where it can differ from the socket's name. `socket_name` must outlive the connection (it
  // is the listen socket's).
  Connection(base::UniqueFd fd, Protocol protocol, std::string_view socket_name,
             size_t max_capacity, const struct sockaddr_storage* peer = nullptr,
             bool tcp = false);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  int fd() const { return fd_.Get(); }
  Protocol protocol() const { return protocol_; }
  const std::string& remote_addr() const { return remote_addr_; }
  const std::string& remote_port() const { return remote_port_; }
  // The local address of a TCP connection (getsockname, once); a unix socket's name.
  std::string_view server_name() {
    ResolveLocal();
    return tcp_ ? std::string_view(server_name_) : socket_name_;
  }
  std::string_view server_port() {
    ResolveLocal();
    return server_port_;
  }
  // "1.2.3.4:5678" or the socket name, for log lines.
  std::string PeerText() const;
  // The same appended to *out (a reused string: no allocation once it has grown).
  void AppendPeerText(std::string* out) const;
  // The client a PROXY protocol header named replaces the socket's peer: REMOTE_ADDR,
  // REMOTE_PORT and every log line about this connection from now on.
  void SetProxiedPeer(std::string addr, uint16_t port);

  // Unparsed bytes.
  const char* data() const { return buf_.get() + start_; }
  // The same bytes, writable (a WebSocket frame is unmasked in place).
  char* mutable_data() { return buf_.get() + start_; }
  size_t size() const { return end_ - start_; }
  void Consume(size_t n);
  // Removes n bytes starting at data() + offset (a spooled body piece behind its head).
  void Cut(size_t offset, size_t n);
  // True when the buffer is at its largest and holds nothing but unparsed bytes.
  bool Full() const { return capacity_ == max_capacity_ && end_ == capacity_ && start_ == 0; }
  // Makes room for `n` more bytes after the data, compacting or growing (the buffer may move).
  void EnsureTailRoom(size_t n);
  // Lets the buffer grow to hold `total` unparsed bytes (a post-buffered body behind its head).
  void Reserve(size_t total);
  // Undoes Reserve: the buffer goes back to its usual largest size, and memory above it is
  // freed now (a post-buffered body must not keep its allocation on an idle connection).
  void EndReserve();
  // Frees the buffer while the connection is idle and empty.
  void ReleaseBuffer();
  // How much of data() the head scanner has already looked at (see ServeThread::ParseHead).
  size_t head_scanned = 0;

  // Non-blocking read into the buffer. Returns bytes read; 0 on EOF. Unavailable with
  // would_block set when nothing is ready.
  absl::StatusOr<size_t> ReadAvailable(bool* would_block);
  // Waits for data up to `timeout` and reads into the buffer. 0 on EOF; DeadlineExceeded on
  // timeout.
  absl::StatusOr<size_t> ReadMore(absl::Duration timeout);
  // Reads up to len bytes, buffered bytes first, else straight from the socket into dst.
  absl::StatusOr<size_t> ReadInto(char* dst, size_t len, absl::Duration timeout);
  // Non-blocking: reads and throws away up to `max` bytes from the socket, past the buffer (a
  // body nobody reads; what a client sends during a lingering close). 0 on EOF; would_block
  // set when nothing is ready.
  absl::StatusOr<size_t> ReadAndDiscard(size_t max, bool* would_block);

  // Writes everything, waiting up to `timeout` for each stall. MSG_NOSIGNAL: no SIGPIPE.
  absl::Status WriteAll(const struct iovec* iov, int count, absl::Duration timeout);
  absl::Status WriteAll(std::string_view data, absl::Duration timeout);
  // sendfile(2) of [offset, offset+length) of file_fd, waiting on stalls.
  absl::Status SendFile(int file_fd, int64_t offset, int64_t length, absl::Duration timeout);
  // One non-blocking send of as much of `data` as the socket takes now: the bytes sent
  // (*would_block when none could be).
  absl::StatusOr<size_t> WriteSome(std::string_view data, bool* would_block);
  // One best-effort non-blocking send (error answers to clients we are dropping anyway).
  void SendBestEffort(std::string_view data);

  // Called around every wait for this client in the calls above (the poll when the socket
  // is full or the body has not arrived): fn(ctx, 1) before it, fn(ctx, 0) after it. The
  // request's handler sets it for the time it runs (kiln_host_api.request_wait_hook), so a
  // plugin with one lock for all its threads (Python's GIL) drops it only while the thread
  // waits. Null fn: nothing is called.
  struct WaitHook {
    void (*fn)(void* ctx, int waiting) = nullptr;
    void* ctx = nullptr;
  };
  void SetWaitHook(WaitHook hook) { wait_hook_ = hook; }

  // A post-buffered body the event loop collects (state kReadingBody). The head stays at
  // data()[0, head_len) and is parsed again once the body is complete. Up to the worker's
  // post-buffering-memory budget the body follows the head in the read buffer (`charged`
  // bytes of the budget, given back by ServeThread::ReleaseBody); past it, each piece that
  // arrives goes to `spool`, an unlinked temporary file the request then reads from.
  struct PendingBody {
    size_t head_len = 0;
    uint64_t length = 0;   // Content-Length
    uint64_t charged = 0;  // bytes of the worker's budget held
    base::UniqueFd spool;
    uint64_t spooled = 0;  // body bytes written to spool
  };
  PendingBody body;

  State state = State::kIdle;
  // When the current state gives up: kReadingHead from the first byte of the head (a head is
  // never refreshed: slowloris), kReadingBody from the last read that brought bytes,
  // kDiscardingBody and kLingering from their start (bounds, not refreshed), kIdle from the
  // end of the last response.
  absl::Time deadline = absl::InfiniteFuture();
  uint64_t discard_left = 0;  // kDiscardingBody: body bytes to go; kLingering: bytes allowed
  absl::Time idle_since = absl::InfinitePast();  // when it last became idle (keep-alive)
  uint64_t requests = 0;  // served on this connection
  bool registered = false;  // in the serving thread's epoll set
  // http-enable-proxy-protocol: the first bytes must be a PROXY header, not yet read
  // (proxy_header.h).
  bool proxy_header_pending = false;

 private:
  // Waits until `events` or the timeout, telling the wait hook around it.
  absl::Status WaitFor(short events, absl::Duration timeout);
  absl::Status PollFor(short events, absl::Duration timeout);
  void ResolveLocal();
  // Frees the read buffer, keeping a first-size one as this thread's spare.
  void RecycleBuffer();

  base::UniqueFd fd_;
  WaitHook wait_hook_;
  Protocol protocol_;
  std::string_view socket_name_;
  std::string remote_addr_, remote_port_, server_name_, server_port_;
  bool local_pending_;
  bool tcp_;  // TCP: server_name_ holds the local address
  void Grow(size_t min_capacity);

  std::unique_ptr<char[]> buf_;
  size_t capacity_ = 0;
  size_t max_capacity_;
  size_t base_max_capacity_;  // max_capacity_ outside Reserve
  size_t start_ = 0, end_ = 0;
};

}  // namespace kiln::net

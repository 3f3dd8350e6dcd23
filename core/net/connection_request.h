// The RequestContext the serving loop hands to handlers: variables from the parsed head, a
// body reader over the connection (Content-Length, chunked, or buffered in advance), and the
// response side, which frames what the handler writes (response_writer.h) and counts it for
// the request log. Blocking calls wait with poll() under socket-timeout.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/base/unique_fd.h"
#include "core/net/connection.h"
#include "core/net/serve_loop.h"
#include "core/protocol/request_context.h"
#include "core/protocol/chunked_decoder.h"
#include "core/protocol/http1_parser.h"
#include "core/protocol/request.h"
#include "core/protocol/response_writer.h"
#include "core/protocol/websocket_handshake.h"

namespace kiln::net {

// An unnamed temporary file (gone when closed), close-on-exec, in $TMPDIR or /tmp: where a
// request body too large for memory waits for the app.
absl::StatusOr<base::UniqueFd> OpenSpoolFile();
// Appends data to a spool file.
absl::Status WriteSpool(int fd, const char* data, size_t len);

struct ResponseBuffers;

// Where a request taken over by a handler (RequestContext::Detach) goes: the serving thread.
class Detacher {
 public:
  virtual ~Detacher() = default;
  // Makes the AsyncRequest for the request being handled and says where its framed bytes go
  // (*sink: the serving thread sends them without waiting on the client).
  virtual protocol::AsyncRequest* DetachCurrent(protocol::AsyncEvents* events,
                                                std::string** sink) = 0;
  // The same for a WebSocket upgrade whose handshake checked out (websocket_conn.cc).
  virtual protocol::AsyncRequest* DetachCurrentWebSocket(protocol::AsyncEvents* events,
                                                         std::string** sink,
                                                         const protocol::WsHandshake& hs) = 0;
  // Response buffers for the request just detached, kept by the detacher for as long as the
  // request lives; null: the request makes its own.
  virtual ResponseBuffers* DetachedBuffers() { return nullptr; }
};

// Where a response is put together before it leaves: copies of what the app passed to
// StartResponse (its strings may be gone by the time the head is sent), the head's bytes and
// the first body piece, held back to frame it. A serving thread keeps one and lends it to each
// request it serves in turn, so once the strings have grown a response allocates nothing; the
// request that uses it is done before the next one starts. A detached request outlives that
// turn and gets one of its own (ConnectionRequest::Detach).
struct ResponseBuffers {
  std::string reason;
  std::string header_text;                // the app's names and values, back to back
  std::vector<protocol::Header> headers;  // views into header_text, then add-header's
  std::string head;                       // the response head on the wire
  std::string pending;                    // the first body piece (when has_pending)

  // After a request: frees what one unusually large response grew (a first body piece of
  // megabytes), so a thread keeps only the memory of ordinary responses between requests.
  void Trim();
};

class ConnectionRequest : public protocol::RequestContext {
 public:
  // `head` describes the body framing (for uwsgi: kContentLength from CONTENT_LENGTH).
  // `buffers`: the serving thread's, lent for this request (null: the request gets its own).
  ConnectionRequest(Connection& conn, const protocol::Request& req, const protocol::HttpHead& head,
                    const ServeOptions& options, bool keep_alive_allowed, int worker_id,
                    int core_id, ResponseBuffers* buffers = nullptr);

  // RequestContext.
  std::optional<std::string_view> Var(std::string_view name) const override;
  void ForEachVar(
      absl::FunctionRef<void(std::string_view, std::string_view)> fn) const override;
  size_t VarCount() const override { return req_->vars.size(); }
  Paths PathVars() const override { return paths_known_ ? paths_ : RequestContext::PathVars(); }
  uint8_t Modifier1() const override { return req_->modifier1; }
  uint8_t Modifier2() const override { return req_->modifier2; }
  absl::StatusOr<size_t> ReadBody(char* buf, size_t len) override;
  absl::Status StartResponse(int status, std::string_view reason,
                             const std::vector<protocol::Header>& headers) override;
  absl::Status WriteBody(std::string_view data) override;
  absl::Status SendFile(int fd, int64_t offset, int64_t length) override;
  bool ResponseStarted() const override { return started_; }
  void SetWaitHook(void (*fn)(void* ctx, int waiting), void* ctx) override {
    conn_.SetWaitHook({fn, ctx});
  }
  int WorkerId() const override { return worker_id_; }
  int CoreId() const override { return core_id_; }
  protocol::AsyncRequest* Detach(protocol::AsyncEvents* events) override;
  protocol::WsDetach DetachWebSocket(protocol::AsyncEvents* events,
                                     protocol::AsyncRequest** out) override;
  // The 101 of an accepted WebSocket (`head_bytes` long) went out in place of a response: the
  // request log and the stats see status 101.
  void MarkUpgraded(size_t head_bytes);
  // WebSocket message bytes, for the request log's size.
  void CountUpgradedBytes(uint64_t n) { body_bytes_ += n; }

  // Detach support: the serving thread that can take requests over (null: none).
  void set_detacher(Detacher* d) { detacher_ = d; }
  bool detached() const { return sink_ != nullptr; }
  // After Detach, once the serving thread moved the request head to storage of its own.
  void Rebind(const protocol::Request& req) {
    req_ = &req;
    paths_known_ = false;  // they viewed the head's old storage
  }
  // SCRIPT_NAME and PATH_INFO, found by the serving thread's pass over the request's variables
  // (views into the request, valid while it is not rebound).
  void set_paths(std::string_view script_name, std::string_view path_info) {
    paths_ = {script_name, path_info};
    paths_known_ = true;
  }
  // Reads what body bytes can be read now, never waiting: *would_block when none can.
  absl::StatusOr<size_t> ReadBodyNow(char* buf, size_t len, bool* would_block);
  // Sends a body piece now, with the head if it is not out yet (streamed: no held-back piece).
  absl::Status WriteBodyNow(std::string_view data);
  // The serving thread could not send framed bytes (after Detach).
  void NoteWriteFailed(absl::Status s) { (void)WriteFailed(std::move(s)); }

  // Reads the whole body now (post-buffering): in memory up to post-buffering bytes, else in an
  // unnamed temporary file. An error is answered by Finish.
  absl::Status BufferBody();
  // True when the whole Content-Length body is already in the connection's buffer (collected
  // by the event loop): reading it never waits, so BufferBody has nothing to do.
  bool BodyInBuffer() const;
  // The body the event loop collected in a spool file (all of it): the handler reads it there.
  void AdoptSpool(base::UniqueFd spool);
  // Ends the response: sends held-back bytes, the last chunk, or an error answer when the
  // handler sent nothing. Returns whether the connection may serve another request.
  bool Finish();
  // After the response: throws away the unread body's bytes already buffered, never waiting
  // on the client. Returns how many body bytes are still to come (0: the body is done), or
  // nullopt when that cannot be known (a chunked body, a client still waiting for 100
  // Continue, a body that failed): the connection cannot serve another request then.
  std::optional<uint64_t> DiscardBuffered();

  // A stop that begins while the handler runs still ends keep-alive for this response.
  void set_loop(const ServeLoop* loop) { loop_ = loop; }

  // Refuses the request with `status` before the handler runs (413 and friends).
  void Refuse(int status, std::string_view why);

  int status() const { return status_; }
  uint64_t body_bytes() const { return body_bytes_; }
  uint64_t header_bytes() const { return header_bytes_; }
  size_t header_count() const { return header_count_; }
  bool via_sendfile() const { return via_sendfile_; }
  bool write_error() const { return write_failed_; }
  bool read_error() const { return read_failed_; }
  void NoteAppError() override { app_error_ = true; }
  bool app_error() const { return app_error_; }
  const std::string& write_error_text() const { return write_error_text_; }
  bool body_done() const { return body_done_; }

 private:
  absl::StatusOr<size_t> ReadRaw(char* buf, size_t len);
  // Sends the response head followed by up to two body pieces, in one writev.
  absl::Status SendHead(std::optional<uint64_t> known_length, std::string_view first = {},
                        std::string_view second = {});
  // Frames one body piece into iov (up to 3 entries) and counts it; 0 when nothing is sent.
  size_t FrameBody(std::string_view data, char (&scratch)[24], struct iovec* iov);
  // How much of a `size`-byte piece fits the declared Content-Length; a piece past it ends
  // keep-alive (the rest is not sent).
  uint64_t FitToDeclaredLength(uint64_t size);
  absl::Status Send(const struct iovec* iov, int count);
  absl::Status WriteFailed(absl::Status s);
  absl::Status BodyFailed(absl::Status s, int status);
  absl::Status MaybeSendContinue();
  // The held-back first body piece (empty when none), no longer held: a view into
  // bufs_->pending, valid until the next WriteBody holds a piece back.
  std::string_view TakePending();
  // From now on the buffers are this request's own (a detached request outlives the turn).
  void OwnBuffers();

  Connection& conn_;
  const protocol::Request* req_;
  Detacher* detacher_ = nullptr;
  std::string* sink_ = nullptr;  // after Detach: framed bytes are appended here, not written
  bool nonblocking_ = false;     // ReadBodyNow: a read that would wait stops instead
  protocol::HttpHead head_;
  const ServeOptions& options_;
  const ServeLoop* loop_ = nullptr;
  Paths paths_;
  bool paths_known_ = false;
  bool raw_;
  bool keep_alive_;
  int worker_id_;
  int core_id_;

  // Body.
  uint64_t body_left_ = 0;  // for Content-Length framing
  bool body_done_ = false;
  uint64_t body_read_ = 0;
  protocol::ChunkedDecoder chunked_;
  bool continue_sent_ = false;
  std::optional<std::string> buffered_body_;
  base::UniqueFd spool_;  // a post-buffered body larger than post-buffering
  size_t buffered_pos_ = 0;
  int body_error_status_ = 0;
  // The handler answered 5xx after a body read failed with a client error (a malformed chunk):
  // its response is dropped and Finish answers body_error_status_ instead.
  bool answer_body_error_ = false;

  // Response.
  bool started_ = false;
  bool head_sent_ = false;
  int status_ = 0;
  // Lent by the serving thread, or owned_buffers_ (see ResponseBuffers). Never null.
  ResponseBuffers* bufs_;
  std::unique_ptr<ResponseBuffers> owned_buffers_;
  bool app_length_ = false;
  bool has_pending_ = false;  // bufs_->pending holds the first body piece, held back
  protocol::ResponseFraming framing_ = protocol::ResponseFraming::kClose;
  uint64_t declared_length_ = 0;
  bool head_keep_alive_ = false;
  uint64_t body_bytes_ = 0;
  uint64_t header_bytes_ = 0;
  size_t header_count_ = 0;
  bool via_sendfile_ = false;
  bool write_failed_ = false;
  bool read_failed_ = false;
  bool app_error_ = false;
  std::string write_error_text_;
};

}  // namespace kiln::net

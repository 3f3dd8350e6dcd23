// Request bodies in (Content-Length, chunked, post-buffered) and responses out, framed per
// response_writer.h. The first body piece is held back so a one-piece body gets a
// Content-Length; a second piece switches to chunked (HTTP/1.1) or close-delimited (1.0).
#include "core/net/connection_request.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "core/base/errno_status.h"
#include "core/base/strings.h"

namespace kiln::net {

using protocol::BodyFraming;
using protocol::ResponseFraming;

ConnectionRequest::ConnectionRequest(Connection& conn, const protocol::Request& req,
                                     const protocol::HttpHead& head, const ServeOptions& options,
                                     bool keep_alive_allowed, int worker_id, int core_id,
                                     ResponseBuffers* buffers)
    : conn_(conn),
      req_(&req),
      head_(head),
      options_(options),
      raw_(conn.protocol() == Protocol::kUwsgi),
      keep_alive_(!raw_ && head.keep_alive && keep_alive_allowed),
      worker_id_(worker_id),
      core_id_(core_id),
      chunked_(protocol::ChunkedDecoder::Limits{4096, options.buffer_size}),
      bufs_(buffers) {
  if (bufs_ == nullptr) OwnBuffers();
  if (head_.framing == BodyFraming::kContentLength) {
    body_left_ = head_.content_length;
    body_done_ = body_left_ == 0;
  } else if (head_.framing == BodyFraming::kNone) {
    body_done_ = true;
  }
}

std::optional<std::string_view> ConnectionRequest::Var(std::string_view name) const {
  return req_->Get(name);
}

void ConnectionRequest::ForEachVar(
    absl::FunctionRef<void(std::string_view, std::string_view)> fn) const {
  for (const protocol::Var& v : req_->vars) fn(v.name, v.value);
}

absl::Status ConnectionRequest::BodyFailed(absl::Status s, int status) {
  read_failed_ = true;
  keep_alive_ = false;
  if (body_error_status_ == 0) body_error_status_ = status;
  return s;
}

absl::Status ConnectionRequest::MaybeSendContinue() {
  if (!head_.expect_continue || continue_sent_ || head_sent_) return absl::OkStatus();
  continue_sent_ = true;
  if (sink_ != nullptr) {
    sink_->append(protocol::kContinue);
    return absl::OkStatus();
  }
  absl::Status s = conn_.WriteAll(protocol::kContinue, options_.socket_timeout);
  if (!s.ok()) return WriteFailed(s);
  return absl::OkStatus();
}

absl::StatusOr<size_t> ConnectionRequest::ReadBody(char* buf, size_t len) {
  if (spool_.Valid()) {
    while (true) {
      ssize_t n = pread(spool_.Get(), buf, len, static_cast<off_t>(buffered_pos_));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return base::ErrnoError(errno, "read", "the request body spool file");
      buffered_pos_ += static_cast<size_t>(n);
      return static_cast<size_t>(n);
    }
  }
  if (buffered_body_.has_value()) {
    size_t n = std::min(len, buffered_body_->size() - buffered_pos_);
    std::copy_n(buffered_body_->data() + buffered_pos_, n, buf);
    buffered_pos_ += n;
    return n;
  }
  if (body_error_status_ != 0) {
    return absl::FailedPreconditionError("the request body already failed to read");
  }
  return ReadRaw(buf, len);
}

absl::StatusOr<size_t> ConnectionRequest::ReadRaw(char* buf, size_t len) {
  if (body_done_ || len == 0) return 0;
  if (absl::Status s = MaybeSendContinue(); !s.ok()) return s;
  const absl::Duration timeout = nonblocking_ ? absl::ZeroDuration() : options_.socket_timeout;
  if (head_.framing == BodyFraming::kContentLength) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(len, body_left_));
    absl::StatusOr<size_t> n = conn_.ReadInto(buf, want, timeout);
    if (nonblocking_ && absl::IsDeadlineExceeded(n.status())) return n.status();
    if (!n.ok()) {
      return BodyFailed(n.status(), absl::IsDeadlineExceeded(n.status()) ? 408 : 400);
    }
    if (*n == 0) {
      return BodyFailed(absl::UnavailableError(absl::StrFormat(
                            "%s closed the connection with %u of %u body bytes unread",
                            conn_.PeerText(), body_left_, head_.content_length)),
                        400);
    }
    body_left_ -= *n;
    body_read_ += *n;
    body_done_ = body_left_ == 0;
    return *n;
  }
  // Chunked: decode what is buffered, read more only when the decoder produced nothing.
  while (true) {
    protocol::ChunkedDecoder::Result r = chunked_.Decode(conn_.data(), conn_.size(), buf, len);
    conn_.Consume(r.consumed);
    if (r.status == protocol::ParseStatus::kError) {
      return BodyFailed(absl::InvalidArgumentError(absl::StrCat(
                            "malformed chunked body from ", conn_.PeerText(), ": ", r.message)),
                        400);
    }
    body_read_ += r.produced;
    if (options_.limit_post > 0 && body_read_ > options_.limit_post) {
      return BodyFailed(absl::ResourceExhaustedError(absl::StrFormat(
                            "chunked body from %s is over limit-post (%u bytes)",
                            conn_.PeerText(), options_.limit_post)),
                        413);
    }
    if (r.status == protocol::ParseStatus::kComplete) body_done_ = true;
    if (r.produced > 0 || body_done_) return r.produced;
    absl::StatusOr<size_t> n = conn_.ReadMore(timeout);
    if (nonblocking_ && absl::IsDeadlineExceeded(n.status())) return n.status();
    if (!n.ok()) {
      return BodyFailed(n.status(), absl::IsDeadlineExceeded(n.status()) ? 408 : 400);
    }
    if (*n == 0) {
      return BodyFailed(absl::UnavailableError(absl::StrCat(
                            conn_.PeerText(), " closed the connection inside a chunked body")),
                        400);
    }
  }
}

absl::StatusOr<base::UniqueFd> OpenSpoolFile() {
  const char* env = getenv("TMPDIR");
  const std::string dir = env != nullptr && env[0] != '\0' ? env : "/tmp";
  base::UniqueFd fd(open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
  if (fd.Valid()) return fd;
  std::string path = dir + "/kiln-body-XXXXXX";
  fd.Reset(mkostemp(path.data(), O_CLOEXEC));
  if (!fd.Valid()) return base::ErrnoError(errno, "open a request body spool file in", dir);
  unlink(path.c_str());
  return fd;
}

absl::Status WriteSpool(int fd, const char* data, size_t len) {
  while (len > 0) {
    ssize_t w = write(fd, data, len);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return base::ErrnoError(errno, "write", "the request body spool file");
    data += w;
    len -= static_cast<size_t>(w);
  }
  return absl::OkStatus();
}

absl::Status ConnectionRequest::BufferBody() {
  // Up to post-buffering bytes stay in memory; a larger body goes to an unnamed temporary
  // file, as uWSGI does, so a big upload cannot grow the worker.
  std::string body;
  char chunk[16384];
  while (true) {
    absl::StatusOr<size_t> n = ReadRaw(chunk, sizeof(chunk));
    if (!n.ok()) return n.status();
    if (*n == 0) break;
    if (!spool_.Valid() && body.size() + *n > options_.post_buffering) {
      absl::StatusOr<base::UniqueFd> fd = OpenSpoolFile();
      if (!fd.ok()) return BodyFailed(fd.status(), 500);
      spool_ = std::move(*fd);
      if (absl::Status s = WriteSpool(spool_.Get(), body.data(), body.size()); !s.ok()) {
        return BodyFailed(s, 500);
      }
      body.clear();
    }
    if (spool_.Valid()) {
      if (absl::Status s = WriteSpool(spool_.Get(), chunk, *n); !s.ok()) return BodyFailed(s, 500);
    } else {
      body.append(chunk, *n);
    }
  }
  buffered_body_ = std::move(body);
  return absl::OkStatus();
}

bool ConnectionRequest::BodyInBuffer() const {
  return head_.framing == BodyFraming::kContentLength && conn_.size() >= body_left_;
}

void ConnectionRequest::AdoptSpool(base::UniqueFd spool) {
  spool_ = std::move(spool);
  buffered_pos_ = 0;
  body_read_ = head_.content_length;
  body_left_ = 0;
  body_done_ = true;
}

absl::Status ConnectionRequest::StartResponse(int status, std::string_view reason,
                                              const std::vector<protocol::Header>& headers) {
  if (started_) {
    return absl::FailedPreconditionError("StartResponse called twice for one request");
  }
  // Validated now, so a bad header is refused while the handler can still react: in the same
  // pass that copies the headers (protocol::HeaderIsClean, a numeric Content-Length). Only when
  // something is wrong does ValidateResponse read them again, to word the refusal (the first
  // bad item, as before).
  if (status < 100 || status > 999 || protocol::HasCrLfNul(reason)) {
    return protocol::ValidateResponse(status, reason, headers);
  }
  if (body_error_status_ >= 400 && body_error_status_ < 500 && status >= 500) {
    if (absl::Status s = protocol::ValidateResponse(status, reason, headers); !s.ok()) return s;
    // The handler failed because the body it read was bad (the read raised): that is the
    // client's error, so the client gets body_error_status_ (from Finish), not a 500.
    answer_body_error_ = true;
    started_ = true;
    return absl::OkStatus();
  }
  // Copies: the app's strings may be gone when the head is sent. Reserved first, so the views
  // into header_text taken below stay valid while it fills.
  ResponseBuffers& b = *bufs_;
  size_t text = 0;
  for (const protocol::Header& hd : headers) text += hd.name.size() + hd.value.size();
  b.header_text.clear();
  b.header_text.reserve(text);
  b.headers.clear();
  bool app_length = false;
  for (const protocol::Header& hd : headers) {
    if (!protocol::HeaderIsClean(hd.name, hd.value)) {
      return protocol::ValidateResponse(status, reason, headers);
    }
    if (protocol::IsContentLengthName(hd.name)) {
      uint64_t n = 0;
      if (!protocol::ParseContentLength(hd.value, &n)) {
        return protocol::ValidateResponse(status, reason, headers);
      }
      app_length = true;
    }
    const size_t at = b.header_text.size();
    b.header_text.append(hd.name).append(hd.value);
    const char* p = b.header_text.data() + at;
    b.headers.push_back({std::string_view(p, hd.name.size()),
                         std::string_view(p + hd.name.size(), hd.value.size())});
  }
  status_ = status;
  b.reason.assign(reason);
  app_length_ = app_length;
  // add-header's (ServeOptions, alive as long as the loop): checked when the options were read.
  for (const auto& [name, value] : options_.add_headers) b.headers.push_back({name, value});
  started_ = true;
  return absl::OkStatus();
}

absl::Status ConnectionRequest::WriteFailed(absl::Status s) {
  if (!write_failed_) write_error_text_ = std::string(s.message());
  write_failed_ = true;
  keep_alive_ = false;
  if (options_.disable_write_exception) return absl::OkStatus();
  return s;
}

absl::Status ConnectionRequest::Send(const struct iovec* iov, int count) {
  if (sink_ != nullptr) {
    for (int i = 0; i < count; ++i) {
      sink_->append(static_cast<const char*>(iov[i].iov_base), iov[i].iov_len);
    }
    return absl::OkStatus();
  }
  absl::Status s = conn_.WriteAll(iov, count, options_.socket_timeout);
  if (!s.ok()) return WriteFailed(s);
  return absl::OkStatus();
}

uint64_t ConnectionRequest::FitToDeclaredLength(uint64_t size) {
  if (framing_ != ResponseFraming::kContentLength) return size;
  const uint64_t room = declared_length_ - std::min(declared_length_, body_bytes_);
  if (size <= room) return size;
  // More than the declared Content-Length: send what fits and end the connection, so the
  // surplus can never be read as the start of the next response.
  keep_alive_ = false;
  head_keep_alive_ = false;
  return room;
}

size_t ConnectionRequest::FrameBody(std::string_view data, char (&scratch)[24],
                                    struct iovec* iov) {
  if (data.empty() || framing_ == ResponseFraming::kNoBody) return 0;
  data = data.substr(0, static_cast<size_t>(FitToDeclaredLength(data.size())));
  body_bytes_ += data.size();
  return protocol::FrameBodyPiece(framing_, data, scratch, iov);
}

absl::Status ConnectionRequest::SendHead(std::optional<uint64_t> known_length,
                                         std::string_view first, std::string_view second) {
  protocol::ResponseRequestInfo info;
  info.raw = raw_;
  if (raw_) info.server_protocol = req_->Get("SERVER_PROTOCOL").value_or("");
  info.http11 = head_.minor_version >= 1;
  info.head_request = head_.is_head && !raw_;
  // A client still waiting for 100 Continue may send its body anyway: close after answering.
  if (loop_ != nullptr && loop_->stopping()) keep_alive_ = false;
  info.keep_alive = keep_alive_ && !(head_.expect_continue && !continue_sent_ && !body_done_);
  info.known_length = known_length;
  info.validated = true;  // by StartResponse; add-header's when the options were read
  protocol::ResponseFrame frame;
  absl::Status built = protocol::WriteResponseHead(status_, bufs_->reason, bufs_->headers, info,
                                                   &bufs_->head, &frame);
  if (!built.ok()) return built;  // validated in StartResponse: not expected
  head_sent_ = true;
  framing_ = frame.framing;
  declared_length_ = frame.content_length;
  head_keep_alive_ = frame.keep_alive;
  header_bytes_ = bufs_->head.size();
  header_count_ = frame.header_count;
  // Head and the first body pieces leave in one writev (one packet for small responses).
  struct iovec iov[7];
  char scratch1[24], scratch2[24];
  iov[0] = {bufs_->head.data(), bufs_->head.size()};
  size_t n = 1;
  n += FrameBody(first, scratch1, iov + n);
  n += FrameBody(second, scratch2, iov + n);
  return Send(iov, static_cast<int>(n));
}

void ResponseBuffers::Trim() {
  constexpr size_t kKeep = 64 << 10;
  for (std::string* s : {&reason, &header_text, &head, &pending}) {
    if (s->capacity() > kKeep) std::string().swap(*s);
  }
  if (headers.capacity() > kKeep / sizeof(protocol::Header)) {
    std::vector<protocol::Header>().swap(headers);
  }
}

std::string_view ConnectionRequest::TakePending() {
  if (!has_pending_) return {};
  has_pending_ = false;
  return bufs_->pending;
}

void ConnectionRequest::OwnBuffers() {
  owned_buffers_ = std::make_unique<ResponseBuffers>();
  bufs_ = owned_buffers_.get();
}

absl::Status ConnectionRequest::WriteBody(std::string_view data) {
  if (!started_) return absl::FailedPreconditionError("WriteBody before StartResponse");
  if (answer_body_error_) return absl::OkStatus();
  if (write_failed_) {
    return options_.disable_write_exception
               ? absl::OkStatus()
               : absl::UnavailableError(absl::StrCat("client gone: ", write_error_text_));
  }
  if (data.empty()) return absl::OkStatus();
  if (!head_sent_) {
    if (!raw_ && !app_length_ && !has_pending_) {
      bufs_->pending.assign(data);
      has_pending_ = true;
      return absl::OkStatus();
    }
    return SendHead(std::nullopt, TakePending(), data);
  }
  char scratch[24];
  struct iovec iov[3];
  const size_t n = FrameBody(data, scratch, iov);
  if (n == 0) return absl::OkStatus();
  return Send(iov, static_cast<int>(n));
}

absl::Status ConnectionRequest::WriteBodyNow(std::string_view data) {
  if (!started_ || head_sent_ || answer_body_error_ || write_failed_ || data.empty()) {
    return WriteBody(data);
  }
  return SendHead(std::nullopt, TakePending(), data);
}

protocol::AsyncRequest* ConnectionRequest::Detach(protocol::AsyncEvents* events) {
  if (detacher_ == nullptr || sink_ != nullptr || started_) {
    delete events;
    return nullptr;
  }
  protocol::AsyncRequest* a = detacher_->DetachCurrent(events, &sink_);
  // The serving thread moves on to other requests while this one is answered: the buffers
  // it lent are the next request's, so this one takes storage of its own (nothing is in the
  // lent buffers yet: the response has not started).
  if (a != nullptr && owned_buffers_ == nullptr) {
    ResponseBuffers* kept = detacher_->DetachedBuffers();
    if (kept != nullptr) {
      bufs_ = kept;
    } else {
      OwnBuffers();
    }
  }
  return a;
}

protocol::WsDetach ConnectionRequest::DetachWebSocket(protocol::AsyncEvents* events,
                                                     protocol::AsyncRequest** out) {
  // uwsgi carries no upgrade (nginx's uwsgi module does not pass one on): plain HTTP only.
  if (detacher_ == nullptr || sink_ != nullptr || started_ || raw_) {
    delete events;
    return protocol::WsDetach::kNotWebSocket;
  }
  const protocol::WsHandshakeCheck check = protocol::CheckWsHandshake(*this);
  switch (check.result) {
    case protocol::WsUpgrade::kNone:
      delete events;
      return protocol::WsDetach::kNotWebSocket;
    case protocol::WsUpgrade::kBad: {
      delete events;
      std::vector<protocol::Header> headers = {{"Content-Type", "text/plain"}};
      if (check.http_status == 426) {
        headers.push_back({"Sec-WebSocket-Version", "13"});
        headers.push_back({"Upgrade", "websocket"});
      }
      keep_alive_ = false;
      if (StartResponse(check.http_status, "", headers).ok()) {
        (void)WriteBody(check.message + "\n");
      }
      return protocol::WsDetach::kAnswered;
    }
    case protocol::WsUpgrade::kOk:
      break;
  }
  *out = detacher_->DetachCurrentWebSocket(events, &sink_, check.handshake);
  return *out == nullptr ? protocol::WsDetach::kNotWebSocket : protocol::WsDetach::kDetached;
}

void ConnectionRequest::MarkUpgraded(size_t head_bytes) {
  started_ = true;
  head_sent_ = true;
  status_ = 101;
  header_bytes_ += head_bytes;
  keep_alive_ = false;
}

absl::StatusOr<size_t> ConnectionRequest::ReadBodyNow(char* buf, size_t len, bool* would_block) {
  *would_block = false;
  nonblocking_ = true;
  absl::StatusOr<size_t> n = ReadBody(buf, len);
  nonblocking_ = false;
  if (absl::IsDeadlineExceeded(n.status())) {
    *would_block = true;
    return 0;
  }
  return n;
}

absl::Status ConnectionRequest::SendFile(int fd, int64_t offset, int64_t length) {
  if (sink_ != nullptr) return absl::UnimplementedError("sendfile on a detached request");
  if (!started_) return absl::FailedPreconditionError("SendFile before StartResponse");
  if (answer_body_error_) return absl::OkStatus();
  if (write_failed_) return WriteBody("x");  // the same "client gone" answer
  if (length <= 0) return absl::OkStatus();
  if (!head_sent_) {
    if (absl::Status s = SendHead(std::nullopt, TakePending()); !s.ok()) return s;
  }
  if (framing_ == ResponseFraming::kNoBody) return absl::OkStatus();
  // A file that grew since the app declared its length must not spill past Content-Length.
  length = static_cast<int64_t>(FitToDeclaredLength(static_cast<uint64_t>(length)));
  if (length == 0) return absl::OkStatus();
  via_sendfile_ = true;
  char scratch[24];
  const protocol::PieceFraming f =
      protocol::FramePieceOfSize(framing_, static_cast<uint64_t>(length), scratch);
  if (!f.before.empty()) {
    struct iovec iov = {const_cast<char*>(f.before.data()), f.before.size()};
    if (absl::Status s = Send(&iov, 1); !s.ok()) return s;
  }
  // A file that shrank ends early (DataLoss): the framing already promised more, so the
  // connection is closed (WriteFailed ends keep-alive) rather than reused out of step.
  absl::Status s = conn_.SendFile(fd, offset, length, options_.socket_timeout);
  if (!s.ok()) return WriteFailed(s);
  body_bytes_ += static_cast<uint64_t>(length);
  if (!f.after.empty()) {
    struct iovec iov = {const_cast<char*>(f.after.data()), f.after.size()};
    return Send(&iov, 1);
  }
  return absl::OkStatus();
}

void ConnectionRequest::Refuse(int status, std::string_view why) {
  keep_alive_ = false;
  if (StartResponse(status, "", {{"Content-Type", "text/plain"}}).ok()) {
    (void)WriteBody(absl::StrCat(status, " ", base::Av(protocol::ReasonPhrase(status)), "\n",
                                 base::Av(why), why.empty() ? "" : "\n"));
  }
}

bool ConnectionRequest::Finish() {
  if (answer_body_error_) {
    answer_body_error_ = false;
    started_ = false;
  }
  if (!started_) {
    Refuse(body_error_status_ != 0 ? body_error_status_ : 500, "");
  }
  if (!head_sent_ && !write_failed_) {
    const std::string_view first = TakePending();
    (void)SendHead(raw_ || app_length_ ? std::nullopt : std::optional<uint64_t>(first.size()),
                   first);
  }
  if (framing_ == ResponseFraming::kChunked && !write_failed_) {
    struct iovec iov = {const_cast<char*>(protocol::kLastChunk.data()),
                        protocol::kLastChunk.size()};
    (void)Send(&iov, 1);
  }
  if (framing_ == ResponseFraming::kContentLength && body_bytes_ < declared_length_ &&
      !head_.is_head) {
    keep_alive_ = false;  // the client waits for bytes that will never come
  }
  return keep_alive_ && head_keep_alive_ && !write_failed_ && !read_failed_;
}

std::optional<uint64_t> ConnectionRequest::DiscardBuffered() {
  if (body_done_) return 0;
  if (read_failed_ || (head_.expect_continue && !continue_sent_)) return std::nullopt;
  if (head_.framing == BodyFraming::kContentLength) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(conn_.size(), body_left_));
    conn_.Consume(n);
    body_left_ -= n;
    body_done_ = body_left_ == 0;
    return body_left_;
  }
  // Chunked: decode what is here; the decoder's state dies with this request, so a body
  // that goes on past the buffer cannot be followed by the event loop.
  char scratch[16384];
  while (conn_.size() > 0) {
    protocol::ChunkedDecoder::Result r =
        chunked_.Decode(conn_.data(), conn_.size(), scratch, sizeof(scratch));
    conn_.Consume(r.consumed);
    if (r.status == protocol::ParseStatus::kError) return std::nullopt;
    if (r.status == protocol::ParseStatus::kComplete) {
      body_done_ = true;
      return 0;
    }
    if (r.consumed == 0 && r.produced == 0) break;
  }
  return std::nullopt;
}

}  // namespace kiln::net

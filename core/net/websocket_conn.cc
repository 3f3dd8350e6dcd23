// WebSocket connections taken over by a handler (RequestContext::DetachWebSocket): ASGI's
// `websocket` scope. The connection stays a detached request of this serving thread
// (serve_thread_async.cc does the socket writes, the drained reports and the release); this
// file adds the WebSocket part: the 101 or the refusal, framing what the handler sends, and
// reading the client's frames out of the connection's read buffer with the RFC 6455 codec,
// only while the handler asked for a message (so a client cannot make the server hold more
// than one message of websocket-max-size plus one frame). Pings and close frames are answered
// here, without the handler. With permessage-deflate agreed (websocket_deflate.h) messages are
// inflated as their frames arrive, never past websocket-max-size, and the handler's messages
// are compressed into the output buffer. docs/websocket.md, "Serving WebSocket connections".
#include <sys/epoll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "core/base/strings.h"
#include "core/log/logger.h"
#include "core/net/serve_thread.h"

namespace kiln::net {

void AsyncConn::WsAccept(std::string subprotocol,
                         std::vector<std::pair<std::string, std::string>> headers) {
  AsyncCmd cmd{AsyncCmd::Kind::kWsAccept, this};
  cmd.text = std::move(subprotocol);
  cmd.headers = std::move(headers);
  Post(std::move(cmd));
}

void AsyncConn::WsSend(std::string data, bool binary) {
  AsyncCmd cmd{AsyncCmd::Kind::kWsSend, this};
  cmd.text = std::move(data);
  cmd.flag = binary;
  Post(std::move(cmd));
}

void AsyncConn::WsReceive() { Post(AsyncCmd{AsyncCmd::Kind::kWsReceive, this}); }

void AsyncConn::WsClose(uint16_t code, std::string reason) {
  AsyncCmd cmd{AsyncCmd::Kind::kWsClose, this};
  cmd.status = code;
  cmd.text = std::move(reason);
  Post(std::move(cmd));
}

protocol::AsyncRequest* ServeThread::DetachCurrentWebSocket(protocol::AsyncEvents* events,
                                                            std::string** sink,
                                                            const protocol::WsHandshake& hs) {
  protocol::AsyncRequest* r = DetachCurrent(events, sink);
  if (r != nullptr) {
    detaching_->ws = std::make_unique<WsConn>(hs, options_.websocket_max_size,
                                              options_.websocket_per_message_deflate);
  }
  return r;
}

namespace {

// The handshake refused before a 101 (the app closed, or returned, without accepting).
void RefuseHandshake(ConnectionRequest& ctx, WsConn& ws, int status) {
  ws.refused = true;
  if (ctx.ResponseStarted()) return;
  if (ctx.StartResponse(status, "", {{"Content-Type", "text/plain"}}).ok()) {
    (void)ctx.WriteBody(status == 403 ? "WebSocket connection refused\n"
                                      : "WebSocket handshake failed\n");
  }
}

// Frames one compressed message into a->out: the payload is compressed straight into the
// buffer behind room for the longest header, then the header goes right before it.
bool AppendCompressed(AsyncConn* a, protocol::WsOpcode op, std::string_view message) {
  WsConn& ws = *a->ws;
  const size_t at = a->out.size();
  a->out.append(protocol::kWsMaxHeader, '\0');
  if (absl::Status s = ws.deflater->Compress(message, &a->out); !s.ok()) {
    a->out.resize(at);
    log::Error("WebSocket permessage-deflate failed (%s); sending uncompressed from now on",
               base::Sv(s.message()));
    ws.deflater.reset();
    return false;
  }
  const size_t payload = a->out.size() - at - protocol::kWsMaxHeader;
  uint8_t header[protocol::kWsMaxHeader];
  const size_t h = protocol::WriteWsFrameHeader(op, true, payload, header, /*compressed=*/true);
  const size_t skip = protocol::kWsMaxHeader - h;
  std::memcpy(a->out.data() + at + skip, header, h);
  a->out.erase(at, skip);
  // The handler waits for "drained" every 64 KiB of its own bytes (AsyncFlush counts `sent`):
  // bytes compression saved count as sent, or a handler sending 64 KiB that compress to a
  // few hundred would wait for a drained report that never comes.
  if (payload < message.size()) a->sent += message.size() - payload;
  return true;
}

// Adds a data frame's payload to the message being received, inflating it when the message
// is compressed. 0, or the close code the client earned (and why).
uint16_t TakeDataFrame(WsConn& ws, const protocol::WsFrame& f, const char** why) {
  ws.message_binary = f.message_opcode == protocol::WsOpcode::kBinary;
  if (!f.compressed) {
    ws.message.append(f.payload);
    return 0;
  }
  if (ws.inflater == nullptr) {  // the parser allows RSV1 only when deflate was agreed
    *why = "compressed frame with no permessage-deflate agreed";
    return protocol::ws_close::kProtocolError;
  }
  // websocket-max-size bounds the inflated message: a small frame that inflates to more is
  // refused once the limit is passed, having cost at most that much memory.
  switch (ws.inflater->Inflate(f.payload, f.fin, ws.max_message_size, &ws.message)) {
    case protocol::WsInflater::Result::kOk:
      break;
    case protocol::WsInflater::Result::kTooBig:
      *why = "compressed message inflates past websocket-max-size";
      return protocol::ws_close::kMessageTooBig;
    case protocol::WsInflater::Result::kCorrupt:
      // As wsproto (uvicorn's other WebSocket library): the payload is not what it claims.
      *why = "compressed message is not valid DEFLATE data";
      return protocol::ws_close::kInvalidPayload;
  }
  if (f.fin && !ws.message_binary && !protocol::IsValidUtf8(ws.message)) {
    *why = "text not UTF-8";
    return protocol::ws_close::kInvalidPayload;
  }
  return 0;
}

}  // namespace

void ServeThread::WsCommand(AsyncConn* a, AsyncCmd& cmd) {
  WsConn& ws = *a->ws;
  ConnectionRequest& ctx = *a->ctx;
  if (a->gone || a->finished) return;
  switch (cmd.kind) {
    case AsyncCmd::Kind::kWsAccept: {
      if (ws.accepted || ws.refused) return;
      protocol::WsHandshake hs;
      hs.key = ws.key;
      for (const std::string& p : ws.subprotocols) hs.subprotocols.push_back(p);
      std::vector<protocol::Header> headers;
      headers.reserve(cmd.headers.size());
      for (const auto& [name, value] : cmd.headers) headers.push_back({name, value});
      absl::StatusOr<std::string> head = protocol::BuildWsAcceptResponse(
          hs, cmd.text, headers, ws.deflate ? std::string_view(ws.deflate->response) : "");
      if (!head.ok()) {
        log::Error("WebSocket accept from the app refused (%s); answering 500",
                   base::Sv(head.status().message()));
        ctx.NoteAppError();
        RefuseHandshake(ctx, ws, 500);
        ws.close_received = true;
        a->events->OnWsClose(protocol::ws_close::kAbnormal, "");
        return;
      }
      a->out += *head;
      ctx.MarkUpgraded(head->size());
      ws.accepted = true;
      if (options_.websocket_ping_freq > absl::ZeroDuration()) {
        ws_clock_ = absl::Now();
        ws.heard = ws_clock_;
        ws.keepalive_at = ws.heard + options_.websocket_ping_freq;
      }
      // A WebSocket may stay open for hours: harakiri must not count that as a request running.
      // It leaves the requests in flight; the clock goes to the oldest of those left, if any.
      in_flight_.erase({a->start, a});
      if (!in_flight_.empty()) {
        MarkOldestInFlight();
      } else if (loop_.observer_ != nullptr) {
        loop_.observer_->RequestUpgraded(core_id_);
      }
      WsPump(a);  // frames the client sent right behind its handshake
      return;
    }
    case AsyncCmd::Kind::kWsSend: {
      if (!ws.accepted || ws.close_sent) return;
      const protocol::WsOpcode op =
          cmd.flag ? protocol::WsOpcode::kBinary : protocol::WsOpcode::kText;
      ctx.CountUpgradedBytes(cmd.text.size());
      // An empty message goes uncompressed (RFC 7692 lets each message choose).
      if (ws.deflater != nullptr && !cmd.text.empty() && AppendCompressed(a, op, cmd.text)) {
        return;
      }
      uint8_t header[protocol::kWsMaxHeader];
      const size_t n = protocol::WriteWsFrameHeader(op, true, cmd.text.size(), header);
      a->out.append(reinterpret_cast<const char*>(header), n);
      a->out += cmd.text;
      return;
    }
    case AsyncCmd::Kind::kWsReceive:
      ws.want = true;
      WsPump(a);
      return;
    case AsyncCmd::Kind::kWsClose:
      if (!ws.accepted) {
        if (!ws.refused) RefuseHandshake(ctx, ws, 403);
        return;
      }
      WsSendClose(a, static_cast<uint16_t>(cmd.status), cmd.text);
      return;
    default:
      return;
  }
}

void ServeThread::WsFinish(AsyncConn* a, bool ok) {
  WsConn& ws = *a->ws;
  ws.want = false;
  if (!ws.accepted) {
    // ok: the app returned without accepting, which ASGI reads as a refusal (403); not ok:
    // the HTTP path answers 500.
    if (ok && !ws.refused) RefuseHandshake(*a->ctx, ws, 403);
    return;
  }
  if (!a->gone) {
    WsSendClose(a, ok ? protocol::ws_close::kNormal : protocol::ws_close::kInternalError, "");
  }
  a->conn->EndReserve();
}

void ServeThread::WsSendClose(AsyncConn* a, uint16_t code, std::string_view reason) {
  WsConn& ws = *a->ws;
  if (ws.close_sent) return;
  uint8_t frame[protocol::kWsMaxControlFrame];
  absl::StatusOr<size_t> n = protocol::BuildWsCloseFrame(code, reason, frame);
  if (!n.ok()) {
    log::Error("WebSocket close from the app refused (%s); closing with 1011 instead",
               base::Sv(n.status().message()));
    n = protocol::BuildWsCloseFrame(protocol::ws_close::kInternalError, "", frame);
  }
  a->out.append(reinterpret_cast<const char*>(frame), *n);
  ws.close_sent = true;
}

void ServeThread::WsKeepalive(AsyncConn* a, absl::Time now) {
  WsConn& ws = *a->ws;
  if (!ws.accepted || ws.close_sent || ws.close_received || a->gone || a->finished) {
    ws.keepalive_at = absl::InfiniteFuture();  // closing, or closed: nothing to keep alive
    return;
  }
  const absl::Duration freq = options_.websocket_ping_freq;
  const absl::Duration tolerance = options_.websocket_pong_tolerance;
  // While the handler asks for no message the socket is not read, so no answer could be seen;
  // while our bytes wait for the client to take them, a ping would wait behind them, and
  // socket-timeout already bounds a client that takes nothing. The quiet time starts again.
  if (!ws.want || a->out_pos < a->out.size()) {
    ws.heard = now;
    ws.ping_sent = absl::InfinitePast();
    ws.keepalive_at = now + freq;
    return;
  }
  if (ws.ping_sent != absl::InfinitePast()) {
    if (ws.heard < ws.ping_sent) {
      if (now < ws.ping_sent + tolerance) {
        // Unanswered so far: look again when the tolerance ends, or earlier, when the next ping
        // would be due if the answer came at once (a ping frequency shorter than the tolerance).
        ws.keepalive_at = ws.ping_sent + std::min(tolerance, freq);
        if (ws.keepalive_at <= now) ws.keepalive_at = ws.ping_sent + tolerance;
        return;
      }
      // Nothing since the ping: the peer is gone without a FIN (a NAT forgot the connection, a
      // laptop slept). A 1011 close if the socket takes it, then the connection is shut, and
      // the handler hears 1006, as for any connection lost without a close frame.
      log::Warn("WebSocket client %s sent nothing within %s of a ping; closing with 1011",
                a->conn->PeerText(), absl::FormatDuration(tolerance));
      WsSendClose(a, protocol::ws_close::kInternalError, "keepalive ping timeout");
      ws.close_received = true;
      ws.want = false;
      std::string().swap(ws.message);
      AsyncFlush(a);
      if (!a->gone) (void)shutdown(a->fd, SHUT_RDWR);
      AsyncGone(a);
      AsyncUpdateEpoll(a);
      return;
    }
    ws.ping_sent = absl::InfinitePast();  // anything at all since the ping answers it
  }
  if (now < ws.heard + freq) {
    ws.keepalive_at = ws.heard + freq;
    return;
  }
  uint8_t ping[protocol::kWsMaxControlFrame];
  const size_t n = protocol::BuildWsControlFrame(protocol::WsOpcode::kPing, "kiln", ping);
  a->out.append(reinterpret_cast<const char*>(ping), n);
  ws.ping_sent = now;
  ws.keepalive_at = now + std::min(tolerance, freq);
  AsyncFlush(a);
  AsyncUpdateEpoll(a);
}

void ServeThread::WsGoingAway() {
  for (auto& [fd, owned] : async_) {
    AsyncConn* a = owned.get();
    if (a->ws == nullptr || !a->ws->accepted || a->finished || a->gone || a->ws->close_sent) {
      continue;
    }
    WsSendClose(a, protocol::ws_close::kGoingAway, "server stopping");
    a->ws->close_received = true;  // nothing more is read: the handler ends now
    a->ws->want = false;
    a->events->OnWsClose(protocol::ws_close::kGoingAway, "server stopping");
    AsyncFlush(a);
    AsyncUpdateEpoll(a);
  }
}

void ServeThread::WsPump(AsyncConn* a) {
  WsConn& ws = *a->ws;
  Connection& c = *a->conn;
  while (ws.want && ws.accepted && !ws.close_received && !a->gone && !a->finished) {
    protocol::WsParseResult r = ws.parser.Parse(c.mutable_data(), c.size());
    if (r.status == protocol::WsParseStatus::kNeedMore) {
      // The parser checked the announced size against websocket-max-size: `needed` is bounded.
      if (r.needed > c.size()) c.Reserve(r.needed);
      bool would_block = false;
      absl::StatusOr<size_t> n = c.ReadAvailable(&would_block);
      if (would_block) break;  // epoll says when more is there
      if (!n.ok() || *n == 0) {
        AsyncGone(a);  // no close frame: the handler hears 1006
        return;
      }
      ws.heard = ws_clock_;  // any bytes are life: no ping while a client is sending
      continue;
    }
    // The client broke a rule: a close with its code, and the handler hears the same code.
    auto fail = [&](uint16_t code, const char* why) {
      log::Warn("WebSocket client %s: %s; closing with %d", c.PeerText(), why,
                static_cast<int>(code));
      WsSendClose(a, code, "");
      ws.close_received = true;
      ws.want = false;
      std::string().swap(ws.message);  // a part-received (or part-inflated) message
      a->events->OnWsClose(code, "");
    };
    if (r.status == protocol::WsParseStatus::kError) {
      fail(r.close_code, r.error);
      break;
    }
    const protocol::WsFrame& f = r.frame;
    switch (f.opcode) {
      case protocol::WsOpcode::kPing: {
        if (!ws.close_sent) {
          uint8_t pong[protocol::kWsMaxControlFrame];
          const size_t n = protocol::BuildWsControlFrame(protocol::WsOpcode::kPong, f.payload,
                                                         pong);
          a->out.append(reinterpret_cast<const char*>(pong), n);
        }
        break;
      }
      case protocol::WsOpcode::kPong:
        break;
      case protocol::WsOpcode::kClose: {
        // Echo the code and reason (RFC 6455 5.5.1) unless we closed first; tell the handler.
        ws.close_received = true;
        ws.want = false;
        WsSendClose(a, f.close_code, f.close_reason);
        const std::string reason(f.close_reason);
        c.Consume(r.consumed);
        a->events->OnWsClose(f.close_code, reason);
        AsyncFlush(a);
        return;
      }
      default: {
        const char* why = "";
        if (const uint16_t code = TakeDataFrame(ws, f, &why); code != 0) {
          fail(code, why);  // ends the loop: nothing more is read
          break;
        }
        if (f.fin) {
          ws.want = false;
          a->events->OnWsMessage(ws.message, ws.message_binary);
          ws.message.clear();
          if (ws.message.capacity() > (64 << 10)) ws.message.shrink_to_fit();
        }
        break;
      }
    }
    c.Consume(r.consumed);
  }
  if (a->out_pos < a->out.size()) AsyncFlush(a);
}

}  // namespace kiln::net

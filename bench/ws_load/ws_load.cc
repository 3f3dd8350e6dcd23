// ws_load: a WebSocket load generator for the benchmark (bench/macro/asgi.py's echo row). It
// opens N connections to host:port/path, does the opening handshake on each (checking the
// 101 and Sec-WebSocket-Accept), then for D seconds keeps every connection in a loop of one
// masked text message of S bytes sent and its echo awaited (and compared). It prints the
// messages echoed per second and the count of errors: a connection that fails (refused, a
// handshake that is not a 101, a close from the server, a wrong echo) counts one error and
// stops; the others go on. One thread, one epoll set, non-blocking sockets: the client costs
// little of the machine it shares with the server. Frames from the server are parsed with
// kiln's own parser (core/protocol/websocket_frame.h, expecting unmasked frames).
//
// Usage: ws_load [-c CONNECTIONS] [-d SECONDS] [-s BYTES] HOST:PORT [PATH]
// Output (one line, for scripts): connections=N handshakes=H messages=M seconds=D
//   messages_per_s=R errors=E
// Exit status 0 when it ran (errors are reported, not fatal), 2 on bad usage.
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/protocol/websocket_frame.h"
#include "core/protocol/websocket_handshake.h"

namespace {

using Clock = std::chrono::steady_clock;
using kiln::protocol::WsFrameParser;
using kiln::protocol::WsOpcode;
using kiln::protocol::WsParseStatus;

struct Options {
  int connections = 64;
  double seconds = 8;
  size_t size = 1024;
  std::string host = "127.0.0.1";
  int port = 0;
  std::string path = "/";
};

uint64_t g_rand = 0x9e3779b97f4a7c15ULL;
uint64_t Next() {  // xorshift64: masking keys and handshake keys need not be strong here
  g_rand ^= g_rand << 13;
  g_rand ^= g_rand >> 7;
  g_rand ^= g_rand << 17;
  return g_rand;
}

std::string Base64(const uint8_t* p, size_t n) {
  static const char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = static_cast<uint32_t>(p[i]) << 16;
    if (i + 1 < n) v |= static_cast<uint32_t>(p[i + 1]) << 8;
    if (i + 2 < n) v |= p[i + 2];
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < n ? kAlphabet[(v >> 6) & 63] : '=';
    out += i + 2 < n ? kAlphabet[v & 63] : '=';
  }
  return out;
}

// One masked text frame (RFC 6455 5.2: a client masks every frame it sends).
std::string MaskedFrame(WsOpcode op, std::string_view payload) {
  std::string f;
  f += static_cast<char>(0x80 | static_cast<uint8_t>(op));
  if (payload.size() < 126) {
    f += static_cast<char>(0x80 | payload.size());
  } else if (payload.size() <= 0xffff) {
    f += static_cast<char>(0x80 | 126);
    f += static_cast<char>(payload.size() >> 8);
    f += static_cast<char>(payload.size() & 0xff);
  } else {
    f += static_cast<char>(0x80 | 127);
    for (int i = 7; i >= 0; --i) f += static_cast<char>((uint64_t{payload.size()} >> (8 * i)) & 0xff);
  }
  uint8_t key[4];
  const uint64_t r = Next();
  std::memcpy(key, &r, 4);
  f.append(reinterpret_cast<const char*>(key), 4);
  const size_t at = f.size();
  f.append(payload);
  kiln::protocol::ApplyWsMask(f.data() + at, payload.size(), key);
  return f;
}

enum class State { kConnecting, kHandshake, kOpen, kDone };

struct Conn {
  int fd = -1;
  State state = State::kConnecting;
  std::string key;      // Sec-WebSocket-Key sent
  std::string out;      // bytes to send from out_pos
  size_t out_pos = 0;
  std::string in;       // bytes received, not yet parsed
  std::string expect;   // the payload whose echo is awaited
  uint64_t seq = 0;
  std::unique_ptr<WsFrameParser> parser;
};

struct Totals {
  uint64_t handshakes = 0;
  uint64_t messages = 0;
  uint64_t errors = 0;
  bool counting = true;  // false after the deadline: late echoes do not count
};

void Fail(Conn& c, Totals& t, int epfd, const char* why, bool verbose) {
  if (c.state == State::kDone) return;
  if (verbose) std::fprintf(stderr, "ws_load: connection fd %d: %s\n", c.fd, why);
  ++t.errors;
  c.state = State::kDone;
  epoll_ctl(epfd, EPOLL_CTL_DEL, c.fd, nullptr);
  close(c.fd);
  c.fd = -1;
}

void QueueMessage(Conn& c, size_t size) {
  // A payload of printable ASCII that differs per message, so a stale or mixed-up echo shows.
  std::string p(size, 'a');
  const std::string tag = std::to_string(c.fd) + ":" + std::to_string(++c.seq) + ":";
  p.replace(0, std::min(tag.size(), size), tag.substr(0, std::min(tag.size(), size)));
  for (size_t i = tag.size(); i < size; ++i) p[i] = static_cast<char>('a' + (i + c.seq) % 26);
  c.out += MaskedFrame(WsOpcode::kText, p);
  c.expect = std::move(p);
}

// Sends what is queued; false on a write error.
bool Flush(Conn& c) {
  while (c.out_pos < c.out.size()) {
    const ssize_t n = send(c.fd, c.out.data() + c.out_pos, c.out.size() - c.out_pos, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) return true;
      return false;
    }
    c.out_pos += static_cast<size_t>(n);
  }
  c.out.clear();
  c.out_pos = 0;
  return true;
}

void Watch(int epfd, Conn& c, bool want_out) {
  epoll_event ev{};
  ev.events = EPOLLIN | (want_out ? EPOLLOUT : 0u);
  ev.data.ptr = &c;
  epoll_ctl(epfd, EPOLL_CTL_MOD, c.fd, &ev);
}

// The handshake answer is complete in c.in: checks it; the bytes after the head stay in c.in.
const char* CheckHandshake(Conn& c) {
  const size_t end = c.in.find("\r\n\r\n");
  std::string head = c.in.substr(0, end + 2);
  c.in.erase(0, end + 4);
  if (head.compare(0, 13, "HTTP/1.1 101 ") != 0) {
    static std::string why;
    why = "handshake answered: " + head.substr(0, head.find('\r'));
    return why.c_str();
  }
  std::string lower = head;
  for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  const size_t at = lower.find("\r\nsec-websocket-accept:");
  if (at == std::string::npos) return "101 without Sec-WebSocket-Accept";
  size_t v = at + 23;
  while (v < head.size() && head[v] == ' ') ++v;
  const std::string value = head.substr(v, head.find('\r', v) - v);
  if (value != kiln::protocol::WsAcceptValue(c.key)) return "wrong Sec-WebSocket-Accept";
  return nullptr;
}

// Parses the frames in c.in; returns an error text or nullptr.
const char* OnFrames(Conn& c, Totals& t, size_t size) {
  size_t pos = 0;
  const char* err = nullptr;
  while (err == nullptr) {
    kiln::protocol::WsParseResult r = c.parser->Parse(c.in.data() + pos, c.in.size() - pos);
    if (r.status == WsParseStatus::kNeedMore) break;
    if (r.status == WsParseStatus::kError) {
      err = r.error;
      break;
    }
    pos += r.consumed;
    const kiln::protocol::WsFrame& f = r.frame;
    switch (f.opcode) {
      case WsOpcode::kPing:
        c.out += MaskedFrame(WsOpcode::kPong, f.payload);
        break;
      case WsOpcode::kPong:
        break;
      case WsOpcode::kClose:
        err = "the server closed the connection";
        break;
      default:
        if (!f.fin || f.opcode != WsOpcode::kText) {
          err = "a fragmented or binary echo";
        } else if (f.payload != c.expect) {
          err = "the echo differs from the message sent";
        } else {
          if (t.counting) ++t.messages;
          QueueMessage(c, size);
        }
    }
  }
  c.in.erase(0, pos);
  return err;
}

bool ParseArgs(int argc, char** argv, Options* o) {
  int i = 1;
  for (; i < argc && argv[i][0] == '-'; i += 2) {
    if (i + 1 >= argc) return false;
    const std::string flag = argv[i];
    const char* v = argv[i + 1];
    if (flag == "-c") {
      o->connections = std::atoi(v);
    } else if (flag == "-d") {
      o->seconds = std::atof(v);
    } else if (flag == "-s") {
      o->size = static_cast<size_t>(std::atol(v));
    } else {
      return false;
    }
  }
  if (i >= argc || o->connections <= 0 || o->seconds <= 0 || o->size == 0) return false;
  std::string addr = argv[i++];
  if (addr.rfind("ws://", 0) == 0) {
    addr.erase(0, 5);
    const size_t slash = addr.find('/');
    if (slash != std::string::npos) {
      o->path = addr.substr(slash);
      addr.erase(slash);
    }
  }
  if (i < argc) o->path = argv[i];
  const size_t colon = addr.rfind(':');
  if (colon == std::string::npos) return false;
  o->host = addr.substr(0, colon);
  o->port = std::atoi(addr.c_str() + colon + 1);
  return o->port > 0 && o->port < 65536;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (!ParseArgs(argc, argv, &o)) {
    std::fprintf(stderr,
                 "usage: ws_load [-c CONNECTIONS] [-d SECONDS] [-s BYTES] HOST:PORT [PATH]\n"
                 "       (or ws://HOST:PORT/PATH); defaults: 64 connections, 8 s, 1024 bytes\n");
    return 2;
  }
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(o.port));
  if (inet_pton(AF_INET, o.host.c_str(), &sa.sin_addr) != 1) {
    std::fprintf(stderr, "ws_load: %s is not an IPv4 address\n", o.host.c_str());
    return 2;
  }
  g_rand ^= static_cast<uint64_t>(getpid()) << 32 ^
            static_cast<uint64_t>(Clock::now().time_since_epoch().count());
  const bool verbose = std::getenv("WS_LOAD_VERBOSE") != nullptr;
  const int epfd = epoll_create1(EPOLL_CLOEXEC);
  Totals t;
  std::vector<Conn> conns(static_cast<size_t>(o.connections));
  kiln::protocol::WsParserOptions po;
  po.expect_masked = false;
  po.max_message_size = o.size + 1024;
  for (Conn& c : conns) {
    c.parser = std::make_unique<WsFrameParser>(po);
    c.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    const int one = 1;
    setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    uint8_t raw[16];
    for (int i = 0; i < 16; i += 8) {
      const uint64_t r = Next();
      std::memcpy(raw + i, &r, 8);
    }
    c.key = Base64(raw, sizeof(raw));
    c.out = "GET " + o.path + " HTTP/1.1\r\nHost: " + o.host + ":" + std::to_string(o.port) +
            "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + c.key +
            "\r\nSec-WebSocket-Version: 13\r\n\r\n";
    if (connect(c.fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0 &&
        errno != EINPROGRESS) {
      c.state = State::kDone;
      close(c.fd);
      c.fd = -1;
      ++t.errors;
      continue;
    }
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT;
    ev.data.ptr = &c;
    epoll_ctl(epfd, EPOLL_CTL_ADD, c.fd, &ev);
  }
  // The clock starts once the handshakes are done (or after 5 s at most), so the rate is that
  // of the echo loop alone.
  const Clock::time_point setup_end = Clock::now() + std::chrono::seconds(5);
  Clock::time_point start{}, deadline = Clock::time_point::max();
  bool started = false;
  std::vector<epoll_event> events(256);
  char buf[65536];
  while (true) {
    const Clock::time_point now = Clock::now();
    if (!started) {
      size_t pending = 0;
      for (const Conn& c : conns) pending += c.state == State::kConnecting || c.state == State::kHandshake;
      if (pending == 0 || now >= setup_end) {
        started = true;
        start = now;
        deadline = now + std::chrono::microseconds(static_cast<int64_t>(o.seconds * 1e6));
        for (Conn& c : conns) {
          if (c.state != State::kOpen) {
            Fail(c, t, epfd, "no handshake within 5 s", verbose);
            continue;
          }
          QueueMessage(c, o.size);
          if (!Flush(c)) Fail(c, t, epfd, "write failed", verbose);
          else Watch(epfd, c, !c.out.empty());
        }
      }
    }
    if (started && now >= deadline) break;
    size_t open = 0;
    for (const Conn& c : conns) open += c.state != State::kDone;
    if (open == 0) break;
    const int n = epoll_wait(epfd, events.data(), static_cast<int>(events.size()), 20);
    for (int i = 0; i < n; ++i) {
      Conn& c = *static_cast<Conn*>(events[i].data.ptr);
      if (c.state == State::kDone) continue;
      if (c.state == State::kConnecting) {
        int err = 0;
        socklen_t len = sizeof(err);
        getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
          Fail(c, t, epfd, std::strerror(err), verbose);
          continue;
        }
        if ((events[i].events & EPOLLOUT) == 0) continue;
        c.state = State::kHandshake;
      }
      if ((events[i].events & EPOLLIN) != 0 || (events[i].events & (EPOLLHUP | EPOLLERR)) != 0) {
        bool closed = false;
        while (true) {
          const ssize_t r = recv(c.fd, buf, sizeof(buf), 0);
          if (r > 0) {
            c.in.append(buf, static_cast<size_t>(r));
            continue;
          }
          if (r == 0 || (errno != EAGAIN && errno != EINTR)) closed = true;
          break;
        }
        if (c.state == State::kHandshake && c.in.find("\r\n\r\n") != std::string::npos) {
          if (const char* why = CheckHandshake(c)) {
            Fail(c, t, epfd, why, verbose);
            continue;
          }
          c.state = State::kOpen;
          ++t.handshakes;
        }
        if (c.state == State::kOpen && !c.in.empty()) {
          if (const char* why = OnFrames(c, t, o.size)) {
            Fail(c, t, epfd, why, verbose);
            continue;
          }
        }
        if (closed) {
          Fail(c, t, epfd, "the server closed the connection", verbose);
          continue;
        }
      }
      if (!Flush(c)) {
        Fail(c, t, epfd, "write failed", verbose);
        continue;
      }
      Watch(epfd, c, !c.out.empty());
    }
  }
  const double secs =
      started ? std::chrono::duration<double>(Clock::now() - start).count() : 0.0;
  t.counting = false;
  for (Conn& c : conns) {
    if (c.fd >= 0) close(c.fd);
  }
  close(epfd);
  std::printf("connections=%d handshakes=%llu messages=%llu seconds=%.2f messages_per_s=%.1f "
              "errors=%llu\n",
              o.connections, static_cast<unsigned long long>(t.handshakes),
              static_cast<unsigned long long>(t.messages), secs,
              secs > 0 ? static_cast<double>(t.messages) / secs : 0.0,
              static_cast<unsigned long long>(t.errors));
  return 0;
}

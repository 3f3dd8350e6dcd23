// WebSocket over ASGI, end to end: the real kiln binary and python plugin, a raw ASGI app and
// Debian's Starlette, with Debian's `websockets` client library as the peer
// (tests/python/ws_client.py, which also sends the raw frames a real client never would),
// over HTTP/1.1 and through Debian's nginx (proxy_pass with the Upgrade headers).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/lib/kiln_process.h"
#include "tests/lib/nginx_process.h"
#include "tests/python/py_client.h"

namespace kiln::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// One ASGI app, a path per case. What the app learns goes to $ASGI_LOG, a line each.
constexpr char kWsApp[] = R"PY(
import asyncio, os

def note(text):
    with open(os.environ['ASGI_LOG'], 'a') as f:
        f.write(text + '\n')

async def app(scope, receive, send):
    if scope['type'] == 'lifespan':
        return
    if scope['type'] == 'http':
        await send({'type': 'http.response.start', 'status': 200, 'headers': []})
        await send({'type': 'http.response.body', 'body': b'plain http ' + scope['path'].encode()})
        return
    assert scope['type'] == 'websocket', scope
    path = scope['path']
    m = await receive()
    assert m == {'type': 'websocket.connect'}, m
    if path == '/reject':
        await send({'type': 'websocket.close'})
        note('after reject: %s' % (await receive()))
        return
    if path == '/raise':
        raise ValueError('no accept for you')
    if path == '/return':
        return
    if path == '/scope':
        await send({'type': 'websocket.accept', 'subprotocol': 'b',
                    'headers': [(b'x-reply', b'scoped')]})
        s = dict(scope)
        s.pop('state')
        await send({'type': 'websocket.send', 'text': repr(sorted(s.items()))})
        await send({'type': 'websocket.close'})
        return
    sub = 'chat' if 'chat' in scope['subprotocols'] else None
    await send({'type': 'websocket.accept', 'subprotocol': sub})
    if path == '/close':
        await send({'type': 'websocket.close', 'code': 4002, 'reason': 'server done'})
        note('after close: %s' % (await receive()))
        return
    if path == '/flood':
        sent = 0
        piece = b'f' * 65536
        for i in range(1024):  # 64 MiB
            await send({'type': 'websocket.send', 'bytes': piece})
            sent += len(piece)
            with open(os.environ['ASGI_LOG'] + '.flood', 'w') as f:
                f.write(str(sent))
        await send({'type': 'websocket.close'})
        return
    while True:
        m = await receive()
        if m['type'] == 'websocket.disconnect':
            note('disconnect %d %r' % (m['code'], m.get('reason', '')))
            return
        assert m['type'] == 'websocket.receive', m
        if m.get('text') is not None:
            await send({'type': 'websocket.send', 'text': m['text']})
        else:
            await send({'type': 'websocket.send', 'bytes': m['bytes']})
)PY";

constexpr char kStarletteWs[] = R"PY(
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute

async def ws(websocket):
    await websocket.accept()
    while True:
        text = await websocket.receive_text()
        if text == 'bye':
            await websocket.close(code=4100)
            return
        await websocket.send_text('starlette got ' + text)

async def hello(request):
    return PlainTextResponse('hi')

app = Starlette(routes=[WebSocketRoute('/ws', ws), Route('/hello', hello)])
)PY";

class WsServer {
 public:
  explicit WsServer(std::vector<std::string> extra = {}) {
    dir_.Write("wsapp.py", kWsApp);
    dir_.Write("starws.py", kStarletteWs);
    log_file_ = dir_.File("asgi.log");
    address_ = absl::StrCat("127.0.0.1:", FreeLoopbackPort());
    std::vector<std::string> args = {"--http-socket", address_, "--plugin-dir", PluginDir(),
                                     "--plugins", "python", "--pythonpath", dir_.path(),
                                     "--master", "--processes", "1", "--asgi", "wsapp:app",
                                     "--mount", "/star=asgi:starws:app", "--manage-script-name"};
    args.insert(args.end(), extra.begin(), extra.end());
    kiln_ = std::make_unique<KilnProcess>(args, dir_.File("kiln.log"));
    kiln_->SetEnv("ASGI_LOG", log_file_);
    kiln_->SetEnv("LSAN_OPTIONS", LsanOptionsForPython());
    EXPECT_TRUE(kiln_->Start());
    EXPECT_TRUE(kiln_->WaitForLog("kiln is ready", absl::Seconds(20))) << kiln_->Log();
  }
  KilnProcess& kiln() { return *kiln_; }
  const std::string& address() const { return address_; }
  std::string Url(const std::string& path) const { return "ws://" + address_ + path; }
  std::string Notes() const { return TempDir::ReadFile(log_file_); }
  std::string FloodFile() const { return log_file_ + ".flood"; }
  std::string FloodCount() const { return TempDir::ReadFile(FloodFile()); }
  bool WaitForNote(std::string_view needle) const {
    return WaitForFile(log_file_, needle, absl::Seconds(10));
  }

 private:
  TempDir dir_;
  std::string log_file_;
  std::string address_;
  std::unique_ptr<KilnProcess> kiln_;
};

// Runs ws_client.py with the arguments and returns what it printed (stdout and stderr), or
// why it failed. Bounded: a client still running after 60 s is killed by its pid.
std::string RunClient(std::vector<std::string> args) {
  TempDir tmp;
  const std::string out = tmp.File("out");
  args.insert(args.begin(), SourceDir() + "/tests/python/ws_client.py");
  args.insert(args.begin(), "/usr/bin/python3");
  const pid_t pid = fork();
  if (pid == 0) {
    FILE* f = freopen(out.c_str(), "w", stdout);
    (void)f;
    dup2(STDOUT_FILENO, STDERR_FILENO);
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  int status = 0;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (absl::Now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return "client timed out:\n" + TempDir::ReadFile(out);
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  std::string printed = TempDir::ReadFile(out);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) printed += "\n[client failed]";
  return printed;
}

TEST(AsgiWebSocket, ClientLibraryIsInstalled) {
  ASSERT_EQ(system("/usr/bin/python3 -c 'import websockets' 2>/dev/null"), 0)
      << MissingTool("/usr/lib/python3/dist-packages/websockets", "python3-websockets");
}

// Text and binary echo, a 1 MiB message in 16 fragments, subprotocol negotiation, a ping
// answered by kiln, and the client's close code and reason reaching the app.
TEST(AsgiWebSocket, EchoFragmentsPingAndClientClose) {
  WsServer s;
  const std::string got = RunClient({"echo", s.Url("/echo")});
  EXPECT_THAT(got, HasSubstr("subprotocol chat\n"));
  EXPECT_THAT(got, HasSubstr("text héllo\n"));
  EXPECT_THAT(got, HasSubstr("binary b'\\x00\\x01\\xff'\n"));
  EXPECT_THAT(got, HasSubstr("fragmented 1048576 True\n"));
  EXPECT_THAT(got, HasSubstr("pong\n"));
  EXPECT_THAT(got, HasSubstr("closed 4001 client done\n")) << got << s.kiln().Log();
  EXPECT_TRUE(s.WaitForNote("disconnect 4001 'client done'")) << s.Notes() << s.kiln().Log();
  // The request log line, written when the socket is done, says 101.
  EXPECT_TRUE(s.kiln().WaitForLog("(HTTP/1.1 101)", absl::Seconds(10))) << s.kiln().Log();
  EXPECT_THAT(s.kiln().Log(), HasSubstr("GET /echo => generated"));
}

TEST(AsgiWebSocket, Scope) {
  WsServer s;
  const std::string got = RunClient({"scope", s.Url("/sc%6fpe?x=1")});
  EXPECT_THAT(got, HasSubstr("('asgi', {'version': '3.0', 'spec_version': '2.3'})")) << got;
  EXPECT_THAT(got, HasSubstr("('type', 'websocket')"));
  EXPECT_THAT(got, HasSubstr("('http_version', '1.1')"));
  EXPECT_THAT(got, HasSubstr("('scheme', 'ws')"));
  EXPECT_THAT(got, HasSubstr("('path', '/scope')"));
  EXPECT_THAT(got, HasSubstr("('raw_path', b'/sc%6fpe')"));
  EXPECT_THAT(got, HasSubstr("('query_string', b'x=1')"));
  EXPECT_THAT(got, HasSubstr("('root_path', '')"));
  EXPECT_THAT(got, HasSubstr("(b'x-test', b'yes')"));
  EXPECT_THAT(got, HasSubstr("(b'sec-websocket-protocol', b'a, b')"));
  EXPECT_THAT(got, HasSubstr("('subprotocols', ['a', 'b'])"));
  EXPECT_THAT(got, HasSubstr("('client', ('127.0.0.1', "));
  EXPECT_THAT(got, HasSubstr("('server', ("));
  EXPECT_THAT(got, Not(HasSubstr("'method'")));
}

// The app closes with a code and reason; the client sees them.
TEST(AsgiWebSocket, ServerCloseWithCodeAndReason) {
  WsServer s;
  const std::string got = RunClient({"server-close", s.Url("/close")});
  EXPECT_THAT(got, HasSubstr("closed 4002 server done\n")) << got << s.kiln().Log();
  EXPECT_TRUE(s.WaitForNote("after close: {'type': 'websocket.disconnect', 'code': 4002"))
      << s.Notes();
}

// websocket.close before accept answers 403; an app that raises before accepting, 500; one
// that returns without accepting, 403. kiln goes on serving.
TEST(AsgiWebSocket, RefusedHandshakes) {
  WsServer s;
  EXPECT_THAT(RunClient({"reject", s.Url("/reject")}), HasSubstr("status 403\n"));
  EXPECT_TRUE(s.WaitForNote("after reject: {'type': 'websocket.disconnect'")) << s.Notes();
  EXPECT_THAT(RunClient({"reject", s.Url("/raise")}), HasSubstr("status 500\n"));
  EXPECT_THAT(s.kiln().Log(), HasSubstr("ValueError: no accept for you"));
  EXPECT_THAT(RunClient({"reject", s.Url("/return")}), HasSubstr("status 403\n"));
  absl::StatusOr<Response> r = HttpGet(s.address(), "/after");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->body, "plain http /after");
}

// A broken handshake is answered by kiln (400, 426) without the app.
TEST(AsgiWebSocket, BrokenHandshakeIsAnsweredByKiln) {
  WsServer s;
  absl::StatusOr<Response> r = Exchange(
      s.address(),
      "GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n",
      absl::Seconds(10));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 426);
  EXPECT_EQ(HeaderOf(*r, "Sec-WebSocket-Version"), "13");
  r = Exchange(s.address(),
               "GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Version: 13\r\n\r\n",
               absl::Seconds(10));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 400);
  EXPECT_THAT(r->body, HasSubstr("Sec-WebSocket-Key"));
  // A Sec-WebSocket-Extensions outside RFC 6455 9.1's grammar (RFC 6455 4.2.1: 400).
  r = Exchange(s.address(),
               "GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
               "Sec-WebSocket-Extensions: permessage-deflate; ;\r\n\r\n",
               absl::Seconds(10));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 400);
  EXPECT_THAT(r->body, HasSubstr("Sec-WebSocket-Extensions is malformed"));
}

// Protocol violations close with the RFC's code, and the app hears the same code.
TEST(AsgiWebSocket, ProtocolErrorsCloseWithTheRfcCodes) {
  WsServer s({"--websocket-max-size", "64"});  // KiB, as uWSGI reads it
  std::string got = RunClient({"raw", s.Url("/echo"), "unmasked"});
  EXPECT_THAT(got, HasSubstr("handshake HTTP/1.1 101 Switching Protocols\n"));
  EXPECT_THAT(got, HasSubstr("close 1002\n")) << got;
  EXPECT_TRUE(s.WaitForNote("disconnect 1002")) << s.Notes();
  got = RunClient({"raw", s.Url("/echo"), "bad-utf8"});
  EXPECT_THAT(got, HasSubstr("close 1007\n")) << got;
  EXPECT_TRUE(s.WaitForNote("disconnect 1007")) << s.Notes();
  got = RunClient({"raw", s.Url("/echo"), "too-big"});
  EXPECT_THAT(got, HasSubstr("close 1009\n")) << got;
  EXPECT_TRUE(s.WaitForNote("disconnect 1009")) << s.Notes();
  got = RunClient({"raw", s.Url("/echo"), "big-ping"});
  EXPECT_THAT(got, HasSubstr("close 1002\n")) << got;
  EXPECT_THAT(s.kiln().Log(), HasSubstr("closing with 1009"));
}

// permessage-deflate (RFC 7692) with Debian's websockets client, which offers it by default:
// the 101 names the agreed parameters, and large repetitive and random messages go both ways
// compressed (repetitive ones in a fraction of their bytes on the wire), fragmented too.
TEST(AsgiWebSocket, PerMessageDeflateNegotiatedAndRoundTrips) {
  WsServer s;
  const std::string got = RunClient({"deflate", s.Url("/echo")});
  EXPECT_THAT(got, HasSubstr("extensions permessage-deflate; server_max_window_bits=12; "
                             "client_max_window_bits=12\n"))
      << got << s.kiln().Log();
  EXPECT_THAT(got, HasSubstr("negotiated ['PerMessageDeflate']\n"));
  // name, length, round-tripped, bytes on the wire each way
  auto wire = [&got](const std::string& name, long long* sent, long long* received) {
    const size_t at = got.find(name + " ");
    if (at == std::string::npos) return false;
    long long len = 0;
    char ok[8] = {};
    return std::sscanf(got.c_str() + at + name.size(), " %lld %7s sent %lld received %lld",
                       &len, ok, sent, received) == 4 &&
           std::string(ok) == "True";
  };
  long long sent = 0, received = 0;
  ASSERT_TRUE(wire("repetitive-text", &sent, &received)) << got;
  EXPECT_THAT(got, HasSubstr("repetitive-text 1260000 True"));  // characters; 1.3 MB
  EXPECT_LT(sent, 1300000 / 20) << got;  // the client compressed it
  EXPECT_LT(received, 1300000 / 20) << got;  // and so did kiln
  ASSERT_TRUE(wire("repetitive-binary", &sent, &received)) << got;
  EXPECT_LT(received, 524288 / 20) << got;
  // Random bytes do not compress: a little more than their size, either way.
  ASSERT_TRUE(wire("random-binary", &sent, &received)) << got;
  EXPECT_GT(received, 1048576);
  EXPECT_LT(received, 1048576 + 1048576 / 64) << got;
  EXPECT_THAT(got, HasSubstr("small-text 2 True"));
  EXPECT_THAT(got, HasSubstr("fragmented 786432 True\n"));
  EXPECT_THAT(got, HasSubstr("closed 4001 client done\n"));
  EXPECT_TRUE(s.WaitForNote("disconnect 4001 'client done'")) << s.Notes();
  // The app's own accept headers and subprotocol sit beside the extension in the 101.
  const std::string head = RunClient({"accept-headers", s.Url("/scope")});
  EXPECT_THAT(head, HasSubstr("subprotocol b\n")) << head;
  EXPECT_THAT(head, HasSubstr("x-reply scoped\n"));
  EXPECT_THAT(head, HasSubstr("extensions permessage-deflate; server_max_window_bits=12; "
                              "client_max_window_bits=12\n"));
}

// Raw frames on a deflate connection: a hand-compressed message is echoed compressed; RSV1 on
// a control or continuation frame is 1002, data that is not DEFLATE or inflates to bad UTF-8
// is 1007, and a 60 KiB frame that inflates to 60 MiB is 1009 at the 64 KiB limit.
TEST(AsgiWebSocket, PerMessageDeflateRawFramesErrorsAndBomb) {
  WsServer s({"--websocket-max-size", "64"});  // KiB
  std::string got = RunClient({"raw", s.Url("/echo"), "deflate-hello"});
  EXPECT_THAT(got, HasSubstr("extensions permessage-deflate; server_max_window_bits=12\n"))
      << got;
  EXPECT_THAT(got, HasSubstr("reply rsv1 True text Hello\n")) << got << s.kiln().Log();
  EXPECT_THAT(got, HasSubstr("reply rsv1 True len "));
  EXPECT_THAT(got, HasSubstr("close 1000\n"));
  const std::pair<const char*, const char*> cases[] = {
      {"deflate-rsv1-ping", "close 1002\n"},
      {"deflate-rsv1-continuation", "close 1002\n"},
      {"deflate-corrupt", "close 1007\n"},
      {"deflate-bad-utf8", "close 1007\n"},
      {"deflate-bomb", "close 1009\n"},
  };
  for (const auto& [what, want] : cases) {
    got = RunClient({"raw", s.Url("/echo"), what});
    EXPECT_THAT(got, HasSubstr("handshake HTTP/1.1 101 Switching Protocols\n")) << what;
    EXPECT_THAT(got, HasSubstr(want)) << what << "\n" << got << s.kiln().Log();
  }
  EXPECT_THAT(got, HasSubstr("bomb frame 6"));  // some 60 KiB on the wire
  EXPECT_TRUE(s.WaitForNote("disconnect 1009")) << s.Notes();
  EXPECT_THAT(s.kiln().Log(), HasSubstr("compressed message inflates past websocket-max-size"));
  EXPECT_THAT(s.kiln().Log(), HasSubstr("RSV1 set on a control frame"));
  EXPECT_THAT(s.kiln().Log(), HasSubstr("RSV1 set on a continuation frame"));
  // Without an offer, RSV1 stays a protocol error; and kiln goes on serving.
  got = RunClient({"raw", s.Url("/echo"), "rsv1"});
  EXPECT_THAT(got, Not(HasSubstr("extensions"))) << got;
  EXPECT_THAT(got, HasSubstr("close 1002\n")) << got;
  EXPECT_THAT(RunClient({"echo", s.Url("/echo")}), HasSubstr("text héllo\n"));
}

// websocket-per-message-deflate = false: the same client's offer is not taken, the 101 names
// no extension, messages go uncompressed (as large on the wire as they are), and RSV1 is 1002.
TEST(AsgiWebSocket, PerMessageDeflateOff) {
  WsServer s({"--websocket-per-message-deflate=false"});
  std::string got = RunClient({"deflate", s.Url("/echo")});
  EXPECT_THAT(got, HasSubstr("extensions None\n")) << got << s.kiln().Log();
  EXPECT_THAT(got, HasSubstr("negotiated []\n"));
  EXPECT_THAT(got, HasSubstr("repetitive-text 1260000 True sent 1300014 received 1300010"));
  EXPECT_THAT(got, HasSubstr("fragmented 786432 True\n"));
  got = RunClient({"raw", s.Url("/echo"), "deflate-rsv1-ping"});
  EXPECT_THAT(got, Not(HasSubstr("extensions"))) << got;
  EXPECT_THAT(got, HasSubstr("close 1002\n"));
}

// A client that reads nothing: the app's sends wait for the socket to drain, so kiln holds a
// bounded amount (not the 64 MiB the app wants to send); once the client reads, all arrives.
TEST(AsgiWebSocket, SlowReaderBackpressure) {
  WsServer s;
  const std::string got = RunClient({"flood", s.Url("/flood"), "2", s.FloodFile()});
  EXPECT_THAT(got, HasSubstr("received 67108864\n")) << got << s.kiln().Log();
  const size_t at = got.find("sent while paused ");
  ASSERT_NE(at, std::string::npos) << got;
  const long long paused = std::atoll(got.c_str() + at + 18);
  // Loopback socket buffers take a few MiB; the rest waited in the app, not in kiln.
  EXPECT_GT(paused, 0);
  EXPECT_LT(paused, 24LL << 20) << got;
  EXPECT_EQ(s.FloodCount(), "67108864");
}

// Starlette's WebSocketRoute under a mount point, next to its HTTP route.
TEST(AsgiWebSocket, StarletteRoute) {
  WsServer s;
  const std::string got = RunClient({"starlette", s.Url("/star/ws")});
  EXPECT_THAT(got, HasSubstr("starlette starlette got ping\n")) << got << s.kiln().Log();
  EXPECT_THAT(got, HasSubstr("closed 4100\n"));
  absl::StatusOr<Response> r = HttpGet(s.address(), "/star/hello");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->body, "hi");
}

// 50 sockets open on one worker; plain HTTP is still answered meanwhile.
TEST(AsgiWebSocket, HttpServedWhileSocketsAreOpen) {
  WsServer s;
  const std::string got = RunClient(
      {"many", s.Url("/echo"), "50", absl::StrCat("http://", s.address(), "/meanwhile")});
  EXPECT_THAT(got, HasSubstr("open 50\n")) << got << s.kiln().Log();
  EXPECT_THAT(got, HasSubstr("http 200 plain http /meanwhile\n"));
  EXPECT_THAT(got, HasSubstr("echoed 50\n"));
}

// A graceful stop closes open WebSockets with 1001 and the app hears it, so the worker exits
// at once instead of waiting worker-reload-mercy (60 s) for clients that may stay for hours.
TEST(AsgiWebSocket, GracefulStopClosesWithGoingAway) {
  WsServer s;
  const absl::Time t0 = absl::Now();
  const std::string got =
      RunClient({"stop-server", s.Url("/echo"), std::to_string(s.kiln().pid())});
  EXPECT_THAT(got, HasSubstr("echo still here\n"));
  EXPECT_THAT(got, HasSubstr("closed 1001 server stopping\n")) << got << s.kiln().Log();
  const std::optional<int> rc = s.kiln().WaitExit(absl::Seconds(20));
  ASSERT_TRUE(rc.has_value()) << s.kiln().Log();
  EXPECT_LT(absl::Now() - t0, absl::Seconds(15));
  EXPECT_THAT(s.Notes(), HasSubstr("disconnect 1001 'server stopping'"));
}

// harakiri times requests, not open WebSockets: one open for twice the harakiri time (with
// messages going both ways) keeps its worker.
TEST(AsgiWebSocket, HarakiriDoesNotKillAnOpenWebSocket) {
  WsServer s({"--harakiri", "3"});
  const std::string got = RunClient({"hold", s.Url("/echo"), "6"});
  EXPECT_THAT(got, HasSubstr("held 6\n")) << got << s.kiln().Log();
  EXPECT_THAT(s.kiln().Log(), Not(HasSubstr("HARAKIRI")));
}

// A WSGI app answers an upgrade request as an ordinary request.
TEST(AsgiWebSocket, WsgiAppAnswersUpgradeAsHttp) {
  TempDir dir;
  dir.Write("wsgiapp.py",
            "def application(env, start_response):\n"
            "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
            "    return [b'wsgi saw ' + env.get('HTTP_UPGRADE', '').encode()]\n");
  const std::string address = absl::StrCat("127.0.0.1:", FreeLoopbackPort());
  KilnProcess kiln({"--http-socket", address, "--plugin-dir", PluginDir(), "--plugins", "python",
                    "--pythonpath", dir.path(), "--wsgi", "wsgiapp:application", "--master"},
                   dir.File("kiln.log"));
  kiln.SetEnv("LSAN_OPTIONS", LsanOptionsForPython());
  ASSERT_TRUE(kiln.Start());
  ASSERT_TRUE(kiln.WaitForLog("kiln is ready", absl::Seconds(20))) << kiln.Log();
  absl::StatusOr<Response> r = Exchange(
      address,
      "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade, close\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
      absl::Seconds(10));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "wsgi saw websocket");
}

// Through nginx's proxy_pass with the Upgrade headers (nginx's WebSocket recipe).
TEST(AsgiWebSocket, ThroughNginxProxyPass) {
  WsServer s;
  NginxProcess nginx;
  ASSERT_EQ(nginx.Start(absl::StrCat(
                " server {\n  listen ", nginx.Listen(),
                ";\n  location / {\n   proxy_pass http://", s.address(),
                ";\n   proxy_http_version 1.1;\n   proxy_set_header Upgrade $http_upgrade;\n"
                "   proxy_set_header Connection \"upgrade\";\n   proxy_set_header Host $host;\n"
                "  }\n }\n")),
            "");
  const std::string front = absl::StrCat("ws://", nginx.Address());
  std::string got = RunClient({"echo", front + "/echo"});
  EXPECT_THAT(got, HasSubstr("subprotocol chat\n")) << got << nginx.ErrorLog();
  EXPECT_THAT(got, HasSubstr("fragmented 1048576 True\n"));
  EXPECT_THAT(got, HasSubstr("pong\n"));
  EXPECT_THAT(got, HasSubstr("closed 4001 client done\n"));
  EXPECT_TRUE(s.WaitForNote("disconnect 4001 'client done'")) << s.Notes();
  got = RunClient({"starlette", front + "/star/ws"});
  EXPECT_THAT(got, HasSubstr("starlette starlette got ping\n")) << got;
  EXPECT_THAT(RunClient({"reject", front + "/reject"}), HasSubstr("status 403\n"));
}

// ---- keepalive pings (websocket-ping-freq, websocket-pong-tolerance) ----

// The number after `key ` in the client's output (-1 if it is not there).
double Reported(const std::string& got, std::string_view key) {
  const size_t at = got.find(std::string(key) + " ");
  if (at == std::string::npos) return -1;
  return std::atof(got.c_str() + at + key.size() + 1);
}

// A raw client that sends nothing for 3 s but answers each ping with a masked pong: kiln pings
// it about once a second (its quiet time restarts at each pong), closes nothing, and echoes
// the message sent afterwards. A second ping comes only after the first was answered, and
// ping-freq apart even though the tolerance (2 s, which also spares a client process a loaded
// machine schedules late) is longer.
TEST(AsgiWebSocket, KeepalivePingsAQuietClient) {
  WsServer s({"--websocket-ping-freq", "1", "--websocket-pong-tolerance", "2"});
  const std::string got = RunClient({"raw-keepalive", s.Url("/echo"), "3", "answer"});
  const double pings = Reported(got, "pings");
  EXPECT_GE(pings, 2) << got << s.kiln().Log();
  EXPECT_LE(pings, 3) << got;
  EXPECT_THAT(got, HasSubstr("payload b'kiln'")) << got;
  EXPECT_THAT(got, Not(HasSubstr("close")));
  EXPECT_THAT(got, HasSubstr("echo still here\n")) << got << s.kiln().Log();
}

// Debian's websockets client (its own pings off; it answers kiln's itself) stays connected
// across 3 s of silence with a 1 s ping frequency, answered kiln's pings (at least two: the
// second follows an answered first), and echoes afterwards.
TEST(AsgiWebSocket, KeepaliveKeepsALibraryClientConnected) {
  WsServer s({"--websocket-ping-freq", "1", "--websocket-pong-tolerance", "2"});
  const std::string got = RunClient({"quiet", s.Url("/echo"), "3"});
  EXPECT_THAT(got, HasSubstr("echo after quiet\n")) << got << s.kiln().Log();
  EXPECT_GE(Reported(got, "pongs"), 2) << got;
  EXPECT_THAT(got, HasSubstr("payloads [b'kiln']\n")) << got;
  EXPECT_THAT(got, Not(HasSubstr("[client failed]")));
  EXPECT_THAT(s.kiln().Log(), Not(HasSubstr("of a ping; closing")));
}

// A peer that vanished without a FIN, as a raw client that never answers: one ping, then a
// 1011 close and the end of the connection within ping-freq + pong-tolerance (2 s) and the
// sweep's tenth of a second; the app's receive() gives websocket.disconnect with 1006.
TEST(AsgiWebSocket, KeepaliveClosesASilentPeerWith1011) {
  WsServer s({"--websocket-ping-freq", "1", "--websocket-pong-tolerance", "1"});
  const std::string got = RunClient({"raw-keepalive", s.Url("/echo"), "6", "silent"});
  EXPECT_THAT(got, HasSubstr("close 1011 keepalive ping timeout\n")) << got << s.kiln().Log();
  EXPECT_EQ(Reported(got, "pings"), 1) << got;
  const double closed = Reported(got, "close_at");
  EXPECT_GE(closed, 1.9) << got;
  EXPECT_LE(closed, 3.0) << got;
  const double eof = Reported(got, "eof_at");
  EXPECT_GE(eof, closed) << got;
  EXPECT_LE(eof, 3.0) << got;
  EXPECT_TRUE(s.WaitForNote("disconnect 1006 ''")) << s.Notes() << s.kiln().Log();
  EXPECT_THAT(s.kiln().Log(), HasSubstr("sent nothing within 1s of a ping; closing with 1011"));
}

// websocket-ping-freq = 0: no ping in 3 s of silence.
TEST(AsgiWebSocket, KeepaliveOffSendsNoPing) {
  WsServer s({"--websocket-ping-freq", "0"});
  const std::string got = RunClient({"raw-keepalive", s.Url("/echo"), "3", "answer"});
  EXPECT_THAT(got, HasSubstr("pings 0 payload None\n")) << got << s.kiln().Log();
  EXPECT_THAT(got, HasSubstr("echo still here\n")) << got;
}

}  // namespace
}  // namespace kiln::testing

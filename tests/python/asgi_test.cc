// ASGI 3 apps in the python plugin, end to end: the real kiln binary and plugin, /usr/bin/python3
// apps (tests/python/apps: rawapp.py, a raw ASGI app, and starapp.py on Debian's Starlette), over
// HTTP/1.1 and through Debian's nginx (uwsgi_pass). One event loop per worker serves many requests
// at once; bodies stream both ways; a client that leaves is reported; lifespan runs once per
// worker.
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/lib/kiln_process.h"
#include "tests/lib/nginx_process.h"
#include "tests/python/asgi_server.h"
#include "tests/python/py_client.h"

namespace kiln::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(Asgi, ScopeOfAnHttpRequest) {
  AsgiAppServer s({"--asgi", "rawapp:app"});
  absl::StatusOr<Response> r =
      HttpGet(s.address(), "/sc%6fpe?x=1&y=%20", absl::Seconds(10));
  ASSERT_TRUE(r.ok()) << r.status() << s.kiln().Log();
  EXPECT_EQ(r->status, 200) << s.kiln().Log();
  const std::string& b = r->body;
  EXPECT_THAT(b, HasSubstr("('asgi', {'version': '3.0', 'spec_version': '2.3'})"));
  EXPECT_THAT(b, HasSubstr("('type', 'http')"));
  EXPECT_THAT(b, HasSubstr("('http_version', '1.1')"));
  EXPECT_THAT(b, HasSubstr("('method', 'GET')"));
  EXPECT_THAT(b, HasSubstr("('scheme', 'http')"));
  EXPECT_THAT(b, HasSubstr("('path', '/scope')"));  // decoded
  EXPECT_THAT(b, HasSubstr("('raw_path', b'/sc%6fpe')"));
  EXPECT_THAT(b, HasSubstr("('query_string', b'x=1&y=%20')"));
  EXPECT_THAT(b, HasSubstr("('root_path', '')"));
  EXPECT_THAT(b, HasSubstr("(b'host', b'localhost')"));  // lowercased names, as sent
  EXPECT_THAT(b, HasSubstr("('client', ('127.0.0.1', "));
  // SERVER_NAME and SERVER_PORT, as a WSGI app sees them.
  EXPECT_THAT(b, HasSubstr("('server', ('localhost', " + s.address().substr(10) + "))"));
}

// Each request's scope is its own, whatever the one before did with its own: the scope, its
// `asgi` dict, `headers` list and `state` dict are new objects (an app may change them), and the
// values a request does not share with the common case (method, version, path, query string,
// headers) are its own, the next request's back to its own. Four requests on one connection, the
// app changing everything it is given.
TEST(Asgi, EachRequestOnAConnectionHasAScopeOfItsOwn) {
  AsgiAppServer s({"--asgi", "mutapp:app"}, /*start=*/false, "1");
  s.dir().Write("mutapp.py", R"py(
async def app(scope, receive, send):
    if scope['type'] == 'lifespan':
        while True:
            m = await receive()
            await send({'type': m['type'] + '.complete'})
            if m['type'] == 'lifespan.shutdown':
                return
    seen = repr((scope['type'], scope['asgi'], scope['headers'], scope['state'],
                 scope['client'][0], scope['server'], scope['method'], scope['http_version'],
                 scope['path'], scope['raw_path'], scope['query_string'], scope['root_path'],
                 scope['scheme'])).encode()
    scope['asgi']['version'] = 'mutated'
    scope['headers'].append((b'x-mutated', b'1'))
    scope['state']['mutated'] = True
    for k in list(scope):
        scope[k] = 'mutated'
    await send({'type': 'http.response.start', 'status': 200,
                'headers': [(b'content-length', str(len(seen)).encode())]})
    await send({'type': 'http.response.body', 'body': seen})
)py");
  s.Start();
  const std::string get = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
  const std::string raw = RawExchange(
      s.address(),
      get + get +
          "POST /p%41th?q=1 HTTP/1.0\r\nHost: localhost\r\nConnection: keep-alive\r\n"
          "Content-Length: 0\r\n\r\n" +
          "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
  std::vector<std::string> bodies;
  for (size_t at = raw.find("\r\n\r\n"); at != std::string::npos;
       at = raw.find("\r\n\r\n", at + 4)) {
    const size_t end = raw.find("HTTP/1.", at);
    bodies.push_back(raw.substr(at + 4, end == std::string::npos ? end : end - at - 4));
  }
  ASSERT_EQ(bodies.size(), 4u) << raw << s.kiln().Log();
  const std::string server = "('localhost', " + s.address().substr(10) + ")";
  const std::string common = "('http', {'version': '3.0', 'spec_version': '2.3'}, ";
  EXPECT_EQ(bodies[0], common + "[(b'host', b'localhost')], {}, '127.0.0.1', " + server +
                           ", 'GET', '1.1', '/', b'/', b'', '', 'http')");
  EXPECT_EQ(bodies[1], bodies[0]);
  EXPECT_EQ(bodies[2], common +
                           "[(b'host', b'localhost'), (b'connection', b'keep-alive'), "
                           "(b'content-length', b'0')], {}, '127.0.0.1', " +
                           server + ", 'POST', '1.0', '/pAth', b'/p%41th', b'q=1', '', 'http')");
  EXPECT_EQ(bodies[3], common +
                           "[(b'host', b'localhost'), (b'connection', b'close')], {}, "
                           "'127.0.0.1', " +
                           server + ", 'GET', '1.1', '/', b'/', b'', '', 'http')");
}

// asgi-loop: uvloop when asked (and by `auto`, python3-uvloop being installed), asyncio's own
// loop when asked; the worker's log names the loop it runs.
TEST(Asgi, AsgiLoopChoosesUvloopOrAsyncio) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"uvloop", "uvloop"}, {"auto", "uvloop"}, {"asyncio", "asyncio"}};
  for (const auto& [kind, module] : cases) {
    AsgiAppServer s({"--asgi", "rawapp:app", "--asgi-loop", kind});
    absl::StatusOr<Response> r = HttpGet(s.address(), "/loop", absl::Seconds(10));
    ASSERT_TRUE(r.ok()) << r.status() << s.kiln().Log();
    EXPECT_TRUE(absl::StartsWith(r->body, module)) << kind << ": " << r->body;
    EXPECT_THAT(s.kiln().Log(), HasSubstr("ASGI event loop: " + module)) << kind;
  }
}

// One event loop per worker serves many requests at once: 100 requests that each sleep 1 s
// finish together on 2 workers (one after another they would take 50 s).
TEST(Asgi, HundredConcurrentSleepsFinishTogether) {
  AsgiAppServer s({"--asgi", "rawapp:app"});
  std::vector<std::thread> clients;
  std::atomic<int> ok{0};
  const absl::Time t0 = absl::Now();
  for (int i = 0; i < 100; ++i) {
    clients.emplace_back([&] {
      absl::StatusOr<Response> r = HttpGet(s.address(), "/sleep", absl::Seconds(20));
      if (r.ok() && r->status == 200 && r->body == "slept") ++ok;
    });
  }
  for (std::thread& t : clients) t.join();
  const absl::Duration took = absl::Now() - t0;
  EXPECT_EQ(ok.load(), 100) << s.kiln().Log();
  EXPECT_LT(took, absl::Seconds(3)) << s.kiln().Log();
}

// A request body sent in pieces arrives in several http.request messages with more_body.
TEST(Asgi, RequestBodyIsStreamed) {
  AsgiAppServer s({"--asgi", "rawapp:app"});
  absl::StatusOr<int> fd = Connect(s.address());
  ASSERT_TRUE(fd.ok()) << fd.status();
  const std::string head =
      "POST /body HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
      "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n";
  ASSERT_EQ(::send(*fd, head.data(), head.size(), MSG_NOSIGNAL), static_cast<ssize_t>(head.size()));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const std::string rest = "6\r\n world\r\n0\r\n\r\n";
  ASSERT_EQ(::send(*fd, rest.data(), rest.size(), MSG_NOSIGNAL), static_cast<ssize_t>(rest.size()));
  std::string got;
  char buf[4096];
  for (ssize_t n; (n = ::recv(*fd, buf, sizeof(buf), 0)) > 0;) got.append(buf, n);
  ::close(*fd);
  EXPECT_THAT(got, HasSubstr("HTTP/1.1 200"));
  EXPECT_THAT(got, HasSubstr("messages=2 body=hello world")) << got << s.kiln().Log();
  // And a plain Content-Length body in one piece.
  absl::StatusOr<Response> r = HttpRequest(s.address(), "POST", "/body", "abc", "text/plain");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->body, "messages=1 body=abc");
}

// `Expect: 100-continue` is answered when the app first reads the body, and not before.
TEST(Asgi, ExpectContinueAnsweredWhenTheAppReads) {
  AsgiAppServer s({"--asgi", "rawapp:app"});
  absl::StatusOr<int> fd = Connect(s.address());
  ASSERT_TRUE(fd.ok()) << fd.status();
  const std::string head =
      "POST /body HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 5\r\n"
      "Expect: 100-continue\r\n\r\n";
  ASSERT_EQ(::send(*fd, head.data(), head.size(), MSG_NOSIGNAL), static_cast<ssize_t>(head.size()));
  timeval tv{5, 0};
  ::setsockopt(*fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  char buf[4096];
  ssize_t n = ::recv(*fd, buf, sizeof(buf), 0);
  ASSERT_GT(n, 0) << s.kiln().Log();
  EXPECT_EQ(std::string(buf, n), "HTTP/1.1 100 Continue\r\n\r\n");
  ASSERT_EQ(::send(*fd, "hello", 5, MSG_NOSIGNAL), 5);
  std::string got;
  while ((n = ::recv(*fd, buf, sizeof(buf), 0)) > 0) got.append(buf, n);
  ::close(*fd);
  EXPECT_THAT(got, HasSubstr("HTTP/1.1 200"));
  EXPECT_THAT(got, HasSubstr("messages=1 body=hello"));
}

// Pieces sent with more_body leave at once: the first arrives long before the last.
TEST(Asgi, ResponseIsStreamed) {
  AsgiAppServer s({"--asgi", "rawapp:app"});
  absl::StatusOr<int> fd = Connect(s.address());
  ASSERT_TRUE(fd.ok()) << fd.status();
  const std::string req = "GET /stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  const absl::Time t0 = absl::Now();
  ASSERT_EQ(::send(*fd, req.data(), req.size(), MSG_NOSIGNAL), static_cast<ssize_t>(req.size()));
  std::string got;
  char buf[4096];
  absl::Duration first = absl::InfiniteDuration();
  for (ssize_t n; (n = ::recv(*fd, buf, sizeof(buf), 0)) > 0;) {
    got.append(buf, n);
    if (first == absl::InfiniteDuration() && absl::StrContains(got, "piece0;")) {
      first = absl::Now() - t0;
    }
  }
  const absl::Duration total = absl::Now() - t0;
  ::close(*fd);
  EXPECT_THAT(got, HasSubstr("Transfer-Encoding: chunked"));
  EXPECT_THAT(got, HasSubstr("piece2;"));
  EXPECT_THAT(got, HasSubstr("\r\n0\r\n\r\n"));  // completed
  EXPECT_LT(first, absl::Milliseconds(400)) << got;
  EXPECT_GE(total, absl::Milliseconds(800)) << got;
}

// A client that goes away is reported to the app as http.disconnect.
TEST(Asgi, DisconnectIsDelivered) {
  AsgiAppServer s({"--asgi", "rawapp:app"});
  absl::StatusOr<int> fd = Connect(s.address());
  ASSERT_TRUE(fd.ok()) << fd.status();
  const std::string req = "GET /wait-disconnect HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_EQ(::send(*fd, req.data(), req.size(), MSG_NOSIGNAL), static_cast<ssize_t>(req.size()));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ::close(*fd);
  EXPECT_TRUE(WaitForFile(s.notes_path(), "http.disconnect", absl::Seconds(5)))
      << s.Notes() << s.kiln().Log();
}

// A client that stops reading a streamed response holds neither memory nor the app: send()
// waits while the socket is full, and after socket-timeout without progress the connection
// is closed and the app's sends end at once.
TEST(Asgi, ClientThatStopsReadingIsClosedAfterSocketTimeout) {
  AsgiAppServer s({"--asgi", "rawapp:app", "--socket-timeout", "1"});
  absl::StatusOr<int> fd = Connect(s.address());
  ASSERT_TRUE(fd.ok()) << fd.status();
  const int small = 4096;
  ::setsockopt(*fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
  const std::string req = "GET /big HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_EQ(::send(*fd, req.data(), req.size(), MSG_NOSIGNAL), static_cast<ssize_t>(req.size()));
  EXPECT_TRUE(s.kiln().WaitForLog("took none of the response for 1s; connection closed",
                                  absl::Seconds(10)))
      << s.kiln().Log();
  EXPECT_TRUE(WaitForFile(s.notes_path(), "big-sent", absl::Seconds(5))) << s.Notes();
  ::close(*fd);
}

// An exception before the response started is a 500 with the traceback in the log; after it
// started, the connection is cut (the chunked response never ends).
TEST(Asgi, AppErrors) {
  AsgiAppServer s({"--asgi", "rawapp:app"});
  absl::StatusOr<Response> r = HttpGet(s.address(), "/raise");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 500);
  EXPECT_TRUE(s.kiln().WaitForLog("ValueError: the app broke before answering", absl::Seconds(5)))
      << s.kiln().Log();
  EXPECT_THAT(s.kiln().Log(), HasSubstr("Traceback (most recent call last)"));
  absl::StatusOr<Response> late = HttpGet(s.address(), "/raise-late");
  EXPECT_FALSE(late.ok()) << late->head << late->body;  // no last chunk: cut
  EXPECT_TRUE(s.kiln().WaitForLog("ValueError: the app broke while answering", absl::Seconds(5)));
  // The worker goes on serving.
  r = HttpGet(s.address(), "/sleep");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->body, "slept");
}

// Lifespan startup runs once per worker before it accepts; shutdown at a graceful stop.
TEST(Asgi, LifespanStartupAndShutdown) {
  AsgiAppServer s({"--asgi", "rawapp:app", "--lifespan", "on"});
  EXPECT_EQ(CountOf(s.Notes(), "startup"), 2) << s.Notes();
  EXPECT_EQ(CountOf(s.Notes(), "shutdown"), 0);
  s.kiln().Signal(SIGTERM);
  ASSERT_TRUE(s.kiln().WaitExit(absl::Seconds(15)).has_value());
  EXPECT_EQ(CountOf(s.Notes(), "shutdown"), 2) << s.Notes() << s.kiln().Log();
}

// max-requests recycles an ASGI worker as a WSGI one: the requests it has in flight finish,
// lifespan shutdown runs, and the successor runs startup before it accepts.
TEST(Asgi, MaxRequestsRecyclesAfterTheRequestsInFlight) {
  AsgiAppServer s({"--asgi", "rawapp:app", "--max-requests", "10", "--min-worker-lifetime", "0"});
  std::vector<std::thread> clients;
  std::atomic<int> ok{0};
  for (int i = 0; i < 40; ++i) {
    clients.emplace_back([&] {
      absl::StatusOr<Response> r = HttpGet(s.address(), "/sleep", absl::Seconds(20));
      if (r.ok() && r->status == 200 && r->body == "slept") ++ok;
    });
  }
  for (std::thread& t : clients) t.join();
  EXPECT_EQ(ok.load(), 40) << s.kiln().Log();
  EXPECT_TRUE(s.kiln().WaitForLog("recycled after", absl::Seconds(10))) << s.kiln().Log();
  EXPECT_TRUE(s.kiln().WaitForLog("spawned kiln worker", absl::Seconds(10), 3));
  EXPECT_TRUE(WaitForFile(s.notes_path(), "shutdown", absl::Seconds(10)));
  EXPECT_TRUE(WaitFor200(s.address(), "/scope", absl::Seconds(10)));
  // The other worker may answer first: wait (bounded) for the new worker's own startup.
  for (absl::Time end = absl::Now() + absl::Seconds(10);
       CountOf(s.Notes(), "startup") < 3 && absl::Now() < end;) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_GE(CountOf(s.Notes(), "startup"), 3) << s.Notes();
}

// A startup the app reports as failed stops the worker with the app's message, and with
// need-app (the default) the instance.
TEST(Asgi, LifespanStartupFailureStopsWithTheAppsMessage) {
  AsgiAppServer s({"--asgi", "rawapp:app"}, /*start=*/false);
  s.kiln().SetEnv("ASGI_FAIL_STARTUP", "1");
  ASSERT_TRUE(s.kiln().Start());
  std::optional<int> st = s.kiln().WaitExit(absl::Seconds(20));
  ASSERT_TRUE(st.has_value()) << s.kiln().Log();
  EXPECT_NE(WEXITSTATUS(*st), 0);
  EXPECT_THAT(s.kiln().Log(), HasSubstr("ASGI lifespan startup failed: the database is down"));
}

TEST(Asgi, StarletteOverHttp) {
  AsgiAppServer s({"--asgi", "starapp:app"});
  absl::StatusOr<Response> r = HttpGet(s.address(), "/hello?q=kiln");
  ASSERT_TRUE(r.ok()) << r.status() << s.kiln().Log();
  EXPECT_EQ(r->status, 200) << r->body << s.kiln().Log();
  EXPECT_EQ(r->body, R"({"hello":"world","path":"/hello","q":"kiln"})");
  EXPECT_EQ(HeaderOf(*r, "content-type"), "application/json");
  r = HttpRequest(s.address(), "POST", "/echo", std::string(100000, 'x'), "text/plain");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->body, R"({"len":100000})");
  r = HttpGet(s.address(), "/stream");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->body, "part0\npart1\npart2\n");
  r = HttpGet(s.address(), "/missing");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 404);
}

// A WSGI app and an ASGI app side by side: `mount = /prefix=asgi:module:callable`.
TEST(Asgi, MountedBesideAWsgiApp) {
  AsgiAppServer s({"--mount", "/a=asgi:rawapp:app", "--mount", "/w=wsgiapp:application",
                   "--manage-script-name"},
                  /*start=*/false);
  s.dir().Write("wsgiapp.py",
                "def application(env, start):\n"
                "    start('200 OK', [('Content-Type', 'text/plain')])\n"
                "    return [b'wsgi ' + env['SCRIPT_NAME'].encode()]\n");
  s.Start();
  absl::StatusOr<Response> r = HttpGet(s.address(), "/a/scope");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(r->body, HasSubstr("('root_path', '/a')")) << s.kiln().Log();
  EXPECT_THAT(r->body, HasSubstr("('path', '/scope')"));
  r = HttpGet(s.address(), "/w/x");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->body, "wsgi /w");
}

// The WSGI mount of the mixed-worker tests below. It imports at call time, so what it
// answers names the interpreter it is called in.
void WriteSubWsgiApp(const TempDir& dir) {
  dir.Write("subwsgi.py",
            "def application(env, start):\n"
            "    import sys\n"
            "    start('200 OK', [('Content-Type', 'text/plain')])\n"
            "    return [('sub, rawapp %s' % ('rawapp' in sys.modules)).encode()]\n");
}

// GET `path`: answered with `body`.
void ExpectBody(AsgiAppServer& s, const std::string& path, const std::string& body) {
  absl::StatusOr<Response> r = HttpGet(s.address(), path);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->body, body) << s.kiln().Log();
}

// A worker with WSGI and ASGI apps runs the event loop on a thread of its own (`kiln-asgi`):
// its WSGI apps are called on the serving thread with no loop running, as in a WSGI-only
// worker, so asyncio.run() works (driven by the loop, it raised "cannot be called from a
// running event loop"). A WSGI app of the main interpreter sees the ASGI app's modules; a WSGI
// mount keeps its own sub-interpreter. Each keeps answering between ASGI requests and after an
// exception.
TEST(Asgi, AWsgiAppBesideItRunsAsInAWsgiOnlyWorker) {
  AsgiAppServer s({"--module", "mainwsgi:application", "--mount", "/a=asgi:rawapp:app",
                   "--mount", "/w=subwsgi:application", "--manage-script-name"},
                  /*start=*/false, /*processes=*/"1");
  s.dir().Write("mainwsgi.py",
                "import asyncio, sys, threading\n"
                "async def answer():\n"
                "    await asyncio.sleep(0)\n"
                "    return 'ran'\n"
                "def application(env, start):\n"
                "    if env['PATH_INFO'] == '/boom':\n"
                "        raise ValueError('boom')\n"
                "    try:\n"
                "        got = asyncio.run(answer())\n"
                "    except RuntimeError as e:\n"
                "        got = 'asyncio.run: %s' % e\n"
                "    start('200 OK', [('Content-Type', 'text/plain')])\n"
                "    return [('%s on %s, rawapp %s' % (got, threading.current_thread().name,\n"
                "             'rawapp' in sys.modules)).encode()]\n");
  WriteSubWsgiApp(s.dir());
  s.Start();
  for (int round = 0; round < 3; ++round) {
    ExpectBody(s, "/", "ran on MainThread, rawapp True");
    ExpectBody(s, "/a/thread", "kiln-asgi threads=2");
    ExpectBody(s, "/w/x", "sub, rawapp False");
    absl::StatusOr<Response> r = HttpGet(s.address(), "/boom");
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->status, 500);
  }
  EXPECT_THAT(s.kiln().Log(), HasSubstr("ValueError: boom"));
}

// asgi-loop-thread picks where the loop runs: `serving` keeps it on the first serving thread
// beside WSGI apps (the WSGI apps then run inside its turns: the one of the main interpreter
// in the loop's own thread state, a mount in its own sub-interpreter), and `own` gives an
// ASGI-only worker's loop a thread of its own.
TEST(Asgi, AsgiLoopThreadPlacesTheLoop) {
  {
    AsgiAppServer s({"--module", "mainwsgi:application", "--mount", "/a=asgi:rawapp:app",
                     "--mount", "/w=subwsgi:application", "--manage-script-name",
                     "--asgi-loop-thread", "serving"},
                    /*start=*/false, /*processes=*/"1");
    s.dir().Write("mainwsgi.py",
                  "import sys, threading\n"
                  "def application(env, start):\n"
                  "    start('200 OK', [('Content-Type', 'text/plain')])\n"
                  "    return [('main on %s, rawapp %s' % (threading.current_thread().name,\n"
                  "             'rawapp' in sys.modules)).encode()]\n");
    WriteSubWsgiApp(s.dir());
    s.Start();
    for (int round = 0; round < 2; ++round) {
      ExpectBody(s, "/a/thread", "MainThread threads=1");
      ExpectBody(s, "/", "main on MainThread, rawapp True");
      ExpectBody(s, "/w/x", "sub, rawapp False");
    }
  }
  AsgiAppServer s({"--asgi", "rawapp:app", "--asgi-loop-thread", "own"}, /*start=*/true,
                  /*processes=*/"1");
  absl::StatusOr<Response> r = HttpGet(s.address(), "/thread");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->body, "kiln-asgi threads=2") << s.kiln().Log();
  r = HttpGet(s.address(), "/sleep");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->body, "slept");
}

// An immediate stop (SIGINT) of a worker with both kinds while ASGI requests wait in the loop's
// own thread: the loop is stopped before their connections are freed, lifespan shutdown then
// runs (the sleeping requests that resume meanwhile have their calls dropped), and the worker
// exits cleanly.
TEST(Asgi, AnImmediateStopWithRequestsInTheLoopsThreadExitsCleanly) {
  AsgiAppServer s({"--module", "wsgiapp:application", "--mount", "/a=asgi:rawapp:app",
                   "--manage-script-name", "--lifespan", "on"},
                  /*start=*/false, /*processes=*/"1");
  s.dir().Write("wsgiapp.py",
                "def application(env, start):\n"
                "    start('200 OK', [('Content-Type', 'text/plain')])\n"
                "    return [b'wsgi']\n");
  s.Start();
  std::vector<std::thread> clients;
  for (int i = 0; i < 8; ++i) {
    clients.emplace_back([&] { (void)HttpGet(s.address(), "/a/sleep", absl::Seconds(10)); });
  }
  absl::SleepFor(absl::Milliseconds(400));
  s.kiln().Signal(SIGINT);
  for (std::thread& t : clients) t.join();
  std::optional<int> st = s.kiln().WaitExit(absl::Seconds(15));
  ASSERT_TRUE(st.has_value()) << s.kiln().Log();
  EXPECT_THAT(s.kiln().Log(), HasSubstr("exited with code 0")) << s.kiln().Log();
  EXPECT_THAT(s.kiln().Log(), Not(HasSubstr("did not complete"))) << s.kiln().Log();
  EXPECT_EQ(CountOf(s.Notes(), "shutdown"), 1) << s.Notes() << s.kiln().Log();
}

// The event loop runs the worker's serving thread itself (no loop thread of its own, no
// hand-over): an ASGI app runs on the process's main thread, the one that accepted and parsed
// the request, and the worker has no other Python thread.
TEST(Asgi, AppRunsOnTheServingThread) {
  AsgiAppServer s({"--asgi", "rawapp:app"});
  absl::StatusOr<Response> r = HttpGet(s.address(), "/thread");
  ASSERT_TRUE(r.ok()) << r.status() << s.kiln().Log();
  EXPECT_EQ(r->body, "MainThread threads=1") << s.kiln().Log();
}

// threads = 2 with a WSGI app beside: the loop runs on a thread of its own, both serving
// threads hand their ASGI requests to it and answer them through it, and the WSGI app runs on
// either serving thread. 60 concurrent sleeps still finish together, and a graceful stop waits
// for them, stops the loop's thread, then runs lifespan shutdown.
TEST(Asgi, TwoThreadsShareTheLoopBesideWsgi) {
  AsgiAppServer s({"--mount", "/a=asgi:rawapp:app", "--mount", "/w=wsgiapp:application",
                   "--manage-script-name", "--threads", "2", "--lifespan", "on"},
                  /*start=*/false);
  s.dir().Write("wsgiapp.py",
                "def application(env, start):\n"
                "    start('200 OK', [('Content-Type', 'text/plain')])\n"
                "    return [b'wsgi ' + env['SCRIPT_NAME'].encode()]\n");
  s.Start();
  std::vector<std::thread> clients;
  std::atomic<int> ok{0}, wsgi{0};
  const absl::Time t0 = absl::Now();
  for (int i = 0; i < 60; ++i) {
    clients.emplace_back([&, i] {
      absl::StatusOr<Response> r = HttpGet(s.address(), "/a/sleep", absl::Seconds(20));
      if (r.ok() && r->status == 200 && r->body == "slept") ++ok;
      if (i % 3 == 0) {
        absl::StatusOr<Response> w = HttpGet(s.address(), "/w/x", absl::Seconds(20));
        if (w.ok() && w->body == "wsgi /w") ++wsgi;
      }
    });
  }
  for (std::thread& t : clients) t.join();
  EXPECT_EQ(ok.load(), 60) << s.kiln().Log();
  EXPECT_EQ(wsgi.load(), 20) << s.kiln().Log();
  EXPECT_LT(absl::Now() - t0, absl::Seconds(4)) << s.kiln().Log();
  // Requests in flight at a graceful stop are answered, then lifespan shutdown runs.
  std::vector<std::thread> late;
  std::atomic<int> late_ok{0};
  for (int i = 0; i < 10; ++i) {
    late.emplace_back([&] {
      absl::StatusOr<Response> r = HttpGet(s.address(), "/a/sleep", absl::Seconds(20));
      if (r.ok() && r->status == 200 && r->body == "slept") ++late_ok;
    });
  }
  absl::SleepFor(absl::Milliseconds(300));
  s.kiln().Signal(SIGTERM);
  for (std::thread& t : late) t.join();
  ASSERT_TRUE(s.kiln().WaitExit(absl::Seconds(15)).has_value()) << s.kiln().Log();
  EXPECT_EQ(late_ok.load(), 10) << s.kiln().Log();
  EXPECT_EQ(CountOf(s.Notes(), "shutdown"), 2) << s.Notes() << s.kiln().Log();
}

// An app that blocks the event loop blocks the serving thread the loop runs: harakiri sees the
// request running, kills the worker and the master respawns it.
TEST(Asgi, HarakiriEndsAWorkerWhoseLoopIsBlocked) {
  AsgiAppServer s({"--asgi", "rawapp:app", "--harakiri", "2", "--processes", "1"});
  absl::StatusOr<Response> r = HttpGet(s.address(), "/block", absl::Seconds(10));
  EXPECT_TRUE(!r.ok() || r->status != 200);
  EXPECT_TRUE(s.kiln().WaitForLog("HARAKIRI ON WORKER 1", absl::Seconds(10))) << s.kiln().Log();
  EXPECT_THAT(s.kiln().Log(), HasSubstr("was running GET /block"));
  EXPECT_TRUE(WaitFor200(s.address(), "/scope", absl::Seconds(15))) << s.kiln().Log();
}

// Two default apps are a configuration error named at startup, as are unknown loop and lifespan
// modes.
TEST(Asgi, ConflictingOrBadOptionsStopStartup) {
  const std::vector<std::vector<std::string>> cases = {
      {"--asgi", "rawapp:app", "--module", "rawapp"},
      {"--asgi", "rawapp:app", "--asgi-loop", "trio"},
      {"--asgi", "rawapp:app", "--lifespan", "maybe"},
      {"--asgi", "rawapp:app", "--asgi-loop-thread", "main"}};
  const std::vector<std::string> expected = {
      "`asgi = rawapp:app` and `module = rawapp` are both the default Python app",
      "asgi-loop = trio: expected auto, uvloop or asyncio",
      "lifespan = maybe: expected auto, on or off",
      "asgi-loop-thread = main: expected auto, serving or own"};
  for (size_t i = 0; i < cases.size(); ++i) {
    AsgiAppServer s(cases[i], /*start=*/false);
    ASSERT_TRUE(s.kiln().Start());
    std::optional<int> st = s.kiln().WaitExit(absl::Seconds(10));
    ASSERT_TRUE(st.has_value());
    EXPECT_NE(WEXITSTATUS(*st), 0);
    EXPECT_THAT(s.kiln().Log(), HasSubstr(expected[i]));
  }
}

// Through nginx's uwsgi_pass: the raw app (scope, 100 concurrent sleeps, a body) and Starlette.
TEST(Asgi, ThroughNginxUwsgiPass) {
  TempDir ngx;
  const std::string sock = ngx.File("kiln.sock");
  AsgiAppServer s({"--uwsgi-socket", sock, "--mount", "/s=asgi:starapp:app", "--asgi", "rawapp:app",
                   "--manage-script-name"});
  NginxProcess::Options o;
  o.master = false;  // one root process: it reaches kiln's 0600 socket
  NginxProcess nginx(o);
  ASSERT_EQ(nginx.Start(absl::StrCat(" server {\n  listen ", nginx.Listen(),
                                     ";\n  location / {\n   include /etc/nginx/uwsgi_params;\n"
                                     "   uwsgi_pass unix:",
                                     sock, ";\n  }\n }\n")),
            "");
  const std::string front = nginx.Address();
  ASSERT_TRUE(WaitFor200(front, "/scope", absl::Seconds(10))) << nginx.ErrorLog();
  absl::StatusOr<Response> r = HttpGet(front, "/scope?z=9");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(r->body, HasSubstr("('query_string', b'z=9')"));
  EXPECT_THAT(r->body, HasSubstr("('path', '/scope')"));
  r = HttpRequest(front, "POST", "/body", "through nginx", "text/plain");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->body, "messages=1 body=through nginx");
  r = HttpGet(front, "/s/hello?q=n");
  ASSERT_TRUE(r.ok()) << r.status();
  // Starlette's URL path includes the root_path (the mount point); routing used `path`.
  EXPECT_EQ(r->body, R"({"hello":"world","path":"/s/hello","q":"n"})") << s.kiln().Log();
  std::vector<std::thread> clients;
  std::atomic<int> ok{0};
  const absl::Time t0 = absl::Now();
  for (int i = 0; i < 100; ++i) {
    clients.emplace_back([&] {
      absl::StatusOr<Response> got = HttpGet(front, "/sleep", absl::Seconds(20));
      if (got.ok() && got->status == 200 && got->body == "slept") ++ok;
    });
  }
  for (std::thread& t : clients) t.join();
  EXPECT_EQ(ok.load(), 100) << nginx.ErrorLog() << s.kiln().Log();
  EXPECT_LT(absl::Now() - t0, absl::Seconds(3));
}

}  // namespace
}  // namespace kiln::testing

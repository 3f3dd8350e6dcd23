// What an ASGI app sees of tasks and contexts now that kiln runs a request's first steps itself
// (decision 45, plugins/python/asgi_http.cc): one task per request from the first step to the
// last, whether or not the app ever waits; contextvars that never cross from one request to the
// next; and no task left behind by requests that finished at once. The real kiln binary and
// python plugin, one worker, so every request meets the same loop.
#include <signal.h>

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/lib/kiln_process.h"
#include "tests/python/asgi_server.h"

namespace kiln::testing {
namespace {

// /set sets a ContextVar and never resets it; /get answers what the var holds. /task answers
// whether the current task before the first wait is a task at all, whether it is the same one
// after a real wait (a sleep) and what sniffio detects in the first step. /tasks answers how
// many tasks the loop knows.
constexpr char kApp[] = R"PY(
import asyncio, contextvars
import sniffio

cv = contextvars.ContextVar('cv', default='unset')


async def reply(send, text):
    await send({'type': 'http.response.start', 'status': 200,
                'headers': [(b'content-type', b'text/plain')]})
    await send({'type': 'http.response.body', 'body': text.encode()})


async def app(scope, receive, send):
    if scope['type'] != 'http':
        return
    path = scope['path']
    if path == '/set':
        cv.set('leaked from /set')
        await reply(send, 'set')
    elif path == '/get':
        await reply(send, cv.get())
    elif path == '/task':
        first = asyncio.current_task()
        lib = sniffio.current_async_library()
        await asyncio.sleep(0.01)
        after = asyncio.current_task()
        await reply(send, '%s %s %s' % (first is not None, first is after, lib))
    elif path == '/tasks':
        await reply(send, str(len(asyncio.all_tasks())))
    elif path == '/str-header':
        await send({'type': 'http.response.start', 'status': 200, 'headers': [('a', 'b')]})
    elif path == '/crlf-header':
        await send({'type': 'http.response.start', 'status': 200,
                    'headers': [(b'x-a', b'1\r\nx-injected: 1')]})
    elif path == '/bad-status':
        await send({'type': 'http.response.start', 'status': 42, 'headers': []})
    elif path == '/unknown-type':
        await send({'type': 'http.response.bogus'})
    elif path == '/body-first':
        await send({'type': 'http.response.body', 'body': b'x'})
    elif path == '/not-a-message':
        await send(42)
    else:
        await reply(send, 'hello')
)PY";

class AsgiTask : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<AsgiAppServer>(
        std::vector<std::string>{"--asgi", "task_app:app"}, /*start=*/false, "1");
    server_->dir().Write("task_app.py", kApp);
    server_->Start();
  }
  std::string Get(std::string_view path) {
    absl::StatusOr<Response> r = HttpGet(server_->address(), path);
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) return "";
    EXPECT_EQ(r->status, 200) << r->head << r->body;
    return r->body;
  }
  std::unique_ptr<AsgiAppServer> server_;
};

TEST_F(AsgiTask, AContextVarSetByOneRequestIsNotSeenByTheNext) {
  // Each request runs in a copy of the loop's context, as in a task of its own: the var /set
  // left set stays with /set's request.
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(Get("/set"), "set");
    EXPECT_EQ(Get("/get"), "unset");
  }
}

TEST_F(AsgiTask, TheRequestIsOneTaskFromItsFirstStepToItsLast) {
  // Before its first wait the app runs inside kiln's serving step; asyncio, anyio and sniffio
  // must still see a task there, and the same task after the wait.
  for (int i = 0; i < 3; ++i) EXPECT_EQ(Get("/task"), "True True asyncio");
}

TEST_F(AsgiTask, RequestsThatFinishAtOnceLeaveNoTaskBehind) {
  int before = 0;
  ASSERT_TRUE(absl::SimpleAtoi(Get("/tasks"), &before));
  for (int i = 0; i < 50; ++i) EXPECT_EQ(Get("/"), "hello");
  for (int i = 0; i < 5; ++i) EXPECT_EQ(Get("/task"), "True True asyncio");
  int after = 0;
  ASSERT_TRUE(absl::SimpleAtoi(Get("/tasks"), &after));
  EXPECT_EQ(after, before) << "tasks the loop knows grew with the requests served";
  // A graceful stop: the loop runs the lifespan shutdown, and the idle task kiln kept ends.
  server_->kiln().Signal(SIGTERM);
  ASSERT_TRUE(server_->kiln().WaitExit(absl::Seconds(30)).has_value());
  EXPECT_FALSE(absl::StrContains(server_->kiln().Log(), "Task was destroyed but it is pending"))
      << server_->kiln().Log();
}

TEST_F(AsgiTask, AMessageSendCannotTakeIsA500AndTheWorkerServesOn) {
  // Each bad message raises inside the app before its response started: kiln answers 500, logs
  // the traceback, sends nothing of what the app tried (no injected header) and goes on.
  for (const char* path : {"/str-header", "/crlf-header", "/bad-status", "/unknown-type",
                           "/body-first", "/not-a-message"}) {
    absl::StatusOr<Response> r = HttpGet(server_->address(), path);
    ASSERT_TRUE(r.ok()) << path << ": " << r.status();
    EXPECT_EQ(r->status, 500) << path << "\n" << r->head;
    EXPECT_FALSE(absl::StrContains(r->head, "x-injected")) << path << "\n" << r->head;
    EXPECT_EQ(Get("/"), "hello") << "after " << path;
  }
  EXPECT_TRUE(server_->kiln().WaitForLog("ASGI app failed on GET /crlf-header", absl::Seconds(5)))
      << server_->kiln().Log();
  EXPECT_TRUE(server_->kiln().WaitForLog("ASGI app failed on GET /not-a-message",
                                         absl::Seconds(5)))
      << server_->kiln().Log();
}

}  // namespace
}  // namespace kiln::testing

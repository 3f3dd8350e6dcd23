// ASGI frameworks from Debian under kiln, end to end: the real binary and python plugin serve
// FastAPI (python3-fastapi), Starlette (python3-starlette) and Django's ASGI handler
// (python3-django) apps from tests/python/apps, and each test asserts what a client sees:
// status, body, headers, streamed pieces arriving as produced, and background tasks that run
// after the response was delivered.
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/lib/kiln_process.h"
#include "tests/python/asgi_server.h"
#include "tests/python/py_client.h"

namespace kiln::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// The time (Unix seconds) an app noted with `what` (a line "what 1733420000.123"); 0 if absent.
double NoteTime(const std::string& notes, std::string_view what) {
  const std::string key = std::string(what) + " ";
  size_t at = 0;
  while (at != std::string::npos && notes.compare(at, key.size(), key) != 0) {
    at = notes.find('\n', at);  // a line that starts with `what`
    if (at != std::string::npos) ++at;
  }
  if (at == std::string::npos) return 0;
  const size_t end = notes.find('\n', at);
  double t = 0;
  if (!absl::SimpleAtod(notes.substr(at + key.size(), end - at - key.size()), &t)) return 0;
  return t;
}

double NowSeconds() { return absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch()); }

TEST(AsgiApps, FastApiJsonAndValidationErrors) {
  AsgiAppServer s({"--asgi", "asgi_fastapi_app:app"});
  absl::StatusOr<Response> r = HttpGet(s.address(), "/items/42?q=kiln");
  ASSERT_TRUE(r.ok()) << r.status() << s.kiln().Log();
  EXPECT_EQ(r->status, 200) << r->body << s.kiln().Log();
  EXPECT_EQ(r->body, R"({"item_id":42,"q":"kiln"})");
  EXPECT_EQ(HeaderOf(*r, "content-type"), "application/json");
  EXPECT_EQ(HeaderOf(*r, "content-length"), "25");

  // A path parameter that is not an int: FastAPI's 422 names where and why.
  r = HttpGet(s.address(), "/items/abc");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 422);
  EXPECT_THAT(r->body, HasSubstr(R"("loc":["path","item_id"])"));
  EXPECT_THAT(r->body, HasSubstr("value is not a valid integer"));

  // A pydantic model in the body: valid, a field of the wrong type, JSON that does not parse.
  r = HttpRequest(s.address(), "POST", "/items", R"({"name": "pen", "price": 2})",
                  "application/json");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(r->body, R"({"name":"pen","price_with_tax":2.4})");
  r = HttpRequest(s.address(), "POST", "/items", R"({"name": "pen", "price": "cheap"})",
                  "application/json");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 422) << r->body;
  EXPECT_EQ(HeaderOf(*r, "content-type"), "application/json");
  EXPECT_THAT(r->body, HasSubstr(R"("loc":["body","price"])"));
  EXPECT_THAT(r->body, HasSubstr(R"("msg":"value is not a valid float")"));
  r = HttpRequest(s.address(), "POST", "/items", "{not json", "application/json");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 422) << r->body;
  EXPECT_THAT(r->body, HasSubstr("value_error.jsondecode"));

  r = HttpGet(s.address(), "/nowhere");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(r->body, R"({"detail":"Not Found"})");
}

// A StreamingResponse: chunked, with the app's header, each piece leaving as it is produced.
TEST(AsgiApps, FastApiStreamingResponse) {
  AsgiAppServer s({"--asgi", "asgi_fastapi_app:app"});
  Arrival a = Timed(s.address(), "GET /stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                    "chunk0");
  EXPECT_THAT(a.raw, HasSubstr("HTTP/1.1 200 OK"));
  EXPECT_THAT(a.raw, HasSubstr("Transfer-Encoding: chunked")) << a.raw;
  EXPECT_THAT(a.raw, HasSubstr("x-stream: yes"));
  EXPECT_THAT(a.raw, HasSubstr("chunk2\n"));
  EXPECT_TRUE(absl::EndsWith(a.raw, "\r\n0\r\n\r\n")) << a.raw;
  EXPECT_LT(a.first, absl::Milliseconds(500)) << a.raw;
  EXPECT_GE(a.total, absl::Milliseconds(800));
}

// BackgroundTasks run after the response: the client has its answer before the task ends.
TEST(AsgiApps, FastApiBackgroundTaskRunsAfterTheResponse) {
  AsgiAppServer s({"--asgi", "asgi_fastapi_app:app"});
  absl::StatusOr<Response> r = HttpRequest(s.address(), "POST", "/notify/mail", "");
  const double answered = NowSeconds();
  ASSERT_TRUE(r.ok()) << r.status() << s.kiln().Log();
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(r->body, R"({"queued":"mail"})");
  EXPECT_THAT(s.Notes(), Not(HasSubstr("background mail")));
  ASSERT_TRUE(WaitForFile(s.notes_path(), "background mail", absl::Seconds(5)))
      << s.Notes() << s.kiln().Log();
  EXPECT_GT(NoteTime(s.Notes(), "background mail"), answered) << s.Notes();
}

TEST(AsgiApps, StarletteStreamingAndBackgroundTasks) {
  AsgiAppServer s({"--asgi", "asgi_starlette_app:app"});
  Arrival a = Timed(s.address(),
                    "GET /ticks?n=4 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "tick 0");
  EXPECT_THAT(a.raw, HasSubstr("content-type: text/plain; charset=utf-8")) << a.raw;
  EXPECT_THAT(a.raw, HasSubstr("tick 3\n"));
  EXPECT_TRUE(absl::EndsWith(a.raw, "\r\n0\r\n\r\n")) << a.raw;
  EXPECT_LT(a.first, absl::Milliseconds(500));
  EXPECT_GE(a.total, absl::Milliseconds(1100));

  // A 201 with the JSON, then an async task and a sync one (Starlette runs that in a thread).
  absl::StatusOr<Response> r =
      HttpRequest(s.address(), "POST", "/signup", R"({"user": "ada"})", "application/json");
  const double answered = NowSeconds();
  ASSERT_TRUE(r.ok()) << r.status() << s.kiln().Log();
  EXPECT_EQ(r->status, 201) << r->body;
  EXPECT_EQ(r->body, R"({"user":"ada","status":"queued"})");
  ASSERT_TRUE(WaitForFile(s.notes_path(), "task-sync ada", absl::Seconds(5)))
      << s.Notes() << s.kiln().Log();
  EXPECT_GT(NoteTime(s.Notes(), "task-async ada"), answered) << s.Notes();
  EXPECT_GT(NoteTime(s.Notes(), "task-sync ada"), NoteTime(s.Notes(), "task-async ada"));
}

// Django's ASGI handler: an async view awaits on the worker's loop (many at once), a sync view
// runs in a thread of asgiref's, the request body reaches the view, and a 404 is Django's.
TEST(AsgiApps, DjangoAsgiHandlerAsyncAndSyncViews) {
  AsgiAppServer s({"--asgi", "asgi_django_app:application"});
  absl::StatusOr<Response> r = HttpGet(s.address(), "/hello/kiln?q=1");
  ASSERT_TRUE(r.ok()) << r.status() << s.kiln().Log();
  EXPECT_EQ(r->status, 200) << r->body << s.kiln().Log();
  EXPECT_THAT(r->body, HasSubstr(R"("hello": "kiln", "async": true)"));
  EXPECT_THAT(r->body, HasSubstr(R"("q": "1")"));
  EXPECT_EQ(HeaderOf(*r, "content-type"), "application/json");

  r = HttpGet(s.address(), "/sync");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(r->body, R"({"sync": true, "main_thread": false, "method": "GET"})");

  r = HttpRequest(s.address(), "POST", "/echo", R"({"a": 1, "b": 2})", "application/json");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200) << r->body << s.kiln().Log();
  EXPECT_EQ(r->body, "got 2 keys");
  EXPECT_EQ(HeaderOf(*r, "x-echo"), "django");

  r = HttpGet(s.address(), "/missing");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 404);

  // Twenty async views that each await 0.2 s, at once, on one worker: well under 20 x 0.2 s.
  AsgiAppServer one({"--asgi", "asgi_django_app:application"}, true, "1");
  std::vector<std::thread> clients;
  std::atomic<int> ok{0};
  const absl::Time t0 = absl::Now();
  for (int i = 0; i < 20; ++i) {
    clients.emplace_back([&] {
      absl::StatusOr<Response> got = HttpGet(one.address(), "/hello/many", absl::Seconds(20));
      if (got.ok() && got->status == 200) ++ok;
    });
  }
  for (std::thread& t : clients) t.join();
  EXPECT_EQ(ok.load(), 20) << one.kiln().Log();
  EXPECT_LT(absl::Now() - t0, absl::Seconds(2)) << one.kiln().Log();
}

}  // namespace
}  // namespace kiln::testing

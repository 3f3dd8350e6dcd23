// The python plugin against the in-memory host: every PEP 3333 rule the plugin must keep, app
// errors answered 500 with a log line, and startup errors (each configuration that needs its own
// interpreter runs in a child process, as a death test).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ctime>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <mutex>
#include <string>
#include <vector>
#include <thread>

#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/plugins/fake_host.h"

namespace kiln::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

const std::string kApps = KILN_TEST_PYTHON_APPS;

std::string PythonPluginPath() { return KILN_TEST_PYTHON_PLUGIN; }

// The plugin started once per process with the wsgi_cases app. The host is never destroyed:
// the interpreter lives as long as the process, as in the server.
FakeHost& Loaded() {
  static FakeHost* host = new FakeHost;
  static bool started = [] {
    FakeHost& h = *host;
    h.SetOption("pythonpath", kApps);
    h.SetOption("module", "wsgi_cases");
    h.SetOption("my-custom", "hello");
    h.SetOption("master", "true");        // a flag given bare reads "true"
    h.SetOption("my-text-true", "true");  // text that happens to read "true"
    h.SetOption("pythonpath-extra", "a");
    h.SetOption("pythonpath-extra", "b");
    std::string err = h.Start(PythonPluginPath());
    EXPECT_EQ(err, "");
    return err.empty();
  }();
  EXPECT_TRUE(started);
  return *host;
}

FakeRequest Get(const std::string& path, const std::string& query = "") {
  FakeRequest r = MakeRequest("GET", query.empty() ? path : path + "?" + query);
  EXPECT_EQ(Loaded().Serve(r), KILN_OK);
  return r;
}

FakeRequest Post(const std::string& path, const std::string& body, size_t max_read = 1 << 20) {
  FakeRequest r = MakeRequest("POST", path, body);
  r.max_read = max_read;
  EXPECT_EQ(Loaded().Serve(r), KILN_OK);
  return r;
}

TEST(PythonPlugin, DescribesItselfWithTheEmbeddedRuntime) {
  const kiln_plugin_desc* d = Loaded().desc();
  EXPECT_STREQ(d->name, "python");
  EXPECT_THAT(d->runtime, HasSubstr("python 3."));
  EXPECT_TRUE(d->flags & KILN_PLUGIN_GLOBAL_SYMBOLS);
  ASSERT_GE(d->modifier1_count, 1u);
  EXPECT_EQ(d->modifier1[0], 0);
  ASSERT_EQ(d->alias_count, 2u);
  EXPECT_STREQ(d->aliases[0], "python3");
  EXPECT_STREQ(d->aliases[1], "python3*");
}

TEST(WsgiEnviron, HoldsPep3333KeysWithNativeStrings) {
  FakeRequest r = Get("/environ", "a=1&b=2");
  ASSERT_EQ(r.status, 200) << r.Body();
  std::string body = r.Body();
  EXPECT_THAT(body, HasSubstr("\"version\": [1, 0]"));
  EXPECT_THAT(body, HasSubstr("\"scheme\": \"http\""));
  EXPECT_THAT(body, HasSubstr("\"multithread\": false"));
  EXPECT_THAT(body, HasSubstr("\"multiprocess\": false"));
  EXPECT_THAT(body, HasSubstr("\"run_once\": false"));
  EXPECT_THAT(body, HasSubstr("\"input_terminated\": true"));
  EXPECT_THAT(body, HasSubstr("\"script_name\": \"\""));
  EXPECT_THAT(body, HasSubstr("\"query\": \"a=1&b=2\""));
  EXPECT_THAT(body, HasSubstr("\"REQUEST_METHOD\": \"str\""));
  EXPECT_THAT(body, HasSubstr("\"HTTP_HOST\": \"str\""));
  EXPECT_THAT(body, HasSubstr("\"wsgi.input\": \"Input\""));
}

TEST(WsgiEnviron, DecodesVariablesAsLatin1) {
  FakeRequest r = MakeRequest("GET", "/latin1");
  r.vars.emplace_back("HTTP_X_NAME", "caf\xc3\xa9 \xff");
  ASSERT_EQ(Loaded().Serve(r), KILN_OK);
  EXPECT_EQ(r.Body(), "caf\xc3\xa9 \xff");  // the same bytes back: latin-1 round trip
}

TEST(WsgiEnviron, UrlSchemeIsHttpsWhenHttpsIsOn) {
  FakeRequest r = MakeRequest("GET", "/environ");
  r.vars.emplace_back("HTTPS", "on");
  ASSERT_EQ(Loaded().Serve(r), KILN_OK);
  EXPECT_THAT(r.Body(), HasSubstr("\"scheme\": \"https\""));
}

// The plugin hands out a key's last value again while its bytes repeat; each request must
// still see exactly its own values, new header names included.
TEST(WsgiEnviron, EachRequestSeesItsOwnValuesWhenTheyRepeatAndWhenTheyChange) {
  const char* hosts[] = {"a.example", "a.example", "b.example", "a.example"};
  const char* methods[] = {"GET", "GET", "DELETE", "GET"};
  for (int i = 0; i < 4; ++i) {
    FakeRequest r = MakeRequest(methods[i], "/echo_vars");
    r.vars.emplace_back("HTTP_HOST", hosts[i]);
    r.vars.emplace_back("HTTP_USER_AGENT", i == 2 ? "" : "agent/1.0");
    if (i >= 2) r.vars.emplace_back("HTTP_X_CUSTOM", "v" + std::to_string(i));
    ASSERT_EQ(Loaded().Serve(r), KILN_OK);
    std::string body = r.Body();
    EXPECT_THAT(body, HasSubstr(std::string("\"HTTP_HOST\": \"") + hosts[i] + "\"")) << i;
    EXPECT_THAT(body, HasSubstr(std::string("\"REQUEST_METHOD\": \"") + methods[i] + "\""));
    EXPECT_THAT(body, HasSubstr(i == 2 ? "\"HTTP_USER_AGENT\": \"\""
                                       : "\"HTTP_USER_AGENT\": \"agent/1.0\""));
    EXPECT_THAT(body, HasSubstr(i >= 2 ? "\"HTTP_X_CUSTOM\": \"v" + std::to_string(i) + "\""
                                       : std::string("\"HTTP_X_CUSTOM\": null")));
  }
}

// The key table tells names apart by their first and last eight bytes and their length, and
// longer names by their middle too: names that share all of those but the middle, or differ
// only in one byte anywhere, are each their own key, in every request.
TEST(WsgiEnviron, NamesThatDifferOnlyInTheMiddleAreDistinctKeys) {
  const std::vector<std::string> names = {
      "HTTP_X_SAME_HEAD_1_SAME_TAIL", "HTTP_X_SAME_HEAD_2_SAME_TAIL",
      "HTTP_X_SAME_HEAD_12_SAME_TAIL", "HTTP_X_ABCDEFGH", "HTTP_X_ABCDEFGI", "HTTP_X_A",
      "HTTP_X_B", "HTTP_XY", "HTTP_X_SIXTEEN_1", "HTTP_X_SIXTEEN_2", "HTTP_X_SEVENTEEN_1",
      "HTTP_X_SEVENTEEN_2"};
  for (int round = 0; round < 2; ++round) {
    FakeRequest r = MakeRequest("GET", "/environ");
    for (const std::string& n : names) r.vars.emplace_back(n, "1");
    ASSERT_EQ(Loaded().Serve(r), KILN_OK);
    for (const std::string& n : names) {
      EXPECT_THAT(r.Body(), HasSubstr("\"" + n + "\": \"str\"")) << n << " round " << round;
    }
  }
}

// Each environ starts from a template sized for a whole request (the plugin adds entries to
// the template and takes them out again to give it a larger table): an environ holds exactly
// the WSGI keys and its request's variables, whether they fit that room or go beyond it, and
// nothing an earlier request's app put in its own environ.
TEST(WsgiEnviron, HoldsExactlyTheWsgiKeysAndItsRequestsVariables) {
  const std::vector<std::string> wsgi = {
      "SCRIPT_NAME",       "QUERY_STRING",      "wsgi.errors",           "wsgi.file_wrapper",
      "wsgi.input",        "wsgi.multiprocess", "wsgi.multithread",      "wsgi.run_once",
      "wsgi.url_scheme",   "wsgi.version",      "wsgi.input_terminated"};
  for (int extra : {0, 1, 12, 40, 0}) {
    FakeRequest r = MakeRequest("GET", "/environ_keys");
    for (int i = 0; i < extra; ++i) r.vars.emplace_back("HTTP_X_ROOM_" + std::to_string(i), "1");
    std::vector<std::string> want = wsgi;
    for (const auto& [name, value] : r.vars) want.push_back(name);
    std::sort(want.begin(), want.end());
    want.erase(std::unique(want.begin(), want.end()), want.end());
    ASSERT_EQ(Loaded().Serve(r), KILN_OK);
    ASSERT_EQ(r.status, 200) << r.Body();
    EXPECT_EQ(r.Body(), absl::StrJoin(want, "\n")) << extra << " extra headers";
  }
}

// The value of variable `k` of `r` (the last of duplicates), "" when it has none.
std::string VarOf(const FakeRequest& r, const std::string& k) {
  std::string v;
  for (const auto& [name, value] : r.vars) {
    if (name == k) v = value;
  }
  return v;
}

// The plugin keeps the environ of the last few request shapes (the same variable names in the
// same order) and starts a request of a known shape from a copy, replacing what differs. Each
// request must still see exactly its own values, in the order a fresh build gives them: the
// template's keys, then its variables in arrival order. Round 0 of each shape is a fresh build
// (its names are new to this test); the later rounds change values of kept keys (the user
// agent), of keys never kept (the cookie, the path), from empty to set and back (the query),
// and the scheme, with more shapes in turn than the plugin keeps.
TEST(WsgiEnviron, EachRequestOfARepeatedShapeSeesItsOwnValuesInItsOwnOrder) {
  auto make = [](int shape, int round) {
    std::string path = "/environ_items";
    FakeRequest r = MakeRequest("GET", round % 3 == 1 ? path + "?q=" + std::to_string(round)
                                                      : path);
    for (int k = 0; k <= shape; ++k) {
      r.vars.emplace_back("HTTP_X_SHAPE_" + std::to_string(shape) + "_" + std::to_string(k),
                          "v" + std::to_string(round % 2));
    }
    r.vars.emplace_back("HTTP_USER_AGENT", round % 2 == 0 ? "agent/" + std::to_string(shape)
                                                           : "other agent");
    r.vars.emplace_back("HTTP_COOKIE", "c=" + std::to_string(shape * 100 + round));
    r.vars.emplace_back("HTTPS", round % 4 == 3 ? "on" : "off");
    return r;
  };
  auto expected = [](const FakeRequest& r, const std::vector<std::string>& order) {
    std::vector<std::string> items;
    for (const std::string& k : order) {
      std::string v;
      if (k == "wsgi.url_scheme") {
        v = VarOf(r, "HTTPS") == "on" ? "https" : "http";
      } else {
        v = VarOf(r, k);  // "" for SCRIPT_NAME and QUERY_STRING when the request has none
      }
      items.push_back("[\"" + k + "\", \"" + v + "\"]");
    }
    return "[" + absl::StrJoin(items, ", ") + "]";
  };
  constexpr int kShapes = 6;
  std::vector<std::vector<std::string>> orders(kShapes);
  for (int round = 0; round < 6; ++round) {
    for (int shape = 0; shape < kShapes; ++shape) {
      FakeRequest r = make(shape, round);
      ASSERT_EQ(Loaded().Serve(r), KILN_OK);
      ASSERT_EQ(r.status, 200) << r.Body();
      if (round == 0) {  // a fresh build: its order is the reference for the shape
        std::string body = r.Body();
        for (size_t at = body.find("[\""); at != std::string::npos;
             at = body.find("[\"", at + 1)) {
          orders[shape].push_back(body.substr(at + 2, body.find('"', at + 2) - at - 2));
        }
        ASSERT_EQ(orders[shape].front(), "SCRIPT_NAME");  // the template's first str entry
        ASSERT_EQ(orders[shape].back(), "HTTPS");         // the last variable
      }
      EXPECT_EQ(r.Body(), expected(r, orders[shape])) << "shape " << shape << " round " << round;
    }
  }
}

// A name that comes twice in a request: the environ holds its last value, round after round,
// while its first value changes (the user agent's values are kept from request to request).
TEST(WsgiEnviron, ANameThatComesTwiceHoldsItsLastValueInEveryRound) {
  for (int round = 0; round < 4; ++round) {
    FakeRequest r = MakeRequest("GET", "/echo_vars");
    r.vars.emplace_back("HTTP_USER_AGENT", "first" + std::to_string(round % 2));
    r.vars.emplace_back("HTTP_X_CUSTOM", "custom");
    r.vars.emplace_back("HTTP_USER_AGENT", "second");
    ASSERT_EQ(Loaded().Serve(r), KILN_OK);
    EXPECT_THAT(r.Body(), HasSubstr("\"HTTP_USER_AGENT\": \"second\"")) << round;
  }
}

// A variable named like a WSGI key kiln sets (a uwsgi packet may carry any name): kiln's
// wsgi.url_scheme wins in every round, as in the first.
TEST(WsgiEnviron, AVariableNamedWsgiUrlSchemeNeverSetsTheScheme) {
  for (int round = 0; round < 3; ++round) {
    FakeRequest r = MakeRequest("GET", "/environ");
    r.vars.emplace_back("wsgi.url_scheme", "gopher" + std::to_string(round));
    ASSERT_EQ(Loaded().Serve(r), KILN_OK);
    EXPECT_THAT(r.Body(), HasSubstr("\"scheme\": \"http\"")) << round;
  }
}

// What the plugin keeps between requests holds no client's cookie or other non-empty value of
// a key it does not keep: the app sees every other live dict with the cookie's name, and each
// maps it to None. The same dicts hold the last user agent (a kept key), which shows the
// search finds them.
TEST(WsgiEnviron, WhatIsKeptBetweenRequestsHoldsNoCookie) {
  for (int round = 0; round < 3; ++round) {
    FakeRequest r = MakeRequest("GET", "/other_environs");
    r.vars.emplace_back("HTTP_X_WATCH", "HTTP_COOKIE");
    r.vars.emplace_back("HTTP_USER_AGENT", "watcher");
    r.vars.emplace_back("HTTP_COOKIE", "session=secret" + std::to_string(round));
    ASSERT_EQ(Loaded().Serve(r), KILN_OK);
    ASSERT_EQ(r.status, 200) << r.Body();
    if (round == 0) continue;  // nothing of this shape is kept before the first request
    EXPECT_THAT(r.Body(), HasSubstr("[null, \"watcher\"]"));
    EXPECT_THAT(r.Body(), Not(HasSubstr("secret")));
  }
}

// More distinct header names than the plugin keeps interned: the rest are still delivered.
TEST(WsgiEnviron, HeaderNamesBeyondTheKeyTableAreStillDelivered) {
  for (int round = 0; round < 3; ++round) {
    FakeRequest r = MakeRequest("GET", "/environ");
    for (int i = 0; i < 120; ++i) {
      r.vars.emplace_back("HTTP_X_MANY_" + std::to_string(round) + "_" + std::to_string(i), "1");
    }
    ASSERT_EQ(Loaded().Serve(r), KILN_OK);
    EXPECT_THAT(r.Body(), HasSubstr("\"HTTP_X_MANY_" + std::to_string(round) + "_119\": \"str\""));
  }
}

TEST(WsgiInput, ReadWithoutSizeStopsAtContentLengthThenReturnsEmpty) {
  FakeRequest r = Post("/read_all", "hello world", 3);
  EXPECT_EQ(r.Body(), R"({"first": "hello world", "second": "", "third": ""})");
}

TEST(WsgiInput, ReadWithSizeFillsAcrossHostReads) {
  FakeRequest r = Post("/read_sized", "abcdefghijkl", 2);
  EXPECT_EQ(r.Body(), R"(["abcde", "fghij", "kl"])");
}

TEST(WsgiInput, ReadlineHonoursItsLimitAndReadlinesTakesTheRest) {
  FakeRequest r = Post("/lines", "first\nsecond\nthird\nlast", 4);
  EXPECT_EQ(r.Body(), R"(["first\n", "se", "cond\n", "third\n", "last"])");
}

TEST(WsgiInput, IteratesLineByLine) {
  FakeRequest r = Post("/iterate", "a\nbb\n\nccc", 1);
  EXPECT_EQ(r.Body(), R"(["a\n", "bb\n", "\n", "ccc"])");
}

TEST(StartResponse, ExcInfoBeforeHeadersAreSentReplacesThem) {
  FakeRequest r = Get("/exc_info_before_send");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.Header("X-Dropped"), "");
  EXPECT_EQ(r.Body(), "replaced");
}

TEST(StartResponse, ExcInfoAfterHeadersAreSentReraisesAndCutsTheResponse) {
  FakeRequest r = MakeRequest("GET", "/exc_info_after_send");
  EXPECT_EQ(Loaded().Serve(r), KILN_ERROR);  // the host closes the connection
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Body(), "partial");
  EXPECT_TRUE(Loaded().LogContains("late failure"));
}

TEST(StartResponse, SecondCallWithoutExcInfoIsA500) {
  FakeRequest r = Get("/twice");
  EXPECT_EQ(r.status, 500);
  EXPECT_TRUE(Loaded().LogContains("start_response called a second time without exc_info"));
}

TEST(StartResponse, ChangingTheHeaderListAfterTheCallDoesNotChangeTheResponse) {
  FakeRequest r = Get("/headers_changed_later");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("X-Kept"), "yes");
  EXPECT_EQ(r.Header("X-Late"), "");
}

TEST(StartResponse, TakesKeywordArguments) {
  FakeRequest r = Get("/keyword_start_response");
  EXPECT_EQ(r.status, 201);
  EXPECT_EQ(r.Body(), "kw,done");
}

TEST(StartResponse, WrongArgumentsRaiseTypeErrorsNamingTheProblem) {
  FakeRequest r = Get("/bad_start_response_call");
  EXPECT_EQ(r.status, 200);
  std::string body = r.Body();
  EXPECT_THAT(body, HasSubstr("missing required argument 'headers'"));
  EXPECT_THAT(body, HasSubstr("takes at most 3 arguments (4 given)"));
  EXPECT_THAT(body, HasSubstr("unexpected keyword argument 'colour'"));
  EXPECT_THAT(body, HasSubstr("multiple values for argument 'status'"));
}

// A start_response (or write) the app keeps belongs to its own request only: the next request
// gets another object, and the kept one raises instead of answering someone else.
TEST(StartResponse, AKeptStartResponseAndWriteRaiseAfterTheirRequest) {
  FakeRequest first = Get("/keep_start_response");
  EXPECT_EQ(first.Body(), "kept");
  FakeRequest r = Get("/call_kept_start_response");
  EXPECT_EQ(r.status, 200);
  EXPECT_THAT(r.Body(), HasSubstr("start_response: start_response called after its request ended"));
  EXPECT_THAT(r.Body(), HasSubstr("write: write() called after its request ended"));
  EXPECT_THAT(r.Body(), HasSubstr("same object: False"));
  EXPECT_EQ(first.Body(), "kept");
}

TEST(WriteCallable, SendsItsDataBeforeTheReturnedIterable) {
  FakeRequest r = Get("/write_then_iterable");
  EXPECT_EQ(r.status, 200);
  EXPECT_THAT(r.writes, ::testing::ElementsAre("one,", "two,", "three"));
}

TEST(ResponseIterable, IsClosedAfterSuccessAndAfterFailure) {
  Get("/closing");
  FakeRequest failed = Get("/closing_fails");
  EXPECT_EQ(failed.status, 500);  // only empty chunks before the error: headers not sent yet
  FakeRequest log = Get("/closed_log");
  EXPECT_EQ(log.Body(), R"(["closing-ok", "closing-fail"])");
}

TEST(FileWrapper, SendsARealFileWithSendfile) {
  char path[] = "/tmp/kiln-fw-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  std::string content(100000, 'z');
  ASSERT_EQ(write(fd, content.data(), content.size()), static_cast<ssize_t>(content.size()));
  close(fd);
  FakeRequest r = Get("/file_wrapper", path);
  unlink(path);
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.used_sendfile);
  EXPECT_EQ(r.Body(), content);
}

TEST(FileWrapper, IteratesAnObjectWithoutDescriptor) {
  FakeRequest r = Get("/file_wrapper_bytesio");
  EXPECT_FALSE(r.used_sendfile);
  EXPECT_EQ(r.Body(), "from-bytesio");
}

TEST(AppErrors, BadStatusIsA500WithALogLine) {
  FakeRequest r = Get("/bad_status");
  EXPECT_EQ(r.status, 500);
  EXPECT_TRUE(Loaded().LogContains("is not 'NNN Reason'"));
}

TEST(AppErrors, StrBodyIsA500WithALogLine) {
  FakeRequest r = Get("/str_body");
  EXPECT_EQ(r.status, 500);
  EXPECT_TRUE(Loaded().LogContains("must be bytes, not str"));
}

TEST(AppErrors, CrLfInAHeaderIsA500AndNeverReachesTheClient) {
  FakeRequest r = Get("/crlf_header");
  EXPECT_EQ(r.status, 500);
  for (const auto& [k, v] : r.headers) {
    EXPECT_EQ(k.find("Set-Cookie"), std::string::npos);
    EXPECT_EQ(v.find("injected"), std::string::npos);
  }
  EXPECT_TRUE(Loaded().LogContains("not allowed there"));
}

TEST(AppErrors, ExceptionIsA500WithTracebackAndTheWorkerGoesOn) {
  FakeRequest r = Get("/raises");
  EXPECT_EQ(r.status, 500);
  EXPECT_TRUE(Loaded().LogContains("Traceback (most recent call last)"));
  EXPECT_TRUE(Loaded().LogContains("ZeroDivisionError: app exploded"));
  EXPECT_EQ(Get("/v/hello").status, 200);
}

TEST(AppErrors, ReturningWithoutStartResponseIsA500) {
  FakeRequest r = Get("/no_start_response");
  EXPECT_EQ(r.status, 500);
  EXPECT_TRUE(Loaded().LogContains("without calling start_response"));
}

TEST(AppErrors, FailureAfterTheHeadersCutsTheResponse) {
  FakeRequest r = MakeRequest("GET", "/fail_mid_body");
  EXPECT_EQ(Loaded().Serve(r), KILN_ERROR);
  EXPECT_EQ(r.Body(), "first");
  EXPECT_TRUE(Loaded().LogContains("mid-body failure"));
}

TEST(AppErrors, WriteToAGoneClientRaisesInTheApp) {
  FakeRequest r = MakeRequest("GET", "/write_after_disconnect");
  r.writes_fail = true;
  Loaded().Serve(r);
  FakeRequest log = Get("/closed_log");
  EXPECT_THAT(log.Body(), HasSubstr("write failed"));
}

TEST(Response, EmptyBodySendsTheHeadersAtTheEnd) {
  FakeRequest r = Get("/empty_body");
  EXPECT_EQ(r.status, 204);
  EXPECT_EQ(r.start_calls, 1);
  EXPECT_TRUE(r.writes.empty());
}

TEST(Response, SingleChunkBodyIsOneWrite) {
  FakeRequest r = Get("/environ");
  EXPECT_EQ(r.writes.size(), 1u);
  EXPECT_EQ(r.Header("Content-Type"), "application/json");
}

TEST(WsgiErrors, LinesGoToTheServerLog) {
  Get("/errors_stream");
  EXPECT_TRUE(Loaded().LogContains("line from wsgi.errors"));
}

TEST(Validator, AppsUnderWsgirefValidatorRaiseNoWarning) {
  EXPECT_EQ(Get("/v/hello").Body(), "validated hello");
  EXPECT_EQ(Post("/v/echo", "echo me", 2).Body(), "echo me");
  EXPECT_EQ(Post("/v/lines", "line one\nline two\nthree", 3).Body(),
            "line one\n|line |two\n|three");
  FakeRequest w = Get("/v/write");
  EXPECT_EQ(w.status, 201);
  EXPECT_EQ(w.Body(), "written and returned");
  EXPECT_EQ(Get("/v/file").Body(), "wrapped");
  EXPECT_EQ(Get("/v/empty").status, 304);
  EXPECT_FALSE(Loaded().LogContains("WSGIWarning")) << "a validator warning was raised";
  EXPECT_FALSE(Loaded().LogContains("AssertionError"));
}

TEST(UwsgiModule, ExposesWorkerOptionsAndRunsPostforkHooks) {
  FakeRequest r = Get("/modules");
  std::string body = r.Body();
  EXPECT_THAT(body, HasSubstr("\"worker_id\": 1"));
  EXPECT_THAT(body, HasSubstr("\"kiln_worker_id\": 1"));
  EXPECT_THAT(body, HasSubstr("\"numproc\": 1"));
  EXPECT_THAT(body, HasSubstr("\"opt_custom\": \"b'hello'\""));
  EXPECT_THAT(body, HasSubstr("\"opt_repeated\": \"[b'a', b'b']\""));
  EXPECT_THAT(body, HasSubstr("\"postfork\": 1"));
}

TEST(UwsgiModule, OptGivesTrueForAFlagAndBytesForText) {
  std::string body = Get("/modules").Body();
  EXPECT_THAT(body, HasSubstr("\"opt_master\": \"True\""));
  EXPECT_THAT(body, HasSubstr("\"opt_text_true\": \"b'true'\""));
  EXPECT_THAT(body, HasSubstr("\"opt_custom\": \"b'hello'\""));
}

// Serves `slow` on a thread of its own, its wait (`slow.*wait`: a body read or a write the
// client is not ready for) lasting until `fast`, served meanwhile on this thread, is done, or
// 10 s. Returns how long `fast` took: well under 10 s only if the wait gave the GIL up.
std::chrono::steady_clock::duration ServeBesideAWait(FakeHost& h, FakeRequest& slow,
                                                      std::function<void()> FakeRequest::*wait,
                                                      FakeRequest& fast) {
  std::mutex mu;
  std::condition_variable cv;
  bool fast_done = false;
  slow.*wait = [&] {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait_for(lock, std::chrono::seconds(10), [&] { return fast_done; });
  };
  std::thread t([&] { h.Serve(slow); });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // `slow` is in its wait now
  const auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(h.Serve(fast), KILN_OK);
  const auto took = std::chrono::steady_clock::now() - started;
  {
    std::lock_guard<std::mutex> lock(mu);
    fast_done = true;
  }
  cv.notify_all();
  t.join();
  return took;
}

TEST(Threads, BodyReadReleasesTheGilForOtherRequests) {
  FakeRequest slow = MakeRequest("POST", "/read_all", "slow body");
  FakeRequest fast = MakeRequest("GET", "/v/hello");
  EXPECT_LT(ServeBesideAWait(Loaded(), slow, &FakeRequest::before_read, fast), std::chrono::seconds(5));
  EXPECT_EQ(fast.Body(), "validated hello");
  EXPECT_THAT(slow.Body(), HasSubstr("slow body"));
  EXPECT_GE(slow.hooked_waits, 1);  // the read's wait came through the plugin's wait hook
}

// The plugin keeps the GIL across response writes (SDK 1.6) and gives it up only in the wait
// hook, while the host waits for a client whose socket is full: another request runs then.
TEST(Threads, AResponseWriteThatWaitsForTheClientReleasesTheGil) {
  FakeRequest slow = MakeRequest("GET", "/v/hello");
  FakeRequest fast = MakeRequest("GET", "/environ");
  EXPECT_LT(ServeBesideAWait(Loaded(), slow, &FakeRequest::before_write, fast), std::chrono::seconds(5));
  EXPECT_EQ(fast.status, 200);
  EXPECT_EQ(slow.Body(), "validated hello");
  EXPECT_GE(slow.hooked_waits, 1);
  EXPECT_EQ(slow.wait_hook, nullptr);  // cleared when the call ended
}

// ---- configurations that need a process of their own ----

void ExitWith(bool ok, const std::string& why) {
  if (!ok) std::fprintf(stderr, "CHECK FAILED: %s\n", why.c_str());
  std::fflush(stderr);
  _exit(ok ? 0 : 1);
}

// On a host without request_wait_hook (SDK 1.5) the plugin gives the GIL up for the whole of
// each call that may wait (a response write, a body read): another request runs meanwhile.
TEST(Threads, OnAnOlderHostEachCallThatMayWaitReleasesTheGil) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        FakeHost h;
        h.UseSdk15Table();
        h.SetOption("pythonpath", kApps);
        h.SetOption("module", "wsgi_cases");
        std::string err = h.Start(PythonPluginPath());
        FakeRequest slow_write = MakeRequest("GET", "/v/hello");
        FakeRequest fast_get = MakeRequest("GET", "/environ");
        const auto write_took =
            ServeBesideAWait(h, slow_write, &FakeRequest::before_write, fast_get);
        FakeRequest slow_read = MakeRequest("POST", "/read_all", "slow body");
        FakeRequest fast_hello = MakeRequest("GET", "/v/hello");
        const auto read_took =
            ServeBesideAWait(h, slow_read, &FakeRequest::before_read, fast_hello);
        ExitWith(err.empty() && write_took < std::chrono::seconds(5) &&
                     read_took < std::chrono::seconds(5) && fast_get.status == 200 &&
                     slow_write.Body() == "validated hello" &&
                     fast_hello.Body() == "validated hello" &&
                     slow_read.Body().find("slow body") != std::string::npos &&
                     slow_write.hooked_waits == 0 && slow_read.hooked_waits == 0,
                 err + " write " + std::to_string(write_took.count()) + " read " +
                     std::to_string(read_took.count()));
      },
      ::testing::ExitedWithCode(0), "");
}

TEST(AppLoading, ImportFailureFailsStartupWithTheTraceback) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        FakeHost h;
        h.SetOption("pythonpath", kApps);
        h.SetOption("module", "broken_import");
        std::string err = h.Start(PythonPluginPath());
        ExitWith(err.find("on_app_load") == 0 &&
                     err.find("this_module_does_not_exist_anywhere") != std::string::npos &&
                     h.LogContains("Traceback (most recent call last)"),
                 err);
      },
      ::testing::ExitedWithCode(0), "ModuleNotFoundError");
}

// `wsgi` is an alias of `module` and `pp` of `pythonpath`: values under any of the names are
// one option's, so the last `module`/`wsgi` line wins, as in uWSGI.
TEST(AppLoading, AliasesAreOneOptionAndTheLastValueWins) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        FakeHost h;
        h.SetOption("pp", kApps);
        h.SetOption("module", "broken_import");
        h.SetOption("wsgi", "wsgi_cases");
        std::string err = h.Start(PythonPluginPath());
        FakeRequest r = MakeRequest("GET", "/environ");
        h.Serve(r);
        ExitWith(err.empty() && r.status == 200, err);
      },
      ::testing::ExitedWithCode(0), "");
}

// Without wsgi.file_wrapper the template has one entry less than it takes to grow its table,
// so the plugin pads it and takes the padding out again: no environ may show the padding.
void ServeWithoutTheFileWrapper() {
  FakeHost h;
  h.SetOption("pythonpath", kApps);
  h.SetOption("module", "wsgi_cases");
  h.SetOption("wsgi-disable-file-wrapper", "true");
  std::string err = h.Start(PythonPluginPath());
  std::vector<std::string> want = {"QUERY_STRING",     "SCRIPT_NAME",      "wsgi.errors",
                                   "wsgi.input",       "wsgi.input_terminated",
                                   "wsgi.multiprocess", "wsgi.multithread", "wsgi.run_once",
                                   "wsgi.url_scheme",  "wsgi.version"};
  FakeRequest r = MakeRequest("GET", "/environ_keys");
  for (const auto& [name, value] : r.vars) want.push_back(name);
  std::sort(want.begin(), want.end());
  want.erase(std::unique(want.begin(), want.end()), want.end());
  h.Serve(r);
  ExitWith(err.empty() && r.status == 200 && r.Body() == absl::StrJoin(want, "\n"),
           err + r.Body());
}

TEST(AppLoading, WithoutTheFileWrapperTheEnvironHoldsExactlyTheWsgiKeysAndTheVariables) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(ServeWithoutTheFileWrapper(), ::testing::ExitedWithCode(0), "");
}

TEST(AppLoading, WithoutNeedAppAFailedAppAnswers500AndSaysWhy) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        FakeHost h;
        h.SetOption("pythonpath", kApps);
        h.SetOption("module", "broken_import");
        h.SetOption("need-app", "false");
        std::string err = h.Start(PythonPluginPath());
        FakeRequest r = MakeRequest("GET", "/");
        h.Serve(r);
        ExitWith(err.empty() && r.status == 500 && h.LogContains("failed to load"), err);
      },
      ::testing::ExitedWithCode(0), "");
}

TEST(AppLoading, MissingCallableNamesTheModuleAndTheCallable) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        FakeHost h;
        h.SetOption("pythonpath", kApps);
        h.SetOption("module", "wsgi_cases:nothing_here");
        std::string err = h.Start(PythonPluginPath());
        ExitWith(err.find("nothing_here") != std::string::npos, err);
      },
      ::testing::ExitedWithCode(0), "");
}

TEST(AppLoading, WsgiFileWithACustomCallable) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        FakeHost h;
        h.SetOption("wsgi-file", kApps + "/file_app.wsgi");
        h.SetOption("callable", "handler");
        std::string err = h.Start(PythonPluginPath());
        FakeRequest r = MakeRequest("GET", "/");
        h.Serve(r);
        ExitWith(err.empty() && r.Body() == "from a wsgi file", err + " body=" + r.Body());
      },
      ::testing::ExitedWithCode(0), "");
}

TEST(Mounts, LongestPrefixOnASlashBoundaryWithManageScriptName) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        FakeHost h;
        h.SetOption("pythonpath", kApps);
        h.SetOption("module", "wsgi_cases");
        h.SetOption("mount", "/other=wsgi_cases:other");
        h.SetOption("mount", "/other/deeper=wsgi_cases:make_app()");
        h.SetOption("mount", "/lua=app.lua");  // not ours: left to the lua plugin
        h.SetOption("manage-script-name", "true");
        std::string err = h.Start(PythonPluginPath());
        FakeRequest a = MakeRequest("GET", "/other/x");
        FakeRequest b = MakeRequest("GET", "/other/deeper/y");
        FakeRequest c = MakeRequest("GET", "/otherwise");
        h.Serve(a);
        h.Serve(b);
        h.Serve(c);
        bool ok = err.empty() &&
                  a.Body().find(R"("app": "other")") != std::string::npos &&
                  a.Body().find(R"("path_info": "/x", "script_name": "/other")") !=
                      std::string::npos &&
                  b.Body().find(R"("app": "factory")") != std::string::npos &&
                  b.Body().find(R"("script_name": "/other/deeper")") != std::string::npos &&
                  c.Body() == "no such case";
        ExitWith(ok, err + " a=" + a.Body() + " b=" + b.Body() + " c=" + c.Body());
      },
      ::testing::ExitedWithCode(0), "");
}

TEST(Mounts, ARequestNoMountServesIs404WithoutADefaultApp) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        FakeHost h;
        h.SetOption("pythonpath", kApps);
        h.SetOption("mount", "/other=wsgi_cases:other");
        h.SetOption("manage-script-name", "true");
        std::string err = h.Start(PythonPluginPath());
        FakeRequest r = MakeRequest("GET", "/elsewhere");
        kiln_status st = h.Serve(r);
        ExitWith(err.empty() && st == KILN_DECLINED && r.status == 0, err);
      },
      ::testing::ExitedWithCode(0), "");
}

TEST(Mounts, ARootMountBesideModuleFailsStartupNamingBoth) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        FakeHost h;
        h.SetOption("pythonpath", kApps);
        h.SetOption("module", "wsgi_cases");
        h.SetOption("mount", "/=wsgi_cases:other");
        std::string err = h.Start(PythonPluginPath());
        ExitWith(err.find("mount") == 0 && err.find("/=wsgi_cases:other") != std::string::npos &&
                     err.find("module = wsgi_cases") != std::string::npos,
                 err);
      },
      ::testing::ExitedWithCode(0), "");
}

// Without manage-script-name a mount is reached only by SCRIPT_NAME (as a front end sends
// it); any other request goes to the default app unchanged, as under uWSGI.
TEST(Mounts, WithoutManageScriptNameOnlyScriptNameSelectsAMount) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        FakeHost h;
        h.SetOption("pythonpath", kApps);
        h.SetOption("module", "wsgi_cases");
        h.SetOption("mount", "/other=wsgi_cases:other");
        std::string err = h.Start(PythonPluginPath());
        FakeRequest a = MakeRequest("GET", "/other/x");
        FakeRequest b = MakeRequest("GET", "/x");
        b.vars.emplace_back("SCRIPT_NAME", "/other");
        h.Serve(a);
        h.Serve(b);
        bool ok = err.empty() && a.Body() == "no such case" &&
                  b.Body().find(R"("app": "other")") != std::string::npos &&
                  b.Body().find(R"("path_info": "/x", "script_name": "/other")") !=
                      std::string::npos;
        ExitWith(ok, err + " a=" + a.Body() + " b=" + b.Body());
      },
      ::testing::ExitedWithCode(0), "");
}

TEST(AppLoading, NoAppConfiguredFailsStartupUnderNeedApp) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        FakeHost h;
        std::string err = h.Start(PythonPluginPath());
        ExitWith(err.find("no Python application configured") != std::string::npos, err);
      },
      ::testing::ExitedWithCode(0), "");
}

TEST(Environ, MultithreadAndMultiprocessFollowTheConfiguration) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        FakeHost h;
        h.set_threads(4);
        h.set_workers(2);
        h.SetOption("pythonpath", kApps);
        h.SetOption("module", "wsgi_cases");
        std::string err = h.Start(PythonPluginPath());
        FakeRequest r = MakeRequest("GET", "/environ");
        h.Serve(r);
        ExitWith(err.empty() && r.Body().find("\"multithread\": true") != std::string::npos &&
                     r.Body().find("\"multiprocess\": true") != std::string::npos,
                 err + r.Body());
      },
      ::testing::ExitedWithCode(0), "");
}

// Starts the plugin with py-autoreload = 1 on a fresh module, then moves the module's mtime
// forward: the watcher thread must ask the host for a reload within a few seconds.
void AutoreloadScenario() {
  char dir[] = "/tmp/kiln-ar-XXXXXX";
  if (mkdtemp(dir) == nullptr) ExitWith(false, "mkdtemp");
  std::string mod = std::string(dir) + "/ar_app.py";
  std::ofstream(mod) << "def application(e, s):\n    s('200 OK', [])\n    return []\n";
  FakeHost h;
  h.SetOption("pythonpath", dir);
  h.SetOption("module", "ar_app");
  h.SetOption("py-autoreload", "1");
  std::string err = h.Start(PythonPluginPath());
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  struct timespec times[2];
  times[0].tv_sec = 0;
  times[0].tv_nsec = UTIME_NOW;
  times[1].tv_sec = time(nullptr) + 5;
  times[1].tv_nsec = 0;
  utimensat(AT_FDCWD, mod.c_str(), times, 0);
  for (int i = 0; i < 100 && h.reloads() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  bool ok = err.empty() && h.reloads() > 0 && h.LogContains("py-autoreload");
  std::string cleanup = std::string("rm -rf '") + dir + "'";
  if (std::system(cleanup.c_str()) != 0) ok = false;
  ExitWith(ok, err + " reloads=" + std::to_string(h.reloads()));
}

TEST(PyAutoreload, AChangedModuleFileAsksForAReload) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(AutoreloadScenario(), ::testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace kiln::testing

// The python plugin's per-request WSGI path: environ build from the request variables, the call
// of examples/hello/hello.py, start_response and the response body, through the in-memory host
// of the plugin tests (tests/unit/plugins/fake_host.h: no sockets, no kiln binary).
// Each iteration serves one GET / carrying the variables nginx sends with Debian's uwsgi_params;
// the second benchmark adds 20 HTTP_X_* headers, so (its time - the first's) / 20 is the cost of
// one request variable.
#include <string>
#include <utility>
#include <vector>

#include "benchmark/benchmark.h"
#include "tests/unit/plugins/fake_host.h"

namespace kiln::testing {
namespace {

// The one host, never destroyed: the interpreter lives as long as the process.
FakeHost& Host() {
  static FakeHost* host = new FakeHost;
  return *host;
}

// Starts the plugin once per process with the hello app; "" on success, else why not.
const std::string& Started() {
  static const std::string err = [] {
    Host().SetOption("wsgi-file", KILN_BENCH_HELLO_APP);
    return Host().Start(KILN_TEST_PYTHON_PLUGIN);
  }();
  return err;
}

// GET / as nginx sends it through `uwsgi_pass` with Debian's uwsgi_params (HTTPS is sent only
// when not empty, so it is absent here), plus the request's Host, User-Agent and Accept.
FakeRequest NginxGet(int extra_headers) {
  FakeRequest r;
  r.vars = {{"QUERY_STRING", ""},
            {"REQUEST_METHOD", "GET"},
            {"CONTENT_TYPE", ""},
            {"CONTENT_LENGTH", ""},
            {"REQUEST_URI", "/"},
            {"PATH_INFO", "/"},
            {"DOCUMENT_ROOT", "/usr/share/nginx/html"},
            {"SERVER_PROTOCOL", "HTTP/1.1"},
            {"REQUEST_SCHEME", "http"},
            {"REMOTE_ADDR", "203.0.113.7"},
            {"REMOTE_PORT", "51234"},
            {"SERVER_PORT", "80"},
            {"SERVER_NAME", "example.com"},
            {"HTTP_HOST", "example.com"},
            {"HTTP_USER_AGENT", "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 "
                                "Firefox/128.0"},
            {"HTTP_ACCEPT", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}};
  for (int i = 0; i < extra_headers; ++i) {
    r.vars.emplace_back("HTTP_X_CUSTOM_HEADER_" + std::to_string(i),
                        "value-" + std::to_string(i) + "-abcdefghijklmnop");
  }
  return r;
}

// Clears what the previous iteration recorded; the vectors keep their capacity.
void ResetResponse(FakeRequest& r) {
  r.status = 0;
  r.reason.clear();
  r.headers.clear();
  r.writes.clear();
  r.start_calls = 0;
  r.started = false;
  r.used_sendfile = false;
  r.body_pos = 0;
  r.body_reads = 0;
}

void ServeLoop(benchmark::State& state, int extra_headers) {
  if (!Started().empty()) {
    state.SkipWithError(("plugin start failed: " + Started()).c_str());
    return;
  }
  FakeHost& h = Host();
  FakeRequest r = NginxGet(extra_headers);
  // One checked request first, so a broken app does not get timed as a fast one.
  if (h.Serve(r) != KILN_OK || r.status != 200 || r.Body() != "Hello, World!\n") {
    state.SkipWithError(("unexpected response: status " + std::to_string(r.status) + " body " +
                         r.Body() + " error " + h.error())
                            .c_str());
    return;
  }
  for (auto _ : state) {
    ResetResponse(r);
    kiln_status st = h.Serve(r);
    benchmark::DoNotOptimize(st);
    benchmark::DoNotOptimize(r.writes.data());
  }
  if (r.status != 200) state.SkipWithError("a timed request did not answer 200");
  state.SetItemsProcessed(state.iterations());
  state.counters["vars"] = static_cast<double>(r.vars.size());
}

void BM_WsgiHelloNginxGet(benchmark::State& state) { ServeLoop(state, 0); }
BENCHMARK(BM_WsgiHelloNginxGet);

void BM_WsgiHelloNginxGet20ExtraHeaders(benchmark::State& state) { ServeLoop(state, 20); }
BENCHMARK(BM_WsgiHelloNginxGet20ExtraHeaders);

}  // namespace
}  // namespace kiln::testing

BENCHMARK_MAIN();

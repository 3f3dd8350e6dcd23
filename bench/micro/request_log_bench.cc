// Request log formatting: uWSGI's default line and a compiled log-format, per request.
#include "absl/time/clock.h"
#include "benchmark/benchmark.h"
#include "core/log/request_log.h"

namespace kiln::log {
namespace {

RequestLogEntry Entry() {
  RequestLogEntry e;
  e.pid = 25804;
  e.app_requests = e.worker_requests = 1234;
  e.remote_addr = "203.0.113.7";
  e.method = "GET";
  e.uri = "/products/list?page=2&sort=name";
  e.protocol = "HTTP/1.1";
  e.user_agent = "Mozilla/5.0";
  e.var_pairs = 19;
  e.vars_bytes = 1013;
  e.start = absl::Now();
  e.duration = absl::Milliseconds(3);
  e.status = 200;
  e.body_bytes = 5120;
  e.header_count = 3;
  e.header_bytes = 120;
  return e;
}

void BM_DefaultLine(benchmark::State& state) {
  const RequestLogEntry e = Entry();
  for (auto _ : state) benchmark::DoNotOptimize(FormatDefaultRequestLine(e, false));
}
BENCHMARK(BM_DefaultLine);

void BM_LogFormatCombined(benchmark::State& state) {
  const RequestLogEntry e = Entry();
  const LogFormat f = LogFormat::Compile(
      "%(addr) - %(user) [%(ltime)] \"%(method) %(uri) %(proto)\" %(status) %(size) "
      "\"%(referer)\" \"%(uagent)\"");
  for (auto _ : state) benchmark::DoNotOptimize(f.Format(e));
}
BENCHMARK(BM_LogFormatCombined);

}  // namespace
}  // namespace kiln::log

BENCHMARK_MAIN();

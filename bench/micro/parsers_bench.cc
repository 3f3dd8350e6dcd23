// Parser micro-benchmarks: an nginx uwsgi packet, a browser-sized HTTP/1.1 head, a chunked
// body, and response heads. Bytes/s are reported so parsers can be compared with each other.
#include <string>

#include "benchmark/benchmark.h"
#include "core/protocol/chunked_decoder.h"
#include "core/protocol/http1_parser.h"
#include "core/protocol/response_writer.h"
#include "core/protocol/uwsgi_parser.h"

namespace kiln::protocol {
namespace {

std::string NginxPacket() {
  std::string b;
  AppendUwsgiVar(&b, "QUERY_STRING", "page=2&sort=name");
  AppendUwsgiVar(&b, "REQUEST_METHOD", "GET");
  AppendUwsgiVar(&b, "CONTENT_TYPE", "");
  AppendUwsgiVar(&b, "CONTENT_LENGTH", "");
  AppendUwsgiVar(&b, "REQUEST_URI", "/products/list?page=2&sort=name");
  AppendUwsgiVar(&b, "PATH_INFO", "/products/list");
  AppendUwsgiVar(&b, "DOCUMENT_ROOT", "/usr/share/nginx/html");
  AppendUwsgiVar(&b, "SERVER_PROTOCOL", "HTTP/1.1");
  AppendUwsgiVar(&b, "REQUEST_SCHEME", "https");
  AppendUwsgiVar(&b, "HTTPS", "on");
  AppendUwsgiVar(&b, "REMOTE_ADDR", "203.0.113.7");
  AppendUwsgiVar(&b, "REMOTE_PORT", "51234");
  AppendUwsgiVar(&b, "SERVER_PORT", "443");
  AppendUwsgiVar(&b, "SERVER_NAME", "shop.example.com");
  AppendUwsgiVar(&b, "HTTP_HOST", "shop.example.com");
  AppendUwsgiVar(&b, "HTTP_USER_AGENT",
                 "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0");
  AppendUwsgiVar(&b, "HTTP_ACCEPT", "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8");
  AppendUwsgiVar(&b, "HTTP_ACCEPT_LANGUAGE", "en-US,en;q=0.5");
  AppendUwsgiVar(&b, "HTTP_COOKIE", std::string(400, 'c'));
  return MakeUwsgiPacket(b);
}

const char kHttpHead[] =
    "GET /products/list?page=2&sort=name HTTP/1.1\r\n"
    "Host: shop.example.com\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0\r\n"
    "Accept: text/html,application/xhtml+xml;q=0.9,*/*;q=0.8\r\n"
    "Accept-Language: en-US,en;q=0.5\r\n"
    "Accept-Encoding: gzip, deflate, br\r\n"
    "Connection: keep-alive\r\n"
    "Cookie: session=0123456789abcdef0123456789abcdef; theme=dark\r\n"
    "Upgrade-Insecure-Requests: 1\r\n"
    "\r\n";

void BM_UwsgiParse(benchmark::State& state) {
  const std::string packet = NginxPacket();
  Request req;
  HttpHead head;
  for (auto _ : state) {
    req.Clear();
    UwsgiParseResult r = ParseUwsgi(packet.data(), packet.size(), 65535, &req, &head);
    benchmark::DoNotOptimize(r.consumed);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * packet.size()));
}
BENCHMARK(BM_UwsgiParse);

void BM_Http1Parse(benchmark::State& state) {
  const ConnectionInfo conn{"203.0.113.7", "51234", "shop", "443", "https"};
  Request req;
  HttpHead head;
  for (auto _ : state) {
    HttpParseResult r = ParseHttp1(kHttpHead, sizeof(kHttpHead) - 1, 65535, conn, &req, &head);
    benchmark::DoNotOptimize(r.consumed);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * (sizeof(kHttpHead) - 1)));
}
BENCHMARK(BM_Http1Parse);

void BM_ChunkedDecode(benchmark::State& state) {
  std::string body;
  const std::string piece(static_cast<size_t>(state.range(0)), 'd');
  for (int i = 0; i < 64; ++i) body += "400\r\n" + piece.substr(0, 1024) + "\r\n";
  body += "0\r\n\r\n";
  std::string out(65536, '\0');
  for (auto _ : state) {
    ChunkedDecoder d;
    size_t pos = 0;
    while (pos < body.size()) {
      auto r = d.Decode(body.data() + pos, body.size() - pos, out.data(), out.size());
      pos += r.consumed;
      if (r.status != ParseStatus::kIncomplete) break;
    }
    benchmark::DoNotOptimize(pos);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
}
BENCHMARK(BM_ChunkedDecode)->Arg(1024);

void BM_ResponseHead(benchmark::State& state) {
  const std::vector<protocol::Header> headers = {{"Content-Type", "text/html; charset=utf-8"},
                                               {"Cache-Control", "no-store"},
                                               {"X-Request-Id", "4bf92f3577b34da6a3ce929d0e0e4736"}};
  ResponseRequestInfo info;
  info.keep_alive = true;
  info.known_length = 1178;
  for (auto _ : state) {
    auto h = BuildResponseHead(200, "", headers, info);
    benchmark::DoNotOptimize(h->bytes.data());
  }
}
BENCHMARK(BM_ResponseHead);

}  // namespace
}  // namespace kiln::protocol

BENCHMARK_MAIN();

// The HTTP side shared by kiln's stats servers (the instance's `stats-http` and the emperor's
// `emperor-stats-http`): reading one request head from a non-blocking socket into a
// per-connection buffer, routing it (GET /metrics, /ready, /live, the JSON on every other
// path, as uWSGI's stats-http does), framing the answer, and the pieces of the Prometheus text
// exposition (format 0.0.4) both write. Nothing here blocks or keeps state of its own.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace kiln::process {

// A request head larger than this is answered 400.
inline constexpr size_t kMaxStatsRequestBytes = 8192;
inline constexpr std::string_view kPrometheusContentType =
    "text/plain; version=0.0.4; charset=utf-8";

// Reads what the client sent on the non-blocking `fd` into `in`; true when the request head is
// complete, too large, or the client closed its side (answer what it sent), false while more
// may come (EAGAIN).
bool ReadStatsRequest(int fd, std::string* in);

// /ready's verdict: `why` says what is missing when not ready.
struct Readiness {
  bool ready = false;
  std::string why;
};

// What a stats server answers; each is called only for its path.
struct StatsPages {
  std::function<std::string()> json;
  std::function<std::string()> metrics;
  std::function<Readiness()> ready;
};

// The whole HTTP/1.0 answer (headers and body, Connection: close) to `request`: 400 for a
// malformed or oversized head; HEAD gets the headers alone.
std::string AnswerStatsRequest(std::string_view request, const StatsPages& pages);

std::string HttpAnswer(int code, std::string_view reason, std::string_view type,
                       std::string_view body, bool head_only);

// Prometheus: a label value escaped (\, " and newline), and a family's HELP and TYPE lines.
std::string PrometheusLabel(std::string_view v);
void PrometheusFamily(std::string* out, std::string_view name, std::string_view type,
                      std::string_view help);

}  // namespace kiln::process

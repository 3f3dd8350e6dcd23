// The stats JSON and the /metrics text, read from the scoreboard's atomics.
#include "core/process/stats_document.h"

#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/build_info.h"

namespace kiln::process {
namespace {

constexpr auto kRelaxed = std::memory_order_relaxed;

// A streaming JSON writer: keys in the order written (uWSGI's order is part of the format).
// Pretty output indents with tabs, one value per line, as uWSGI does.
class Json {
 public:
  explicit Json(bool pretty) : pretty_(pretty) {}
  std::string Take() { return std::move(out_); }

  void BeginObject() { Open('{'); }
  void EndObject() { Close('}'); }
  void BeginArray() { Open('['); }
  void EndArray() { Close(']'); }
  void Key(std::string_view k) {
    Separate();
    String(k);
    out_.push_back(':');
    after_key_ = true;
  }
  void Int(uint64_t v) { Value(absl::StrCat(v)); }
  void SignedInt(int64_t v) { Value(absl::StrCat(v)); }
  void Str(std::string_view v) {
    Separate();
    String(v);
  }

 private:
  void Value(std::string_view text) {
    Separate();
    out_.append(text);
  }
  void Open(char c) {
    Separate();
    out_.push_back(c);
    ++depth_;
    first_ = true;
  }
  void Close(char c) {
    --depth_;
    if (!first_) Newline();
    out_.push_back(c);
    first_ = false;
  }
  // Before a value or key: the comma and line break it needs.
  void Separate() {
    if (after_key_) {
      after_key_ = false;
      return;
    }
    if (depth_ == 0) return;
    if (!first_) out_.push_back(',');
    first_ = false;
    Newline();
  }
  void Newline() {
    if (!pretty_) return;
    out_.push_back('\n');
    out_.append(static_cast<size_t>(depth_), '\t');
  }
  void String(std::string_view s) {
    out_.push_back('"');
    for (char ch : s) {
      const auto u = static_cast<unsigned char>(ch);
      if (ch == '"' || ch == '\\') {
        out_.push_back('\\');
        out_.push_back(ch);
      } else if (u < 0x20) {
        out_.append(absl::StrFormat("\\u%04x", u));
      } else {
        out_.push_back(ch);
      }
    }
    out_.push_back('"');
  }

  bool pretty_;
  std::string out_;
  int depth_ = 0;
  bool first_ = true;
  bool after_key_ = false;
};

struct CoreView {
  uint64_t requests, static_requests, write_errors, read_errors;
  int64_t start_ns;
};

CoreView ReadCore(const Scoreboard& sb, int w, int c) {
  const CoreSlot& s = sb.core(w, c);
  return CoreView{s.requests.load(kRelaxed), s.static_requests.load(kRelaxed),
                  s.write_errors.load(kRelaxed), s.read_errors.load(kRelaxed),
                  s.request_start_ns.load(kRelaxed)};
}

// uWSGI's worker status words: busy, idle, cheap (no process in the slot), pause.
const char* StatusWord(const WorkerSnapshot& s, InstanceState state) {
  if (s.pid == 0 || s.state == WorkerState::kEmpty) return "cheap";  // cheaper mode's empty slot
  if (s.busy) return "busy";
  if (state == InstanceState::kPaused) return "pause";
  return "idle";
}

bool Accepting(const WorkerSnapshot& s, InstanceState state) {
  return s.pid != 0 && s.state == WorkerState::kReady && state != InstanceState::kStopping &&
         state != InstanceState::kPaused;
}

std::string Cwd() {
  char buf[4096];
  return getcwd(buf, sizeof(buf)) != nullptr ? std::string(buf) : std::string();
}

// A float as Prometheus reads it (no exponent needed for our ranges).
std::string Seconds(double s) { return absl::StrFormat("%.9g", s); }

}  // namespace

std::string StatsJson(const StatsInput& in) {
  const Scoreboard& sb = *in.scoreboard;
  uint64_t queue = 0;
  for (const SocketStats& s : in.sockets) queue += s.queue;
  Json j(in.pretty);
  j.BeginObject();
  j.Key("version");
  j.Str(KILN_VERSION_STRING);
  j.Key("listen_queue");
  j.Int(queue);
  j.Key("listen_queue_errors");
  j.Int(in.listen_queue_errors);
  j.Key("signal_queue");
  j.Int(0);
  j.Key("load");
  j.Int(queue);
  j.Key("pid");
  j.Int(static_cast<uint64_t>(in.pid));
  j.Key("uid");
  j.Int(getuid());
  j.Key("gid");
  j.Int(getgid());
  j.Key("cwd");
  j.Str(Cwd());
  j.Key("locks");  // kiln's workers share no locks
  j.BeginArray();
  j.EndArray();
  j.Key("sockets");
  j.BeginArray();
  for (const SocketStats& s : in.sockets) {
    j.BeginObject();
    j.Key("name");
    j.Str(s.name);
    j.Key("proto");
    j.Str(s.proto);
    j.Key("queue");
    j.Int(s.queue);
    j.Key("max_queue");
    j.Int(s.max_queue);
    j.Key("shared");
    j.Int(0);
    j.Key("can_offload");
    j.Int(0);
    j.EndObject();
  }
  j.EndArray();
  j.Key("workers");
  j.BeginArray();
  const int64_t now_ns = MonotonicNanos();
  const auto now_unix = static_cast<int64_t>(time(nullptr));
  for (int w = 1; w <= sb.workers(); ++w) {
    const WorkerSlot& slot = sb.worker(w);
    const WorkerSnapshot s = *sb.Snapshot(w);
    const uint64_t requests = slot.requests.load(kRelaxed);
    const uint64_t exceptions = slot.exceptions.load(kRelaxed);
    const uint64_t running_us = slot.running_ns.load(kRelaxed) / 1000;
    const size_t wi = static_cast<size_t>(w - 1);
    j.BeginObject();
    j.Key("id");
    j.Int(static_cast<uint64_t>(w));
    j.Key("pid");
    j.Int(static_cast<uint64_t>(s.pid));
    j.Key("accepting");
    j.Int(Accepting(s, in.state) ? 1 : 0);
    j.Key("requests");
    j.Int(requests);
    j.Key("delta_requests");
    j.Int(wi < in.delta_requests.size() ? in.delta_requests[wi] : 0);
    j.Key("exceptions");
    j.Int(exceptions);
    j.Key("harakiri_count");
    j.Int(slot.harakiri_count.load(kRelaxed));
    j.Key("signals");
    j.Int(0);
    j.Key("signal_queue");
    j.Int(0);
    j.Key("status");
    j.Str(StatusWord(s, in.state));
    j.Key("rss");
    j.Int(slot.rss_bytes.load(kRelaxed));
    j.Key("vsz");
    j.Int(slot.vsz_bytes.load(kRelaxed));
    j.Key("running_time");
    j.Int(running_us);
    j.Key("last_spawn");
    j.SignedInt(slot.spawned_unix_s.load(kRelaxed));
    j.Key("respawn_count");
    j.Int(slot.respawn_count.load(kRelaxed));
    j.Key("tx");
    j.Int(slot.response_bytes.load(kRelaxed));
    j.Key("avg_rt");
    j.Int(requests == 0 ? 0 : running_us / requests);
    // kiln keeps no per-app counters: a worker serving its application shows it as uWSGI's
    // single default app, with the worker's counts.
    j.Key("apps");
    j.BeginArray();
    if (s.pid != 0 && s.state == WorkerState::kReady) {
      j.BeginObject();
      j.Key("id");
      j.Int(0);
      j.Key("modifier1");
      j.Int(0);
      j.Key("mountpoint");
      j.Str("");
      j.Key("startup_time");
      j.Int(0);
      j.Key("requests");
      j.Int(requests);
      j.Key("exceptions");
      j.Int(exceptions);
      j.Key("chdir");
      j.Str("");
      j.EndObject();
    }
    j.EndArray();
    j.Key("cores");
    j.BeginArray();
    for (int c = 0; c < sb.cores(); ++c) {
      const CoreView cv = ReadCore(sb, w, c);
      j.BeginObject();
      j.Key("id");
      j.Int(static_cast<uint64_t>(c));
      j.Key("requests");
      j.Int(cv.requests);
      j.Key("static_requests");
      j.Int(cv.static_requests);
      j.Key("routed_requests");
      j.Int(0);
      j.Key("offloaded_requests");
      j.Int(0);
      j.Key("write_errors");
      j.Int(cv.write_errors);
      j.Key("read_errors");
      j.Int(cv.read_errors);
      j.Key("in_request");
      j.Int(cv.start_ns != 0 ? 1 : 0);
      j.Key("vars");
      j.BeginArray();
      j.EndArray();
      j.Key("req_info");
      j.BeginObject();
      if (cv.start_ns != 0) {
        j.Key("request_start");
        j.SignedInt(now_unix - (now_ns - cv.start_ns) / 1'000'000'000);
      }
      j.EndObject();
      j.EndObject();
    }
    j.EndArray();
    j.EndObject();
  }
  j.EndArray();
  j.EndObject();
  std::string out = j.Take();
  out.push_back('\n');
  return out;
}

std::string MetricsText(const StatsInput& in) {
  const Scoreboard& sb = *in.scoreboard;
  std::string out;
  struct PerWorker {
    const char* name;
    const char* type;
    const char* help;
    std::atomic<uint64_t> WorkerSlot::*field;
  };
  static const PerWorker kCounters[] = {
      {"kiln_requests_total", "counter", "Requests served, per worker id (across respawns).",
       &WorkerSlot::total_requests},
      {"kiln_exceptions_total", "counter",
       "Requests the application failed (a plugin error, a Python exception), per worker id.",
       &WorkerSlot::total_exceptions},
      {"kiln_response_bytes_total", "counter", "Bytes of responses written, per worker id.",
       &WorkerSlot::total_response_bytes},
      {"kiln_harakiri_total", "counter", "Requests killed by harakiri, per worker id.",
       &WorkerSlot::harakiri_count},
  };
  for (const PerWorker& m : kCounters) {
    PrometheusFamily(&out, m.name, m.type, m.help);
    for (int w = 1; w <= sb.workers(); ++w) {
      absl::StrAppend(&out, m.name, "{worker=\"", w, "\"} ", (sb.worker(w).*m.field).load(kRelaxed),
                      "\n");
    }
  }
  PrometheusFamily(&out, "kiln_worker_respawns_total", "counter",
                   "Times the worker slot was spawned again after its first start.");
  for (int w = 1; w <= sb.workers(); ++w) {
    const uint64_t spawns = sb.worker(w).respawn_count.load(kRelaxed);
    absl::StrAppend(&out, "kiln_worker_respawns_total{worker=\"", w, "\"} ",
                    spawns > 0 ? spawns - 1 : 0, "\n");
  }
  PrometheusFamily(&out, "kiln_worker_resident_memory_bytes", "gauge",
                   "Resident set size of the worker process.");
  int busy = 0, idle = 0, other = 0;
  for (int w = 1; w <= sb.workers(); ++w) {
    const WorkerSnapshot s = *sb.Snapshot(w);
    absl::StrAppend(&out, "kiln_worker_resident_memory_bytes{worker=\"", w, "\"} ",
                    s.pid != 0 ? ProcessMemory(s.pid).rss_bytes : 0, "\n");
    if (s.pid == 0 || s.state != WorkerState::kReady) {
      ++other;
    } else if (s.busy) {
      ++busy;
    } else {
      ++idle;
    }
  }
  PrometheusFamily(&out, "kiln_workers", "gauge",
                   "Workers by state: busy (in a request), idle (accepting, no request), other "
                   "(starting, stopping or not running).");
  absl::StrAppend(&out, "kiln_workers{state=\"busy\"} ", busy, "\nkiln_workers{state=\"idle\"} ",
                  idle, "\nkiln_workers{state=\"other\"} ", other, "\n");
  PrometheusFamily(&out, "kiln_listen_queue", "gauge",
                   "Connections waiting in the listen socket's accept queue.");
  for (const SocketStats& s : in.sockets) {
    absl::StrAppend(&out, "kiln_listen_queue{socket=\"", PrometheusLabel(s.name), "\"} ", s.queue,
                    "\n");
  }
  PrometheusFamily(&out, "kiln_listen_queue_limit", "gauge",
                   "The accept queue's limit (listen backlog).");
  for (const SocketStats& s : in.sockets) {
    absl::StrAppend(&out, "kiln_listen_queue_limit{socket=\"", PrometheusLabel(s.name), "\"} ",
                    s.max_queue, "\n");
  }
  PrometheusFamily(&out, "kiln_reloads_total", "counter",
                   "Graceful reloads (re-executions of the master) since the first start.");
  absl::StrAppend(&out, "kiln_reloads_total ", in.reloads, "\n");
  PrometheusFamily(&out, "kiln_ready", "gauge",
                   "1 while every worker accepts and the instance runs.");
  absl::StrAppend(&out, "kiln_ready ", CheckReadiness(sb, in.state).ready ? 1 : 0, "\n");
  PrometheusFamily(&out, "kiln_request_duration_seconds", "histogram",
                   "Time from a request's complete head to the end of its response, per worker "
                   "id.");
  for (int w = 1; w <= sb.workers(); ++w) {
    const WorkerSlot& slot = sb.worker(w);
    uint64_t cumulative = 0;
    for (size_t b = 0; b < kDurationBucketCount; ++b) {
      cumulative += slot.duration_buckets[b].load(kRelaxed);
      const std::string le =
          b + 1 < kDurationBucketCount ? Seconds(kDurationBuckets[b]) : std::string("+Inf");
      absl::StrAppend(&out, "kiln_request_duration_seconds_bucket{worker=\"", w, "\",le=\"", le,
                      "\"} ", cumulative, "\n");
    }
    absl::StrAppend(&out, "kiln_request_duration_seconds_sum{worker=\"", w, "\"} ",
                    Seconds(static_cast<double>(slot.duration_sum_ns.load(kRelaxed)) / 1e9),
                    "\n");
    absl::StrAppend(&out, "kiln_request_duration_seconds_count{worker=\"", w, "\"} ", cumulative,
                    "\n");
  }
  return out;
}

Readiness CheckReadiness(const Scoreboard& sb, InstanceState state) {
  if (state != InstanceState::kRunning && state != InstanceState::kReloading) {
    return Readiness{false, InstanceStateName(state)};
  }
  // Every worker that should run: a slot cheaper mode keeps empty is not missing.
  int ready = 0;
  int wanted = 0;
  for (int w = 1; w <= sb.workers(); ++w) {
    if (sb.worker(w).cheap.load(kRelaxed) != 0) continue;
    ++wanted;
    const WorkerSnapshot s = *sb.Snapshot(w);
    if (s.pid != 0 && s.state == WorkerState::kReady) ++ready;
  }
  if (ready < wanted) {
    return Readiness{false, absl::StrFormat("%s: %d of %d workers ready",
                                            InstanceStateName(state), ready, wanted)};
  }
  return Readiness{true, ""};
}

}  // namespace kiln::process

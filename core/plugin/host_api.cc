// Fills kiln_host_api: each SDK function maps onto the core (config, log, RequestContext,
// scoreboard, clocks). The one file that sees both SDK and core types; wiring only.
#include "core/plugin/host_api.h"

#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <mutex>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/base/strings.h"
#include "core/build_info.h"
#include "core/config/config.h"
#include "core/config/option_registry.h"
#include "core/log/logger.h"
#include "core/plugin/loaded_plugin.h"
#include "core/plugin/spool_enqueue.h"
#include "core/protocol/request_context.h"
#include "core/protocol/response_writer.h"

namespace kiln::plugin {
namespace {

struct HostState {
  std::mutex mu;
  const config::Config* config = nullptr;
  const config::OptionRegistry* registry = nullptr;
  // Option texts by canonical name, computed once: the SDK promises they stay valid.
  std::map<std::string, std::vector<std::string>, std::less<>> texts;
  int worker_id = 0;
  int workers = 1;
  int threads = 1;
  pid_t master_pid = 0;
  ScoreboardReader scoreboard;
};

HostState& State() {
  static HostState* state = new HostState;  // never destroyed: plugins may call late
  return *state;
}

thread_local int t_core_id = 0;
// The request this thread is handing to a plugin (null outside one): an error the plugin logs
// meanwhile marks it as failed by the application (the stats' exceptions).
thread_local protocol::RequestContext* t_request = nullptr;
thread_local std::string t_error;
thread_local bool t_has_error = false;

std::string_view View(kiln_str s) { return std::string_view(s.ptr == nullptr ? "" : s.ptr, s.len); }
kiln_str Str(const std::string& s) { return kiln_str{s.data(), s.size()}; }

log::Level LevelOf(kiln_log_level level) {
  switch (level) {
    case KILN_LOG_DEBUG:
      return log::Level::kDebug;
    case KILN_LOG_INFO:
      return log::Level::kInfo;
    case KILN_LOG_NOTICE:
      return log::Level::kNotice;
    case KILN_LOG_WARNING:
      return log::Level::kWarning;
    case KILN_LOG_ERROR:
      return log::Level::kError;
  }
  return log::Level::kError;
}

const char* PluginName(kiln_plugin* self) {
  return self != nullptr && self->plugin != nullptr ? self->plugin->name.c_str() : "plugin";
}

// ---- logging and errors ----

// A plugin's message often carries request data (the python plugin names the request's
// path in an app error; a traceback quotes the exception, which may quote the path), and a
// traceback is legitimately several lines. So the message keeps its lines, but only its first
// line reads `NAME: text`; every further line reads `NAME| text`, and so can never pass for a
// record of its own (a request line, a core warning, another plugin message), whatever a
// client smuggled into it. Within each line, CR and the other control bytes are written
// escaped (log::Log does, escape.h).
void LogWrite(kiln_plugin* self, kiln_log_level level, kiln_str message) {
  std::string_view msg = View(message);
  if (!msg.empty() && msg.back() == '\n') {
    msg.remove_suffix(1);
  }
  const char* name = PluginName(self);
  std::string text;
  text.reserve(msg.size() + 16);
  size_t start = 0;
  for (bool first = true;; first = false) {
    const size_t nl = msg.find('\n', start);
    absl::StrAppend(&text, name, first ? ": " : "| ",
                    base::Av(msg.substr(start, nl == std::string_view::npos ? nl : nl - start)));
    if (nl == std::string_view::npos) break;
    text.push_back('\n');
    start = nl + 1;
  }
  log::Log(LevelOf(level), text);
  if (level == KILN_LOG_ERROR && t_request != nullptr) {
    t_request->NoteAppError();  // the python plugin logs each exception it answers 500 for
  }
}

void ErrorSet(kiln_plugin* self, kiln_str message) {
  t_error.assign(View(message));
  t_has_error = true;
}

// ---- options ----

// The option's spec and its texts (cached), or nullptr when the name is unknown or the
// configuration is not resolved yet.
const std::vector<std::string>* Texts(kiln_str name, const config::OptionSpec** spec_out) {
  HostState& st = State();
  std::lock_guard<std::mutex> lock(st.mu);
  if (st.config == nullptr || st.registry == nullptr) {
    return nullptr;
  }
  const config::OptionSpec* spec = st.registry->Find(View(name));
  if (spec == nullptr) {
    return nullptr;
  }
  *spec_out = spec;
  auto it = st.texts.find(spec->name);
  if (it == st.texts.end()) {
    it = st.texts.emplace(spec->name, st.config->GetList(spec->name)).first;
  }
  return &it->second;
}

kiln_status OptionGet(kiln_plugin* self, kiln_str name, kiln_str* out) {
  const config::OptionSpec* spec = nullptr;
  const std::vector<std::string>* texts = Texts(name, &spec);
  if (texts == nullptr) {
    return KILN_ERROR;
  }
  if (texts->empty()) {
    return KILN_DECLINED;
  }
  *out = Str(spec->kind == config::OptionKind::kList ? texts->front() : texts->back());
  return KILN_OK;
}

size_t OptionCount(kiln_plugin* self, kiln_str name) {
  const config::OptionSpec* spec = nullptr;
  const std::vector<std::string>* texts = Texts(name, &spec);
  if (texts == nullptr) {
    return 0;
  }
  return spec->kind == config::OptionKind::kList ? texts->size() : (texts->empty() ? 0 : 1);
}

kiln_status OptionGetAt(kiln_plugin* self, kiln_str name, size_t index, kiln_str* out) {
  const config::OptionSpec* spec = nullptr;
  const std::vector<std::string>* texts = Texts(name, &spec);
  if (texts == nullptr) {
    return KILN_ERROR;
  }
  if (spec->kind != config::OptionKind::kList) {
    if (index > 0 || texts->empty()) {
      return KILN_DECLINED;
    }
    *out = Str(texts->back());
    return KILN_OK;
  }
  if (index >= texts->size()) {
    return KILN_DECLINED;
  }
  *out = Str((*texts)[index]);
  return KILN_OK;
}

kiln_status OptionFlag(kiln_plugin* self, kiln_str name, int* out) {
  const config::OptionSpec* spec = nullptr;
  const std::vector<std::string>* texts = Texts(name, &spec);
  if (texts == nullptr || spec->kind != config::OptionKind::kFlag) {
    return KILN_ERROR;
  }
  if (texts->empty()) {
    return KILN_DECLINED;
  }
  *out = State().config->GetFlag(spec->name) ? 1 : 0;
  return KILN_OK;
}

kiln_status OptionNumber(kiln_plugin* self, kiln_str name, int64_t* out) {
  const config::OptionSpec* spec = nullptr;
  const std::vector<std::string>* texts = Texts(name, &spec);
  if (texts == nullptr) {
    return KILN_ERROR;
  }
  if (texts->empty()) {
    return KILN_DECLINED;
  }
  const config::Config& cfg = *State().config;
  switch (spec->kind) {
    case config::OptionKind::kNumber:
      *out = cfg.GetNumber(spec->name);
      return KILN_OK;
    case config::OptionKind::kSize:
      *out = static_cast<int64_t>(cfg.GetSize(spec->name));
      return KILN_OK;
    case config::OptionKind::kDuration:
      *out = absl::ToInt64Milliseconds(cfg.GetDuration(spec->name));
      return KILN_OK;
    default:
      return KILN_ERROR;
  }
}

size_t ConfigEntryCount(kiln_plugin* self) {
  const config::Config* cfg = State().config;
  return cfg == nullptr ? 0 : cfg->entries().size();
}

kiln_status ConfigEntryGet(kiln_plugin* self, size_t index, kiln_str* key, kiln_str* value) {
  const config::Config* cfg = State().config;
  if (cfg == nullptr || index >= cfg->entries().size()) {
    return KILN_DECLINED;
  }
  const config::Entry& e = cfg->entries()[index];
  *key = Str(e.key);
  *value = Str(e.value);
  return KILN_OK;
}

// ---- the request ----

protocol::RequestContext& Ctx(kiln_request* r) { return *r->context; }

kiln_status RequestVarGet(kiln_request* r, kiln_str name, kiln_str* out) {
  std::optional<std::string_view> v = Ctx(r).Var(View(name));
  if (!v.has_value()) {
    return KILN_DECLINED;
  }
  *out = kiln_str{v->data(), v->size()};
  return KILN_OK;
}

size_t RequestVarCount(kiln_request* r) { return Ctx(r).VarCount(); }

void RequestVarEach(kiln_request* r, kiln_var_visitor fn, void* arg) {
  bool stopped = false;
  Ctx(r).ForEachVar([&](std::string_view name, std::string_view value) {
    if (!stopped) {
      stopped = fn(arg, kiln_str{name.data(), name.size()}, kiln_str{value.data(), value.size()});
    }
  });
}

kiln_modifiers RequestModifiers(kiln_request* r) {
  return kiln_modifiers{Ctx(r).Modifier1(), Ctx(r).Modifier2()};
}

kiln_status RequestBodyRead(kiln_request* r, char* buf, size_t len, size_t* n) {
  absl::StatusOr<size_t> got = Ctx(r).ReadBody(buf, len);
  if (!got.ok()) {
    t_error.assign(got.status().message().data(), got.status().message().size());
    t_has_error = true;
    *n = 0;
    return KILN_ERROR;
  }
  *n = *got;
  return KILN_OK;
}

kiln_status ResponseStart(kiln_request* r, int status, kiln_str reason, const kiln_header* headers,
                          size_t header_count) {
  if (status < 100 || status > 999 || (header_count > 0 && headers == nullptr)) {
    return KILN_ERROR;
  }
  // Views of the plugin's headers for this call only, in a vector each thread reuses.
  static thread_local std::vector<protocol::Header> hs;
  hs.clear();
  for (size_t i = 0; i < header_count; ++i) {
    hs.push_back(protocol::Header{View(headers[i].name), View(headers[i].value)});
  }
  return Ctx(r).StartResponse(status, View(reason), hs).ok() ? KILN_OK : KILN_ERROR;
}

kiln_status ResponseWrite(kiln_request* r, kiln_str data) {
  return Ctx(r).WriteBody(View(data)).ok() ? KILN_OK : KILN_ERROR;
}

kiln_status ResponseSendfile(kiln_request* r, int fd, int64_t offset, int64_t length) {
  if (fd < 0 || offset < 0 || length < 0) {
    return KILN_ERROR;
  }
  return Ctx(r).SendFile(fd, offset, length).ok() ? KILN_OK : KILN_ERROR;
}

int ResponseStarted(kiln_request* r) { return Ctx(r).ResponseStarted() ? 1 : 0; }

// ---- waiting for the client (1.6) ----

void RequestWaitHook(kiln_request* r, void (*hook)(void* ctx, int waiting), void* ctx) {
  Ctx(r).SetWaitHook(hook, ctx);
}

// ---- requests answered from another thread (1.2) ----

// The serving loop's events for a detached request, handed to the plugin's on_async_event.
class PluginAsyncEvents final : public protocol::AsyncEvents {
 public:
  PluginAsyncEvents(const kiln_callbacks& cb, uint64_t token) : cb_(cb), token_(token) {}
  void OnBody(std::string_view data, bool more) override {
    kiln_async_event ev{};
    ev.kind = KILN_ASYNC_BODY;
    ev.data = kiln_str{data.data(), data.size()};
    ev.more = more ? 1 : 0;
    Emit(ev);
  }
  void OnDisconnect() override {
    kiln_async_event ev{};
    ev.kind = KILN_ASYNC_DISCONNECT;
    Emit(ev);
  }
  void OnDrained(uint64_t sent) override {
    kiln_async_event ev{};
    ev.kind = KILN_ASYNC_DRAINED;
    ev.sent = sent;
    Emit(ev);
  }
  void OnWsMessage(std::string_view data, bool binary) override {
    kiln_async_event ev{};
    ev.kind = binary ? KILN_ASYNC_WS_BINARY : KILN_ASYNC_WS_TEXT;
    ev.data = kiln_str{data.data(), data.size()};
    Emit(ev);
  }
  void OnWsClose(uint16_t code, std::string_view reason) override {
    kiln_async_event ev{};
    ev.kind = KILN_ASYNC_WS_CLOSE;
    ev.data = kiln_str{reason.data(), reason.size()};
    ev.code = code;
    Emit(ev);
  }

 private:
  void Emit(kiln_async_event& ev) {
    ev.size = sizeof(ev);
    cb_.on_async_event(cb_.ctx, token_, &ev);
  }
  const kiln_callbacks& cb_;  // the plugin's, alive for the process
  uint64_t token_;
};

protocol::AsyncRequest* Async(kiln_async* a) { return reinterpret_cast<protocol::AsyncRequest*>(a); }

bool HasLineBreak(kiln_str s) { return protocol::HasCrLf(View(s)); }

kiln_async* RequestDetach(kiln_request* r, uint64_t token) {
  if (r->plugin == nullptr || !KILN_HAS(&r->plugin->callbacks, on_async_event) ||
      r->plugin->callbacks.on_async_event == nullptr) {
    return nullptr;
  }
  return reinterpret_cast<kiln_async*>(
      Ctx(r).Detach(new PluginAsyncEvents(r->plugin->callbacks, token)));
}

// Copies a plugin's header list; false when one holds CR or LF. One pass: each header is
// checked (a word at a time, protocol::HasCrLf) and copied in the same step. The rest of the
// checks (a tchar name, NUL, a numeric Content-Length) are the serving thread's, in
// ConnectionRequest::StartResponse, which alone words the refusal ("async response refused").
// Copies, not views: the kiln_header array and its bytes are the plugin's only for this call,
// and the command may wait in the serving thread's queue (a call from the handler's thread)
// well after it returns, so the strings must own their bytes.
bool CopyHeaders(const kiln_header* headers, size_t header_count,
                 std::vector<std::pair<std::string, std::string>>* out) {
  if (header_count > 0 && headers == nullptr) return false;
  out->reserve(header_count);
  for (size_t i = 0; i < header_count; ++i) {
    const std::string_view name = View(headers[i].name), value = View(headers[i].value);
    if (protocol::HasCrLf(name) || protocol::HasCrLf(value)) return false;
    out->emplace_back(name, value);
  }
  return true;
}

kiln_status AsyncResponseStart(kiln_async* a, int status, kiln_str reason,
                               const kiln_header* headers, size_t header_count) {
  std::vector<std::pair<std::string, std::string>> hs;
  if (status < 100 || status > 999 || HasLineBreak(reason) ||
      !CopyHeaders(headers, header_count, &hs)) {
    return KILN_ERROR;
  }
  Async(a)->Start(status, std::string(View(reason)), std::move(hs));
  return KILN_OK;
}

kiln_status AsyncResponseWrite(kiln_async* a, kiln_str data, int more) {
  Async(a)->Write(std::string(View(data)), more != 0);
  return KILN_OK;
}

kiln_status AsyncBodyRequest(kiln_async* a) {
  Async(a)->WantBody();
  return KILN_OK;
}

void AsyncFinish(kiln_async* a, kiln_status result) { Async(a)->Finish(result == KILN_OK); }

// ---- a serving thread run from a plugin's event loop (1.4) ----

protocol::ServeStepper* Stepper(kiln_serve_thread* t) {
  return reinterpret_cast<protocol::ServeStepper*>(t);
}

int ServeThreadFd(kiln_serve_thread* t) { return Stepper(t)->fd(); }

int64_t ServeThreadStep(kiln_serve_thread* t) { return Stepper(t)->Step(); }

// ---- WebSocket connections answered from another thread (1.4) ----

kiln_status WebsocketDetach(kiln_request* r, uint64_t token, kiln_async** out) {
  *out = nullptr;
  if (r->plugin == nullptr || !KILN_HAS(&r->plugin->callbacks, on_async_event) ||
      r->plugin->callbacks.on_async_event == nullptr) {
    return KILN_DECLINED;
  }
  protocol::AsyncRequest* async = nullptr;
  switch (Ctx(r).DetachWebSocket(new PluginAsyncEvents(r->plugin->callbacks, token), &async)) {
    case protocol::WsDetach::kDetached:
      *out = reinterpret_cast<kiln_async*>(async);
      return KILN_OK;
    case protocol::WsDetach::kAnswered:
      return KILN_ERROR;
    case protocol::WsDetach::kNotWebSocket:
      break;
  }
  return KILN_DECLINED;
}

kiln_status AsyncWsAccept(kiln_async* a, kiln_str subprotocol, const kiln_header* headers,
                          size_t header_count) {
  std::vector<std::pair<std::string, std::string>> hs;
  if (HasLineBreak(subprotocol) || !CopyHeaders(headers, header_count, &hs)) return KILN_ERROR;
  Async(a)->WsAccept(std::string(View(subprotocol)), std::move(hs));
  return KILN_OK;
}

kiln_status AsyncWsSend(kiln_async* a, kiln_str data, int binary) {
  Async(a)->WsSend(std::string(View(data)), binary != 0);
  return KILN_OK;
}

kiln_status AsyncWsReceive(kiln_async* a) {
  Async(a)->WsReceive();
  return KILN_OK;
}

kiln_status AsyncWsClose(kiln_async* a, int code, kiln_str reason) {
  // Out of range: the serving thread's close-frame check refuses it and sends 1011.
  Async(a)->WsClose(code < 0 || code > 0xFFFF ? 0 : static_cast<uint16_t>(code),
                    std::string(View(reason)));
  return KILN_OK;
}

// ---- process ----

int WorkerId() { return State().worker_id; }
int CoreId() { return t_core_id; }
int WorkerCount() { return State().workers; }
int ThreadCount() { return State().threads; }

kiln_status ServerReload(kiln_plugin* self) {
  pid_t master = State().master_pid;
  if (master <= 0 || ::kill(master, SIGHUP) != 0) {
    return KILN_ERROR;
  }
  return KILN_OK;
}

int MasterPid() { return static_cast<int>(State().master_pid); }

kiln_status ScoreboardWorker(int worker_id, kiln_worker_stats* out) {
  if (out == nullptr || out->size < sizeof(uint32_t)) {
    return KILN_ERROR;
  }
  ScoreboardReader reader;
  {
    HostState& st = State();
    std::lock_guard<std::mutex> lock(st.mu);
    reader = st.scoreboard;
  }
  if (!reader || worker_id < 1) {
    return KILN_DECLINED;
  }
  kiln_worker_stats full{};
  full.size = sizeof(full);
  if (!reader(worker_id, &full)) {
    return KILN_DECLINED;
  }
  uint32_t n = out->size < sizeof(full) ? out->size : static_cast<uint32_t>(sizeof(full));
  std::memcpy(reinterpret_cast<char*>(out) + sizeof(uint32_t),
              reinterpret_cast<const char*>(&full) + sizeof(uint32_t), n - sizeof(uint32_t));
  return KILN_OK;
}

int64_t Clock(clockid_t id) {
  struct timespec ts;
  ::clock_gettime(id, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}
int64_t TimeMonotonicUs() { return Clock(CLOCK_MONOTONIC); }
int64_t TimeRealtimeUs() { return Clock(CLOCK_REALTIME); }

// ---- the spooler ----

void CopyOut(std::string_view text, char* out, size_t cap) {
  if (out == nullptr || cap == 0) return;
  size_t n = text.size() < cap - 1 ? text.size() : cap - 1;
  std::memcpy(out, text.data(), n);
  out[n] = '\0';
}

kiln_status Spool(kiln_plugin* self, const kiln_header* vars, size_t var_count, kiln_str body,
                  char* out, size_t out_cap) {
  const config::Config* cfg = State().config;
  if (cfg == nullptr || (var_count > 0 && vars == nullptr)) {
    CopyOut("the spooler is not configured yet", out, out_cap);
    return KILN_ERROR;
  }
  std::vector<protocol::SpoolVar> v;
  v.reserve(var_count);
  for (size_t i = 0; i < var_count; ++i) {
    v.emplace_back(View(vars[i].name), View(vars[i].value));
  }
  absl::StatusOr<std::string> path = WriteSpoolTask(cfg->GetList("spooler"), v, View(body));
  if (!path.ok()) {
    CopyOut(base::Sv(path.status().message()), out, out_cap);
    return KILN_ERROR;
  }
  if (path->size() >= out_cap) {
    CopyOut("the spool file's path does not fit the caller's buffer", out, out_cap);
    return KILN_ERROR;
  }
  CopyOut(*path, out, out_cap);
  if (!cfg->GetFlag("spooler-quiet")) {
    log::Info("[spooler] written task %s", *path);
  }
  return KILN_OK;
}

kiln_host_api MakeApi() {
  kiln_host_api api{};
  api.size = sizeof(api);
  api.abi_major = KILN_ABI_MAJOR;
  api.abi_minor = KILN_ABI_MINOR;
  api.host_version = kiln_str{KILN_VERSION_STRING, sizeof(KILN_VERSION_STRING) - 1};
  api.log_write = LogWrite;
  api.error_set = ErrorSet;
  api.option_get = OptionGet;
  api.option_count = OptionCount;
  api.option_get_at = OptionGetAt;
  api.option_flag = OptionFlag;
  api.option_number = OptionNumber;
  api.config_entry_count = ConfigEntryCount;
  api.config_entry_get = ConfigEntryGet;
  api.request_var_get = RequestVarGet;
  api.request_var_count = RequestVarCount;
  api.request_var_each = RequestVarEach;
  api.request_modifiers = RequestModifiers;
  api.request_body_read = RequestBodyRead;
  api.response_start = ResponseStart;
  api.response_write = ResponseWrite;
  api.response_sendfile = ResponseSendfile;
  api.response_started = ResponseStarted;
  api.worker_id = WorkerId;
  api.core_id = CoreId;
  api.worker_count = WorkerCount;
  api.thread_count = ThreadCount;
  api.server_reload = ServerReload;
  api.master_pid = MasterPid;
  api.scoreboard_worker = ScoreboardWorker;
  api.time_monotonic_us = TimeMonotonicUs;
  api.time_realtime_us = TimeRealtimeUs;
  api.spool = Spool;
  api.request_detach = RequestDetach;
  api.async_response_start = AsyncResponseStart;
  api.async_response_write = AsyncResponseWrite;
  api.async_body_request = AsyncBodyRequest;
  api.async_finish = AsyncFinish;
  api.serve_thread_fd = ServeThreadFd;
  api.serve_thread_step = ServeThreadStep;
  api.websocket_detach = WebsocketDetach;
  api.async_ws_accept = AsyncWsAccept;
  api.async_ws_send = AsyncWsSend;
  api.async_ws_receive = AsyncWsReceive;
  api.async_ws_close = AsyncWsClose;
  api.request_wait_hook = RequestWaitHook;
  return api;
}

}  // namespace

const kiln_host_api* HostApi() {
  static const kiln_host_api api = MakeApi();
  return &api;
}

void SetHostConfig(const config::Config* config, const config::OptionRegistry* registry) {
  HostState& st = State();
  std::lock_guard<std::mutex> lock(st.mu);
  st.config = config;
  st.registry = registry;
  st.texts.clear();
}

void SetHostWorkerId(int worker_id) { State().worker_id = worker_id; }
void SetHostCoreId(int core_id) { t_core_id = core_id; }
void SetHostRequest(protocol::RequestContext* request) { t_request = request; }
void SetHostCounts(int workers, int threads) {
  State().workers = workers < 1 ? 1 : workers;
  State().threads = threads < 1 ? 1 : threads;
}
void SetHostMasterPid(pid_t pid) { State().master_pid = pid; }

void SetHostScoreboardReader(ScoreboardReader reader) {
  HostState& st = State();
  std::lock_guard<std::mutex> lock(st.mu);
  st.scoreboard = std::move(reader);
}

std::string TakePluginError(const std::string& fallback) {
  if (!t_has_error) {
    return fallback;
  }
  t_has_error = false;
  return std::exchange(t_error, std::string());
}

}  // namespace kiln::plugin

// The in-memory host of fake_host.h: a kiln_host_api whose functions read a FakeHost's options
// and a FakeRequest's variables and body, and record responses and log lines.
#include "fake_host.h"

#include <dlfcn.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "tests/lib/plugin_settings.h"

// The SDK's opaque handles, as this host defines them.
struct kiln_plugin {
  int unused;
};
struct kiln_request {
  kiln::testing::FakeRequest* req;
};

namespace kiln::testing {
namespace {

kiln_plugin g_self{0};
thread_local std::string t_error;

std::string S(kiln_str s) { return std::string(s.ptr ? s.ptr : "", s.len); }
kiln_str K(const std::string& s) { return kiln_str{s.data(), s.size()}; }

FakeHost& H() { return FakeHost::Instance(); }

void LogWrite(kiln_plugin*, kiln_log_level level, kiln_str message) {
  std::string line = S(message);
  std::fprintf(stderr, "[fake-host log %d] %s\n", static_cast<int>(level), line.c_str());
  std::lock_guard<std::mutex> lock(H().mu_);
  H().logs_.push_back(line);
}

void ErrorSet(kiln_plugin*, kiln_str message) {
  std::lock_guard<std::mutex> lock(H().mu_);
  H().last_error_ = S(message);
}

const std::vector<std::string>* Values(kiln_str name) {
  auto it = H().options_.find(S(name));
  return it == H().options_.end() || it->second.empty() ? nullptr : &it->second;
}

kiln_status OptionGet(kiln_plugin*, kiln_str name, kiln_str* out) {
  const std::vector<std::string>* v = Values(name);
  if (v == nullptr) return KILN_DECLINED;
  *out = K(v->back());
  return KILN_OK;
}

size_t OptionCount(kiln_plugin*, kiln_str name) {
  const std::vector<std::string>* v = Values(name);
  return v == nullptr ? 0 : v->size();
}

kiln_status OptionGetAt(kiln_plugin*, kiln_str name, size_t i, kiln_str* out) {
  const std::vector<std::string>* v = Values(name);
  if (v == nullptr || i >= v->size()) return KILN_DECLINED;
  *out = K((*v)[i]);
  return KILN_OK;
}

// The options of kind flag among those the tests set: the real host refuses option_flag for any
// other kind (KILN_ERROR), which uwsgi.opt relies on to tell a flag from text.
bool IsFlagOption(const std::string& name) {
  for (const char* f : {"master", "need-app", "manage-script-name", "single-interpreter",
                        "enable-threads", "wsgi-disable-file-wrapper", "lazy-apps"}) {
    if (name == f) return true;
  }
  return false;
}

kiln_status OptionFlag(kiln_plugin*, kiln_str name, int* out) {
  if (!IsFlagOption(S(name))) return KILN_ERROR;
  const std::vector<std::string>* v = Values(name);
  if (v == nullptr) return KILN_DECLINED;
  const std::string& s = v->back();
  *out = (s == "true" || s == "1" || s == "yes" || s == "on") ? 1 : 0;
  return KILN_OK;
}

kiln_status OptionNumber(kiln_plugin*, kiln_str name, int64_t* out) {
  const std::vector<std::string>* v = Values(name);
  if (v == nullptr) return KILN_DECLINED;
  *out = std::strtoll(v->back().c_str(), nullptr, 10);
  return KILN_OK;
}

size_t ConfigEntryCount(kiln_plugin*) { return H().entries_.size(); }

kiln_status ConfigEntryGet(kiln_plugin*, size_t i, kiln_str* key, kiln_str* value) {
  if (i >= H().entries_.size()) return KILN_DECLINED;
  *key = K(H().entries_[i].first);
  *value = K(H().entries_[i].second);
  return KILN_OK;
}

kiln_status VarGet(kiln_request* r, kiln_str name, kiln_str* out) {
  const auto& vars = r->req->vars;
  for (auto it = vars.rbegin(); it != vars.rend(); ++it) {
    if (it->first == S(name)) {
      *out = K(it->second);
      return KILN_OK;
    }
  }
  return KILN_DECLINED;
}

size_t VarCount(kiln_request* r) { return r->req->vars.size(); }

void VarEach(kiln_request* r, kiln_var_visitor fn, void* arg) {
  for (const auto& [k, v] : r->req->vars) {
    if (fn(arg, K(k), K(v)) != 0) return;
  }
}

kiln_modifiers Modifiers(kiln_request* r) { return kiln_modifiers{r->req->modifier1, 0}; }

kiln_status BodyRead(kiln_request* r, char* buf, size_t len, size_t* n) {
  FakeRequest& q = *r->req;
  if (q.before_read) q.before_read();
  size_t left = q.body.size() - q.body_pos;
  *n = std::min({len, left, q.max_read});
  std::memcpy(buf, q.body.data() + q.body_pos, *n);
  q.body_pos += *n;
  return KILN_OK;
}

kiln_status ResponseStart(kiln_request* r, int status, kiln_str reason, const kiln_header* hs,
                          size_t n) {
  FakeRequest& q = *r->req;
  ++q.start_calls;
  if (q.started || status < 100 || status > 999) return KILN_ERROR;
  for (size_t i = 0; i < n; ++i) {
    std::string both = S(hs[i].name) + S(hs[i].value);
    if (both.find_first_of("\r\n") != std::string::npos) return KILN_ERROR;
  }
  q.started = true;
  q.status = status;
  q.reason = S(reason);
  for (size_t i = 0; i < n; ++i) q.headers.emplace_back(S(hs[i].name), S(hs[i].value));
  return KILN_OK;
}

kiln_status ResponseWrite(kiln_request* r, kiln_str data) {
  FakeRequest& q = *r->req;
  if (!q.started || q.fail_writes) return KILN_ERROR;
  q.writes.push_back(S(data));
  return KILN_OK;
}

kiln_status ResponseSendfile(kiln_request* r, int fd, int64_t offset, int64_t length) {
  FakeRequest& q = *r->req;
  if (!q.started || q.fail_writes) return KILN_ERROR;
  std::string data(static_cast<size_t>(length), '\0');
  ssize_t got = ::pread(fd, data.data(), data.size(), offset);
  if (got != length) return KILN_ERROR;
  q.writes.push_back(data);
  q.used_sendfile = true;
  return KILN_OK;
}

int ResponseStarted(kiln_request* r) { return r->req->started ? 1 : 0; }
int WorkerId() { return H().worker_id_; }
int CoreId() { return 0; }
int WorkerCount() { return H().workers_; }
int ThreadCount() { return H().threads_; }
kiln_status ServerReload(kiln_plugin*) {
  ++H().reloads_;
  return KILN_OK;
}
kiln_status Scoreboard(int, kiln_worker_stats*) { return KILN_DECLINED; }
int64_t Mono() { return 0; }
int64_t Real() { return 0; }

kiln_host_api MakeApi() {
  kiln_host_api a{};
  a.size = sizeof(a);
  a.abi_major = KILN_ABI_MAJOR;
  a.abi_minor = KILN_ABI_MINOR;
  a.host_version = kiln_str{"0.0.0-test", 10};
  a.log_write = LogWrite;
  a.error_set = ErrorSet;
  a.option_get = OptionGet;
  a.option_count = OptionCount;
  a.option_get_at = OptionGetAt;
  a.option_flag = OptionFlag;
  a.option_number = OptionNumber;
  a.config_entry_count = ConfigEntryCount;
  a.config_entry_get = ConfigEntryGet;
  a.request_var_get = VarGet;
  a.request_var_count = VarCount;
  a.request_var_each = VarEach;
  a.request_modifiers = Modifiers;
  a.request_body_read = BodyRead;
  a.response_start = ResponseStart;
  a.response_write = ResponseWrite;
  a.response_sendfile = ResponseSendfile;
  a.response_started = ResponseStarted;
  a.worker_id = WorkerId;
  a.core_id = CoreId;
  a.worker_count = WorkerCount;
  a.thread_count = ThreadCount;
  a.server_reload = ServerReload;
  a.scoreboard_worker = Scoreboard;
  a.time_monotonic_us = Mono;
  a.time_realtime_us = Real;
  return a;
}

const kiln_host_api g_api = MakeApi();

}  // namespace

std::string FakeRequest::Body() const {
  std::string out;
  for (const std::string& w : writes) out += w;
  return out;
}

std::string FakeRequest::Header(const std::string& name) const {
  for (const auto& [k, v] : headers) {
    if (k == name) return v;
  }
  return "";
}

FakeRequest MakeRequest(const std::string& method, const std::string& path,
                        const std::string& query, const std::string& body) {
  FakeRequest r;
  r.vars = {{"REQUEST_METHOD", method},
            {"REQUEST_URI", query.empty() ? path : path + "?" + query},
            {"PATH_INFO", path},
            {"QUERY_STRING", query},
            {"SERVER_PROTOCOL", "HTTP/1.1"},
            {"SERVER_NAME", "localhost"},
            {"SERVER_PORT", "8080"},
            {"REMOTE_ADDR", "127.0.0.1"},
            {"REMOTE_PORT", "40000"},
            {"REQUEST_SCHEME", "http"},
            {"HTTP_HOST", "localhost:8080"}};
  if (!body.empty() || method == "POST") {
    r.vars.emplace_back("CONTENT_LENGTH", std::to_string(body.size()));
    r.vars.emplace_back("CONTENT_TYPE", "application/octet-stream");
  }
  r.body = body;
  return r;
}

FakeHost& FakeHost::Instance() {
  static FakeHost* host = new FakeHost;
  return *host;
}

void FakeHost::Set(const std::string& name, const std::string& value) {
  options_[name] = {value};
  entries_.emplace_back(name, value);
}

void FakeHost::Add(const std::string& name, const std::string& value) {
  options_[name].push_back(value);
  entries_.emplace_back(name, value);
}

std::string FakeHost::Start(const std::string& plugin_path) {
  void* handle = ::dlopen(plugin_path.c_str(), RTLD_NOW | RTLD_GLOBAL | RTLD_NODELETE);
  if (handle == nullptr) return std::string("dlopen: ") + ::dlerror();
  auto query = reinterpret_cast<const kiln_plugin_desc* (*)()>(
      ::dlsym(handle, KILN_PLUGIN_QUERY_SYMBOL));
  if (query == nullptr) return "no query symbol";
  desc_ = query();
  if (desc_->magic != KILN_PLUGIN_MAGIC || desc_->init == nullptr) return "bad descriptor";
  cb_.size = sizeof(cb_);
  if (desc_->init(&g_api, &g_self, &cb_) != KILN_OK) return "init: " + LastError();
  struct Step {
    const char* name;
    std::function<kiln_status()> fn;
  };
  std::string filled = FillPluginSettings(*desc_, entries_);  // as kiln does, first
  if (!filled.empty()) return "options: " + filled;
  const Step steps[] = {
      {"on_config_done",
       [&] { return cb_.on_config_done ? cb_.on_config_done(cb_.ctx) : KILN_OK; }},
      {"mount", [&] { return OfferMounts(); }},
      {"on_master_start",
       [&] { return cb_.on_master_start ? cb_.on_master_start(cb_.ctx) : KILN_OK; }},
      {"on_app_load", [&] { return cb_.on_app_load ? cb_.on_app_load(cb_.ctx) : KILN_OK; }},
      {"on_postfork", [&] {
         worker_id_ = 1;
         return cb_.on_postfork ? cb_.on_postfork(cb_.ctx, 1) : KILN_OK;
       }}};
  for (const Step& s : steps) {
    if (s.fn() != KILN_OK) return std::string(s.name) + ": " + LastError();
  }
  return "";
}

// As the host does: each `mount = /prefix=target` value goes to on_mount_app, and kiln's
// Router keeps the handles (manage-script-name from the options).
kiln_status FakeHost::OfferMounts() {
  auto it = options_.find("mount");
  auto manage = options_.find("manage-script-name");
  bool manage_on = manage != options_.end() && !manage->second.empty() &&
                   manage->second.back() == "true";
  std::string error;
  kiln_status st = router_.Offer(cb_, it == options_.end() ? std::vector<std::string>{}
                                                          : it->second,
                                 manage_on, &error);
  if (!error.empty()) last_error_ = error;
  return st;
}

kiln_status FakeHost::Serve(FakeRequest& req) {
  void* app = router_.Route(&req.vars);
  kiln_request r{&req};
  return cb_.on_app_request(cb_.ctx, &r, app);
}

void FakeHost::WorkerExit() {
  if (cb_.on_worker_exit) cb_.on_worker_exit(cb_.ctx);
}

std::vector<std::string> FakeHost::Logs() const {
  std::lock_guard<std::mutex> lock(mu_);
  return logs_;
}

bool FakeHost::LogContains(const std::string& needle) const {
  for (const std::string& l : Logs()) {
    if (l.find(needle) != std::string::npos) return true;
  }
  return false;
}

std::string FakeHost::LastError() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_error_;
}

std::string PythonPluginPath() { return KILN_TEST_PYTHON_PLUGIN; }

}  // namespace kiln::testing

// The embedded interpreter is never finalized (as in the server), so what libpython allocated
// is still held at exit; LeakSanitizer must not count it against the plugin.
extern "C" __attribute__((visibility("default"), used)) const char* __lsan_default_suppressions() {
  return "leak:libpython3\n";
}

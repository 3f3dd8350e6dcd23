// The host of fake_host.h: kiln's own host function table (core/plugin/host_api.h) with the
// functions that touch a request, the log or a reload replaced by ones over FakeRequest and
// the FakeHost.
#include "tests/unit/plugins/fake_host.h"

#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "core/config/config.h"
#include "core/config/diagnostics.h"
#include "core/config/option_registry.h"
#include "core/plugin/host_api.h"
#include "core/plugin/option_table.h"

namespace kiln::testing {

struct FakeHost::Settings {
  config::OptionRegistry registry;
  config::Config config;
};

namespace {

FakeHost* g_current = nullptr;  // the one FakeHost (see fake_host.h)

std::string Text(kiln_str s) { return std::string(s.ptr != nullptr ? s.ptr : "", s.len); }
FakeRequest& Req(kiln_request* r) { return *reinterpret_cast<FakeRequest*>(r); }

// The plugin's settings struct filled from `entries` (as if read from test.ini, one per line)
// exactly as kiln does before on_config_done: core's registry plus the plugin's options, its
// extern rows checked, Resolve, the generic setter. "" on success, else kiln's error.
std::string Resolve(const kiln_plugin_desc& desc,
                    const std::vector<std::pair<std::string, std::string>>& entries,
                    FakeHost::Settings* out) {
  out->registry = config::OptionRegistry::WithCoreOptions();
  absl::Status st = plugin::CheckExternOptions(desc, out->registry);
  for (config::OptionSpec& spec : plugin::DeclaredOptions(desc)) {
    if (!st.ok()) break;
    st = out->registry.Add(std::move(spec));
  }
  if (!st.ok()) return std::string(st.message());
  config::RawConfig raw;
  int line = 0;
  for (const auto& [key, value] : entries) {
    raw.entries.push_back(config::Entry{key, value, "test.ini", ++line, false});
  }
  config::Diagnostics diag;
  absl::StatusOr<config::Config> cfg = config::Resolve(raw, out->registry, nullptr, diag);
  if (!cfg.ok()) return std::string(cfg.status().message());
  out->config = *std::move(cfg);
  plugin::FillOptionFields(desc, out->config);
  return "";
}

}  // namespace

// The replaced host functions: plain functions over g_current and the FakeRequest behind each
// kiln_request handle.
struct FakeHostAccess {
  static void LogWrite(kiln_plugin*, kiln_log_level level, kiln_str message) {
    std::string line = Text(message);
    std::fprintf(stderr, "[fake-host log %d] %s\n", static_cast<int>(level), line.c_str());
    std::lock_guard<std::mutex> lock(g_current->mu_);
    g_current->logs_.push_back(std::move(line));
  }

  static kiln_status Reload(kiln_plugin*) {
    ++g_current->reloads_;
    return KILN_OK;
  }

  static kiln_status VarGet(kiln_request* r, kiln_str name, kiln_str* out) {
    const auto& vars = Req(r).vars;
    std::string n = Text(name);
    for (auto it = vars.rbegin(); it != vars.rend(); ++it) {
      if (it->first == n) {
        *out = kiln_str{it->second.data(), it->second.size()};
        return KILN_OK;
      }
    }
    return KILN_DECLINED;
  }
  static size_t VarCount(kiln_request* r) { return Req(r).vars.size(); }
  static void VarEach(kiln_request* r, kiln_var_visitor fn, void* arg) {
    for (const auto& [k, v] : Req(r).vars) {
      if (fn(arg, kiln_str{k.data(), k.size()}, kiln_str{v.data(), v.size()}) != 0) return;
    }
  }
  static kiln_modifiers Modifiers(kiln_request* r) {
    int m = Req(r).modifier1;
    const kiln_plugin_desc* d = g_current->desc_;
    if (m < 0) m = d != nullptr && d->modifier1_count > 0 ? d->modifier1[0] : 0;
    return kiln_modifiers{static_cast<uint8_t>(m), 0};
  }

  // A wait for the client: `wait` run inside the plugin's wait hook, as kiln runs its poll.
  static void Wait(FakeRequest& q, const std::function<void()>& wait) {
    if (!wait) return;
    if (q.wait_hook == nullptr) {
      wait();
      return;
    }
    ++q.hooked_waits;
    q.wait_hook(q.wait_hook_ctx, 1);
    wait();
    q.wait_hook(q.wait_hook_ctx, 0);
  }
  static void WaitHook(kiln_request* r, void (*hook)(void*, int), void* ctx) {
    FakeRequest& q = Req(r);
    q.wait_hook = hook;
    q.wait_hook_ctx = ctx;
  }

  static kiln_status BodyRead(kiln_request* r, char* buf, size_t len, size_t* n) {
    FakeRequest& q = Req(r);
    Wait(q, q.before_read);
    *n = 0;
    if (q.body_fails) return KILN_ERROR;
    size_t take = std::min({len, q.body.size() - q.body_pos, q.max_read});
    std::memcpy(buf, q.body.data() + q.body_pos, take);
    q.body_pos += take;
    *n = take;
    if (take > 0) ++q.body_reads;
    return KILN_OK;
  }

  static kiln_status Start(kiln_request* r, int status, kiln_str reason, const kiln_header* h,
                           size_t count) {
    FakeRequest& q = Req(r);
    ++q.start_calls;
    if (q.started || status < 100 || status > 999 || (count > 0 && h == nullptr)) {
      return KILN_ERROR;
    }
    for (size_t i = 0; i < count; ++i) {
      if ((Text(h[i].name) + Text(h[i].value)).find_first_of("\r\n") != std::string::npos) {
        return KILN_ERROR;
      }
    }
    q.started = true;
    q.status = status;
    q.reason = Text(reason);
    for (size_t i = 0; i < count; ++i) q.headers.emplace_back(Text(h[i].name), Text(h[i].value));
    return KILN_OK;
  }
  static kiln_status Write(kiln_request* r, kiln_str data) {
    FakeRequest& q = Req(r);
    Wait(q, q.before_write);
    if (!q.started || q.writes_fail) return KILN_ERROR;
    q.writes.push_back(Text(data));
    return KILN_OK;
  }
  static kiln_status Sendfile(kiln_request* r, int fd, int64_t offset, int64_t length) {
    FakeRequest& q = Req(r);
    if (!q.started || q.writes_fail || fd < 0 || offset < 0 || length < 0) return KILN_ERROR;
    std::string data(static_cast<size_t>(length), '\0');
    if (::pread(fd, data.data(), data.size(), offset) != length) return KILN_ERROR;
    q.writes.push_back(std::move(data));
    q.used_sendfile = true;
    return KILN_OK;
  }
  static int Started(kiln_request* r) { return Req(r).started ? 1 : 0; }
};

std::string FakeRequest::Body() const {
  std::string out;
  for (const std::string& w : writes) out += w;
  return out;
}

std::string FakeRequest::Header(const std::string& name) const {
  std::vector<std::string> all = HeaderValues(name);
  return all.empty() ? "" : all.front();
}

std::vector<std::string> FakeRequest::HeaderValues(const std::string& name) const {
  std::vector<std::string> out;
  for (const auto& [k, v] : headers) {
    if (k == name) out.push_back(v);
  }
  return out;
}

FakeRequest MakeRequest(const std::string& method, const std::string& target,
                        const std::string& body) {
  FakeRequest r;
  size_t q = target.find('?');
  std::string path = target.substr(0, q);
  std::string query = q == std::string::npos ? "" : target.substr(q + 1);
  r.vars = {
      {"REQUEST_METHOD", method}, {"REQUEST_URI", target},         {"PATH_INFO", path},
      {"QUERY_STRING", query},    {"SERVER_PROTOCOL", "HTTP/1.1"}, {"SERVER_NAME", "localhost"},
      {"SERVER_PORT", "80"},      {"REMOTE_ADDR", "127.0.0.1"},    {"REMOTE_PORT", "40000"},
      {"REQUEST_SCHEME", "http"}, {"HTTP_HOST", "localhost"}};
  if (!body.empty() || method == "POST") {
    r.vars.emplace_back("CONTENT_LENGTH", std::to_string(body.size()));
    r.vars.emplace_back("CONTENT_TYPE", "application/octet-stream");
  }
  r.body = body;
  return r;
}

FakeHost::FakeHost() {
  if (g_current != nullptr) {
    std::fprintf(stderr, "FakeHost: one host at a time (the host functions are global)\n");
    std::abort();
  }
  g_current = this;
  using A = FakeHostAccess;
  api_ = *plugin::HostApi();
  api_.host_version = kiln_str_c("0.0.0-test");
  api_.log_write = A::LogWrite;
  api_.server_reload = A::Reload;
  api_.request_var_get = A::VarGet;
  api_.request_var_count = A::VarCount;
  api_.request_var_each = A::VarEach;
  api_.request_modifiers = A::Modifiers;
  api_.request_body_read = A::BodyRead;
  api_.response_start = A::Start;
  api_.response_write = A::Write;
  api_.response_sendfile = A::Sendfile;
  api_.response_started = A::Started;
  api_.request_wait_hook = A::WaitHook;
}

FakeHost::~FakeHost() {
  WorkerExit();
  plugin::SetHostConfig(nullptr, nullptr);
  plugin::SetHostWorkerId(0);
  plugin::SetHostCounts(1, 1);
  g_current = nullptr;
}

void FakeHost::UseSdk15Table() {
  api_.request_wait_hook = nullptr;
  api_.size = offsetof(kiln_host_api, request_wait_hook);
}

void FakeHost::SetOption(const std::string& name, const std::string& value) {
  entries_.emplace_back(name, value);
}

kiln_status FakeHost::Done(const char* step, kiln_status st, const std::string& fallback) {
  std::string message = plugin::TakePluginError(fallback);
  std::string prefix = step != nullptr ? std::string(step) + ": " : "";
  std::lock_guard<std::mutex> lock(mu_);
  error_ = message.empty() && st == KILN_OK ? "" : prefix + message;
  return st;
}

kiln_status FakeHost::Load(const std::string& plugin_path) {
  void* handle = ::dlopen(plugin_path.c_str(), RTLD_NOW | RTLD_GLOBAL | RTLD_NODELETE);
  if (handle == nullptr) return Done("dlopen", KILN_ERROR, ::dlerror());
  auto query =
      reinterpret_cast<const kiln_plugin_desc* (*)()>(::dlsym(handle, KILN_PLUGIN_QUERY_SYMBOL));
  if (query == nullptr) return Done("dlopen", KILN_ERROR, "no " KILN_PLUGIN_QUERY_SYMBOL);
  desc_ = query();
  if (desc_ == nullptr || desc_->magic != KILN_PLUGIN_MAGIC || desc_->init == nullptr) {
    return Done("dlopen", KILN_ERROR, "bad descriptor");
  }
  cb_ = kiln_callbacks{};
  cb_.size = sizeof(cb_);
  // The plugin handle is opaque to the plugin and unused by the host functions kept.
  return Done("init", desc_->init(&api_, reinterpret_cast<kiln_plugin*>(this), &cb_));
}

kiln_status FakeHost::ConfigDone() {
  plugin::SetHostConfig(nullptr, nullptr);
  settings_ = std::make_unique<Settings>();
  std::string error = Resolve(*desc_, entries_, settings_.get());
  if (!error.empty()) return Done("options", KILN_ERROR, error);
  plugin::SetHostConfig(&settings_->config, &settings_->registry);
  plugin::SetHostCounts(workers_, threads_);
  kiln_status st =
      Done("on_config_done", cb_.on_config_done != nullptr ? cb_.on_config_done(cb_.ctx) : KILN_OK);
  if (st != KILN_OK) return st;
  std::string why;
  st = router_.Offer(cb_, settings_->config.GetList("mount"),
                     settings_->config.GetFlag("manage-script-name"), &why);
  if (!why.empty()) plugin::TakePluginError("");  // the router's reason, not the plugin's
  return Done("mount", st, why);
}

kiln_status FakeHost::MasterStart() {
  return Done("on_master_start",
              cb_.on_master_start != nullptr ? cb_.on_master_start(cb_.ctx) : KILN_OK);
}

kiln_status FakeHost::AppLoad() {
  return Done("on_app_load", cb_.on_app_load != nullptr ? cb_.on_app_load(cb_.ctx) : KILN_OK);
}

kiln_status FakeHost::PostFork(int worker_id) {
  plugin::SetHostWorkerId(worker_id);
  return Done("on_postfork",
              cb_.on_postfork != nullptr ? cb_.on_postfork(cb_.ctx, worker_id) : KILN_OK);
}

std::string FakeHost::Start(const std::string& plugin_path) {
  bool ok = Load(plugin_path) == KILN_OK && ConfigDone() == KILN_OK && MasterStart() == KILN_OK &&
            AppLoad() == KILN_OK && PostFork(1) == KILN_OK;
  return ok ? "" : error();
}

kiln_status FakeHost::Serve(FakeRequest& request, int core) {
  if (cb_.on_app_request == nullptr) return Done(nullptr, KILN_ERROR, "the plugin is not loaded");
  plugin::SetHostCoreId(core);
  void* app = router_.Route(&request.vars);
  auto* r = reinterpret_cast<kiln_request*>(&request);
  kiln_status st = Done(nullptr, cb_.on_app_request(cb_.ctx, r, app));
  request.wait_hook = nullptr;  // as kiln: the hook ends with the call
  request.wait_hook_ctx = nullptr;
  if (cb_.on_after_request != nullptr) cb_.on_after_request(cb_.ctx, r);
  plugin::SetHostCoreId(0);
  return st;
}

void FakeHost::WorkerExit() {
  if (cb_.on_worker_exit != nullptr) cb_.on_worker_exit(cb_.ctx);
}

std::string FakeHost::error() const {
  std::lock_guard<std::mutex> lock(mu_);
  return error_;
}

std::vector<std::string> FakeHost::Logs() const {
  std::lock_guard<std::mutex> lock(mu_);
  return logs_;
}

bool FakeHost::LogContains(const std::string& needle) const {
  for (const std::string& line : Logs()) {
    if (line.find(needle) != std::string::npos) return true;
  }
  return false;
}

}  // namespace kiln::testing

// An embedded interpreter is never finalized (as in the server), so what libpython allocated
// is still held at exit; LeakSanitizer must not count it against the plugin.
extern "C" __attribute__((visibility("default"), used)) const char* __lsan_default_suppressions() {
  return "leak:libpython3\n";
}

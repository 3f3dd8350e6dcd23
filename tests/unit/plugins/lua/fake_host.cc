// The fake host's table: plain functions over the one current FakeHost and the FakeRequest
// behind each kiln_request handle.
#include "tests/unit/plugins/lua/fake_host.h"

#include <dlfcn.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "tests/lib/plugin_settings.h"

namespace kiln::testing {

struct FakeHostAccess {
  static FakeHost* current;

  static std::string Text(kiln_str s) { return std::string(s.ptr != nullptr ? s.ptr : "", s.len); }
  static FakeRequest& Req(kiln_request* r) { return *reinterpret_cast<FakeRequest*>(r); }

  // The option's declared kind and default: the plugin's table, plus the core's `mount`.
  static bool Declared(const std::string& name, kiln_option_kind* kind, std::string* def) {
    if (name == "mount") {
      *kind = KILN_OPT_LIST;
      def->clear();
      return true;
    }
    if (name == "manage-script-name") {
      *kind = KILN_OPT_FLAG;
      *def = "false";
      return true;
    }
    const kiln_plugin_desc* d = current->desc_;
    for (size_t i = 0; d != nullptr && i < d->option_count; ++i) {
      if (name == d->options[i].name) {
        *kind = static_cast<kiln_option_kind>(d->options[i].kind);
        *def = d->options[i].default_value != nullptr ? d->options[i].default_value : "";
        return true;
      }
    }
    return false;
  }

  // The values of an option with the default applied; false when unknown.
  static bool Values(kiln_str name, std::vector<std::string>* out, kiln_option_kind* kind) {
    std::string def;
    std::string n = Text(name);
    if (!Declared(n, kind, &def)) {
      return false;
    }
    auto it = current->options_.find(n);
    if (it != current->options_.end()) {
      *out = it->second;
    } else if (!def.empty()) {
      *out = {def};
    } else {
      out->clear();
    }
    return true;
  }

  static void LogWrite(kiln_plugin*, kiln_log_level level, kiln_str message) {
    current->log_.push_back(Text(message));
  }
  static void ErrorSet(kiln_plugin*, kiln_str message) { current->pending_error_ = Text(message); }

  static kiln_status OptionGet(kiln_plugin*, kiln_str name, kiln_str* out) {
    std::vector<std::string>* slot = nullptr;
    std::vector<std::string> values;
    kiln_option_kind kind;
    if (!Values(name, &values, &kind)) {
      return KILN_ERROR;
    }
    if (values.empty()) {
      return KILN_DECLINED;
    }
    // Keep the text alive: store the resolved values in the option map.
    slot = &current->options_[Text(name)];
    if (slot->empty()) {
      *slot = values;
    }
    const std::string& v = kind == KILN_OPT_LIST ? slot->front() : slot->back();
    *out = kiln_str{v.data(), v.size()};
    return KILN_OK;
  }
  static size_t OptionCount(kiln_plugin*, kiln_str name) {
    std::vector<std::string> values;
    kiln_option_kind kind;
    return Values(name, &values, &kind) ? values.size() : 0;
  }
  static kiln_status OptionGetAt(kiln_plugin*, kiln_str name, size_t index, kiln_str* out) {
    auto it = current->options_.find(Text(name));
    if (it == current->options_.end() || index >= it->second.size()) {
      return KILN_DECLINED;
    }
    *out = kiln_str{it->second[index].data(), it->second[index].size()};
    return KILN_OK;
  }
  static kiln_status OptionFlag(kiln_plugin* self, kiln_str name, int* out) {
    kiln_str v;
    kiln_status st = OptionGet(self, name, &v);
    if (st == KILN_OK) {
      std::string t = Text(v);
      *out = (t == "1" || t == "true" || t == "yes" || t == "on") ? 1 : 0;
    }
    return st;
  }
  static kiln_status OptionNumber(kiln_plugin* self, kiln_str name, int64_t* out) {
    kiln_str v;
    kiln_status st = OptionGet(self, name, &v);
    if (st != KILN_OK) {
      return st;
    }
    std::string t = Text(v);
    char* end = nullptr;
    long long n = std::strtoll(t.c_str(), &end, 10);
    if (t.empty() || *end != '\0') {
      return KILN_ERROR;
    }
    *out = n;
    return KILN_OK;
  }
  static size_t ConfigEntryCount(kiln_plugin*) { return 0; }
  static kiln_status ConfigEntryGet(kiln_plugin*, size_t, kiln_str*, kiln_str*) {
    return KILN_DECLINED;
  }

  static kiln_status VarGet(kiln_request* r, kiln_str name, kiln_str* out) {
    const FakeRequest& req = Req(r);
    std::string n = Text(name);
    for (auto it = req.vars.rbegin(); it != req.vars.rend(); ++it) {
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
      if (fn(arg, kiln_str{k.data(), k.size()}, kiln_str{v.data(), v.size()}) != 0) {
        return;
      }
    }
  }
  static kiln_modifiers Modifiers(kiln_request* r) { return kiln_modifiers{Req(r).modifier1, 0}; }
  static kiln_status BodyRead(kiln_request* r, char* buf, size_t len, size_t* n) {
    FakeRequest& req = Req(r);
    if (req.body_fails) {
      return KILN_ERROR;
    }
    size_t left = req.body.size() - req.body_pos;
    size_t take = std::min({len, left, req.max_read});
    std::memcpy(buf, req.body.data() + req.body_pos, take);
    req.body_pos += take;
    *n = take;
    if (take > 0) {
      ++req.body_reads;
    }
    return KILN_OK;
  }
  static kiln_status Start(kiln_request* r, int status, kiln_str reason, const kiln_header* h,
                           size_t count) {
    FakeRequest& req = Req(r);
    if (req.started || status < 100 || status > 999) {
      return KILN_ERROR;
    }
    for (size_t i = 0; i < count; ++i) {
      std::string name = Text(h[i].name);
      std::string value = Text(h[i].value);
      if (name.find_first_of("\r\n") != std::string::npos ||
          value.find_first_of("\r\n") != std::string::npos) {
        return KILN_ERROR;
      }
      req.headers.emplace_back(name, value);
    }
    req.started = true;
    req.status = status;
    req.reason = Text(reason);
    return KILN_OK;
  }
  static kiln_status Write(kiln_request* r, kiln_str data) {
    FakeRequest& req = Req(r);
    if (!req.started || req.writes_fail) {
      return KILN_ERROR;
    }
    req.writes.push_back(Text(data));
    req.out += Text(data);
    return KILN_OK;
  }
  static kiln_status Sendfile(kiln_request*, int, int64_t, int64_t) { return KILN_ERROR; }
  static int Started(kiln_request* r) { return Req(r).started ? 1 : 0; }
  static int WorkerId() { return current->worker_id_; }
  static int CoreId() { return current->core_id_; }
  static int WorkerCount() { return 1; }
  static int ThreadCount() { return current->threads_; }
  static kiln_status Reload(kiln_plugin*) { return KILN_ERROR; }
  static kiln_status Scoreboard(int, kiln_worker_stats*) { return KILN_DECLINED; }
  static int64_t Monotonic() { return 0; }
  static int64_t Realtime() { return 0; }
};

FakeHost* FakeHostAccess::current = nullptr;

std::vector<std::string> FakeRequest::Header(const std::string& name) const {
  std::vector<std::string> out;
  for (const auto& [k, v] : headers) {
    if (k == name) {
      out.push_back(v);
    }
  }
  return out;
}

FakeRequest MakeRequest(const std::string& method, const std::string& target,
                        const std::string& body) {
  FakeRequest r;
  std::string path = target;
  std::string query;
  size_t q = target.find('?');
  if (q != std::string::npos) {
    path = target.substr(0, q);
    query = target.substr(q + 1);
  }
  r.vars = {
      {"REQUEST_METHOD", method}, {"REQUEST_URI", target},         {"PATH_INFO", path},
      {"QUERY_STRING", query},    {"SERVER_PROTOCOL", "HTTP/1.1"}, {"SERVER_NAME", "localhost"},
      {"SERVER_PORT", "80"},      {"REMOTE_ADDR", "127.0.0.1"},    {"HTTP_HOST", "localhost"}};
  if (!body.empty()) {
    r.vars.emplace_back("CONTENT_LENGTH", std::to_string(body.size()));
  }
  r.body = body;
  return r;
}

FakeHost::FakeHost() {
  using A = FakeHostAccess;
  A::current = this;
  api_.size = sizeof(api_);
  api_.abi_major = KILN_ABI_MAJOR;
  api_.abi_minor = KILN_ABI_MINOR;
  api_.host_version = kiln_str_c("0.0.0-test");
  api_.log_write = A::LogWrite;
  api_.error_set = A::ErrorSet;
  api_.option_get = A::OptionGet;
  api_.option_count = A::OptionCount;
  api_.option_get_at = A::OptionGetAt;
  api_.option_flag = A::OptionFlag;
  api_.option_number = A::OptionNumber;
  api_.config_entry_count = A::ConfigEntryCount;
  api_.config_entry_get = A::ConfigEntryGet;
  api_.request_var_get = A::VarGet;
  api_.request_var_count = A::VarCount;
  api_.request_var_each = A::VarEach;
  api_.request_modifiers = A::Modifiers;
  api_.request_body_read = A::BodyRead;
  api_.response_start = A::Start;
  api_.response_write = A::Write;
  api_.response_sendfile = A::Sendfile;
  api_.response_started = A::Started;
  api_.worker_id = A::WorkerId;
  api_.core_id = A::CoreId;
  api_.worker_count = A::WorkerCount;
  api_.thread_count = A::ThreadCount;
  api_.server_reload = A::Reload;
  api_.scoreboard_worker = A::Scoreboard;
  api_.time_monotonic_us = A::Monotonic;
  api_.time_realtime_us = A::Realtime;
}

FakeHost::~FakeHost() {
  WorkerExit();
  // The plugin stays loaded (as the server never unloads a runtime); its next init starts over.
  FakeHostAccess::current = nullptr;
}

void FakeHost::SetOption(const std::string& name, const std::string& value) {
  options_[name].push_back(value);
}

bool FakeHost::Load(const std::string& path) {
  handle_ = dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL);
  if (handle_ == nullptr) {
    error_ = dlerror();
    return false;
  }
  auto query =
      reinterpret_cast<const kiln_plugin_desc* (*)()>(dlsym(handle_, KILN_PLUGIN_QUERY_SYMBOL));
  if (query == nullptr) {
    error_ = "no " KILN_PLUGIN_QUERY_SYMBOL;
    return false;
  }
  desc_ = query();
  cb_ = kiln_callbacks{};
  cb_.size = sizeof(cb_);
  kiln_plugin* self = reinterpret_cast<kiln_plugin*>(this);
  return Done(desc_->init(&api_, self, &cb_)) == KILN_OK;
}

kiln_status FakeHost::Done(kiln_status st) {
  error_ = pending_error_;
  pending_error_.clear();
  return st;
}

kiln_status FakeHost::ConfigDone() {
  std::vector<std::pair<std::string, std::string>> entries;
  for (const auto& [name, values] : options_) {
    for (const std::string& value : values) entries.emplace_back(name, value);
  }
  std::string error = FillPluginSettings(*desc_, entries);  // as kiln does, first
  if (!error.empty()) {
    error_ = error;
    return KILN_ERROR;
  }
  kiln_status st = Done(cb_.on_config_done != nullptr ? cb_.on_config_done(cb_.ctx) : KILN_OK);
  if (st != KILN_OK) {
    return st;
  }
  // Then the mounts, as kiln's plugin set does once the configuration is checked.
  auto mounts = options_.find("mount");
  auto manage = options_.find("manage-script-name");
  std::string why;
  st = Done(router_.Offer(cb_, mounts == options_.end() ? std::vector<std::string>{}
                                                        : mounts->second,
                          manage != options_.end() && manage->second.back() == "true", &why));
  if (!why.empty()) {
    error_ = why;
  }
  return st;
}

kiln_status FakeHost::AppLoad() {
  return Done(cb_.on_app_load != nullptr ? cb_.on_app_load(cb_.ctx) : KILN_OK);
}

kiln_status FakeHost::PostFork(int worker_id) {
  worker_id_ = worker_id;
  return Done(cb_.on_postfork != nullptr ? cb_.on_postfork(cb_.ctx, worker_id) : KILN_OK);
}

kiln_status FakeHost::Request(FakeRequest& request, int core) {
  if (cb_.on_app_request == nullptr) {
    error_ = "the plugin is not loaded";
    return KILN_ERROR;
  }
  core_id_ = core;
  void* app = router_.Route(&request.vars);
  auto* r = reinterpret_cast<kiln_request*>(&request);
  kiln_status st = Done(cb_.on_app_request(cb_.ctx, r, app));
  if (cb_.on_after_request != nullptr) {
    cb_.on_after_request(cb_.ctx, r);
  }
  core_id_ = 0;
  return st;
}

void FakeHost::WorkerExit() {
  if (cb_.on_worker_exit != nullptr) {
    cb_.on_worker_exit(cb_.ctx);
  }
}

bool FakeHost::Start() {
  return Load(LuaPluginPath()) && ConfigDone() == KILN_OK && AppLoad() == KILN_OK &&
         PostFork(1) == KILN_OK;
}

std::string FakeHost::LogText() const {
  std::string out;
  for (const std::string& line : log_) {
    out += line;
    out += '\n';
  }
  return out;
}

std::string LuaPluginPath() {
#ifdef KILN_LUA_PLUGIN_PATH
  return KILN_LUA_PLUGIN_PATH;
#else
  const char* dir = std::getenv("KILN_PLUGIN_BUILD_DIR");
  return std::string(dir != nullptr ? dir : ".") + "/lua_plugin.so";
#endif
}

}  // namespace kiln::testing

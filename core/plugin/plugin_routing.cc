// The plugin set's request path: at start-up each `mount` entry is offered to the handler
// plugins until one claims it (its app handle goes into the Router); per request the Router
// picks plugin, app and SCRIPT_NAME/PATH_INFO once, and the plugin is called with them. No
// plugin routes on its own.
#include <atomic>

#include "absl/strings/str_format.h"
#include "core/base/status_macros.h"
#include "core/log/escape.h"
#include "core/log/logger.h"
#include "core/plugin/host_api.h"
#include "core/plugin/plugin_set.h"

namespace kiln::plugin {
namespace {

void RespondError(RequestContext& request, int status, std::string_view reason) {
  if (request.ResponseStarted()) {
    return;
  }
  std::vector<Header> headers = {{"Content-Type", "text/plain"}};
  if (request.StartResponse(status, reason, headers).ok()) {
    (void)request.WriteBody(absl::StrFormat("%d %s\n", status, reason));
  }
}

// The request as the plugin sees it once manage-script-name split it: SCRIPT_NAME is the
// mount point and PATH_INFO the rest; everything else is the serving loop's request.
class SplitRequest : public RequestContext {
 public:
  SplitRequest(RequestContext& inner, std::string_view script_name, std::string_view path_info)
      : inner_(inner), script_name_(script_name), path_info_(path_info) {}

  std::optional<std::string_view> Var(std::string_view name) const override {
    if (name == "SCRIPT_NAME") return script_name_;
    if (name == "PATH_INFO") return path_info_;
    return inner_.Var(name);
  }
  void ForEachVar(
      absl::FunctionRef<void(std::string_view, std::string_view)> fn) const override {
    bool script_seen = false;
    bool path_seen = false;
    inner_.ForEachVar([&](std::string_view name, std::string_view value) {
      if (name == "SCRIPT_NAME") {
        script_seen = true;
        fn(name, script_name_);
      } else if (name == "PATH_INFO") {
        path_seen = true;
        fn(name, path_info_);
      } else {
        fn(name, value);
      }
    });
    if (!script_seen) fn("SCRIPT_NAME", script_name_);
    if (!path_seen) fn("PATH_INFO", path_info_);
  }
  size_t VarCount() const override {
    return inner_.VarCount() + (inner_.Var("SCRIPT_NAME").has_value() ? 0 : 1) +
           (inner_.Var("PATH_INFO").has_value() ? 0 : 1);
  }
  uint8_t Modifier1() const override { return inner_.Modifier1(); }
  uint8_t Modifier2() const override { return inner_.Modifier2(); }
  absl::StatusOr<size_t> ReadBody(char* buf, size_t len) override {
    return inner_.ReadBody(buf, len);
  }
  absl::Status StartResponse(int status, std::string_view reason,
                             const std::vector<Header>& headers) override {
    return inner_.StartResponse(status, reason, headers);
  }
  absl::Status WriteBody(std::string_view data) override { return inner_.WriteBody(data); }
  void SetWaitHook(void (*fn)(void* ctx, int waiting), void* ctx) override {
    inner_.SetWaitHook(fn, ctx);
  }
  absl::Status SendFile(int fd, int64_t offset, int64_t length) override {
    return inner_.SendFile(fd, offset, length);
  }
  bool ResponseStarted() const override { return inner_.ResponseStarted(); }
  int WorkerId() const override { return inner_.WorkerId(); }
  int CoreId() const override { return inner_.CoreId(); }
  protocol::AsyncRequest* Detach(protocol::AsyncEvents* events) override {
    return inner_.Detach(events);
  }
  protocol::WsDetach DetachWebSocket(protocol::AsyncEvents* events,
                                     protocol::AsyncRequest** out) override {
    return inner_.DetachWebSocket(events, out);
  }

 private:
  RequestContext& inner_;
  std::string_view script_name_;
  std::string_view path_info_;
};

bool HasMountApp(const LoadedPlugin& p) {
  return KILN_HAS(&p.callbacks, on_mount_app) && p.callbacks.on_mount_app != nullptr;
}
bool HasAppRequest(const LoadedPlugin& p) {
  return KILN_HAS(&p.callbacks, on_app_request) && p.callbacks.on_app_request != nullptr;
}
bool IsHandler(const LoadedPlugin& p) {
  return p.callbacks.on_request != nullptr || HasAppRequest(p);
}

// The request variables with which uWSGI loads an app per request (core/protocol.c): kiln
// never does (docs/decisions.md), it says so once per process.
constexpr std::string_view kDynamicAppVars[] = {"UWSGI_SCRIPT", "UWSGI_MODULE", "UWSGI_FILE"};
std::atomic<bool> dynamic_app_noted{false};

}  // namespace

std::string_view PluginSet::RequestHost(const RequestContext& request) const {
  std::optional<std::string_view> first =
      request.Var(vhost_host_ ? "HTTP_HOST" : "SERVER_NAME");
  if (first.has_value() && !first->empty()) return *first;
  return request.Var(vhost_host_ ? "SERVER_NAME" : "HTTP_HOST").value_or("");
}

void PluginSet::NoteDynamicAppRequest(const RequestContext& request) {
  if (dynamic_app_noted.load(std::memory_order_relaxed)) return;
  for (std::string_view name : kDynamicAppVars) {
    std::optional<std::string_view> value = request.Var(name);
    if (!value.has_value()) continue;
    if (dynamic_app_noted.exchange(true)) return;
    log::Warn("request variable %s=%s asks for an app to be loaded: kiln does not load apps "
              "from request variables; mount them with `mount` (logged once)",
              name, log::LogSafe(*value));
    return;
  }
}

absl::Status PluginSet::ClaimMounts(const config::Config& cfg) {
  router_.Clear();
  if (registry_ == nullptr || registry_->Find("mount") == nullptr) {
    return absl::OkStatus();
  }
  if (registry_->Find("manage-script-name") != nullptr) {
    router_.set_manage_script_name(cfg.GetFlag("manage-script-name"));
  }
  if (registry_->Find("no-default-app") != nullptr) {
    router_.set_no_default_app(cfg.GetFlag("no-default-app"));
  }
  if (registry_->Find("vhost") != nullptr) {
    vhost_host_ = cfg.GetFlag("vhost-host");  // as uWSGI: vhost-host turns vhost on too
    router_.set_vhost(cfg.GetFlag("vhost") || vhost_host_);
    if (router_.vhost()) {
      log::Info("VirtualHosting mode enabled (apps chosen by %s).",
                vhost_host_ ? "the Host header" : "SERVER_NAME");
    }
  }
  bool any_handler = false;
  for (const auto& p : plugins_) any_handler = any_handler || IsHandler(*p);
  for (const std::string& entry : cfg.GetList("mount")) {
    absl::StatusOr<MountEntry> mount = ParseMountEntry(entry, router_.vhost());
    if (!mount.ok()) return mount.status();
    if (!any_handler) continue;  // no language plugin at all: nothing to route
    std::string name = MountPointName(*mount);  // `host|/prefix` under vhost, as uWSGI
    kiln_str point{name.data(), name.size()};
    kiln_str target{mount->target.data(), mount->target.size()};
    LoadedPlugin* claimed = nullptr;
    void* app = nullptr;
    for (auto& p : plugins_) {
      if (!IsHandler(*p)) continue;
      kiln_status st = KILN_DECLINED;
      if (HasMountApp(*p)) {
        st = p->callbacks.on_mount_app(p->callbacks.ctx, point, target, &app);
      } else if (KILN_HAS(&p->callbacks, on_mount) && p->callbacks.on_mount != nullptr) {
        st = p->callbacks.on_mount(p->callbacks.ctx, point, target);  // a 1.0 plugin
        app = nullptr;
      }
      if (st == KILN_OK) {
        claimed = p.get();
        break;
      }
      if (st != KILN_DECLINED) return Fail(*p, absl::StrCat("mount `", entry, "`").c_str(), st);
    }
    if (claimed == nullptr) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "mount `%s`: no loaded plugin serves `%s` (load its plugin with `plugins =`)", entry,
          mount->target));
    }
    KILN_RETURN_IF_ERROR(router_.Add(*mount, claimed, app));
  }
  return absl::OkStatus();
}

bool PluginSet::HasHandlers() const {
  for (const auto& p : plugins_) {
    if (!p->modifier1.empty()) {
      return true;
    }
  }
  return false;
}

bool PluginSet::DriveThread(protocol::ServeStepper& stepper) {
  static_assert(protocol::ServeStepper::kStopGraceful == KILN_SERVE_STOP &&
                protocol::ServeStepper::kStopNow == KILN_SERVE_STOP_NOW);
  for (const auto& p : plugins_) {
    if (!KILN_HAS(&p->callbacks, on_serve_thread) || p->callbacks.on_serve_thread == nullptr) {
      continue;
    }
    if (p->callbacks.on_serve_thread(p->callbacks.ctx,
                                     reinterpret_cast<kiln_serve_thread*>(&stepper)) ==
        KILN_OK) {
      return true;
    }
  }
  return false;
}

void PluginSet::ServeThreadsDone() {
  for (const auto& p : plugins_) {
    if (KILN_HAS(&p->callbacks, on_serve_threads_done) &&
        p->callbacks.on_serve_threads_done != nullptr) {
      p->callbacks.on_serve_threads_done(p->callbacks.ctx);
    }
  }
}

void PluginSet::Handle(RequestContext& request) {
  uint8_t m1 = request.Modifier1();
  Route route;
  route.plugin = by_modifier1_[m1];
  // Without mounts and without no-default-app, modifier1 alone decides: no variable lookups.
  if (router_.size() > 0 || router_.no_default_app()) {
    const RequestContext::Paths paths = request.PathVars();
    route = router_.Resolve(paths.script_name, paths.path_info, by_modifier1_[m1],
                            router_.vhost() ? RequestHost(request) : "");
  }
  if (route.unmatched) NoteDynamicAppRequest(request);
  LoadedPlugin* p = route.plugin;
  if (route.refused) {
    // uWSGI's line (plugins/python/wsgi_handlers.c), then why: the id nothing matched.
    std::string_view script = request.Var("SCRIPT_NAME").value_or("");
    std::string id = router_.vhost() ? absl::StrFormat("%s|%s", RequestHost(request), script)
                                     : std::string(script);
    log::Error("--- no %s application found, check your startup logs for errors --- "
               "(no-default-app: no mount point is `%s`)",
               by_modifier1_[m1]->name, log::LogSafe(id));
    RespondError(request, 500, "Internal Server Error");
    return;
  }
  if (p == nullptr) {
    log::Error("-- unavailable modifier requested: %d -- (no loaded plugin serves modifier1 %d)",
               m1, m1);
    RespondError(request, 500, "Internal Server Error");
    return;
  }
  SetHostCoreId(request.CoreId());
  SplitRequest split(request, route.script_name, route.path_info);
  RequestContext& seen = route.split ? static_cast<RequestContext&>(split) : request;
  kiln_request handle{&seen, p};
  SetHostRequest(&request);
  kiln_status st = HasAppRequest(*p)
                       ? p->callbacks.on_app_request(p->callbacks.ctx, &handle, route.app)
                       : p->callbacks.on_request(p->callbacks.ctx, &handle);
  request.SetWaitHook(nullptr, nullptr);  // the plugin's hook ends with its call
  switch (st) {
    case KILN_OK:
      break;
    case KILN_DECLINED: {
      std::optional<std::string_view> uri = request.Var("REQUEST_URI");
      log::Warn("plugin %s has no application for %s", p->name,
                uri.has_value() ? log::LogSafe(*uri) : "this request");
      RespondError(request, 404, "Not Found");
      break;
    }
    default:
      // The plugin's reason may quote the request: one line, escaped (escape.h).
      log::Error("plugin %s: request failed: %s", p->name,
                 log::LogSafeText(TakePluginError(
                     absl::StrFormat("status %d, no reason given", static_cast<int>(st)))));
      request.NoteAppError();
      RespondError(request, 500, "Internal Server Error");
      break;
  }
  if (p->callbacks.on_after_request != nullptr) {
    p->callbacks.on_after_request(p->callbacks.ctx, &handle);
  }
  SetHostRequest(nullptr);
}

}  // namespace kiln::plugin

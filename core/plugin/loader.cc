// dlopen and descriptor lookup, with one message per way a file can fail to be a kiln plugin.
#include "core/plugin/loader.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_format.h"
#include "core/base/errno_status.h"
#include "core/base/unique_fd.h"

namespace kiln::plugin {
namespace {

constexpr size_t kMaxScan = 64u << 20;

std::string DlError() {
  const char* e = ::dlerror();
  return e == nullptr ? "unknown dlopen error" : e;
}

std::string Stem(std::string_view path) {
  size_t slash = path.rfind('/');
  std::string_view file = slash == std::string_view::npos ? path : path.substr(slash + 1);
  if (file.size() > 3 && file.substr(file.size() - 3) == ".so") {
    file.remove_suffix(3);
  }
  return std::string(file);
}

// Reads at most kMaxScan bytes of `path`; "" on any error.
std::string ReadPrefix(const std::string& path) {
  base::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    return "";
  }
  std::string out;
  char buf[1 << 16];
  while (out.size() < kMaxScan) {
    ssize_t n = ::read(fd.Get(), buf, sizeof(buf));
    if (n <= 0) {
      break;
    }
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

// The uWSGI-plugin message, or nullopt when the file does not look like one.
std::optional<std::string> UwsgiMessage(const std::string& path) {
  std::string stem = Stem(path);
  if (stem.size() <= 7 || stem.substr(stem.size() - 7) != "_plugin") {
    return std::nullopt;
  }
  if (!LooksLikeUwsgiPlugin(ReadPrefix(path), stem)) {
    return std::nullopt;
  }
  std::string name = KilnNameForUwsgiStem(stem);
  return absl::StrFormat(
      "%s is a uWSGI plugin (it exports %s), not a kiln plugin; kiln's own %s plugin is "
      "loaded with `plugins = %s` from kiln's plugin directories",
      path, stem, name, name);
}

}  // namespace

bool LooksLikeUwsgiPlugin(std::string_view bytes, std::string_view stem) {
  std::string needle;
  needle.push_back('\0');
  needle.append(stem);
  needle.push_back('\0');
  return bytes.find(needle) != std::string_view::npos &&
         bytes.find("uwsgi") != std::string_view::npos &&
         bytes.find(KILN_PLUGIN_QUERY_SYMBOL) == std::string_view::npos;
}

std::string KilnNameForUwsgiStem(std::string_view stem) {
  if (stem.size() > 7 && stem.substr(stem.size() - 7) == "_plugin") {
    stem.remove_suffix(7);
  }
  while (!stem.empty() && stem.back() >= '0' && stem.back() <= '9') {
    stem.remove_suffix(1);
  }
  return std::string(stem);
}

absl::StatusOr<OpenedLibrary> OpenLibrary(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    return absl::NotFoundError(absl::StrFormat("%s: %s", path, base::ErrnoText(errno)));
  }
  OpenedLibrary lib;
  lib.path = path;
  char real[PATH_MAX];
  lib.realpath = ::realpath(path.c_str(), real) != nullptr ? std::string(real) : path;
  ::dlerror();
  lib.handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
  if (lib.handle == nullptr) {
    std::string err = DlError();
    if (auto uwsgi = UwsgiMessage(path)) {
      return absl::FailedPreconditionError(*uwsgi);
    }
    return absl::FailedPreconditionError(absl::StrFormat("%s: cannot load: %s", path, err));
  }
  ::dlerror();
  void* sym = ::dlsym(lib.handle, KILN_PLUGIN_QUERY_SYMBOL);
  if (sym == nullptr) {
    std::string err = DlError();
    if (auto uwsgi = UwsgiMessage(path)) {
      return absl::FailedPreconditionError(*uwsgi);
    }
    return absl::FailedPreconditionError(absl::StrFormat(
        "%s is not a kiln plugin (no symbol %s): %s", path, KILN_PLUGIN_QUERY_SYMBOL, err));
  }
  using QueryFn = const kiln_plugin_desc* (*)();
  lib.desc = reinterpret_cast<QueryFn>(sym)();
  return lib;
}

absl::Status PromoteToGlobal(const OpenedLibrary& lib) {
  ::dlerror();
  void* h = ::dlopen(lib.path.c_str(), RTLD_NOW | RTLD_NOLOAD | RTLD_GLOBAL | RTLD_NODELETE);
  if (h == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrFormat("%s: cannot make its symbols global: %s", lib.path, DlError()));
  }
  return absl::OkStatus();
}

}  // namespace kiln::plugin

// A kiln serving an ASGI app for the python end-to-end tests that use the apps in
// tests/python/apps (the raw app, frameworks, faults and limits): the real binary and plugin, a
// master and its workers on a free loopback port, the apps' directory and a temporary one (for
// files a test writes before Start()) on the Python path, and $ASGI_LOG (a file in the
// temporary directory) for what the apps note.
#pragma once

#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/lib/kiln_process.h"
#include "tests/python/py_client.h"

namespace kiln::testing {

class AsgiAppServer {
 public:
  // `args` follow the socket, plugin and path options (e.g. {"--asgi", "mod:app"}).
  explicit AsgiAppServer(std::vector<std::string> args, bool start = true,
                         std::string processes = "2") {
    notes_ = dir_.File("notes.log");
    port_ = FreeLoopbackPort();
    address_ = absl::StrCat("127.0.0.1:", port_);
    std::vector<std::string> all = {"--http-socket", address_, "--plugin-dir", PluginDir(),
                                    "--plugins", "python", "--pythonpath",
                                    SourceDir() + "/tests/python/apps", "--pythonpath",
                                    dir_.path(), "--master", "--processes", processes};
    all.insert(all.end(), args.begin(), args.end());
    kiln_ = std::make_unique<KilnProcess>(all, dir_.File("kiln.log"));
    kiln_->SetEnv("ASGI_LOG", notes_);
    kiln_->SetEnv("PYTHONDONTWRITEBYTECODE", "1");
    kiln_->SetEnv("LSAN_OPTIONS", LsanOptionsForPython());
    if (start) Start();
  }
  void Start() {
    ASSERT_TRUE(kiln_->Start());
    ASSERT_TRUE(kiln_->WaitForLog("kiln is ready", absl::Seconds(30))) << kiln_->Log();
  }
  KilnProcess& kiln() { return *kiln_; }
  const TempDir& dir() const { return dir_; }
  const std::string& address() const { return address_; }
  const std::string& notes_path() const { return notes_; }
  // What the apps noted so far.
  std::string Notes() const { return TempDir::ReadFile(notes_); }

 private:
  TempDir dir_;
  std::string notes_;
  int port_ = 0;
  std::string address_;
  std::unique_ptr<KilnProcess> kiln_;
};

// A streamed answer as it arrived: the raw bytes (head and framing), how long after sending
// the request `needle` first showed, and how long until the server closed.
struct Arrival {
  std::string raw;
  absl::Duration first = absl::InfiniteDuration();
  absl::Duration total = absl::InfiniteDuration();
};

// Sends `request` (raw bytes; it should say Connection: close) and reads until the server
// closes or 10 s pass.
inline Arrival Timed(std::string_view address, std::string_view request,
                     std::string_view needle) {
  Arrival a;
  absl::StatusOr<int> fd = Connect(address);
  if (!fd.ok()) return a;
  timeval tv{10, 0};
  ::setsockopt(*fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  const absl::Time t0 = absl::Now();
  if (::send(*fd, request.data(), request.size(), MSG_NOSIGNAL) ==
      static_cast<ssize_t>(request.size())) {
    char buf[4096];
    for (ssize_t n; (n = ::recv(*fd, buf, sizeof(buf), 0)) > 0;) {
      a.raw.append(buf, static_cast<size_t>(n));
      if (a.first == absl::InfiniteDuration() && a.raw.find(needle) != std::string::npos) {
        a.first = absl::Now() - t0;
      }
    }
    a.total = absl::Now() - t0;
  }
  ::close(*fd);
  return a;
}

}  // namespace kiln::testing

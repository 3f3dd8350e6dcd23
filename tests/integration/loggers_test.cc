// The loggers operators reach for, with the real kiln binary: `syslog:` (plugin syslog) and
// `systemd:` (plugin journald) send to a unix datagram receiver the test binds in a temporary
// directory (syslog-socket / journal-socket point them at it; the system's syslog and journal
// are never touched), and log-slow keeps slow requests with disable-logging.
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/lib/kiln_process.h"

namespace kiln::testing {
namespace {

constexpr absl::Duration kStartup = absl::Seconds(15);

// A unix datagram socket bound at `path`, collecting what arrives.
class DatagramReceiver {
 public:
  explicit DatagramReceiver(const std::string& path) {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
    bound_ = fd_ >= 0 && bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  }
  ~DatagramReceiver() {
    if (fd_ >= 0) close(fd_);
  }
  bool bound() const { return bound_; }

  // Reads datagrams until one satisfies `done` or `timeout` passes; true when one did.
  bool ReadUntil(const std::function<bool(const std::string&)>& done, absl::Duration timeout) {
    absl::Time deadline = absl::Now() + timeout;
    for (const std::string& d : got_) {
      if (done(d)) return true;
    }
    while (absl::Now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 100) <= 0) continue;
      char buf[65536];
      ssize_t n = recv(fd_, buf, sizeof(buf), 0);
      if (n < 0) continue;
      got_.emplace_back(buf, static_cast<size_t>(n));
      if (done(got_.back())) return true;
    }
    return false;
  }
  const std::vector<std::string>& got() const { return got_; }
  std::string All() const {
    std::string out;
    for (const std::string& d : got_) absl::StrAppend(&out, d, "\n----\n");
    return out;
  }

 private:
  int fd_ = -1;
  bool bound_ = false;
  std::vector<std::string> got_;
};

// Fields of a journal native-protocol datagram (KEY=value lines and the length-prefixed form).
std::map<std::string, std::string> JournalFields(const std::string& d) {
  std::map<std::string, std::string> out;
  size_t i = 0;
  while (i < d.size()) {
    size_t nl = d.find('\n', i);
    if (nl == std::string::npos) break;
    std::string line = d.substr(i, nl - i);
    size_t eq = line.find('=');
    if (eq != std::string::npos) {
      out[line.substr(0, eq)] = line.substr(eq + 1);
      i = nl + 1;
      continue;
    }
    if (nl + 9 > d.size()) break;
    uint64_t len = 0;
    for (int b = 7; b >= 0; --b) len = (len << 8) | static_cast<unsigned char>(d[nl + 1 + b]);
    out[line] = d.substr(nl + 9, len);
    i = nl + 9 + len + 1;
  }
  return out;
}

TEST(KilnLoggers, SyslogSendsEachLineWithIdentFacilityAndSeverity) {
  TempDir dir;
  std::string sock = dir.File("s.sock");
  DatagramReceiver syslog(dir.File("log.sock"));
  ASSERT_TRUE(syslog.bound());
  std::string ini = dir.Write(
      "app.ini", absl::StrCat("[uwsgi]\nmaster = true\nprocesses = 2\nbuiltin-handler = true\n",
                              "plugins = syslog\nsyslog-socket = ", dir.File("log.sock"), "\n",
                              "http-socket = ", sock, "\nlogger = syslog:myapp,local3\n",
                              "req-logger = syslog:myapp-req\n"));
  KilnProcess kiln({ini}, dir.File("kiln.out"));
  ASSERT_TRUE(kiln.Start());
  ASSERT_TRUE(WaitUntilHttpAnswers(sock, kStartup)) << kiln.Log();
  ASSERT_TRUE(HttpGet(sock, "/to-syslog").ok());
  // local3 (19) * 8 + info (6) = 158, as glibc's syslog(3) would write it.
  EXPECT_TRUE(syslog.ReadUntil(
      [](const std::string& d) {
        return d.starts_with("<158>") && Has(d, " myapp[") && Has(d, "]: spawned kiln worker");
      },
      absl::Seconds(10)))
      << syslog.All();
  // Request lines: their own ident, the default facility daemon (3): <30>.
  EXPECT_TRUE(syslog.ReadUntil(
      [](const std::string& d) {
        return d.starts_with("<30>") && Has(d, " myapp-req[") && Has(d, "GET /to-syslog =>");
      },
      absl::Seconds(10)))
      << syslog.All();
  kiln.Signal(SIGTERM);
  ASSERT_TRUE(kiln.WaitExit(absl::Seconds(10)).has_value());
  // A warning (running as root without `uid`) has severity warning: 19 * 8 + 4.
  EXPECT_TRUE(syslog.ReadUntil([](const std::string& d) { return d.starts_with("<156>"); },
                               absl::Seconds(1)))
      << syslog.All();
  for (const std::string& d : syslog.got()) {
    EXPECT_FALSE(d.ends_with("\n")) << "one line per datagram, without its newline: " << d;
  }
}

TEST(KilnLoggers, ABadFacilityOrNoSyslogReceiverIsAClearStartupError) {
  const std::pair<const char*, const char*> cases[] = {
      {"syslog:myapp,nosuchfacility", "unknown facility `nosuchfacility`"},
      {"syslog:myapp", "cannot connect to the syslog socket"},
  };
  for (const auto& [spec, error] : cases) {
    SCOPED_TRACE(spec);
    TempDir dir;
    std::string ini = dir.Write(
        "app.ini",
        absl::StrCat("[uwsgi]\nmaster = true\nbuiltin-handler = true\nplugins = syslog\n",
                     "syslog-socket = ", dir.File("nobody.sock"), "\n", "http-socket = ",
                     dir.File("s.sock"), "\nlogger = ", spec, "\n"));
    KilnProcess kiln({ini}, dir.File("kiln.out"));
    ASSERT_TRUE(kiln.Start());
    std::optional<int> code = kiln.WaitExit(absl::Seconds(15));
    ASSERT_TRUE(code.has_value());
    EXPECT_NE(*code, 0);
    EXPECT_TRUE(Has(kiln.Log(), error)) << kiln.Log();
    EXPECT_TRUE(Has(kiln.Log(), "option `logger`")) << kiln.Log();
  }
}

TEST(KilnLoggers, SystemdLoggerSendsJournalEntriesInTheNativeProtocol) {
  TempDir dir;
  std::string sock = dir.File("s.sock");
  DatagramReceiver journal(dir.File("journal.sock"));
  ASSERT_TRUE(journal.bound());
  std::string ini = dir.Write(
      "app.ini", absl::StrCat("[uwsgi]\nmaster = true\nprocesses = 2\nbuiltin-handler = true\n",
                              "plugins = systemd_logger\njournal-socket = ",
                              dir.File("journal.sock"), "\nhttp-socket = ", sock,
                              "\nlogger = systemd\nreq-logger = systemd:myapp-req\n"));
  KilnProcess kiln({ini}, dir.File("kiln.out"));
  ASSERT_TRUE(kiln.Start());
  ASSERT_TRUE(WaitUntilHttpAnswers(sock, kStartup)) << kiln.Log();
  ASSERT_TRUE(HttpGet(sock, "/to-journal").ok());
  auto entry = [](std::string_view ident, std::string_view priority, std::string_view text) {
    return [=](const std::string& d) {
      auto f = JournalFields(d);
      return f["SYSLOG_IDENTIFIER"] == ident && f["PRIORITY"] == priority &&
             f["SYSLOG_FACILITY"] == "3" && Has(f["MESSAGE"], text);
    };
  };
  // A bare `logger = systemd` (uWSGI's spelling): the ident is "kiln".
  EXPECT_TRUE(journal.ReadUntil(entry("kiln", "6", "spawned kiln worker"), absl::Seconds(10)))
      << journal.All();
  EXPECT_TRUE(journal.ReadUntil(entry("kiln", "4", "running as root"), absl::Seconds(10)))
      << journal.All();
  EXPECT_TRUE(journal.ReadUntil(entry("myapp-req", "6", "GET /to-journal =>"), absl::Seconds(10)))
      << journal.All();
  kiln.Signal(SIGTERM);
  ASSERT_TRUE(kiln.WaitExit(absl::Seconds(10)).has_value());
  for (const std::string& d : journal.got()) {
    EXPECT_FALSE(Has(JournalFields(d)["MESSAGE"], "\n")) << d;
  }
}

// log-slow as uWSGI: with disable-logging, only requests of at least N ms get a line.
TEST(KilnRequestLog, LogSlowKeepsOnlySlowRequestsWhenLoggingIsDisabled) {
  TempDir dir;
  std::string sock = dir.File("s.sock");
  std::string log = dir.File("app.log");
  std::string ini = dir.Write(
      "app.ini", absl::StrCat("[uwsgi]\nmaster = true\nbuiltin-handler = true\n",
                              "http-socket = ", sock, "\nlogto = ", log,
                              "\ndisable-logging = true\nlog-slow = 300\n"));
  KilnProcess kiln({ini}, dir.File("kiln.out"));
  ASSERT_TRUE(kiln.Start());
  ASSERT_TRUE(WaitUntilHttpAnswers(sock, kStartup)) << kiln.Log();
  ASSERT_TRUE(HttpGet(sock, "/echo?fast").ok());
  ASSERT_TRUE(HttpGet(sock, "/sleep?s=0.5").ok());
  ASSERT_TRUE(HttpGet(sock, "/echo?fast-again").ok());
  EXPECT_TRUE(WaitForFile(log, "GET /sleep?s=0.5 =>", absl::Seconds(5))) << TempDir::ReadFile(log);
  kiln.Signal(SIGTERM);
  ASSERT_TRUE(kiln.WaitExit(absl::Seconds(10)).has_value());
  std::string text = TempDir::ReadFile(log);
  EXPECT_FALSE(Has(text, "GET /echo?fast")) << text;
}

}  // namespace
}  // namespace kiln::testing

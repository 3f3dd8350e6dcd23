// Log injection, end to end with the real kiln binary and the python plugin: CR, LF and other
// control bytes a client sends (a percent-encoded %0a in an HTTP path reaching an app that
// raises, raw LF/CR in REQUEST_URI and CONTENT_LENGTH over the uwsgi protocol) never start a
// log line of their own; and log lines written as JSON (log-encoder json, a log-format written
// as JSON, uWSGI's `format {..., ${msg}}` idiom) parse with Python's json module whatever
// the request held.
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/lib/kiln_process.h"
#include "tests/python/py_client.h"

namespace kiln::testing {
namespace {

using ::testing::HasSubstr;

constexpr char kApp[] = R"(
def application(environ, start_response):
    path = environ['PATH_INFO']
    if path.startswith('/raise'):
        raise ValueError('cannot serve ' + path)
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'ok\n']
)";

// kiln from an ini with an http-socket and a uwsgi socket in a temp dir, the app above;
// `extra` is more ini text, where {DIR} stands for the temp dir.
class Server {
 public:
  explicit Server(std::string extra) {
    extra = absl::StrReplaceAll(extra, {{"{DIR}", dir_.path()}});
    dir_.Write("app.py", kApp);
    std::string ini = dir_.Write(
        "app.ini", absl::StrCat("[uwsgi]\nplugin-dir = ", PluginDir(),
                                "\nplugins = python, logfile\nmaster = true\nprocesses = 1\n",
                                "http-socket = ", http(), "\nsocket = ", uwsgi(),
                                "\nwsgi-file = ", dir_.File("app.py"), "\n", extra));
    kiln_ = std::make_unique<KilnProcess>(std::vector<std::string>{ini}, dir_.File("kiln.out"));
    kiln_->SetEnv("LSAN_OPTIONS", LsanOptionsForPython());
  }
  ~Server() {
    if (kiln_->running()) {
      kiln_->Signal(SIGTERM);
      kiln_->WaitExit(absl::Seconds(20));
    }
  }
  bool Start() { return kiln_->Start() && WaitFor200(http(), "/", absl::Seconds(30)); }
  std::string http() const { return dir_.File("h.sock"); }
  std::string uwsgi() const { return dir_.File("u.sock"); }
  std::string File(std::string_view name) const { return dir_.File(name); }
  KilnProcess& kiln() { return *kiln_; }

 private:
  TempDir dir_;
  std::unique_ptr<KilnProcess> kiln_;
};

// Sends one raw uwsgi request (as a front server could, with any bytes in its vars) and reads
// the answer to EOF; returns what came back.
std::string SendUwsgi(const std::string& address, std::string_view uri,
                      std::string_view content_length = "") {
  std::string vars;
  AppendUwsgiVar(&vars, "REQUEST_METHOD", "GET");
  AppendUwsgiVar(&vars, "REQUEST_URI", uri);
  AppendUwsgiVar(&vars, "PATH_INFO", "/via-uwsgi");
  AppendUwsgiVar(&vars, "QUERY_STRING", "");
  AppendUwsgiVar(&vars, "SERVER_PROTOCOL", "HTTP/1.1");
  AppendUwsgiVar(&vars, "REMOTE_ADDR", "127.0.0.1");
  AppendUwsgiVar(&vars, "SERVER_NAME", "localhost");
  AppendUwsgiVar(&vars, "SERVER_PORT", "80");
  AppendUwsgiVar(&vars, "HTTP_USER_AGENT", "agent \"007\"\n[pid: 99] FORGED-UA");
  if (!content_length.empty()) AppendUwsgiVar(&vars, "CONTENT_LENGTH", content_length);
  std::string pkt{'\0', static_cast<char>(vars.size() & 0xff), static_cast<char>(vars.size() >> 8),
                  '\0'};
  pkt += vars;
  absl::StatusOr<int> fd = Connect(address);
  EXPECT_TRUE(fd.ok()) << fd.status();
  if (!fd.ok()) return "";
  timeval tv{10, 0};
  ::setsockopt(*fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  EXPECT_EQ(::send(*fd, pkt.data(), pkt.size(), MSG_NOSIGNAL), static_cast<ssize_t>(pkt.size()));
  std::string answer;
  char buf[4096];
  for (ssize_t n; (n = ::recv(*fd, buf, sizeof(buf), 0)) > 0;) answer.append(buf, n);
  ::close(*fd);
  return answer;
}

// Runs Python's json module over every line of `path`: prints "ok N" when each line is a JSON
// object, else the first line that is not. With `key`, also prints that member of each line
// (json.dumps'd, one per line) for the test to look at.
std::string JsonCheck(const std::string& path, const std::string& key = "") {
  const std::string script =
      "import json,sys\n"
      "n=0\n"
      "for raw in open(sys.argv[1],'rb').read().split(b'\\n'):\n"
      "  if not raw: continue\n"
      "  try:\n"
      "    o=json.loads(raw.decode('utf-8'))\n"
      "    assert isinstance(o,dict)\n"
      "  except Exception as e:\n"
      "    print('BAD', repr(raw), e); sys.exit(1)\n"
      "  n+=1\n"
      "  if sys.argv[2]: print('VAL', json.dumps(o.get(sys.argv[2])))\n"
      "print('ok', n)\n";
  const std::string script_path = path + ".check.py";
  {
    std::ofstream(script_path) << script;
  }
  const std::string cmd =
      "/usr/bin/python3 '" + script_path + "' '" + path + "' '" + key + "' 2>&1";
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return "popen failed";
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof(buf), p)) > 0;) out.append(buf, n);
  ::pclose(p);
  return out;
}

// A kiln log line is a request line (uWSGI's default shape, one per request) or a server line
// ("warning: ", "error: ", a plugin's "NAME: " / "NAME| " or kiln's own text); a forged
// request line is one that starts like a request line but was not written as one.
const std::regex kRequestLine(
    R"(\[pid: \d+\|app: \d+\|req: \d+/\d+\] \S* \(\S*\) \{\d+ vars in \d+ bytes\} \[[^\]]+\] )"
    R"(\S+ .+ => generated \d+ bytes in \d+ msecs(?: via sendfile\(\))? \(\S+ \d{3}\) \d+ )"
    R"(headers in \d+ bytes \(\d+ switches on core \d+\))");

TEST(LogInjection, ControlBytesFromRequestsNeverStartALogLine) {
  Server s("logto = {DIR}/kiln.log\n");
  ASSERT_TRUE(s.Start()) << s.kiln().Log();
  // HTTP: the path decodes to "/raise\n[pid: 99|...] FORGED-HTTP"; the app raises with it.
  auto r = HttpRequest(s.http(), "GET", "/raise%0a[pid:%2099|app:%200|req:%201/1]%20FORGED-HTTP");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 500);
  // uwsgi: raw LF and CR in REQUEST_URI, then a CONTENT_LENGTH holding an LF (refused).
  EXPECT_THAT(SendUwsgi(s.uwsgi(), "/u\n[pid: 99|app: 0|req: 1/1] FORGED-URI\r\x1b[2K"),
              HasSubstr("200 OK"));
  SendUwsgi(s.uwsgi(), "/cl", "5\n[pid: 99|app: 0|req: 1/1] FORGED-CL");
  const std::string log = s.File("kiln.log");
  ASSERT_TRUE(WaitForLines(log, "FORGED-CL", 1, absl::Seconds(10))) << TempDir::ReadFile(log);
  ASSERT_TRUE(WaitForLines(log, "FORGED-URI", 1, absl::Seconds(10))) << TempDir::ReadFile(log);
  ASSERT_TRUE(WaitForLines(log, "FORGED-HTTP", 2, absl::Seconds(10))) << TempDir::ReadFile(log);

  int request_lines = 0;
  for (const std::string& line : Lines(TempDir::ReadFile(log))) {
    SCOPED_TRACE(line);
    EXPECT_EQ(line.find('\r'), std::string::npos);
    EXPECT_EQ(line.find('\x1b'), std::string::npos);
    // Nothing a client sent starts a line.
    EXPECT_EQ(line.rfind("[pid: 99|", 0), std::string::npos);
    if (line.rfind("[pid: ", 0) == 0) {
      ++request_lines;
      EXPECT_TRUE(std::regex_match(line, kRequestLine));
    }
    if (line.find("FORGED") == std::string::npos) continue;
    if (line.find("FORGED-URI") != std::string::npos) {
      // The request line: the URI's LF, CR and ESC written escaped, inside the line.
      EXPECT_TRUE(std::regex_match(line, kRequestLine));
      EXPECT_THAT(line, HasSubstr("GET /u\\x0a[pid: 99|app: 0|req: 1/1] FORGED-URI\\x0d\\x1b[2K "
                                  "=> generated 3 bytes"));
    } else if (line.find("FORGED-CL") != std::string::npos) {
      EXPECT_THAT(line, HasSubstr("warning: uwsgi: invalid request from "));
      EXPECT_THAT(line, HasSubstr("CONTENT_LENGTH \"5\\x0a[pid: 99|app: 0|req: 1/1] FORGED-CL\" "
                                  "is not a number"));
    } else if (line.find("FORGED-HTTP") != std::string::npos) {
      // The app error names the path; the path's second line is marked as a continuation,
      // and so is every line of the traceback that quotes it.
      EXPECT_TRUE(line.rfind("error: python| ", 0) == 0 ||
                  line.find("%0a[pid:%2099|app:%200|req:%201/1]%20FORGED-HTTP") !=
                      std::string::npos);
    } else {
      ADD_FAILURE() << "unexpected line with FORGED";
    }
  }
  EXPECT_GE(request_lines, 3);
  EXPECT_THAT(TempDir::ReadFile(log),
              HasSubstr("\nerror: python| [pid: 99|app: 0|req: 1/1] FORGED-HTTP:\n"));
}

TEST(LogInjection, JsonEncodedServerLinesAndAJsonLogFormatAlwaysParse) {
  Server s(
      "logger = file:{DIR}/app.log\nreq-logger = file:{DIR}/req.log\n"
      "log-encoder = json {\"unix\":${unix}, \"time\":\"${strftime:%%Y-%%m-%%dT%%H:%%M:%%S}\", "
      "\"msg\":\"${msg}\"}\n"
      "log-encoder = nl\n"
      "log-format = {\"uri\":\"%(uri)\", \"method\":\"%(method)\", \"status\":%(status), "
      "\"ua\":\"%(uagent)\", \"cl\":\"%(cl)\", \"micros\":%(micros)}\n");
  ASSERT_TRUE(s.Start()) << s.kiln().Log();
  auto r = HttpRequest(s.http(), "GET", "/a\"b\\c");
  ASSERT_TRUE(r.ok()) << r.status();
  r = HttpRequest(s.http(), "GET", "/raise%0a{\"forged\":1}%0d%22");
  ASSERT_TRUE(r.ok()) << r.status();
  SendUwsgi(s.uwsgi(), "/u\n\"}{\r\\\x01\x7f\xff caf\xc3\xa9");
  SendUwsgi(s.uwsgi(), "/cl", "5\n\"");  // refused: a warning quoting it
  const std::string app = s.File("app.log"), req = s.File("req.log");
  ASSERT_TRUE(WaitForLines(req, "caf", 1, absl::Seconds(10))) << TempDir::ReadFile(req);
  ASSERT_TRUE(WaitForLines(app, "CONTENT_LENGTH", 1, absl::Seconds(10))) << TempDir::ReadFile(app);
  ASSERT_TRUE(WaitForLines(app, "forged", 2, absl::Seconds(10))) << TempDir::ReadFile(app);

  const std::string app_check = JsonCheck(app, "msg");
  EXPECT_THAT(app_check, HasSubstr("\nok ")) << app_check << TempDir::ReadFile(app);
  // The app error's path and its traceback: each line its own JSON record, the continuation
  // marked; the CONTENT_LENGTH warning quotes the value escaped.
  EXPECT_THAT(app_check, HasSubstr("VAL \"error: python| {\\\"forged\\\":1}\\\\x0d\\\":\""))
      << app_check;
  EXPECT_THAT(app_check, HasSubstr("CONTENT_LENGTH \\\"5\\\\x0a\\\\x22\\\" is not a number"))
      << app_check;

  const std::string req_check = JsonCheck(req, "uri");
  EXPECT_THAT(req_check, HasSubstr("\nok ")) << req_check << TempDir::ReadFile(req);
  // json.dumps of the decoded values: what the client sent, byte for byte where it was UTF-8.
  EXPECT_THAT(req_check, HasSubstr("VAL \"/a\\\"b\\\\c\"")) << req_check;
  EXPECT_THAT(req_check, HasSubstr("VAL \"/u\\n\\\"}{\\r\\\\\\u0001\\u007f\\\\xff caf\\u00e9\""))
      << req_check;
  const std::string ua_check = JsonCheck(req, "ua");
  EXPECT_THAT(ua_check, HasSubstr("VAL \"agent \\\"007\\\"\\n[pid: 99] FORGED-UA\"")) << ua_check;
}

TEST(LogInjection, UwsgiJsonMembersIdiomWithAFormatRequestEncoderParses) {
  // The shape uWSGI users copy: JSON members in log-format, the object around them added by a
  // `format` request encoder.
  Server s(
      "logger = file:{DIR}/app.log\nreq-logger = file:{DIR}/req.log\n"
      "log-format = \"uri\": \"%(uri)\", \"proto\": \"%(proto)\", \"status\": %(status), "
      "\"size\": %(size)\n"
      "log-req-encoder = format {\"timestamp\": \"${strftime:%%Y-%%m-%%dT%%H:%%M:%%S}\", "
      "\"event\": \"uwsgi_request\", ${msg}}\n"
      "log-req-encoder = nl\n");
  ASSERT_TRUE(s.Start()) << s.kiln().Log();
  auto r = HttpRequest(s.http(), "GET", "/a\"b\\c");
  ASSERT_TRUE(r.ok()) << r.status();
  SendUwsgi(s.uwsgi(), "/u\n\"\r");
  const std::string req = s.File("req.log");
  ASSERT_TRUE(WaitForLines(req, "/u", 1, absl::Seconds(10))) << TempDir::ReadFile(req);
  const std::string check = JsonCheck(req, "uri");
  EXPECT_THAT(check, HasSubstr("\nok ")) << check << TempDir::ReadFile(req);
  EXPECT_THAT(check, HasSubstr("VAL \"/a\\\"b\\\\c\"")) << check;
  EXPECT_THAT(check, HasSubstr("VAL \"/u\\n\\\"\\r\"")) << check;
}

}  // namespace
}  // namespace kiln::testing

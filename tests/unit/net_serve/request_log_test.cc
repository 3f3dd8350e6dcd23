// Request log lines: uWSGI's default line byte for byte, log-format names, and which
// requests are logged under disable-logging.
#include "core/log/request_log.h"

#include <cstdint>
#include <cstdlib>
#include <string>

#include "gtest/gtest.h"

namespace kiln::log {
namespace {

RequestLogEntry Sample() {
  RequestLogEntry e;
  e.pid = 25804;
  e.app_requests = 1;
  e.worker_requests = 1;
  e.remote_addr = "127.0.0.1";
  e.method = "GET";
  e.uri = "/hello?x=1";
  e.protocol = "HTTP/1.1";
  e.var_pairs = 14;
  e.vars_bytes = 317;
  e.start = absl::FromUnixSeconds(1795486270);  // Tue Nov 24 02:11:10 2026 UTC
  e.duration = absl::Microseconds(9400);
  e.status = 200;
  e.body_bytes = 1178;
  e.header_count = 2;
  e.header_bytes = 81;
  e.core_id = 0;
  return e;
}

class RequestLog : public ::testing::Test {
 protected:
  void SetUp() override {
    setenv("TZ", "UTC", 1);
    tzset();
  }
};

TEST_F(RequestLog, DefaultLineMatchesUwsgiByteForByte) {
  EXPECT_EQ(FormatDefaultRequestLine(Sample(), false),
            "[pid: 25804|app: 0|req: 1/1] 127.0.0.1 () {28 vars in 317 bytes} [Tue Nov 24 "
            "02:11:10 2026] GET /hello?x=1 => generated 1178 bytes in 9 msecs (HTTP/1.1 200) 2 "
            "headers in 81 bytes (1 switches on core 0)");
}

TEST_F(RequestLog, CtimePadsSingleDigitDays) {
  RequestLogEntry e = Sample();
  e.start = absl::FromUnixSeconds(1793844000);  // Thu Nov  5 2026
  EXPECT_NE(FormatDefaultRequestLine(e, false).find("[Thu Nov  5 "), std::string::npos);
}

TEST_F(RequestLog, MemoryReportAndSendfileAreShown) {
  RequestLogEntry e = Sample();
  e.vsz_bytes = 220889088;
  e.rss_bytes = 6483968;
  e.via_sendfile = true;
  std::string line = FormatDefaultRequestLine(e, true);
  EXPECT_EQ(line.rfind("{address space usage: 220889088 bytes/210MB} {rss usage: 6483968 "
                       "bytes/6MB} [pid: 25804|",
                       0),
            0u)
      << line;
  EXPECT_NE(line.find("in 9 msecs via sendfile() (HTTP/1.1 200)"), std::string::npos) << line;
}

TEST_F(RequestLog, LogFormatApacheCombined) {
  RequestLogEntry e = Sample();
  e.referer = "http://r/";
  e.user_agent = "curl/8";
  LogFormat f = LogFormat::Compile(
      "%(addr) - %(user) [%(ltime)] \"%(method) %(uri) %(proto)\" %(status) %(size) "
      "\"%(referer)\" \"%(uagent)\"");
  EXPECT_TRUE(f.unknown_names().empty());
  EXPECT_EQ(f.Format(e),
            "127.0.0.1 - - [24/Nov/2026:02:11:10 +0000] \"GET /hello?x=1 HTTP/1.1\" 200 1259 "
            "\"http://r/\" \"curl/8\"");
}

// logformat-strftime: the format's text goes through strftime with the request's start;
// a `%` in a request value stays as sent.
TEST_F(RequestLog, LogFormatStrftimeFormatsTheTextNotTheValues) {
  RequestLogEntry e = Sample();
  e.uri = "/%Y";
  EXPECT_EQ(LogFormat::Compile("[%Y-%m-%d] %(method) %(uri) 100%%", true).Format(e),
            "[2026-11-24] GET /%Y 100%");
  EXPECT_EQ(LogFormat::Compile("[%Y] %(uri)").Format(e), "[%Y] /%Y");
}

TEST_F(RequestLog, LogFormatKeepsUnknownNamesAndReadsVars) {
  RequestLogEntry e = Sample();
  e.var = [](std::string_view name) -> std::optional<std::string_view> {
    if (name == "HTTP_X") return "xv";
    return std::nullopt;
  };
  LogFormat f = LogFormat::Compile("%(msecs)ms %(micros) %(var.HTTP_X)|%(var.NOPE)| %(bogus) %(");
  EXPECT_EQ(f.Format(e), "9ms 9400 xv|| %(bogus) %(");
  ASSERT_EQ(f.unknown_names().size(), 1u);
  EXPECT_EQ(f.unknown_names()[0], "bogus");
}

TEST_F(RequestLog, DefaultLineEscapesRequestValuesSoNoLineCanBeForged) {
  RequestLogEntry e = Sample();
  e.uri = "/x\n[pid: 99|app: 0|req: 1/1] 6.6.6.6 () FORGED\r";
  e.method = "GET\x1b[2J";
  e.protocol = "HTTP/1.1\n";
  e.remote_addr = "1.2.3.4\n";
  const std::string line = FormatDefaultRequestLine(e, false);
  EXPECT_EQ(line.find('\n'), std::string::npos) << line;
  EXPECT_EQ(line.find('\r'), std::string::npos) << line;
  EXPECT_EQ(line.find('\x1b'), std::string::npos) << line;
  EXPECT_NE(line.find("] 1.2.3.4\\x0a () {28 vars in 317 bytes} [Tue Nov 24 02:11:10 2026] "
                      "GET\\x1b[2J /x\\x0a[pid: 99|app: 0|req: 1/1] 6.6.6.6 () FORGED\\x0d => "
                      "generated 1178 bytes in 9 msecs (HTTP/1.1\\x0a 200)"),
            std::string::npos)
      << line;
}

// The default line is written into room reserved up front (request_log.cc): the longest
// values (a URI of 10,000 bytes, escaped to four times the size of its control bytes) and
// the widest numbers must all land in it, after what the string held already.
TEST_F(RequestLog, DefaultLineHoldsLongEscapedValuesAndTheWidestNumbers) {
  RequestLogEntry e = Sample();
  const std::string uri = std::string(5000, 'a') + std::string(200, '\x01') + "z";
  const std::string user(300, '\n');
  e.uri = uri;
  e.remote_user = user;
  e.pid = e.app_id = e.core_id = e.switches = e.status = -2147483647 - 1;
  e.app_requests = e.worker_requests = e.body_bytes = e.header_bytes = UINT64_MAX;
  e.var_pairs = SIZE_MAX / 2;
  e.vars_bytes = e.header_count = SIZE_MAX;
  e.duration = absl::InfiniteDuration();
  std::string line = "prefix ";
  AppendDefaultRequestLine(&line, e, /*memory_report=*/false, /*micros=*/true);
  std::string escaped_uri = std::string(5000, 'a');
  for (int i = 0; i < 200; ++i) escaped_uri += "\\x01";
  escaped_uri += "z";
  std::string escaped_user;
  for (int i = 0; i < 300; ++i) escaped_user += "\\x0a";
  EXPECT_EQ(line,
            "prefix [pid: -2147483648|app: -2147483648|req: 18446744073709551615/"
            "18446744073709551615] 127.0.0.1 (" + escaped_user + ") {18446744073709551614 vars "
            "in 18446744073709551615 bytes} [Tue Nov 24 02:11:10 2026] GET " + escaped_uri +
            " => generated 18446744073709551615 bytes in 9223372036854775807 micros (HTTP/1.1 "
            "-2147483648) 18446744073709551615 headers in 18446744073709551615 bytes "
            "(-2147483648 switches on core -2147483648)");
}

// Numbers under 1,000 are written digit by digit and the rest by absl: every width at its
// edges reads as its decimal text, in every numeric field of the line.
TEST_F(RequestLog, DefaultLineWritesEveryNumberWidthAtItsEdges) {
  for (int64_t n : {0, 1, 9, 10, 11, 99, 100, 101, 999, 1000, 1001, 9999, 65535, 1234567,
                    -1, -9, -10, -999, -1000}) {
    RequestLogEntry e = Sample();
    const int i = static_cast<int>(n);
    const uint64_t u = static_cast<uint64_t>(n < 0 ? -n : n);
    e.pid = e.app_id = e.core_id = e.switches = e.status = i;
    e.app_requests = e.worker_requests = e.body_bytes = e.header_bytes = u;
    e.var_pairs = u;
    e.vars_bytes = e.header_count = u;
    e.duration = absl::Milliseconds(n);
    const std::string si = std::to_string(i), su = std::to_string(u),
                      s2 = std::to_string(2 * u), sd = std::to_string(n);
    EXPECT_EQ(FormatDefaultRequestLine(e, false),
              "[pid: " + si + "|app: " + si + "|req: " + su + "/" + su + "] 127.0.0.1 () {" +
                  s2 + " vars in " + su + " bytes} [Tue Nov 24 02:11:10 2026] GET /hello?x=1 "
                  "=> generated " + su + " bytes in " + sd + " msecs (HTTP/1.1 " + si + ") " +
                  su + " headers in " + su + " bytes (" + si + " switches on core " + si + ")")
        << n;
  }
}

TEST_F(RequestLog, LogFormatEscapesRequestValuesAsText) {
  RequestLogEntry e = Sample();
  e.uri = "/a\"b\\c\n";
  e.content_length = "5\n";
  e.var = [](std::string_view) -> std::optional<std::string_view> { return "v\r"; };
  LogFormat f = LogFormat::Compile("\"%(method) %(uri)\" %(cl) %(var.X) %(status)");
  EXPECT_FALSE(f.json_values());
  EXPECT_EQ(f.Format(e), "\"GET /a\\x22b\\x5cc\\x0a\" 5\\x0a v\\x0d 200");
}

TEST_F(RequestLog, LogFormatWrittenAsJsonGetsJsonEscapedValues) {
  RequestLogEntry e = Sample();
  e.uri = "/a\"b\\c\n\x01";
  e.user_agent = "ua\t";
  LogFormat f = LogFormat::Compile(
      " {\"uri\": \"%(uri)\", \"ua\": \"%(uagent)\", \"status\": %(status)}");
  EXPECT_TRUE(f.json_values());
  EXPECT_EQ(f.Format(e),
            " {\"uri\": \"/a\\\"b\\\\c\\n\\u0001\", \"ua\": \"ua\\t\", \"status\": 200}");
}

TEST_F(RequestLog, DisableLoggingKeepsOnlyRequestedClasses) {
  EXPECT_TRUE(ShouldLogRequest(200, false, false, false));
  EXPECT_FALSE(ShouldLogRequest(200, true, true, true));
  EXPECT_TRUE(ShouldLogRequest(404, true, true, false));
  EXPECT_FALSE(ShouldLogRequest(404, true, false, true));
  EXPECT_TRUE(ShouldLogRequest(502, true, false, true));
  // log-sendfile: a response sent with sendfile is logged; another is not.
  EXPECT_TRUE(ShouldLogRequest(200, true, false, false, 0, absl::ZeroDuration(), true, true));
  EXPECT_FALSE(ShouldLogRequest(200, true, false, false, 0, absl::ZeroDuration(), true, false));
  EXPECT_FALSE(ShouldLogRequest(200, true, false, false, 0, absl::ZeroDuration(), false, true));
}

// log-slow, as uWSGI: with disable-logging, a request of at least N whole milliseconds is
// still logged; a faster one is not, and 0 turns it off.
TEST_F(RequestLog, LogSlowKeepsRequestsOfAtLeastThatManyMilliseconds) {
  EXPECT_TRUE(ShouldLogRequest(200, true, false, false, 200, absl::Milliseconds(200)));
  EXPECT_TRUE(ShouldLogRequest(200, true, false, false, 200, absl::Seconds(3)));
  EXPECT_FALSE(ShouldLogRequest(200, true, false, false, 200, absl::Microseconds(199999)));
  EXPECT_FALSE(ShouldLogRequest(200, true, false, false, 0, absl::Seconds(3)));
  EXPECT_TRUE(ShouldLogRequest(200, false, false, false, 200, absl::Milliseconds(1)));
}

}  // namespace
}  // namespace kiln::log

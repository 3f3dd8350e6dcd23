// HTTP/1.x request heads -> CGI variables, and each RFC 9112 error class with its status.
#include "core/protocol/http1_parser.h"

#include <string>

#include "absl/strings/escaping.h"
#include "gtest/gtest.h"

namespace kiln::protocol {
namespace {

const ConnectionInfo kConn{"127.0.0.1", "40000", "sockname", "8080", "http"};

struct Parsed {
  HttpParseResult result;
  Request req;
  HttpHead head;
};

// Parses a copy that outlives the views.
class Http1 {
 public:
  explicit Http1(std::string text, size_t limit = 65535) : text_(std::move(text)) {
    p_.result = ParseHttp1(text_.data(), text_.size(), limit, kConn, &p_.req, &p_.head);
  }
  const Parsed& operator*() const { return p_; }
  const Parsed* operator->() const { return &p_; }

 private:
  std::string text_;
  Parsed p_;
};

TEST(Http1Parser, MapsACurlRequestToCgiVariables) {
  Http1 p(
      "GET /a%20b/c?x=1&y=%20 HTTP/1.1\r\n"
      "Host: example.com:8000\r\n"
      "User-Agent: curl/7.88.1\r\n"
      "Accept: */*\r\n"
      "\r\n");
  ASSERT_EQ(p->result.status, ParseStatus::kComplete) << p->result.message;
  const Request& r = p->req;
  EXPECT_EQ(r.Get("REQUEST_METHOD"), "GET");
  EXPECT_EQ(r.Get("REQUEST_URI"), "/a%20b/c?x=1&y=%20");
  EXPECT_EQ(r.Get("PATH_INFO"), "/a b/c");
  EXPECT_EQ(r.Get("QUERY_STRING"), "x=1&y=%20");
  EXPECT_EQ(r.Get("SERVER_PROTOCOL"), "HTTP/1.1");
  EXPECT_EQ(r.Get("HTTP_HOST"), "example.com:8000");
  EXPECT_EQ(r.Get("HTTP_USER_AGENT"), "curl/7.88.1");
  EXPECT_EQ(r.Get("HTTP_ACCEPT"), "*/*");
  EXPECT_EQ(r.Get("SERVER_NAME"), "example.com");
  EXPECT_EQ(r.Get("SERVER_PORT"), "8000");
  EXPECT_EQ(r.Get("REMOTE_ADDR"), "127.0.0.1");
  EXPECT_EQ(r.Get("REMOTE_PORT"), "40000");
  EXPECT_EQ(r.Get("REQUEST_SCHEME"), "http");
  EXPECT_FALSE(r.Get("CONTENT_LENGTH").has_value());
  EXPECT_TRUE(p->head.keep_alive);
  EXPECT_EQ(p->head.framing, BodyFraming::kNone);
}

TEST(Http1Parser, ContentHeadersAreNotDuplicatedAsHttpVars) {
  Http1 p("POST /f HTTP/1.1\r\nHost: h\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\n");
  ASSERT_EQ(p->result.status, ParseStatus::kComplete) << p->result.message;
  EXPECT_EQ(p->req.Get("CONTENT_TYPE"), "text/plain");
  EXPECT_EQ(p->req.Get("CONTENT_LENGTH"), "5");
  EXPECT_FALSE(p->req.Get("HTTP_CONTENT_TYPE").has_value());
  EXPECT_FALSE(p->req.Get("HTTP_CONTENT_LENGTH").has_value());
  EXPECT_EQ(p->head.framing, BodyFraming::kContentLength);
  EXPECT_EQ(p->head.content_length, 5u);
}

TEST(Http1Parser, JoinsRepeatedHeadersWithComma) {
  Http1 p("GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nAccept: a\r\nX-A: 2\r\nCookie: c=1\r\n"
          "Cookie: d=2\r\n\r\n");
  ASSERT_EQ(p->result.status, ParseStatus::kComplete);
  EXPECT_EQ(p->req.Get("HTTP_X_A"), "1, 2");
  EXPECT_EQ(p->req.Get("HTTP_COOKIE"), "c=1; d=2");
}

TEST(Http1Parser, DropsHeaderNamesWithUnderscores) {
  Http1 p("GET / HTTP/1.1\r\nHost: h\r\nX_Real_IP: 6.6.6.6\r\n\r\n");
  ASSERT_EQ(p->result.status, ParseStatus::kComplete);
  EXPECT_FALSE(p->req.Get("HTTP_X_REAL_IP").has_value());
}

TEST(Http1Parser, IsIncompleteUntilTheBlankLine) {
  const std::string full = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
  for (size_t n = 0; n < full.size(); ++n) {
    Http1 p(full.substr(0, n));
    EXPECT_EQ(p->result.status, ParseStatus::kIncomplete) << n;
  }
  Http1 p(full);
  EXPECT_EQ(p->result.status, ParseStatus::kComplete);
  EXPECT_EQ(p->result.consumed, full.size());
}

TEST(Http1Parser, StopsAtTheHeadSoPipelinedBytesRemain) {
  Http1 p("GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\n");
  ASSERT_EQ(p->result.status, ParseStatus::kComplete);
  EXPECT_EQ(p->result.consumed, 28u);
}

TEST(Http1Parser, SkipsLeadingEmptyLinesAndAcceptsBareLf) {
  Http1 p("\r\nGET /x HTTP/1.1\nHost: h\n\n");
  ASSERT_EQ(p->result.status, ParseStatus::kComplete) << p->result.message;
  EXPECT_EQ(p->req.Get("PATH_INFO"), "/x");
}

TEST(Http1Parser, Http10DefaultsToCloseAndHonoursKeepAlive) {
  Http1 a("GET / HTTP/1.0\r\n\r\n");
  ASSERT_EQ(a->result.status, ParseStatus::kComplete);
  EXPECT_FALSE(a->head.keep_alive);
  EXPECT_EQ(a->req.Get("SERVER_NAME"), "sockname");
  Http1 b("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
  EXPECT_TRUE(b->head.keep_alive);
  Http1 c("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
  EXPECT_FALSE(c->head.keep_alive);
}

TEST(Http1Parser, AsteriskFormIsForOptionsOnly) {
  Http1 p("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n");
  ASSERT_EQ(p->result.status, ParseStatus::kComplete) << p->result.message;
  EXPECT_EQ(p->req.Get("PATH_INFO"), "");
  EXPECT_EQ(p->req.Get("REQUEST_URI"), "*");
}

TEST(Http1Parser, AbsoluteFormAcceptsPortsAndIpLiterals) {
  for (const char* target : {"http://h:8080/a", "https://[::1]:443/a", "http://10.0.0.1",
                             "http://a-b.example.com./a?q"}) {
    Http1 p(std::string("GET ") + target + " HTTP/1.1\r\nHost: h\r\n\r\n");
    EXPECT_EQ(p->result.status, ParseStatus::kComplete) << target << ": " << p->result.message;
  }
}

TEST(Http1Parser, SingleContentLengthReachesTheAppAsANumber) {
  Http1 p("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n");
  ASSERT_EQ(p->result.status, ParseStatus::kComplete) << p->result.message;
  EXPECT_EQ(p->req.Get("CONTENT_LENGTH"), "5");
  EXPECT_EQ(p->head.content_length, 5u);
}

TEST(Http1Parser, ReadsChunkedAndExpectContinue) {
  Http1 p("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
          "Expect: 100-continue\r\n\r\n");
  ASSERT_EQ(p->result.status, ParseStatus::kComplete);
  EXPECT_EQ(p->head.framing, BodyFraming::kChunked);
  EXPECT_TRUE(p->head.expect_continue);
}

TEST(Http1Parser, AbsoluteFormTargetGivesItsPath) {
  Http1 p("GET http://example.com/p/q?z HTTP/1.1\r\nHost: example.com\r\n\r\n");
  ASSERT_EQ(p->result.status, ParseStatus::kComplete);
  EXPECT_EQ(p->req.Get("PATH_INFO"), "/p/q");
  EXPECT_EQ(p->req.Get("QUERY_STRING"), "z");
}

TEST(Http1Parser, HeadMethodIsFlagged) {
  Http1 p("HEAD / HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_TRUE(p->head.is_head);
}

struct ErrorCase {
  const char* name;
  std::string request;
  int status;
};

class Http1ParserErrors : public testing::TestWithParam<ErrorCase> {};

TEST_P(Http1ParserErrors, AnswersWithTheRfcStatus) {
  Http1 p(GetParam().request, 1024);
  ASSERT_EQ(p->result.status, ParseStatus::kError) << GetParam().name;
  EXPECT_EQ(p->result.http_status, GetParam().status) << p->result.message;
  EXPECT_FALSE(p->result.message.empty());
}

INSTANTIATE_TEST_SUITE_P(
    Rfc9112, Http1ParserErrors,
    testing::Values(
        ErrorCase{"ObsFold", "GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n  b\r\n\r\n", 400},
        ErrorCase{"ClAndTe",
                  "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n"
                  "Transfer-Encoding: chunked\r\n\r\n",
                  400},
        ErrorCase{"DifferingCl",
                  "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
                  400},
        ErrorCase{"DifferingClInOneLine",
                  "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 4\r\n\r\n", 400},
        ErrorCase{"NonNumericCl", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3x\r\n\r\n",
                  400},
        ErrorCase{"NegativeCl", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", 400},
        ErrorCase{"UnknownTe", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n",
                  501},
        ErrorCase{"ChunkedNotLast",
                  "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 501},
        ErrorCase{"Http2", "GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505},
        ErrorCase{"Http09Line", "GET / HTTP/0.9\r\n\r\n", 505},
        ErrorCase{"Http12", "GET / HTTP/1.2\r\nHost: h\r\n\r\n", 505},
        ErrorCase{"GarbageVersion", "GET / HTCPCP/1.0\r\n\r\n", 400},
        ErrorCase{"UriTooLong", "GET /" + std::string(2000, 'a') + " HTTP/1.1\r\n", 414},
        ErrorCase{"UriTooLongUnterminated", "GET /" + std::string(2000, 'a'), 414},
        ErrorCase{"HeadersTooLarge",
                  "GET / HTTP/1.1\r\nHost: h\r\nX: " + std::string(1100, 'a') + "\r\n", 431},
        ErrorCase{"SpaceBeforeColon", "GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400},
        ErrorCase{"NoColon", "GET / HTTP/1.1\r\nHost h\r\n\r\n", 400},
        ErrorCase{"MissingHost", "GET / HTTP/1.1\r\n\r\n", 400},
        ErrorCase{"TwoHosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
        ErrorCase{"ExtraSpaceInLine", "GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400},
        ErrorCase{"BadMethod", "G(T / HTTP/1.1\r\nHost: h\r\n\r\n", 400},
        ErrorCase{"RelativeTarget", "GET a/b HTTP/1.1\r\nHost: h\r\n\r\n", 400},
        ErrorCase{"BadEscape", "GET /%zz HTTP/1.1\r\nHost: h\r\n\r\n", 400},
        ErrorCase{"EncodedNul", "GET /a%00b HTTP/1.1\r\nHost: h\r\n\r\n", 400},
        ErrorCase{"ControlInValue", std::string("GET / HTTP/1.1\r\nHost: h\r\nX: a\x01\r\n\r\n"),
                  400},
        // Gunicorn's invalid request fixtures (RFC 9112 3.2.4, 3.2.2, 6.1, 6.3).
        ErrorCase{"Http10WithTe",
                  "POST / HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked"
                  "\r\n\r\n",
                  400},
        ErrorCase{"ClListOfEqualValues",
                  "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\n\r\n", 400},
        ErrorCase{"AsteriskForGet", "GET * HTTP/1.1\r\nHost: h\r\n\r\n", 400},
        ErrorCase{"AsteriskWithQuery", "OPTIONS *?a HTTP/1.1\r\nHost: h\r\n\r\n", 400},
        ErrorCase{"BadAuthority", "PUT s://]ufd/: HTTP/1.1\r\nHost: h\r\n\r\n", 400},
        ErrorCase{"EmptyAuthority", "GET http:///a HTTP/1.1\r\nHost: h\r\n\r\n", 400},
        ErrorCase{"UserinfoInAuthority", "GET http://u@h/a HTTP/1.1\r\nHost: h\r\n\r\n",
                  400},
        ErrorCase{"BadPort", "GET http://h:8x/a HTTP/1.1\r\nHost: h\r\n\r\n", 400},
        ErrorCase{"BadScheme", "GET 1http://h/a HTTP/1.1\r\nHost: h\r\n\r\n", 400},
        ErrorCase{"BareCrInValue", "GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n", 400}),
    [](const testing::TestParamInfo<ErrorCase>& c) { return std::string(c.param.name); });

TEST(Http1Parser, TooManyHeaderFieldsIs431) {
  std::string req = "GET / HTTP/1.1\r\nHost: h\r\n";
  for (int i = 0; i < 600; ++i) req += "A: b\r\n";
  Http1 p(req + "\r\n");
  EXPECT_EQ(p->result.http_status, 431);
  std::string fine = "GET / HTTP/1.1\r\nHost: h\r\n";
  for (int i = 0; i < 500; ++i) fine += "A: b\r\n";
  Http1 ok(fine + "\r\n");
  ASSERT_EQ(ok->result.status, ParseStatus::kComplete) << ok->result.message;
  EXPECT_EQ(ok->req.Get("HTTP_A")->size(), 500u * 3 - 2);  // "b, b, ..., b"
}

TEST(Http1Parser, SameContentLengthTwiceIsAccepted) {
  Http1 p("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n");
  ASSERT_EQ(p->result.status, ParseStatus::kComplete) << p->result.message;
  EXPECT_EQ(p->head.content_length, 3u);
}

TEST(Http1Parser, HeadEndIsFoundOnceAndEachByteScannedOnce) {
  const std::string head = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
  // Trickled one byte at a time: the end shows only with the last byte, and the scan
  // position keeps up with what has arrived.
  size_t scanned = 0;
  for (size_t n = 1; n < head.size(); ++n) {
    ASSERT_FALSE(HttpHeadEndArrived(head.data(), n, &scanned)) << n;
    EXPECT_EQ(scanned, n);
  }
  EXPECT_TRUE(HttpHeadEndArrived(head.data(), head.size(), &scanned));
  // An end marker split across reads ("\r\n" then "\r\n") is still found.
  scanned = head.size() - 2;
  EXPECT_TRUE(HttpHeadEndArrived(head.data(), head.size(), &scanned));
  // A bare-LF head ends at "\n\n".
  const std::string lf = "GET / HTTP/1.0\nHost: a\n\n";
  scanned = 0;
  EXPECT_TRUE(HttpHeadEndArrived(lf.data(), lf.size(), &scanned));
}

// The end of a head is "\n\n" or "\n\r\n" starting at or after three bytes before where the
// last scan stopped. Every string of up to 8 bytes of 'a', CR and LF, with every scan
// position, is judged as the two searches for the markers judged it.
TEST(Http1Parser, HeadEndIsFoundExactlyWhereAMarkerIs) {
  for (size_t len = 0; len <= 8; ++len) {
    size_t combos = 1;
    for (size_t i = 0; i < len; ++i) combos *= 3;
    for (size_t c = 0; c < combos; ++c) {
      std::string s;
      for (size_t i = 0, x = c; i < len; ++i, x /= 3) s.push_back("a\r\n"[x % 3]);
      for (size_t start = 0; start <= len; ++start) {
        const size_t from = start > 3 ? start - 3 : 0;
        const bool want = s.find("\n\n", from) != std::string::npos ||
                          s.find("\n\r\n", from) != std::string::npos;
        size_t scanned = start;
        ASSERT_EQ(HttpHeadEndArrived(s.data(), s.size(), &scanned), want)
            << absl::CEscape(s) << " from " << start;
        if (!want) {
          EXPECT_EQ(scanned, len);
        }
      }
    }
  }
}

}  // namespace
}  // namespace kiln::protocol

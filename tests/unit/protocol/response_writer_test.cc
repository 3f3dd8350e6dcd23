// Response heads and body framing for HTTP/1.0, HTTP/1.1, HEAD and raw uwsgi responses.
#include "core/protocol/response_writer.h"

#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln::protocol {
namespace {

using ::testing::HasSubstr;

const std::vector<protocol::Header> kPlain = {{"Content-Type", "text/plain"}};

ResponseRequestInfo Http11() {
  ResponseRequestInfo i;
  i.server_protocol = "HTTP/1.1";
  i.http11 = true;
  i.keep_alive = true;
  return i;
}

TEST(ResponseWriter, KnownLengthGetsContentLengthAndKeepAlive) {
  ResponseRequestInfo info = Http11();
  info.known_length = 5;
  auto h = BuildResponseHead(200, "", kPlain, info);
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->bytes, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\n");
  EXPECT_EQ(h->framing, ResponseFraming::kContentLength);
  EXPECT_TRUE(h->keep_alive);
  EXPECT_EQ(h->header_count, 2u);
}

// Content-Length in any case frames the body; nothing else is taken for it (not a name with
// a CR where its '-' is, which folding case bit-wise would otherwise let through).
TEST(ResponseWriter, ContentLengthNameMatchesInAnyCaseAndNothingElse) {
  for (std::string_view yes : {"Content-Length", "content-length", "CONTENT-LENGTH",
                               "cOnTeNt-LeNgTh"}) {
    EXPECT_TRUE(IsContentLengthName(yes)) << yes;
  }
  for (std::string_view no : {"Content\rLength", "Content_Length", "Content-Lengt",
                              "Content-Lengths", "Content-Type", "", "Kontent-Length",
                              "Content-Lengtx"}) {
    EXPECT_FALSE(IsContentLengthName(no)) << no;
  }
  const std::vector<protocol::Header> upper = {{"CONTENT-LENGTH", "5"}};
  auto head = BuildResponseHead(200, "", upper, Http11());
  ASSERT_TRUE(head.ok()) << head.status();
  EXPECT_EQ(head->framing, ResponseFraming::kContentLength);
  EXPECT_EQ(head->content_length, 5u);
  EXPECT_FALSE(BuildResponseHead(200, "", {{"content-length", "five"}}, Http11()).ok());
}

TEST(ResponseWriter, StreamingBodyIsChunkedForHttp11) {
  auto h = BuildResponseHead(200, "OK", kPlain, Http11());
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->bytes,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n");
  EXPECT_EQ(h->framing, ResponseFraming::kChunked);
  char scratch[24];
  struct iovec iov[3];
  ASSERT_EQ(FrameBodyPiece(h->framing, "hello world!", scratch, iov), 3u);
  std::string wire;
  for (auto& v : iov) wire.append(static_cast<char*>(v.iov_base), v.iov_len);
  EXPECT_EQ(wire, "c\r\nhello world!\r\n");
}

TEST(ResponseWriter, StreamingBodyIsCloseDelimitedForHttp10) {
  ResponseRequestInfo info = Http11();
  info.http11 = false;
  auto h = BuildResponseHead(200, "", kPlain, info);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->bytes, "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(h->framing, ResponseFraming::kClose);
  EXPECT_FALSE(h->keep_alive);
}

TEST(ResponseWriter, Http10KeepAliveIsAnnounced) {
  ResponseRequestInfo info = Http11();
  info.http11 = false;
  info.known_length = 0;
  auto h = BuildResponseHead(204, "", {}, info);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->bytes, "HTTP/1.0 204 No Content\r\nConnection: keep-alive\r\n\r\n");
}

TEST(ResponseWriter, HeadGetsHeadersOnly) {
  ResponseRequestInfo info = Http11();
  info.head_request = true;
  info.known_length = 42;
  auto h = BuildResponseHead(200, "", kPlain, info);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->framing, ResponseFraming::kNoBody);
  EXPECT_NE(h->bytes.find("Content-Length: 42\r\n"), std::string::npos);
  char scratch[24];
  struct iovec iov[3];
  EXPECT_EQ(FrameBodyPiece(h->framing, "body", scratch, iov), 0u);
}

TEST(ResponseWriter, AppConnectionCloseEndsKeepAliveAndAppFramingIsReplaced) {
  std::vector<protocol::Header> hs = {{"Connection", "close"}, {"Transfer-Encoding", "chunked"}};
  auto h = BuildResponseHead(200, "", hs, Http11());
  ASSERT_TRUE(h.ok());
  EXPECT_FALSE(h->keep_alive);
  EXPECT_EQ(h->bytes, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
}

TEST(ResponseWriter, AppContentLengthFramesTheBody) {
  std::vector<protocol::Header> hs = {{"Content-Length", "10"}};
  auto h = BuildResponseHead(200, "", hs, Http11());
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->framing, ResponseFraming::kContentLength);
  EXPECT_EQ(h->content_length, 10u);
  EXPECT_EQ(h->bytes, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n");
}

TEST(ResponseWriter, RawUwsgiResponseTakesTheRequestVersionAndAddsNothing) {
  ResponseRequestInfo info;
  info.raw = true;
  info.server_protocol = "HTTP/1.1";
  info.known_length = 3;
  auto h = BuildResponseHead(404, "", kPlain, info);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->bytes, "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\n\r\n");
  EXPECT_EQ(h->framing, ResponseFraming::kClose);
  info.server_protocol = "";
  EXPECT_EQ(BuildResponseHead(200, "Fine", {}, info)->bytes, "HTTP/1.0 200 Fine\r\n\r\n");
}

TEST(ResponseWriter, RejectsCrLfInHeaders) {
  std::vector<protocol::Header> hs = {{"X-Bad", "a\r\nSet-Cookie: evil"}};
  auto h = BuildResponseHead(200, "", hs, Http11());
  ASSERT_FALSE(h.ok());
  EXPECT_NE(std::string(h.status().message()).find("X-Bad"), std::string::npos);
  EXPECT_FALSE(BuildResponseHead(200, "", {{"Bad Name", "v"}}, Http11()).ok());
  EXPECT_FALSE(BuildResponseHead(200, "OK\r\n", {}, Http11()).ok());
  EXPECT_FALSE(BuildResponseHead(42, "", {}, Http11()).ok());
}

// The header checks read eight bytes at a time (the value) and four (the name): every byte
// value, at every position of a word and of the tail, is refused or let through exactly as a
// byte-by-byte reading would, with the refusal naming what is wrong.
TEST(ResponseWriter, HeaderChecksAgreeWithAByteByByteReadingAtEveryPosition) {
  const auto tchar = [](unsigned char c) {
    return absl::ascii_isalnum(c) || std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) !=
                                         std::string_view::npos;
  };
  for (size_t len : {1u, 3u, 4u, 7u, 8u, 9u, 15u, 16u, 17u, 23u}) {
    for (size_t at = 0; at < len; ++at) {
      for (int b = 0; b < 256; ++b) {
        const char c = static_cast<char>(b);
        std::string value(len, 'v'), name(len, 'n');
        value[at] = c;
        name[at] = c;
        const bool value_bad = c == '\r' || c == '\n' || c == '\0';
        absl::Status s = ValidateHeader("X-Test", value);
        ASSERT_EQ(s.ok(), !value_bad) << "value byte " << b << " at " << at << " of " << len;
        if (value_bad) {
          EXPECT_THAT(s.message(), HasSubstr("has CR, LF or NUL in its value"));
        }
        EXPECT_EQ(HasCrLf(value), c == '\r' || c == '\n') << b << " at " << at;
        s = ValidateHeader(name, "v");
        ASSERT_EQ(s.ok(), tchar(static_cast<unsigned char>(b)))
            << "name byte " << b << " at " << at << " of " << len;
        if (!s.ok()) {
          EXPECT_THAT(s.message(), HasSubstr("outside RFC 9110 tchar"));
        }
      }
    }
  }
  EXPECT_THAT(ValidateHeader("", "v").message(), HasSubstr("empty name"));
  // A word whose bytes are all under 14 but none of CR, LF, NUL is clean.
  EXPECT_TRUE(ValidateHeader("X", std::string("\t\x01\x0b\x0c\x02\x03\x04\x05\x06", 9)).ok());
}

// Content-Length is read as absl::SimpleAtoi reads a uint64_t: the same values, the same
// refusals (signs, spaces, overflow, nothing at all).
TEST(ResponseWriter, ContentLengthIsReadAsSimpleAtoiReadsIt) {
  for (std::string_view v :
       {"0", "14", "007", "18446744073709551615", "18446744073709551616", "9999999999999999999",
        "99999999999999999999", "", " 14", "14 ", "+14", "-1", "1 4", "0x10", "1e3", "abc",
        "1234567890123456789", "\t14\v"}) {
    uint64_t fast = 1, slow = 2;
    const bool fast_ok = ParseContentLength(v, &fast);
    const bool slow_ok = absl::SimpleAtoi(absl::string_view(v.data(), v.size()), &slow);
    ASSERT_EQ(fast_ok, slow_ok) << "\"" << v << "\"";
    if (fast_ok) {
      EXPECT_EQ(fast, slow) << v;
    }
    const absl::Status s = ValidateResponse(200, "", {{"Content-Length", v}});
    EXPECT_EQ(s.ok(), slow_ok) << v;
  }
}

// The head is written into room made once and cut to size: what is sent is exactly the
// lines, whatever the string held before and however long the headers are.
TEST(ResponseWriter, HeadIsExactlyItsLinesWhateverTheBufferHeld) {
  std::string out(300, 'x');
  ResponseFrame frame;
  const std::string long_value(1000, 'a');
  ASSERT_TRUE(WriteResponseHead(200, "", {{"X-Long", long_value}}, Http11(), &out, &frame).ok());
  EXPECT_EQ(out, "HTTP/1.1 200 OK\r\nX-Long: " + long_value + "\r\nTransfer-Encoding: chunked\r\n\r\n");
  ResponseRequestInfo info = Http11();
  info.http11 = false;
  info.known_length = UINT64_MAX;
  ASSERT_TRUE(WriteResponseHead(200, "", {}, info, &out, &frame).ok());
  EXPECT_EQ(out, "HTTP/1.0 200 OK\r\nContent-Length: 18446744073709551615\r\n"
                 "Connection: keep-alive\r\n\r\n");
  EXPECT_EQ(frame.header_count, 2u);
}

TEST(ResponseWriter, ErrorResponseIsCompleteAndCloses) {
  EXPECT_EQ(ErrorResponse(431),
            "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Type: text/plain\r\n"
            "Content-Length: 36\r\nConnection: close\r\n\r\n431 Request Header Fields Too Large\n");
}

}  // namespace
}  // namespace kiln::protocol

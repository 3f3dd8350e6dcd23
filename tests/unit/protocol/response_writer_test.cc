// Response heads and body framing for HTTP/1.0, HTTP/1.1, HEAD and raw uwsgi responses.
#include "core/protocol/response_writer.h"

#include <string>

#include "gtest/gtest.h"

namespace kiln::protocol {
namespace {

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

TEST(ResponseWriter, ErrorResponseIsCompleteAndCloses) {
  EXPECT_EQ(ErrorResponse(431),
            "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Type: text/plain\r\n"
            "Content-Length: 36\r\nConnection: close\r\n\r\n431 Request Header Fields Too Large\n");
}

}  // namespace
}  // namespace kiln::protocol

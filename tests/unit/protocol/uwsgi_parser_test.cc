// uwsgi packets as nginx's uwsgi_params builds them, and every way a packet can be wrong.
#include "core/protocol/uwsgi_parser.h"

#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

namespace kiln::protocol {
namespace {

// The vars nginx sends for "GET /hello?x=1" with conf/uwsgi_params and one header.
std::string NginxBlock() {
  std::string b;
  AppendUwsgiVar(&b, "QUERY_STRING", "x=1");
  AppendUwsgiVar(&b, "REQUEST_METHOD", "GET");
  AppendUwsgiVar(&b, "CONTENT_TYPE", "");
  AppendUwsgiVar(&b, "CONTENT_LENGTH", "");
  AppendUwsgiVar(&b, "REQUEST_URI", "/hello?x=1");
  AppendUwsgiVar(&b, "PATH_INFO", "/hello");
  AppendUwsgiVar(&b, "DOCUMENT_ROOT", "/usr/share/nginx/html");
  AppendUwsgiVar(&b, "SERVER_PROTOCOL", "HTTP/1.1");
  AppendUwsgiVar(&b, "REQUEST_SCHEME", "http");
  AppendUwsgiVar(&b, "REMOTE_ADDR", "127.0.0.1");
  AppendUwsgiVar(&b, "REMOTE_PORT", "50312");
  AppendUwsgiVar(&b, "SERVER_PORT", "80");
  AppendUwsgiVar(&b, "SERVER_NAME", "localhost");
  AppendUwsgiVar(&b, "HTTP_HOST", "localhost");
  return b;
}

TEST(UwsgiParser, ParsesAnNginxPacketByteForByte) {
  // Header bytes written out: modifier1 0, datasize little-endian, modifier2 0.
  const std::string block = NginxBlock();
  std::string packet = MakeUwsgiPacket(block);
  ASSERT_EQ(packet[0], '\0');
  ASSERT_EQ(static_cast<unsigned char>(packet[1]), block.size() & 0xff);
  ASSERT_EQ(static_cast<unsigned char>(packet[2]), block.size() >> 8);
  packet += "BODY";
  Request req;
  HttpHead head;
  UwsgiParseResult r = ParseUwsgi(packet.data(), packet.size(), 65535, &req, &head);
  ASSERT_EQ(r.status, ParseStatus::kComplete) << r.message;
  EXPECT_EQ(r.consumed, 4 + block.size());
  EXPECT_EQ(req.vars.size(), 14u);
  EXPECT_EQ(req.Get("PATH_INFO"), "/hello");
  EXPECT_EQ(req.Get("CONTENT_LENGTH"), "");
  EXPECT_EQ(req.Get("HTTP_HOST"), "localhost");
  EXPECT_EQ(req.head_bytes, block.size());
  EXPECT_EQ(req.modifier1, 0);
}

TEST(UwsgiParser, ReadsModifiers) {
  std::string b;
  AppendUwsgiVar(&b, "PATH_INFO", "/");
  std::string packet = MakeUwsgiPacket(b, 6, 3);
  Request req;
  HttpHead head;
  ASSERT_EQ(ParseUwsgi(packet.data(), packet.size(), 65535, &req, &head).status,
            ParseStatus::kComplete);
  EXPECT_EQ(req.modifier1, 6);
  EXPECT_EQ(req.modifier2, 3);
}

TEST(UwsgiParser, IsIncompleteAtEveryPrefix) {
  std::string packet = MakeUwsgiPacket(NginxBlock());
  for (size_t n = 0; n < packet.size(); ++n) {
    Request req;
    HttpHead head;
    EXPECT_EQ(ParseUwsgi(packet.data(), n, 65535, &req, &head).status, ParseStatus::kIncomplete)
        << n;
  }
}

TEST(UwsgiParser, LastDuplicateKeyWins) {
  std::string b;
  AppendUwsgiVar(&b, "HTTP_X", "first");
  AppendUwsgiVar(&b, "HTTP_X", "second");
  std::string packet = MakeUwsgiPacket(b);
  Request req;
  HttpHead head;
  ASSERT_EQ(ParseUwsgi(packet.data(), packet.size(), 65535, &req, &head).status,
            ParseStatus::kComplete);
  EXPECT_EQ(req.Get("HTTP_X"), "second");
  EXPECT_EQ(req.vars.size(), 2u);
}

TEST(UwsgiParser, AcceptsEmptyLastValue) {
  std::string b;
  AppendUwsgiVar(&b, "A", "1");
  AppendUwsgiVar(&b, "B", "");
  std::string packet = MakeUwsgiPacket(b);
  Request req;
  HttpHead head;
  ASSERT_EQ(ParseUwsgi(packet.data(), packet.size(), 65535, &req, &head).status,
            ParseStatus::kComplete);
  EXPECT_EQ(req.Get("B"), "");
}

TEST(UwsgiParser, BlockOverLimitIsTooLargeAsSoonAsTheHeaderArrives) {
  std::string b(5000, 'x');
  std::string packet = MakeUwsgiPacket(b);
  Request req;
  HttpHead head;
  UwsgiParseResult r = ParseUwsgi(packet.data(), 4, 4096, &req, &head);
  EXPECT_EQ(r.status, ParseStatus::kError);
  EXPECT_EQ(r.error, UwsgiError::kBlockTooLarge);
  EXPECT_EQ(r.block_size, 5000u);
  EXPECT_NE(r.message.find("buffer-size"), std::string::npos) << r.message;
}

TEST(UwsgiParser, RejectsKeyLengthPastBlock) {
  std::string b;
  AppendUwsgiVar(&b, "KEY", "v");
  b[0] = 50;  // key length 50 in a 8-byte block
  std::string packet = MakeUwsgiPacket(b);
  Request req;
  HttpHead head;
  UwsgiParseResult r = ParseUwsgi(packet.data(), packet.size(), 65535, &req, &head);
  EXPECT_EQ(r.status, ParseStatus::kError);
  EXPECT_EQ(r.error, UwsgiError::kMalformed);
  EXPECT_NE(r.message.find("key length 50"), std::string::npos) << r.message;
}

TEST(UwsgiParser, RejectsValueLengthPastBlock) {
  std::string b;
  AppendUwsgiVar(&b, "KEY", "v");
  b[5] = 9;
  std::string packet = MakeUwsgiPacket(b);
  Request req;
  HttpHead head;
  UwsgiParseResult r = ParseUwsgi(packet.data(), packet.size(), 65535, &req, &head);
  EXPECT_EQ(r.error, UwsgiError::kMalformed);
  EXPECT_NE(r.message.find("KEY"), std::string::npos) << r.message;
}

TEST(UwsgiParser, RejectsZeroLengthKey) {
  std::string b;
  AppendUwsgiVar(&b, "", "v");
  std::string packet = MakeUwsgiPacket(b);
  Request req;
  HttpHead head;
  UwsgiParseResult r = ParseUwsgi(packet.data(), packet.size(), 65535, &req, &head);
  EXPECT_EQ(r.error, UwsgiError::kMalformed);
  EXPECT_NE(r.message.find("empty key"), std::string::npos);
}

TEST(UwsgiParser, RejectsTruncatedLengthField) {
  std::string b;
  AppendUwsgiVar(&b, "A", "1");
  b.push_back('\x01');  // one stray byte: half a key length
  std::string packet = MakeUwsgiPacket(b);
  Request req;
  HttpHead head;
  EXPECT_EQ(ParseUwsgi(packet.data(), packet.size(), 65535, &req, &head).error,
            UwsgiError::kMalformed);
}

TEST(UwsgiParser, PlainHttpOnAUwsgiSocketIsOverTheDefaultLimitOfSmallServers) {
  // "GET " read as a header: datasize is 'E' | 'T' << 8 = 21573, as uWSGI's docs say.
  const char http[] = "GET / HTTP/1.1\r\n";
  Request req;
  HttpHead head;
  UwsgiParseResult r = ParseUwsgi(http, sizeof(http) - 1, 4096, &req, &head);
  EXPECT_EQ(r.error, UwsgiError::kBlockTooLarge);
  EXPECT_EQ(r.block_size, 21573u);
}

// Body framing and the other facts the serving loop needs, as ParseHttp1 reports them.
HttpHead ParsedHead(const std::vector<std::pair<std::string, std::string>>& vars) {
  std::string b;
  for (const auto& [k, v] : vars) AppendUwsgiVar(&b, k, v);
  const std::string packet = MakeUwsgiPacket(b);
  Request req;
  HttpHead head;
  head.keep_alive = true;
  const UwsgiParseResult r = ParseUwsgi(packet.data(), packet.size(), 65535, &req, &head);
  EXPECT_EQ(r.status, ParseStatus::kComplete) << r.message;
  return head;
}

TEST(UwsgiParser, ReportsTheBodyFramingFromContentLength) {
  HttpHead h = ParsedHead({{"REQUEST_METHOD", "POST"}, {"CONTENT_LENGTH", "12"},
                           {"SERVER_PROTOCOL", "HTTP/1.1"}});
  EXPECT_EQ(h.framing, BodyFraming::kContentLength);
  EXPECT_EQ(h.content_length, 12u);
  EXPECT_EQ(h.minor_version, 1);
  EXPECT_FALSE(h.keep_alive);  // the connection end frames a uwsgi response
  EXPECT_FALSE(h.is_head);
  for (const char* none : {"", "0"}) {
    h = ParsedHead({{"CONTENT_LENGTH", none}});
    EXPECT_EQ(h.framing, BodyFraming::kNone) << none;
    EXPECT_EQ(h.content_length, 0u) << none;
  }
  EXPECT_EQ(ParsedHead({{"PATH_INFO", "/"}}).framing, BodyFraming::kNone);
  h = ParsedHead({{"REQUEST_METHOD", "HEAD"}, {"SERVER_PROTOCOL", "HTTP/1.0"}});
  EXPECT_TRUE(h.is_head);
  EXPECT_EQ(h.minor_version, 0);
}

// The head's three variables are noted while the packet is read: a repeated one counts by its
// last value, as Request::Get reads it (a proxy that appends its own CONTENT_LENGTH after the
// client's frames the body by the proxy's), and a name that only shares their length
// (CONTENT_LENGTH's 14 bytes: REQUEST_METHOD, HTTP_X_ABCDEFG) changes nothing.
TEST(UwsgiParser, TheHeadTakesTheLastOfARepeatedFramingVariable) {
  HttpHead h = ParsedHead({{"CONTENT_LENGTH", "12"}, {"REQUEST_METHOD", "HEAD"},
                           {"SERVER_PROTOCOL", "HTTP/1.0"}, {"CONTENT_LENGTH", "3"},
                           {"REQUEST_METHOD", "GET"}, {"SERVER_PROTOCOL", "HTTP/1.1"},
                           {"HTTP_X_ABCDEFG", "HEAD"}, {"HTTP_X_ABCDEFGH", "HTTP/1.0"}});
  EXPECT_EQ(h.framing, BodyFraming::kContentLength);
  EXPECT_EQ(h.content_length, 3u);
  EXPECT_FALSE(h.is_head);
  EXPECT_EQ(h.minor_version, 1);
  h = ParsedHead({{"CONTENT_LENGTH", "5"}, {"CONTENT_LENGTH", ""}, {"REQUEST_METHOD", "GET"},
                  {"REQUEST_METHOD", "HEAD"}, {"SERVER_PROTOCOL", "HTTP/1.1"},
                  {"SERVER_PROTOCOL", "HTTP/1.0"}});
  EXPECT_EQ(h.framing, BodyFraming::kNone);
  EXPECT_TRUE(h.is_head);
  EXPECT_EQ(h.minor_version, 0);
}

TEST(UwsgiParser, RefusesAContentLengthThatIsNotANumber) {
  for (const char* bad : {"12a", "-1", "0x10", "99999999999999999999999"}) {
    std::string b;
    AppendUwsgiVar(&b, "CONTENT_LENGTH", bad);
    const std::string packet = MakeUwsgiPacket(b);
    Request req;
    HttpHead head;
    const UwsgiParseResult r = ParseUwsgi(packet.data(), packet.size(), 65535, &req, &head);
    EXPECT_EQ(r.status, ParseStatus::kError) << bad;
    EXPECT_EQ(r.error, UwsgiError::kBadContentLength) << bad;
    EXPECT_EQ(r.message, "CONTENT_LENGTH \"" + std::string(bad) + "\" is not a number");
  }
}

}  // namespace
}  // namespace kiln::protocol

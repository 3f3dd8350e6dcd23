// Chunked bodies fed whole, split at every byte boundary, and malformed.
#include "core/protocol/chunked_decoder.h"

#include <string>

#include "gtest/gtest.h"

namespace kiln::protocol {
namespace {

const std::string kBody =
    "4\r\nWiki\r\n5;ext=1\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nX-Trailer: t\r\n\r\nNEXT";
const std::string kDecoded = "Wikipedia in\r\n\r\nchunks.";

// Feeds `parts` in order, keeping unused input as a real reader would. *rest is the number
// of input bytes left over after the body.
std::string DecodeParts(const std::vector<std::string>& parts, size_t out_cap, size_t* rest) {
  ChunkedDecoder d;
  std::string out;
  std::string pending;
  size_t total = 0;
  for (const std::string& p : parts) total += p.size();
  size_t used = 0;
  for (const std::string& p : parts) {
    pending += p;
    while (true) {
      std::string buf(out_cap, '\0');
      auto r = d.Decode(pending.data(), pending.size(), buf.data(), buf.size());
      EXPECT_NE(r.status, ParseStatus::kError) << r.message;
      out.append(buf.data(), r.produced);
      pending.erase(0, r.consumed);
      used += r.consumed;
      if (r.status == ParseStatus::kComplete) {
        *rest = total - used;
        return out;
      }
      if (r.produced == 0) break;
    }
  }
  *rest = std::string::npos;
  return out;
}

TEST(ChunkedDecoder, DecodesAWholeBodyAndStopsAtItsEnd) {
  size_t rest = 0;
  EXPECT_EQ(DecodeParts({kBody}, 1024, &rest), kDecoded);
  EXPECT_EQ(rest, 4u);  // "NEXT" belongs to the next request
}

TEST(ChunkedDecoder, DecodesWhenSplitAtEveryByteBoundary) {
  for (size_t i = 0; i <= kBody.size(); ++i) {
    for (size_t j = i; j <= kBody.size(); j += 7) {
      size_t rest = 0;
      std::string got =
          DecodeParts({kBody.substr(0, i), kBody.substr(i, j - i), kBody.substr(j)}, 1024, &rest);
      ASSERT_EQ(got, kDecoded) << i << "," << j;
      ASSERT_EQ(rest, 4u);
    }
  }
}

TEST(ChunkedDecoder, DecodesOneByteAtATimeIntoATinyBuffer) {
  std::vector<std::string> parts;
  for (char c : kBody) parts.emplace_back(1, c);
  size_t rest = 0;
  EXPECT_EQ(DecodeParts(parts, 3, &rest), kDecoded);
}

TEST(ChunkedDecoder, EmptyBodyIsJustTheLastChunk) {
  size_t rest = 0;
  EXPECT_EQ(DecodeParts({"0\r\n\r\n"}, 16, &rest), "");
  EXPECT_EQ(rest, 0u);
}

std::string ErrorOf(const std::string& in) {
  ChunkedDecoder d(ChunkedDecoder::Limits{64, 64});
  char out[256];
  auto r = d.Decode(in.data(), in.size(), out, sizeof(out));
  return r.status == ParseStatus::kError ? r.message : "";
}

TEST(ChunkedDecoder, RejectsMalformedInput) {
  EXPECT_NE(ErrorOf("x\r\n"), "");                               // not hex
  EXPECT_NE(ErrorOf("4\r\nWikiX\r\n"), "");                      // data longer than size
  EXPECT_NE(ErrorOf("4\rX"), "");                                // CR without LF
  EXPECT_NE(ErrorOf("4x\r\n"), "");                              // junk after size
  EXPECT_NE(ErrorOf("1000000000000000\r\n"), "");                // overflowing size
  EXPECT_NE(ErrorOf("1;" + std::string(100, 'e') + "\r\n"), "");  // extension over limit
  EXPECT_NE(ErrorOf("0\r\nX: " + std::string(100, 't')), "");     // trailers over limit
  EXPECT_NE(ErrorOf(" 0\r\n\r\n"), "");                           // space before the size
  EXPECT_NE(ErrorOf("0 \r\n\r\n"), "");                           // space, then no ';'
  EXPECT_NE(ErrorOf("4\t\r\nWiki\r\n0\r\n\r\n"), "");             // tab, then no ';'
  EXPECT_NE(ErrorOf("0 x\r\n\r\n"), "");                          // space, then junk
}

TEST(ChunkedDecoder, AcceptsWhitespaceBeforeAnExtension) {
  size_t rest = 0;
  EXPECT_EQ(DecodeParts({"4 ;a=b\r\nWiki\r\n0\t;x\r\n\r\n"}, 64, &rest), "Wiki");
  EXPECT_EQ(rest, 0u);
}

}  // namespace
}  // namespace kiln::protocol

// permessage-deflate (RFC 7692): the Sec-WebSocket-Extensions grammar, which offers kiln
// takes and what it answers, the RFC's 7.2.3 examples byte for byte, round trips with and
// without context takeover, the decompression-bomb limit and the zlib memory a connection
// holds.
#include "core/protocol/websocket_deflate.h"

#include <zlib.h>

#include <cstdio>
#include <initializer_list>
#include <random>
#include <string>

#include "gtest/gtest.h"

namespace kiln::protocol {
namespace {

std::string Bytes(std::initializer_list<int> b) {
  std::string s;
  for (int c : b) s.push_back(static_cast<char>(c));
  return s;
}

std::string Random(size_t n, unsigned seed = 7) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

std::string Repetitive(size_t n) {
  std::string s;
  while (s.size() < n) s += "{\"user\": \"someone\", \"status\": \"online\", \"count\": 42}\n";
  s.resize(n);
  return s;
}

// ---- the header ----

TEST(WsExtensions, ParsesTheGrammar) {
  absl::StatusOr<std::vector<WsExtensionOffer>> o = ParseWsExtensions(
      "permessage-deflate; client_max_window_bits, foo;a=1 ; b=\"x\\yz\",, bar");
  ASSERT_TRUE(o.ok()) << o.status();
  ASSERT_EQ(o->size(), 3u);
  EXPECT_EQ((*o)[0].name, "permessage-deflate");
  ASSERT_EQ((*o)[0].params.size(), 1u);
  EXPECT_EQ((*o)[0].params[0].name, "client_max_window_bits");
  EXPECT_FALSE((*o)[0].params[0].value.has_value());
  EXPECT_EQ((*o)[1].name, "foo");
  ASSERT_EQ((*o)[1].params.size(), 2u);
  EXPECT_EQ((*o)[1].params[0].value, "1");
  EXPECT_EQ((*o)[1].params[1].value, "xyz");  // quoted-string, unescaped
  EXPECT_EQ((*o)[2].name, "bar");
  EXPECT_TRUE(ParseWsExtensions("")->empty());
}

TEST(WsExtensions, RefusesWhatIsOutsideTheGrammar) {
  for (const char* bad : {"permessage-deflate;", "permessage-deflate; =1", "a b", "a;b=",
                          "a;b=\"1", "a;b=\"1 2\"", "a;b=\"\"", "\"a\"", "a;b=1 c", "a/b"}) {
    EXPECT_FALSE(ParseWsExtensions(bad).ok()) << bad;
  }
}

// ---- negotiation (RFC 7692 5, 7.1) ----

TEST(WsDeflateNegotiation, WebsocketsLibraryOffer) {
  // What Python's websockets client offers by default.
  std::optional<WsDeflateAgreement> a =
      NegotiateWsDeflate("permessage-deflate; client_max_window_bits");
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->response,
            "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12");
  EXPECT_EQ(a->server_max_window_bits, 12);
  EXPECT_EQ(a->client_max_window_bits, 12);
  EXPECT_FALSE(a->server_no_context_takeover);
  EXPECT_FALSE(a->client_no_context_takeover);
}

TEST(WsDeflateNegotiation, ParametersAsTheRfcAsks) {
  // No client_max_window_bits offered: it must not be answered; the client may use 2^15.
  std::optional<WsDeflateAgreement> a = NegotiateWsDeflate("permessage-deflate");
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->response, "permessage-deflate; server_max_window_bits=12");
  EXPECT_EQ(a->client_max_window_bits, 15);
  // Smaller windows are taken as offered, larger ones capped at kiln's.
  a = NegotiateWsDeflate(
      "permessage-deflate; server_max_window_bits=10; client_max_window_bits=9");
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->response,
            "permessage-deflate; server_max_window_bits=10; client_max_window_bits=9");
  a = NegotiateWsDeflate("permessage-deflate; server_max_window_bits=\"15\"");
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->server_max_window_bits, 12);
  // No context takeover, either side: answered, and so agreed.
  a = NegotiateWsDeflate(
      "permessage-deflate; server_no_context_takeover; client_no_context_takeover");
  ASSERT_TRUE(a.has_value());
  EXPECT_TRUE(a->server_no_context_takeover);
  EXPECT_TRUE(a->client_no_context_takeover);
  EXPECT_EQ(a->response,
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
            "server_max_window_bits=12");
}

TEST(WsDeflateNegotiation, DeclinesBadOffersAndTakesTheNext) {
  for (const char* bad :
       {"permessage-deflate; foo", "permessage-deflate; server_no_context_takeover=1",
        "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
        "permessage-deflate; server_max_window_bits", "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; server_max_window_bits=7", "permessage-deflate; server_max_window_bits=09",
        "permessage-deflate; client_max_window_bits=x",
        "permessage-deflate; client_max_window_bits=10; client_max_window_bits=11",
        // zlib cannot deflate with a 256-byte window: kiln cannot honour this one.
        "permessage-deflate; server_max_window_bits=8",
        // Other extensions are never taken.
        "x-webkit-deflate-frame", "permessage-deflate-x"}) {
    EXPECT_FALSE(NegotiateWsDeflate(bad).has_value()) << bad;
    std::optional<WsDeflateAgreement> a =
        NegotiateWsDeflate(std::string(bad) + ", permessage-deflate; client_no_context_takeover");
    ASSERT_TRUE(a.has_value()) << bad;
    EXPECT_TRUE(a->client_no_context_takeover) << bad;
    EXPECT_EQ(a->response,
              "permessage-deflate; client_no_context_takeover; server_max_window_bits=12");
  }
  EXPECT_FALSE(NegotiateWsDeflate("permessage-deflate; ;").has_value());  // malformed
  // server_max_window_bits=8 in the first offer, a fallback without it second (what
  // browsers-era clients sent): the fallback is taken.
  std::optional<WsDeflateAgreement> a = NegotiateWsDeflate(
      "permessage-deflate; server_max_window_bits=8, permessage-deflate; server_max_window_bits=9");
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->server_max_window_bits, 9);
}

// ---- inflating (RFC 7692 7.2.2 and the examples of 7.2.3) ----

std::string InflateAll(WsInflater& in, const std::string& payload, uint64_t limit = 1 << 20) {
  std::string out;
  EXPECT_EQ(in.Inflate(payload, true, limit, &out), WsInflater::Result::kOk);
  return out;
}

TEST(WsInflater, RfcExamples) {
  WsInflater in(15, false);
  // 7.2.3.1: "Hello" in one compressed block; 7.2.3.2: again, sharing the LZ77 window.
  EXPECT_EQ(InflateAll(in, Bytes({0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00})), "Hello");
  EXPECT_EQ(InflateAll(in, Bytes({0xf2, 0x00, 0x11, 0x00, 0x00})), "Hello");
  // 7.2.3.3: a block with no compression.
  EXPECT_EQ(InflateAll(in, Bytes({0x00, 0x05, 0x00, 0xfa, 0xff, 'H', 'e', 'l', 'l', 'o', 0x00})),
            "Hello");
  // 7.2.3.5: two blocks in one message.
  EXPECT_EQ(InflateAll(in, Bytes({0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9,
                                  0xc9, 0x07, 0x00})),
            "Hello");
  // 7.2.3.4: a block with BFINAL set, then one more byte; the stream goes on after it.
  EXPECT_EQ(InflateAll(in, Bytes({0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00})), "Hello");
  EXPECT_EQ(InflateAll(in, Bytes({0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00})), "Hello");
}

// A client that ends each message's stream with BFINAL (and nothing after) and still refers
// back to the previous message: the window is carried over the stream's end.
TEST(WsInflater, FinalBlockKeepsTheWindowWithContextTakeover) {
  z_stream zs{};
  ASSERT_EQ(deflateInit2(&zs, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
  const std::string text = Repetitive(3000);
  auto finish = [&zs](const std::string& msg) {
    std::string out(4096, '\0');
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(msg.data()));
    zs.avail_in = static_cast<uInt>(msg.size());
    zs.next_out = reinterpret_cast<Bytef*>(out.data());
    zs.avail_out = static_cast<uInt>(out.size());
    EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
    out.resize(out.size() - zs.avail_out);
    return out;
  };
  const std::string first = finish(text);
  ASSERT_EQ(deflateReset(&zs), Z_OK);
  ASSERT_EQ(deflateSetDictionary(&zs, reinterpret_cast<const Bytef*>(text.data()),
                                 static_cast<uInt>(text.size())),
            Z_OK);
  const std::string second = finish(text);
  deflateEnd(&zs);
  EXPECT_LT(second.size(), 40u);  // back-references into the first message
  WsInflater in(15, false);
  EXPECT_EQ(InflateAll(in, first), text);
  EXPECT_EQ(InflateAll(in, second), text);
}

// A compressed message with no payload bytes is empty, and the next one still inflates.
TEST(WsInflater, EmptyCompressedMessage) {
  WsInflater in(15, false);
  EXPECT_EQ(InflateAll(in, ""), "");
  EXPECT_EQ(InflateAll(in, Bytes({0x00})), "");  // 7.2.3.6: an empty stored block
  EXPECT_EQ(InflateAll(in, Bytes({0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00})), "Hello");
}

TEST(WsInflater, CorruptDataIsReported) {
  WsInflater in(15, false);
  std::string out;
  EXPECT_EQ(in.Inflate(Bytes({0xff, 0xff, 0xff, 0xff, 0x00}), true, 1 << 20, &out),
            WsInflater::Result::kCorrupt);
}

// A decompression bomb: 8 MiB of zeros compress to some 8 KiB; inflated against a 64 KiB
// limit it stops at the limit, and the output never took more memory than that.
TEST(WsInflater, BombStopsAtTheLimit) {
  WsDeflater d(15, false, 8, 9);
  std::string wire;
  ASSERT_TRUE(d.Compress(std::string(8 << 20, '\0'), &wire).ok());
  EXPECT_LT(wire.size(), 16u << 10);
  const uint64_t limit = 64 << 10;
  WsInflater in(15, false);
  std::string out;
  EXPECT_EQ(in.Inflate(wire, true, limit, &out), WsInflater::Result::kTooBig);
  EXPECT_LE(out.size(), limit + 1);
  EXPECT_LE(out.capacity(), limit + 1);
  // In frames: the limit counts the message, not a frame.
  WsInflater in2(15, false);
  out.clear();
  out.shrink_to_fit();
  const size_t half = wire.size() / 2;
  EXPECT_EQ(in2.Inflate(std::string_view(wire).substr(0, half), false, limit, &out),
            WsInflater::Result::kTooBig);
  EXPECT_LE(out.capacity(), limit + 1);
}

TEST(WsInflater, MessageOfExactlyTheLimitPasses) {
  const std::string msg = Repetitive(100000);
  WsDeflater d(12, false);
  std::string wire;
  ASSERT_TRUE(d.Compress(msg, &wire).ok());
  WsInflater in(12, false);
  std::string out;
  EXPECT_EQ(in.Inflate(wire, true, msg.size(), &out), WsInflater::Result::kOk);
  EXPECT_EQ(out, msg);
  WsInflater in2(12, false);
  out.clear();
  EXPECT_EQ(in2.Inflate(wire, true, msg.size() - 1, &out), WsInflater::Result::kTooBig);
}

// ---- round trips ----

TEST(WsDeflater, RoundTripsWithContextTakeover) {
  WsDeflater d(kWsDeflateWindowBits, false);
  WsInflater in(kWsInflateWindowBits, false);
  const std::string text = Repetitive(200000), random = Random(100000);
  std::string w1, w2, w3;
  ASSERT_TRUE(d.Compress(text, &w1).ok());
  ASSERT_TRUE(d.Compress(random, &w2).ok());
  ASSERT_TRUE(d.Compress(text.substr(0, 500), &w3).ok());
  EXPECT_LT(w1.size(), text.size() / 10);
  EXPECT_LT(w2.size(), random.size() + random.size() / 64);  // barely longer
  EXPECT_EQ(InflateAll(in, w1), text);
  EXPECT_EQ(InflateAll(in, w2), random);
  EXPECT_EQ(InflateAll(in, w3), text.substr(0, 500));
  // The trailing 0x00 0x00 0xff 0xff is not on the wire.
  EXPECT_NE(w1.substr(w1.size() - 4), Bytes({0x00, 0x00, 0xff, 0xff}));
}

TEST(WsDeflater, ContextTakeoverMakesRepeatsSmall) {
  const std::string msg = Repetitive(300) + "the same message again";
  WsDeflater keep(kWsDeflateWindowBits, false), fresh(kWsDeflateWindowBits, true);
  std::string k1, k2, f1, f2;
  ASSERT_TRUE(keep.Compress(msg, &k1).ok());
  ASSERT_TRUE(keep.Compress(msg, &k2).ok());
  ASSERT_TRUE(fresh.Compress(msg, &f1).ok());
  ASSERT_TRUE(fresh.Compress(msg, &f2).ok());
  EXPECT_LT(k2.size(), 12u);  // one back-reference
  EXPECT_EQ(f1, f2);          // each message on its own
  WsInflater in(kWsInflateWindowBits, true);
  EXPECT_EQ(InflateAll(in, f1), msg);
  EXPECT_EQ(InflateAll(in, f2), msg);
}

TEST(WsDeflater, FragmentedPayloadInflates) {
  const std::string msg = Repetitive(50000) + Random(20000);
  WsDeflater d(kWsDeflateWindowBits, false);
  std::string wire;
  ASSERT_TRUE(d.Compress(msg, &wire).ok());
  WsInflater in(kWsInflateWindowBits, false);
  std::string out;
  for (size_t at = 0; at < wire.size(); at += 777) {
    const std::string_view piece = std::string_view(wire).substr(at, 777);
    ASSERT_EQ(in.Inflate(piece, at + 777 >= wire.size(), 1 << 20, &out),
              WsInflater::Result::kOk);
  }
  EXPECT_EQ(out, msg);
}

// ---- memory ----

TEST(WsDeflateMemory, BoundedLazyAndFreed) {
  const size_t before = WsZlibLiveBytes();
  {
    WsDeflater d(kWsDeflateWindowBits, false);
    WsInflater small(kWsInflateWindowBits, false), full(15, false);
    EXPECT_EQ(d.memory() + small.memory() + full.memory(), 0u);  // nothing until used
    const std::string msg = Repetitive(100000);
    std::string wire, out;
    ASSERT_TRUE(d.Compress(msg, &wire).ok());
    EXPECT_EQ(InflateAll(small, wire), msg);
    EXPECT_EQ(InflateAll(full, wire), msg);
    // The figures docs/websocket.md gives.
    EXPECT_GT(d.memory(), 0u);
    EXPECT_LE(d.memory(), 38u << 10) << d.memory();
    EXPECT_LE(small.memory(), 11u << 10) << small.memory();
    EXPECT_LE(full.memory(), 39u << 10) << full.memory();
    std::printf("zlib state: deflater %zu, inflater (2^12) %zu, inflater (2^15) %zu bytes\n",
                d.memory(), small.memory(), full.memory());
    EXPECT_EQ(WsZlibLiveBytes() - before, d.memory() + small.memory() + full.memory());
  }
  EXPECT_EQ(WsZlibLiveBytes(), before);  // freed with the codecs
  // Without context takeover nothing is held between messages.
  WsDeflater d(kWsDeflateWindowBits, true);
  WsInflater in(kWsInflateWindowBits, true);
  std::string wire;
  ASSERT_TRUE(d.Compress("hello hello hello", &wire).ok());
  EXPECT_EQ(InflateAll(in, wire), "hello hello hello");
  EXPECT_EQ(d.memory() + in.memory(), 0u);
  EXPECT_EQ(WsZlibLiveBytes(), before);
}

}  // namespace
}  // namespace kiln::protocol

// WebSocket frames: the RFC 6455 5.7 examples byte for byte, each framing rule of section 5
// with the close code it earns, Autobahn-style fragmentation and UTF-8 cases, and the writer.
#include "core/protocol/websocket_frame.h"

#include <initializer_list>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace kiln::protocol {
namespace {

constexpr uint8_t kKey[4] = {0x37, 0xfa, 0x21, 0x3d};  // the RFC's example key

std::string Bytes(std::initializer_list<int> b) {
  std::string s;
  for (int c : b) s.push_back(static_cast<char>(c));
  return s;
}

// A client frame: first byte b0, masked with kKey, the length in the form `len_form` asks
// (0: shortest, 16 or 64 to force the extended forms).
std::string ClientFrame(uint8_t b0, std::string payload, int len_form = 0) {
  std::string f(1, static_cast<char>(b0));
  const uint64_t n = payload.size();
  if (len_form == 0 && n <= 125) {
    f.push_back(static_cast<char>(0x80 | n));
  } else if (len_form != 64 && n <= 0xFFFF) {
    f.push_back(static_cast<char>(0x80 | 126));
    f.push_back(static_cast<char>(n >> 8));
    f.push_back(static_cast<char>(n));
  } else {
    f.push_back(static_cast<char>(0x80 | 127));
    for (int i = 7; i >= 0; --i) f.push_back(static_cast<char>(n >> (8 * i)));
  }
  f.append(reinterpret_cast<const char*>(kKey), 4);
  ApplyWsMask(payload.data(), payload.size(), kKey);
  return f + payload;
}

// Runs every frame in `wire` through one parser. The frames' views point into the parser's
// copy of `wire`, gone on return: payloads are copied out, and only the fields that are not
// views (opcode, fin, close_code) may be read from `frames`.
struct Parsed {
  std::vector<WsFrame> frames;
  std::vector<std::string> payloads;
  WsParseResult last;  // the result that stopped the run (kNeedMore at the end, or kError)
};

Parsed ParseAll(std::string wire, WsParserOptions opts = {}) {
  WsFrameParser p(opts);
  Parsed run;
  size_t off = 0;
  while (true) {
    WsParseResult r = p.Parse(wire.data() + off, wire.size() - off);
    if (r.status != WsParseStatus::kFrame) {
      run.last = r;
      return run;
    }
    run.frames.push_back(r.frame);
    run.payloads.emplace_back(r.frame.payload);
    off += r.consumed;
  }
}

WsParserOptions ClientRole(uint64_t max = 1 << 20) { return {max, /*expect_masked=*/false}; }

uint16_t ErrorCode(const std::string& wire, WsParserOptions opts = {}) {
  Parsed r = ParseAll(wire, opts);
  EXPECT_EQ(r.last.status, WsParseStatus::kError);
  return r.last.close_code;
}

// --- RFC 6455 5.7 examples ---

TEST(WsFrameRfcExamples, SingleFrameUnmaskedText) {
  Parsed r = ParseAll(Bytes({0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}), ClientRole());
  ASSERT_EQ(r.frames.size(), 1u);
  EXPECT_EQ(r.frames[0].opcode, WsOpcode::kText);
  EXPECT_TRUE(r.frames[0].fin);
  EXPECT_EQ(r.payloads[0], "Hello");
  EXPECT_EQ(r.last.status, WsParseStatus::kNeedMore);
}

TEST(WsFrameRfcExamples, SingleFrameMaskedText) {
  std::string wire = Bytes({0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58});
  WsFrameParser p;
  WsParseResult r = p.Parse(wire.data(), wire.size());
  ASSERT_EQ(r.status, WsParseStatus::kFrame) << r.error;
  EXPECT_EQ(r.consumed, wire.size());
  EXPECT_EQ(r.frame.payload, "Hello");
  // Unmasked in place: the view is the caller's buffer, not a copy.
  EXPECT_EQ(r.frame.payload.data(), wire.data() + 6);
  EXPECT_EQ(wire.substr(6), "Hello");
}

TEST(WsFrameRfcExamples, FragmentedUnmaskedText) {
  Parsed r = ParseAll(Bytes({0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f}), ClientRole());
  ASSERT_EQ(r.frames.size(), 2u);
  EXPECT_EQ(r.frames[0].opcode, WsOpcode::kText);
  EXPECT_FALSE(r.frames[0].fin);
  EXPECT_EQ(r.frames[1].opcode, WsOpcode::kContinuation);
  EXPECT_EQ(r.frames[1].message_opcode, WsOpcode::kText);
  EXPECT_TRUE(r.frames[1].fin);
  EXPECT_EQ(r.payloads[0] + r.payloads[1], "Hello");
}

TEST(WsFrameRfcExamples, UnmaskedPingAndMaskedPong) {
  Parsed ping = ParseAll(Bytes({0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}), ClientRole());
  ASSERT_EQ(ping.frames.size(), 1u);
  EXPECT_EQ(ping.frames[0].opcode, WsOpcode::kPing);
  EXPECT_EQ(ping.payloads[0], "Hello");
  Parsed pong =
      ParseAll(Bytes({0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}));
  ASSERT_EQ(pong.frames.size(), 1u);
  EXPECT_EQ(pong.frames[0].opcode, WsOpcode::kPong);
  EXPECT_EQ(pong.payloads[0], "Hello");
  // The writer makes the RFC's ping byte for byte.
  uint8_t out[kWsMaxControlFrame];
  const size_t n = BuildWsControlFrame(WsOpcode::kPing, "Hello", out);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(out), n),
            Bytes({0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}));
}

TEST(WsFrameRfcExamples, BinaryOf256BytesAnd64KiBInOneUnmaskedFrame) {
  const std::string b256(256, '\xab');
  Parsed r = ParseAll(Bytes({0x82, 0x7E, 0x01, 0x00}) + b256, ClientRole());
  ASSERT_EQ(r.frames.size(), 1u);
  EXPECT_EQ(r.frames[0].opcode, WsOpcode::kBinary);
  EXPECT_EQ(r.payloads[0], b256);

  const std::string b64k(65536, '\xcd');
  Parsed s = ParseAll(Bytes({0x82, 0x7F, 0, 0, 0, 0, 0, 0x01, 0, 0}) + b64k, ClientRole());
  ASSERT_EQ(s.frames.size(), 1u);
  EXPECT_EQ(s.payloads[0].size(), 65536u);
  EXPECT_EQ(s.payloads[0], b64k);

  // And the writer's headers for them are the RFC's.
  uint8_t h[kWsMaxHeader];
  EXPECT_EQ(std::string(reinterpret_cast<char*>(h), WriteWsFrameHeader(WsOpcode::kBinary, true,
                                                                       256, h)),
            Bytes({0x82, 0x7E, 0x01, 0x00}));
  EXPECT_EQ(std::string(reinterpret_cast<char*>(h), WriteWsFrameHeader(WsOpcode::kBinary, true,
                                                                       65536, h)),
            Bytes({0x82, 0x7F, 0, 0, 0, 0, 0, 0x01, 0, 0}));
  EXPECT_EQ(std::string(reinterpret_cast<char*>(h), WriteWsFrameHeader(WsOpcode::kText, true,
                                                                       5, h)),
            Bytes({0x81, 0x05}));
}

// --- Incremental parsing ---

TEST(WsFrameParser, NeedsMoreUntilTheWholeFrameAndTouchesNothingMeanwhile) {
  const std::string payload(300, 'z');
  std::string wire = ClientFrame(0x82, payload);  // 16-bit length: 2 + 2 + 4 + 300 bytes
  const std::string original = wire;
  WsFrameParser p;
  for (size_t len = 0; len < wire.size(); ++len) {
    WsParseResult r = p.Parse(wire.data(), len);
    ASSERT_EQ(r.status, WsParseStatus::kNeedMore) << len;
    EXPECT_GT(r.needed, len);
    EXPECT_LE(r.needed, wire.size());
    ASSERT_EQ(wire, original) << "bytes changed before the frame was whole, at " << len;
  }
  WsParseResult r = p.Parse(wire.data(), 8);
  EXPECT_EQ(r.needed, wire.size());  // the header tells the whole size
  r = p.Parse(wire.data(), wire.size());
  ASSERT_EQ(r.status, WsParseStatus::kFrame);
  EXPECT_EQ(r.frame.payload, payload);
}

TEST(WsFrameParser, SeveralFramesInOneRead) {
  Parsed r = ParseAll(ClientFrame(0x81, "one") + ClientFrame(0x82, "two") + ClientFrame(0x8A, ""));
  ASSERT_EQ(r.frames.size(), 3u);
  EXPECT_EQ(r.payloads[0], "one");
  EXPECT_EQ(r.payloads[1], "two");
  EXPECT_EQ(r.frames[2].opcode, WsOpcode::kPong);
  EXPECT_TRUE(r.payloads[2].empty());
}

TEST(WsFrameParser, AcceptsNonMinimalLengthForms) {
  Parsed r = ParseAll(ClientFrame(0x81, "hi", 16) + ClientFrame(0x81, "hi", 64));
  ASSERT_EQ(r.frames.size(), 2u) << r.last.error;
  EXPECT_EQ(r.payloads[1], "hi");
}

// --- Header rules: each a protocol error (1002) ---

TEST(WsFrameParser, RsvBitsWithoutAnExtensionAre1002) {
  for (uint8_t rsv : {0x40, 0x20, 0x10}) {
    EXPECT_EQ(ErrorCode(ClientFrame(static_cast<uint8_t>(0x81 | rsv), "x")), 1002);
  }
}

// --- permessage-deflate (RFC 7692 6): RSV1 on the first frame of a compressed message ---

WsParserOptions Deflate(uint64_t max = 1 << 20) {
  WsParserOptions o{max, true};
  o.per_message_deflate = true;
  return o;
}

TEST(WsFrameParser, Rsv1MarksACompressedMessageWhenNegotiated) {
  // The payload is DEFLATE data: not UTF-8, and not checked as text here.
  Parsed r = ParseAll(ClientFrame(0x41, "\xf2\x48") + ClientFrame(0x80, "\xcd\xc9") +
                          ClientFrame(0x81, "plain"),
                      Deflate());
  ASSERT_EQ(r.frames.size(), 3u) << r.last.error;
  EXPECT_TRUE(r.frames[0].compressed);
  EXPECT_EQ(r.frames[0].message_opcode, WsOpcode::kText);
  EXPECT_TRUE(r.frames[1].compressed);  // a continuation of the compressed message
  EXPECT_FALSE(r.frames[2].compressed);  // a message may also go uncompressed
}

TEST(WsFrameParser, Rsv1OnAControlOrContinuationFrameIs1002) {
  EXPECT_EQ(ErrorCode(ClientFrame(0xC9, "p"), Deflate()), 1002);  // ping
  EXPECT_EQ(ErrorCode(ClientFrame(0xC8, ""), Deflate()), 1002);   // close
  EXPECT_EQ(ErrorCode(ClientFrame(0x42, "a") + ClientFrame(0xC0, "b"), Deflate()), 1002);
  EXPECT_EQ(ErrorCode(ClientFrame(0x02, "a") + ClientFrame(0xC0, "b"), Deflate()), 1002);
  // RSV2 and RSV3 stay errors with the extension.
  EXPECT_EQ(ErrorCode(ClientFrame(0xA1, "x"), Deflate()), 1002);
  EXPECT_EQ(ErrorCode(ClientFrame(0x91, "x"), Deflate()), 1002);
}

TEST(WsFrameParser, CompressedWireSizeHasDeflatesSlack) {
  // 1 KiB cap: a compressed frame may take 1024 + 64 + 64 bytes on the wire, not more.
  EXPECT_EQ(ParseAll(ClientFrame(0xC2, std::string(1152, 'z')), Deflate(1024)).frames.size(),
            1u);
  EXPECT_EQ(ErrorCode(ClientFrame(0xC2, std::string(1153, 'z')), Deflate(1024)), 1009);
  EXPECT_EQ(ErrorCode(ClientFrame(0x82, std::string(1025, 'z')), Deflate(1024)), 1009);
}

TEST(WsFrameWriter, CompressedSetsRsv1) {
  uint8_t h[kWsMaxHeader];
  ASSERT_EQ(WriteWsFrameHeader(WsOpcode::kText, true, 5, h, /*compressed=*/true), 2u);
  EXPECT_EQ(h[0], 0xC1);
}

TEST(WsFrameParser, ReservedOpcodesAre1002) {
  for (uint8_t op : {3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF}) {
    EXPECT_EQ(ErrorCode(ClientFrame(static_cast<uint8_t>(0x80 | op), "")), 1002) << int{op};
  }
}

TEST(WsFrameParser, ClientFramesMustBeMaskedAndServerFramesNot) {
  EXPECT_EQ(ErrorCode(Bytes({0x81, 0x02, 'h', 'i'})), 1002);
  EXPECT_EQ(ErrorCode(ClientFrame(0x81, "hi"), ClientRole()), 1002);
}

TEST(WsFrameParser, ControlFramesOver125BytesOrFragmentedAre1002) {
  EXPECT_EQ(ErrorCode(ClientFrame(0x89, std::string(126, 'p'))), 1002);
  EXPECT_EQ(ErrorCode(ClientFrame(0x89, std::string(125, 'p'), 16)), 1002);  // length 126 form
  EXPECT_EQ(ErrorCode(ClientFrame(0x09, "p")), 1002);                       // FIN clear
  Parsed ok = ParseAll(ClientFrame(0x89, std::string(125, 'p')));
  EXPECT_EQ(ok.frames.size(), 1u);
}

TEST(WsFrameParser, SixtyFourBitLengthWithItsTopBitSetIs1002) {
  std::string wire = Bytes({0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 1}) +
                     std::string(reinterpret_cast<const char*>(kKey), 4);
  EXPECT_EQ(ErrorCode(wire, {~uint64_t{0}, true}), 1002);
}

// --- Fragmentation (Autobahn section 5) ---

TEST(WsFrameParser, ContinuationWithoutAStartIs1002) {
  EXPECT_EQ(ErrorCode(ClientFrame(0x80, "lo")), 1002);
  EXPECT_EQ(ErrorCode(ClientFrame(0x81, "done") + ClientFrame(0x80, "more")), 1002);
}

TEST(WsFrameParser, NewDataFrameInsideAFragmentedMessageIs1002) {
  EXPECT_EQ(ErrorCode(ClientFrame(0x01, "Hel") + ClientFrame(0x81, "lo")), 1002);
  EXPECT_EQ(ErrorCode(ClientFrame(0x02, "a") + ClientFrame(0x02, "b")), 1002);
}

TEST(WsFrameParser, PingInterleavedInAFragmentedMessage) {
  Parsed r = ParseAll(ClientFrame(0x01, "Hel") + ClientFrame(0x89, "ping") +
                   ClientFrame(0x00, "l") + ClientFrame(0x8A, "") + ClientFrame(0x80, "o"));
  ASSERT_EQ(r.frames.size(), 5u) << r.last.error;
  EXPECT_EQ(r.frames[1].opcode, WsOpcode::kPing);
  EXPECT_EQ(r.payloads[1], "ping");
  EXPECT_EQ(r.frames[4].message_opcode, WsOpcode::kText);
  EXPECT_EQ(r.payloads[0] + r.payloads[2] + r.payloads[4], "Hello");
}

TEST(WsFrameParser, AMessageMayBeFragmentedIntoEmptyFrames) {
  Parsed r = ParseAll(ClientFrame(0x02, "") + ClientFrame(0x00, "") + ClientFrame(0x80, ""));
  ASSERT_EQ(r.frames.size(), 3u) << r.last.error;
  EXPECT_EQ(r.frames[2].message_opcode, WsOpcode::kBinary);
}

// --- Size cap (websocket-max-size): 1009 on the header, before the payload arrives ---

TEST(WsFrameParser, MessageOverTheCapIs1009OnTheHeaderAlone) {
  WsFrameParser p({1000, true});
  std::string wire = ClientFrame(0x82, std::string(1001, 'x'));
  WsParseResult r = p.Parse(wire.data(), 8);  // header only
  EXPECT_EQ(r.status, WsParseStatus::kError);
  EXPECT_EQ(r.close_code, 1009);
  // 2^62 announced: refused, never "need 2^62 bytes".
  std::string huge = Bytes({0x82, 0xFF, 0x40, 0, 0, 0, 0, 0, 0, 0}) +
                     std::string(reinterpret_cast<const char*>(kKey), 4);
  EXPECT_EQ(ErrorCode(huge), 1009);
}

TEST(WsFrameParser, CapCountsAllFragmentsOfAMessage) {
  const WsParserOptions cap{1000, true};
  Parsed exact = ParseAll(ClientFrame(0x02, std::string(500, 'a')) +
                       ClientFrame(0x80, std::string(500, 'b')) +
                       ClientFrame(0x82, std::string(1000, 'c')), cap);
  EXPECT_EQ(exact.frames.size(), 3u) << exact.last.error;
  EXPECT_EQ(ErrorCode(ClientFrame(0x02, std::string(500, 'a')) +
                          ClientFrame(0x00, std::string(500, 'b')) + ClientFrame(0x80, "c"),
                      cap),
            1009);
}

// --- UTF-8 of text messages (Autobahn section 6): 1007 ---

TEST(WsFrameParser, TextWithAUtf8SequenceSplitAcrossFragments) {
  // κόσμε with the cuts inside code points, and a 4-byte sequence cut 1|3.
  const std::string text = "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf0\x9f\x98\x80";
  Parsed r = ParseAll(ClientFrame(0x01, text.substr(0, 1)) + ClientFrame(0x00, text.substr(1, 3)) +
                   ClientFrame(0x89, "") + ClientFrame(0x00, text.substr(4, 8)) +
                   ClientFrame(0x80, text.substr(12)));
  ASSERT_EQ(r.frames.size(), 5u) << r.last.error;
  EXPECT_EQ(r.payloads[0] + r.payloads[1] + r.payloads[3] + r.payloads[4], text);
}

TEST(WsFrameParser, InvalidUtf8FailsInTheFirstFragmentThatShowsIt) {
  // Autobahn 6.4.1: the message is refused at its first fragment, before it ends.
  Parsed r = ParseAll(ClientFrame(0x01, "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4\x90"));
  EXPECT_TRUE(r.frames.empty());
  EXPECT_EQ(r.last.status, WsParseStatus::kError);
  EXPECT_EQ(r.last.close_code, 1007);
  for (const char* bad : {"\xc0\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe0\x80\xaf"}) {
    EXPECT_EQ(ErrorCode(ClientFrame(0x81, bad)), 1007);
  }
}

TEST(WsFrameParser, TextEndingInsideASequenceIs1007) {
  EXPECT_EQ(ErrorCode(ClientFrame(0x81, "ok\xe2\x82")), 1007);
  EXPECT_EQ(ErrorCode(ClientFrame(0x01, "ok\xe2") + ClientFrame(0x80, "\x82")), 1007);
}

TEST(WsFrameParser, BinaryIsNotCheckedAndUtf8StateDoesNotLeakIntoTheNextMessage) {
  Parsed r = ParseAll(ClientFrame(0x82, "\xff\xfe") + ClientFrame(0x81, "a") +
                   ClientFrame(0x02, "\xe2") + ClientFrame(0x80, "\x82") + ClientFrame(0x81, "b"));
  EXPECT_EQ(r.frames.size(), 5u) << r.last.error;
}

// --- Close frames (Autobahn section 7) ---

TEST(WsFrameParser, CloseFramePayloads) {
  Parsed empty = ParseAll(ClientFrame(0x88, ""));
  ASSERT_EQ(empty.frames.size(), 1u);
  EXPECT_EQ(empty.frames[0].close_code, ws_close::kNoStatus);
  Parsed bye = ParseAll(ClientFrame(0x88, Bytes({0x03, 0xe8}) + "bye"));
  ASSERT_EQ(bye.frames.size(), 1u);
  EXPECT_EQ(bye.frames[0].close_code, 1000);
  EXPECT_EQ(bye.payloads[0].substr(2), "bye");
  std::string wire = ClientFrame(0x88, Bytes({0x0f, 0xa0}) + "gone");
  WsFrameParser p;
  WsParseResult r = p.Parse(wire.data(), wire.size());
  ASSERT_EQ(r.status, WsParseStatus::kFrame);
  EXPECT_EQ(r.frame.close_code, 4000);
  EXPECT_EQ(r.frame.close_reason, "gone");
  EXPECT_EQ(r.frame.close_reason.data(), wire.data() + 8);  // a view into the caller's buffer
  EXPECT_EQ(ErrorCode(ClientFrame(0x88, "\x03")), 1002);  // 1-byte payload
  EXPECT_EQ(ErrorCode(ClientFrame(0x88, Bytes({0x03, 0xe8}) + "\xff")), 1007);
}

TEST(WsFrameParser, CloseCodesValidAndInvalid) {
  auto close = [](int code) {
    return ClientFrame(0x88, Bytes({(code >> 8) & 0xff, code & 0xff}));
  };
  for (int code : {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000,
                   3999, 4000, 4999}) {
    Parsed r = ParseAll(close(code));
    ASSERT_EQ(r.frames.size(), 1u) << code << ": " << r.last.error;
    EXPECT_EQ(r.frames[0].close_code, code);
  }
  for (int code : {0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535}) {
    EXPECT_EQ(ErrorCode(close(code)), 1002) << code;
  }
}

TEST(WsFrameParser, SpentAfterAnError) {
  WsFrameParser p;
  std::string bad = ClientFrame(0xC1, "x");
  ASSERT_EQ(p.Parse(bad.data(), bad.size()).status, WsParseStatus::kError);
  std::string good = ClientFrame(0x81, "x");
  EXPECT_EQ(p.Parse(good.data(), good.size()).status, WsParseStatus::kError);
}

// --- Masking ---

TEST(WsMask, WordAtATimeMatchesByteAtATimeForEveryLengthAndPhase) {
  for (size_t phase = 0; phase < 4; ++phase) {
    for (size_t len = 0; len < 40; ++len) {
      std::string data;
      for (size_t i = 0; i < len; ++i) data.push_back(static_cast<char>(i * 7 + 1));
      std::string want = data;
      for (size_t i = 0; i < len; ++i) want[i] = static_cast<char>(want[i] ^ kKey[(phase + i) % 4]);
      // At an odd address too, as a payload after a 2- or 6-byte header is.
      std::string buf = "." + data;
      ApplyWsMask(buf.data() + 1, len, kKey, phase);
      EXPECT_EQ(buf.substr(1), want) << "len " << len << " phase " << phase;
    }
  }
}

// --- Writer ---

TEST(WsFrameWriter, FrameMessagePointsAtThePayloadWithoutCopying) {
  const std::string payload(70000, 'q');
  uint8_t header[kWsMaxHeader];
  struct iovec iov[2];
  ASSERT_EQ(FrameWsMessage(WsOpcode::kBinary, true, payload, header, iov), 2u);
  EXPECT_EQ(iov[0].iov_len, 10u);
  EXPECT_EQ(iov[1].iov_base, payload.data());
  std::string wire(static_cast<char*>(iov[0].iov_base), iov[0].iov_len);
  wire += payload;
  Parsed r = ParseAll(wire, ClientRole());
  ASSERT_EQ(r.frames.size(), 1u);
  EXPECT_EQ(r.payloads[0], payload);
  EXPECT_EQ(FrameWsMessage(WsOpcode::kText, false, "", header, iov), 1u);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(header), 2), Bytes({0x01, 0x00}));
}

TEST(WsFrameWriter, CloseFrames) {
  uint8_t out[kWsMaxControlFrame];
  absl::StatusOr<size_t> n = BuildWsCloseFrame(1000, "bye", out);
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(std::string(reinterpret_cast<char*>(out), *n), Bytes({0x88, 0x05, 0x03, 0xe8}) + "bye");
  n = BuildWsCloseFrame(ws_close::kNoStatus, "", out);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(std::string(reinterpret_cast<char*>(out), *n), Bytes({0x88, 0x00}));
  EXPECT_FALSE(BuildWsCloseFrame(1006, "", out).ok());
  EXPECT_FALSE(BuildWsCloseFrame(1000, "\xff", out).ok());
  // A long reason is cut to 123 bytes without splitting a code point. Here byte 123 starts
  // an "é", so the cut is at 123; shifted by one byte, the cut would split one and backs up.
  std::string reason = "x";
  for (int i = 0; i < 70; ++i) reason += "\xc3\xa9";
  n = BuildWsCloseFrame(4000, reason, out);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 4u + 123u);
  Parsed r = ParseAll(std::string(reinterpret_cast<char*>(out), *n), ClientRole());
  ASSERT_EQ(r.frames.size(), 1u) << r.last.error;
  EXPECT_EQ(r.frames[0].close_code, 4000);
  EXPECT_EQ(r.payloads[0].substr(2), reason.substr(0, 123));
  reason = "xx" + reason.substr(1);  // now byte 123 starts a code point: cut at 122
  n = BuildWsCloseFrame(4000, reason, out);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 4u + 122u);
}

TEST(WsFrameWriter, PingPayloadIsCutTo125Bytes) {
  uint8_t out[kWsMaxControlFrame];
  EXPECT_EQ(BuildWsControlFrame(WsOpcode::kPong, std::string(300, 'p'), out), 127u);
  EXPECT_EQ(out[1], 125);
}

}  // namespace
}  // namespace kiln::protocol

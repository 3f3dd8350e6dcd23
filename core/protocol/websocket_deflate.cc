// RFC 7692 (permessage-deflate): 5 (negotiation), 7.1 (its parameters), 7.2 (compressing and
// decompressing a message); RFC 6455 9.1 (the Sec-WebSocket-Extensions grammar).
#include "core/protocol/websocket_deflate.h"

#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/base/strings.h"
#include "core/protocol/tchar.h"

namespace kiln::protocol {
namespace {

// ---- Sec-WebSocket-Extensions (RFC 6455 9.1) ----

class ExtensionLexer {
 public:
  explicit ExtensionLexer(std::string_view s) : s_(s) {}
  void SkipSpace() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t')) ++i_;
  }
  bool AtEnd() const { return i_ >= s_.size(); }
  bool Take(char c) {
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  std::string_view Token() {
    const size_t start = i_;
    while (i_ < s_.size() && IsTchar(static_cast<unsigned char>(s_[i_]))) ++i_;
    return s_.substr(start, i_ - start);
  }
  // A quoted-string (the opening quote taken already), unescaped; nullopt if unterminated.
  std::optional<std::string> Quoted() {
    std::string v;
    while (i_ < s_.size()) {
      const char c = s_[i_++];
      if (c == '"') return v;
      if (c == '\\') {
        if (i_ >= s_.size()) return std::nullopt;
        v.push_back(s_[i_++]);
      } else {
        v.push_back(c);
      }
    }
    return std::nullopt;
  }

 private:
  std::string_view s_;
  size_t i_ = 0;
};

absl::Status Malformed(std::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("Sec-WebSocket-Extensions is malformed: ", base::Av(why)));
}

// ---- zlib state, counted ----

std::atomic<size_t> g_live_bytes{0};

// Each allocation carries its size in front, so the free can count it back.
constexpr size_t kAllocHeader = 16;

voidpf CountedAlloc(voidpf opaque, uInt items, uInt size) {
  const size_t n = static_cast<size_t>(items) * size;  // uInt * uInt fits in 64 bits
  auto* block = static_cast<char*>(std::malloc(n + kAllocHeader));
  if (block == nullptr) return Z_NULL;
  std::memcpy(block, &n, sizeof n);
  *static_cast<size_t*>(opaque) += n;
  g_live_bytes.fetch_add(n, std::memory_order_relaxed);
  return block + kAllocHeader;
}

void CountedFree(voidpf opaque, voidpf address) {
  char* block = static_cast<char*>(address) - kAllocHeader;
  size_t n;
  std::memcpy(&n, block, sizeof n);
  *static_cast<size_t*>(opaque) -= n;
  g_live_bytes.fetch_sub(n, std::memory_order_relaxed);
  std::free(block);
}

// zlib's counts are 32-bit: longer inputs and outputs go through in pieces of this size.
constexpr size_t kZlibPiece = size_t{1} << 30;
// Gives zlib the next piece of [p, p + left) once it took the last one.
void NextPiece(z_stream& zs, const char*& p, size_t& left) {
  if (zs.avail_in != 0 || left == 0) return;
  const size_t take = std::min(left, kZlibPiece);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(p));
  zs.avail_in = static_cast<uInt>(take);
  p += take;
  left -= take;
}
// Inflated output is made room for in steps of this size, up to the caller's limit.
constexpr size_t kInflateStep = 64 << 10;
// What DEFLATE's sync flush ends with (RFC 7692 7.2.1): left off on the wire, put back to
// inflate.
constexpr char kTail[4] = {0x00, 0x00, static_cast<char>(0xff), static_cast<char>(0xff)};

}  // namespace

absl::StatusOr<std::vector<WsExtensionOffer>> ParseWsExtensions(std::string_view value) {
  std::vector<WsExtensionOffer> offers;
  ExtensionLexer lex(value);
  while (true) {
    lex.SkipSpace();
    if (lex.AtEnd()) break;
    if (lex.Take(',')) continue;  // an empty element
    WsExtensionOffer offer;
    offer.name = std::string(lex.Token());
    if (offer.name.empty()) return Malformed("an extension name is not a token");
    lex.SkipSpace();
    while (lex.Take(';')) {
      lex.SkipSpace();
      WsExtensionParam param;
      param.name = std::string(lex.Token());
      if (param.name.empty()) return Malformed("a parameter name is not a token");
      lex.SkipSpace();
      if (lex.Take('=')) {
        lex.SkipSpace();
        if (lex.Take('"')) {
          param.value = lex.Quoted();
          if (!param.value) return Malformed("a quoted value has no closing quote");
          // RFC 6455 9.1: unquoted, the value must still be a token.
          for (char c : *param.value) {
            if (!IsTchar(static_cast<unsigned char>(c))) return Malformed("a quoted value is not a token");
          }
          if (param.value->empty()) return Malformed("a quoted value is empty");
        } else {
          param.value = std::string(lex.Token());
          if (param.value->empty()) return Malformed("a parameter value is not a token");
        }
        lex.SkipSpace();
      }
      offer.params.push_back(std::move(param));
    }
    if (!lex.AtEnd() && !lex.Take(',')) return Malformed("junk after an extension");
    offers.push_back(std::move(offer));
  }
  return offers;
}

namespace {

// A window-bits value: a decimal 8..15 without leading zeros (RFC 7692 7.1.2.1).
std::optional<int> WindowBits(const std::optional<std::string>& v) {
  if (!v || v->empty() || v->size() > 2 || (*v)[0] == '0') return std::nullopt;
  int n = 0;
  for (char c : *v) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + (c - '0');
  }
  if (n < 8 || n > 15) return std::nullopt;
  return n;
}

// One permessage-deflate offer: the agreement, or nullopt to decline it.
std::optional<WsDeflateAgreement> Consider(const WsExtensionOffer& offer) {
  bool seen_snct = false, seen_cnct = false, seen_smwb = false, seen_cmwb = false;
  WsDeflateAgreement a;
  std::optional<int> server_bits;
  bool client_bits_offered = false;
  std::optional<int> client_bits;
  for (const WsExtensionParam& p : offer.params) {
    if (p.name == "server_no_context_takeover") {
      if (seen_snct || p.value) return std::nullopt;
      seen_snct = a.server_no_context_takeover = true;
    } else if (p.name == "client_no_context_takeover") {
      if (seen_cnct || p.value) return std::nullopt;
      seen_cnct = a.client_no_context_takeover = true;
    } else if (p.name == "server_max_window_bits") {
      if (seen_smwb) return std::nullopt;
      seen_smwb = true;
      server_bits = WindowBits(p.value);
      if (!server_bits) return std::nullopt;  // a value is required
    } else if (p.name == "client_max_window_bits") {
      if (seen_cmwb) return std::nullopt;
      seen_cmwb = client_bits_offered = true;
      if (p.value) {
        client_bits = WindowBits(p.value);
        if (!client_bits) return std::nullopt;
      }
    } else {
      return std::nullopt;  // not a parameter RFC 7692 defines for an offer
    }
  }
  // zlib's deflater has no 256-byte window (deflateInit2 refuses raw windowBits 8): an offer
  // that insists on it is one kiln cannot honour.
  if (server_bits == 8) return std::nullopt;
  // kiln may always name a smaller server window (7.1.2.1), and does, so the client's
  // inflater can use a 4 KiB window too.
  a.server_max_window_bits = std::min(server_bits.value_or(15), kWsDeflateWindowBits);
  // client_max_window_bits may be answered only if offered (7.1.2.2); without it the client
  // may use the full window, and kiln inflates with that.
  a.client_max_window_bits =
      client_bits_offered ? std::min(client_bits.value_or(15), kWsInflateWindowBits) : 15;
  a.response = "permessage-deflate";
  if (a.server_no_context_takeover) a.response += "; server_no_context_takeover";
  if (a.client_no_context_takeover) a.response += "; client_no_context_takeover";
  absl::StrAppend(&a.response, "; server_max_window_bits=", a.server_max_window_bits);
  if (client_bits_offered) {
    absl::StrAppend(&a.response, "; client_max_window_bits=", a.client_max_window_bits);
  }
  return a;
}

}  // namespace

std::optional<WsDeflateAgreement> NegotiateWsDeflate(const std::vector<WsExtensionOffer>& offers) {
  for (const WsExtensionOffer& offer : offers) {
    if (!absl::EqualsIgnoreCase(offer.name, "permessage-deflate")) continue;
    if (std::optional<WsDeflateAgreement> a = Consider(offer)) return a;
  }
  return std::nullopt;
}

std::optional<WsDeflateAgreement> NegotiateWsDeflate(std::string_view header) {
  absl::StatusOr<std::vector<WsExtensionOffer>> offers = ParseWsExtensions(header);
  if (!offers.ok()) return std::nullopt;
  return NegotiateWsDeflate(*offers);
}

size_t WsZlibLiveBytes() { return g_live_bytes.load(std::memory_order_relaxed); }

// ---- WsDeflater ----

struct WsDeflater::Stream {
  z_stream zs{};
  size_t bytes = 0;  // zlib's allocations, counted by CountedAlloc
  ~Stream() { deflateEnd(&zs); }
};

WsDeflater::WsDeflater(int window_bits, bool no_context_takeover, int mem_level, int level)
    : window_bits_(window_bits), mem_level_(mem_level), level_(level),
      no_context_takeover_(no_context_takeover) {}

WsDeflater::~WsDeflater() = default;

size_t WsDeflater::memory() const { return z_ ? z_->bytes : 0; }

absl::Status WsDeflater::Compress(std::string_view message, std::string* out) {
  if (failed_) return absl::FailedPreconditionError("the deflater failed before");
  if (message.empty()) return absl::InvalidArgumentError("an empty message goes uncompressed");
  if (!z_) {
    auto s = std::make_unique<Stream>();
    s->zs.zalloc = CountedAlloc;
    s->zs.zfree = CountedFree;
    s->zs.opaque = &s->bytes;
    if (deflateInit2(&s->zs, level_, Z_DEFLATED, -window_bits_, mem_level_,
                     Z_DEFAULT_STRATEGY) != Z_OK) {
      s->zs.state = nullptr;  // nothing for deflateEnd to free
      failed_ = true;
      return absl::ResourceExhaustedError("zlib's deflateInit2 failed");
    }
    z_ = std::move(s);
  }
  z_stream& zs = z_->zs;
  const size_t start = out->size();
  size_t used = start;
  // deflateBound is for a stream ended with Z_FINISH; a sync flush adds an empty stored block
  // (up to 6 bytes). More room is made below if that is ever short.
  out->resize(start + deflateBound(&zs, message.size()) + 8);
  const char* in = message.data();
  size_t in_left = message.size();
  zs.avail_in = 0;
  zs.avail_out = 0;
  while (true) {
    NextPiece(zs, in, in_left);
    if (zs.avail_out == 0) {
      if (out->size() == used) out->resize(used + 4096);
      zs.next_out = reinterpret_cast<Bytef*>(out->data() + used);
      zs.avail_out = static_cast<uInt>(std::min(out->size() - used, kZlibPiece));
    }
    const uInt room = zs.avail_out;
    const int flush = in_left == 0 ? Z_SYNC_FLUSH : Z_NO_FLUSH;
    const int rc = deflate(&zs, flush);
    used += room - zs.avail_out;
    if (rc != Z_OK && rc != Z_BUF_ERROR) {
      out->resize(start);
      failed_ = true;
      z_.reset();
      return absl::InternalError(absl::StrCat("zlib's deflate failed (", rc, ")"));
    }
    // A sync flush is complete when it left room unused (zlib.h, deflate()).
    if (flush == Z_SYNC_FLUSH && zs.avail_in == 0 && zs.avail_out != 0) break;
  }
  out->resize(used);
  if (used - start >= 4 && std::memcmp(out->data() + used - 4, kTail, 4) == 0) {
    out->resize(used - 4);
  }
  if (no_context_takeover_) z_.reset();  // the next message starts afresh: free the state
  return absl::OkStatus();
}

// ---- WsInflater ----

struct WsInflater::Stream {
  z_stream zs{};
  size_t bytes = 0;
  ~Stream() { inflateEnd(&zs); }
};

WsInflater::WsInflater(int window_bits, bool no_context_takeover)
    : window_bits_(std::max(window_bits, 9)), no_context_takeover_(no_context_takeover) {}

WsInflater::~WsInflater() = default;

size_t WsInflater::memory() const { return z_ ? z_->bytes : 0; }

WsInflater::Result WsInflater::Inflate(std::string_view payload, bool fin, uint64_t limit,
                                       std::string* out) {
  if (!z_) {
    auto s = std::make_unique<Stream>();
    s->zs.zalloc = CountedAlloc;
    s->zs.zfree = CountedFree;
    s->zs.opaque = &s->bytes;
    if (inflateInit2(&s->zs, -window_bits_) != Z_OK) {
      s->zs.state = nullptr;
      return Result::kCorrupt;
    }
    z_ = std::move(s);
    stream_ended_ = false;
  }
  if (!payload.empty()) {
    message_started_ = true;
    const Result r = Run(payload, limit, out);
    if (r != Result::kOk) return r;
  }
  if (fin) {
    // The client's stream may have ended with a final block (RFC 7692 7.2.3.4 allows BFINAL):
    // then the tail would begin a stream of its own and is left out. Alone (no payload at
    // all) it would leave zlib inside a stored block's header, spoiling the next message.
    if (!stream_ended_ && message_started_) {
      const Result r = Run(std::string_view(kTail, 4), limit, out);
      if (r != Result::kOk) return r;
    }
    message_started_ = false;
    if (no_context_takeover_) z_.reset();  // the next message stands alone: free the state
  }
  return Result::kOk;
}

WsInflater::Result WsInflater::Run(std::string_view in, uint64_t limit, std::string* out) {
  z_stream& zs = z_->zs;
  // A stream the client ended goes on, for its next bytes, as a new one that may still refer
  // back to the window (context takeover): zlib's reset drops the window, so it is carried.
  auto restart = [&zs] {
    std::string window(size_t{1} << 15, '\0');
    uInt len = 0;
    inflateGetDictionary(&zs, reinterpret_cast<Bytef*>(window.data()), &len);
    inflateReset(&zs);
    if (len > 0) inflateSetDictionary(&zs, reinterpret_cast<const Bytef*>(window.data()), len);
  };
  if (stream_ended_) {
    restart();
    stream_ended_ = false;
  }
  const size_t cap = static_cast<size_t>(
      std::min<uint64_t>(limit, std::numeric_limits<size_t>::max() / 2));
  const char* p = in.data();
  size_t left = in.size();
  zs.avail_in = 0;
  while (true) {
    NextPiece(zs, p, left);
    // Room for at most one byte past the limit, which is enough to tell it was passed.
    if (out->size() > cap) return Result::kTooBig;
    const size_t used = out->size();
    const size_t room = std::min(cap + 1 - used, kInflateStep);
    if (out->capacity() < used + room) {
      // Doubling, but never past the limit: a string's own growth could take twice that.
      const size_t want = std::min(std::max(out->capacity() * 2, used + room), cap + 1);
      std::string bigger;
      bigger.reserve(want);  // from empty, reserve takes exactly `want`
      bigger.append(*out);
      out->swap(bigger);
    }
    out->resize(used + room);
    zs.next_out = reinterpret_cast<Bytef*>(out->data() + used);
    zs.avail_out = static_cast<uInt>(room);
    const int rc = inflate(&zs, Z_SYNC_FLUSH);
    out->resize(used + room - zs.avail_out);
    if (rc == Z_STREAM_END) {
      stream_ended_ = true;
      if (zs.avail_in == 0 && left == 0) return Result::kOk;
      restart();  // more bytes follow the final block in this frame
      stream_ended_ = false;
      continue;
    }
    if (rc != Z_OK && rc != Z_BUF_ERROR) return Result::kCorrupt;
    // All input taken and room left over: nothing is pending inside zlib.
    if (zs.avail_in == 0 && left == 0 && zs.avail_out != 0) return Result::kOk;
  }
}

}  // namespace kiln::protocol

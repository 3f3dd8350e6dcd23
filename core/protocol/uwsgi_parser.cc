// uwsgi packet parsing: header, then [u16le klen][key][u16le vlen][value] until the block ends.
// Facts from the uwsgi protocol documentation and nginx's ngx_http_uwsgi_module.
#include "core/protocol/uwsgi_parser.h"

#include <optional>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "core/base/strings.h"

namespace kiln::protocol {
namespace {

uint16_t ReadLe16(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return static_cast<uint16_t>(u[0] | (u[1] << 8));
}

UwsgiParseResult Malformed(UwsgiParseResult r, std::string message) {
  r.status = ParseStatus::kError;
  r.error = UwsgiError::kMalformed;
  r.message = std::move(message);
  return r;
}

}  // namespace

UwsgiParseResult ParseUwsgi(const char* buf, size_t len, size_t limit, Request* req,
                            HttpHead* head) {
  UwsgiParseResult r;
  if (len < kUwsgiHeaderSize) {
    return r;
  }
  const size_t size = ReadLe16(buf + 1);
  r.block_size = size;
  if (size > limit) {
    r.status = ParseStatus::kError;
    r.error = UwsgiError::kBlockTooLarge;
    r.message = absl::StrFormat(
        "uwsgi vars block of %u bytes is over the limit of %u bytes (raise buffer-size)", size,
        limit);
    return r;
  }
  if (len < kUwsgiHeaderSize + size) {
    return r;
  }
  req->modifier1 = static_cast<uint8_t>(buf[0]);
  req->modifier2 = static_cast<uint8_t>(buf[3]);
  req->vars.clear();
  req->head_bytes = size;
  const char* block = buf + kUwsgiHeaderSize;
  // The three variables the head needs, noted as they pass (the last of a repeated name wins,
  // as Request::Get would have it): three scans of the variables after the loop cost more
  // than the whole loop.
  std::optional<std::string_view> content_length, protocol, method;
  size_t pos = 0;
  while (pos < size) {
    if (size - pos < 2) {
      return Malformed(r, absl::StrFormat("truncated key length at offset %u of the %u-byte "
                                          "uwsgi vars block", pos, size));
    }
    const size_t klen = ReadLe16(block + pos);
    if (klen == 0) {
      return Malformed(r, absl::StrFormat("empty key at offset %u of the uwsgi vars block", pos));
    }
    if (klen > size - pos - 2) {
      return Malformed(r, absl::StrFormat("key length %u at offset %u runs past the %u-byte "
                                          "uwsgi vars block", klen, pos, size));
    }
    std::string_view key(block + pos + 2, klen);
    pos += 2 + klen;
    if (size - pos < 2) {
      return Malformed(r, absl::StrFormat("missing value length for key \"%s\" at offset %u of "
                                          "the %u-byte uwsgi vars block", key, pos, size));
    }
    const size_t vlen = ReadLe16(block + pos);
    if (vlen > size - pos - 2) {
      return Malformed(r, absl::StrFormat("value length %u of key \"%s\" at offset %u runs past "
                                          "the %u-byte uwsgi vars block", vlen, key, pos, size));
    }
    const std::string_view value(block + pos + 2, vlen);
    req->vars.push_back({key, value});
    pos += 2 + vlen;
    if (NameIs(key, "CONTENT_LENGTH")) {
      content_length = value;
    } else if (NameIs(key, "REQUEST_METHOD")) {
      method = value;
    } else if (NameIs(key, "SERVER_PROTOCOL")) {
      protocol = value;
    }
  }
  *head = HttpHead{};
  head->keep_alive = false;
  const std::string_view cl = content_length.value_or("");
  if (!cl.empty()) {
    uint64_t n = 0;
    if (!absl::SimpleAtoi(base::Av(cl), &n)) {
      r = Malformed(r, absl::StrFormat("CONTENT_LENGTH \"%s\" is not a number", base::Av(cl)));
      r.error = UwsgiError::kBadContentLength;
      return r;
    }
    head->framing = n > 0 ? BodyFraming::kContentLength : BodyFraming::kNone;
    head->content_length = n;
  }
  head->minor_version = protocol.value_or("") == "HTTP/1.0" ? 0 : 1;
  head->is_head = method.value_or("") == "HEAD";
  r.status = ParseStatus::kComplete;
  r.consumed = kUwsgiHeaderSize + size;
  return r;
}

void AppendUwsgiVar(std::string* out, std::string_view key, std::string_view value) {
  out->push_back(static_cast<char>(key.size() & 0xff));
  out->push_back(static_cast<char>((key.size() >> 8) & 0xff));
  out->append(key);
  out->push_back(static_cast<char>(value.size() & 0xff));
  out->push_back(static_cast<char>((value.size() >> 8) & 0xff));
  out->append(value);
}

std::string MakeUwsgiPacket(const std::string& vars_block, uint8_t modifier1, uint8_t modifier2) {
  std::string p;
  p.push_back(static_cast<char>(modifier1));
  p.push_back(static_cast<char>(vars_block.size() & 0xff));
  p.push_back(static_cast<char>((vars_block.size() >> 8) & 0xff));
  p.push_back(static_cast<char>(modifier2));
  p += vars_block;
  return p;
}

}  // namespace kiln::protocol

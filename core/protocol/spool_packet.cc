// Spool file encoding and decoding (spool_packet.h).
#include "core/protocol/spool_packet.h"

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "core/protocol/uwsgi_parser.h"

namespace kiln::protocol {
namespace {

uint16_t Le16(const char* p) {
  return static_cast<uint16_t>(static_cast<uint8_t>(p[0]) |
                               (static_cast<uint16_t>(static_cast<uint8_t>(p[1])) << 8));
}

}  // namespace

absl::StatusOr<std::string> EncodeSpoolFile(const std::vector<SpoolVar>& vars,
                                            std::string_view body) {
  std::string block;
  for (const auto& [key, value] : vars) {
    if (key.size() > 0xffff || value.size() > 0xffff) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "spool argument `%s` is %d bytes; keys and values are limited to 65535 bytes (put "
          "bigger data in `body`)",
          key.substr(0, 64), value.size()));
    }
    AppendUwsgiVar(&block, key, value);
  }
  if (block.size() > kSpoolMaxVarsBlock) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "spool arguments take %d bytes; they are limited to 64k (put bigger data in `body`)",
        block.size()));
  }
  std::string out = MakeUwsgiPacket(block, kSpoolModifier1, 0);
  out.append(body);
  return out;
}

absl::StatusOr<SpoolContent> DecodeSpoolFile(std::string_view file) {
  if (file.size() < kUwsgiHeaderSize) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%d bytes: shorter than the 4-byte header", file.size()));
  }
  size_t block_size = Le16(file.data() + 1);
  if (file.size() - kUwsgiHeaderSize < block_size) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "the header announces %d bytes of arguments; the file holds %d", block_size,
        file.size() - kUwsgiHeaderSize));
  }
  SpoolContent out;
  std::string_view block = file.substr(kUwsgiHeaderSize, block_size);
  size_t pos = 0;
  while (pos < block.size()) {
    std::string_view parts[2];
    for (std::string_view& part : parts) {
      if (block.size() - pos < 2) {
        return absl::InvalidArgumentError(
            absl::StrFormat("a length at offset %d runs past the arguments", pos));
      }
      size_t n = Le16(block.data() + pos);
      pos += 2;
      if (block.size() - pos < n) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "a %d-byte string at offset %d runs past the %d-byte arguments", n, pos,
            block.size()));
      }
      part = block.substr(pos, n);
      pos += n;
    }
    out.vars.emplace_back(parts[0], parts[1]);
  }
  out.body = file.substr(kUwsgiHeaderSize + block_size);
  return out;
}

}  // namespace kiln::protocol

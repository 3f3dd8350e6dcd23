// Fuzz target: the uwsgi packet parser over arbitrary bytes, with the limit taken from the
// input. Checks the parser's promises: consumed within the input, views inside the buffer.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "core/protocol/uwsgi_parser.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using kiln::protocol::ParseStatus;
  if (size < 2) return 0;
  const size_t limit = 64 + ((static_cast<size_t>(data[0]) << 8) | data[1]);
  const char* buf = reinterpret_cast<const char*>(data + 2);
  const size_t len = size - 2;
  kiln::protocol::Request req;
  kiln::protocol::HttpHead head;
  kiln::protocol::UwsgiParseResult r = kiln::protocol::ParseUwsgi(buf, len, limit, &req, &head);
  if (r.status == ParseStatus::kComplete) {
    if (r.consumed > len || r.consumed != 4 + r.block_size || r.block_size > limit) std::abort();
    for (const kiln::protocol::Var& v : req.vars) {
      if (v.name.empty() || v.name.data() < buf || v.value.data() + v.value.size() > buf + len) {
        std::abort();
      }
    }
  } else if (r.status == ParseStatus::kError && r.message.empty()) {
    std::abort();
  }
  return 0;
}

// Log-line escaping (escape.h). One scanner walks the input once: runs of plain bytes are
// copied whole, and each special byte or control-like UTF-8 character is handed to the form's
// escaper. The request log calls this for every value of every line, so plain ASCII stays a
// tight loop with no per-byte appends.
#include "core/log/escape.h"

#include <cstdint>

namespace kiln::log {
namespace {

enum class Form { kValue, kText, kJson };

constexpr char kHex[] = "0123456789abcdef";

void AppendHexByte(std::string* out, uint8_t b) {
  const char esc[4] = {'\\', 'x', kHex[b >> 4], kHex[b & 0xf]};
  out->append(esc, 4);
}

void AppendU(std::string* out, uint32_t cp) {
  const char esc[6] = {'\\', 'u', kHex[(cp >> 12) & 0xf], kHex[(cp >> 8) & 0xf],
                       kHex[(cp >> 4) & 0xf], kHex[cp & 0xf]};
  out->append(esc, 6);
}

// Length of the well-formed UTF-8 sequence starting at s[i] (a byte >= 0x80), or 0 when the
// bytes there are not one (RFC 3629: no overlongs, no surrogates, nothing past U+10FFFF).
size_t Utf8Length(std::string_view s, size_t i, uint32_t* cp) {
  const auto at = [&](size_t k) { return static_cast<uint8_t>(s[i + k]); };
  const auto cont = [&](size_t k, uint8_t lo = 0x80, uint8_t hi = 0xbf) {
    return i + k < s.size() && at(k) >= lo && at(k) <= hi;
  };
  const uint8_t b = at(0);
  if (b >= 0xc2 && b <= 0xdf) {
    if (!cont(1)) return 0;
    *cp = (b & 0x1fu) << 6 | (at(1) & 0x3fu);
    return 2;
  }
  if (b >= 0xe0 && b <= 0xef) {
    const uint8_t lo = b == 0xe0 ? 0xa0 : 0x80;
    const uint8_t hi = b == 0xed ? 0x9f : 0xbf;
    if (!cont(1, lo, hi) || !cont(2)) return 0;
    *cp = (b & 0x0fu) << 12 | (at(1) & 0x3fu) << 6 | (at(2) & 0x3fu);
    return 3;
  }
  if (b >= 0xf0 && b <= 0xf4) {
    const uint8_t lo = b == 0xf0 ? 0x90 : 0x80;
    const uint8_t hi = b == 0xf4 ? 0x8f : 0xbf;
    if (!cont(1, lo, hi) || !cont(2) || !cont(3)) return 0;
    *cp = (b & 0x07u) << 18 | (at(1) & 0x3fu) << 12 | (at(2) & 0x3fu) << 6 | (at(3) & 0x3fu);
    return 4;
  }
  return 0;
}

// Valid characters that still act as controls when a line is shown (escape.h).
bool ControlLike(uint32_t cp) {
  return (cp >= 0x80 && cp <= 0x9f) || cp == 0x200e || cp == 0x200f ||
         (cp >= 0x2028 && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

// Whether an ASCII byte needs escaping in `form`.
constexpr bool SpecialAscii(uint8_t b, Form form) {
  if (b < 0x20 || b == 0x7f) return form != Form::kText || b != '\t';
  if (b == '"' || b == '\\') return form != Form::kText;
  return false;
}

void AppendAsciiEscape(std::string* out, uint8_t b, Form form) {
  if (form != Form::kJson) {
    AppendHexByte(out, b);
    return;
  }
  switch (b) {
    case '"': out->append("\\\""); return;
    case '\\': out->append("\\\\"); return;
    case '\b': out->append("\\b"); return;
    case '\f': out->append("\\f"); return;
    case '\n': out->append("\\n"); return;
    case '\r': out->append("\\r"); return;
    case '\t': out->append("\\t"); return;
    default: AppendU(out, b); return;
  }
}

// Per form, whether each byte is plain ASCII that needs no look: the hot loop's only test.
struct PlainTable {
  bool plain[3][256] = {};
  constexpr PlainTable() {
    for (int f = 0; f < 3; ++f) {
      for (int b = 0; b < 0x80; ++b) {
        plain[f][b] = !SpecialAscii(static_cast<uint8_t>(b), static_cast<Form>(f));
      }
    }
  }
};
constexpr PlainTable kPlain;

void Escape(std::string* out, std::string_view in, Form form) {
  const bool* plain = kPlain.plain[static_cast<int>(form)];
  size_t run = 0;  // start of the pending run of bytes copied as they are
  size_t i = 0;
  while (i < in.size()) {
    const uint8_t b = static_cast<uint8_t>(in[i]);
    if (plain[b]) {
      ++i;
      continue;
    }
    if (b < 0x80) {
      out->append(in.data() + run, i - run);
      AppendAsciiEscape(out, b, form);
      run = ++i;
      continue;
    }
    uint32_t cp = 0;
    const size_t len = Utf8Length(in, i, &cp);
    if (len > 0 && !ControlLike(cp)) {
      i += len;
      continue;
    }
    out->append(in.data() + run, i - run);
    if (len == 0) {
      if (form == Form::kJson) out->push_back('\\');  // the text \xNN, as a JSON string
      AppendHexByte(out, b);
      ++i;
    } else {
      if (form == Form::kJson) {
        AppendU(out, cp);
      } else {
        for (size_t k = 0; k < len; ++k) AppendHexByte(out, static_cast<uint8_t>(in[i + k]));
      }
      i += len;
    }
    run = i;
  }
  out->append(in.data() + run, in.size() - run);
}

}  // namespace

void AppendLogSafe(std::string* out, std::string_view value) { Escape(out, value, Form::kValue); }

bool IsLogSafe(std::string_view value) {
  const bool* plain = kPlain.plain[static_cast<int>(Form::kValue)];
  for (const char ch : value) {
    if (!plain[static_cast<uint8_t>(ch)]) return false;
  }
  return true;
}

std::string LogSafe(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  AppendLogSafe(&out, value);
  return out;
}

void AppendLogSafeText(std::string* out, std::string_view text) { Escape(out, text, Form::kText); }

std::string LogSafeText(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  AppendLogSafeText(&out, text);
  return out;
}

void AppendJsonEscaped(std::string* out, std::string_view value) {
  Escape(out, value, Form::kJson);
}

std::string JsonEscaped(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  AppendJsonEscaped(&out, value);
  return out;
}

}  // namespace kiln::log

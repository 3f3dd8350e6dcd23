// RFC 9110 5.6.2 tchar, the characters of a token (methods, header names), as a table that
// the request parser and the response checks share.
#pragma once

#include <array>
#include <string_view>

namespace kiln::protocol {

inline constexpr std::array<bool, 256> kTokenChars = [] {
  std::array<bool, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) t[c] = t[c - 'a' + 'A'] = true;
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) t[static_cast<unsigned char>(c)] = true;
  return t;
}();

inline bool IsTchar(unsigned char c) { return kTokenChars[c]; }

}  // namespace kiln::protocol

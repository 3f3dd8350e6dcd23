// The content of a spool file, as uWSGI writes it: a 4-byte uwsgi header (modifier1 17, the
// vars block's size), the vars block (the task's key/value pairs, uwsgi-encoded), then the
// optional body to the end of the file. Pure: bytes in, bytes or views out.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace kiln::protocol {

inline constexpr uint8_t kSpoolModifier1 = 17;  // uWSGI's UWSGI_MODIFIER_SPOOL_REQUEST
inline constexpr size_t kSpoolMaxVarsBlock = 0xffff;  // the header's 16-bit size

using SpoolVar = std::pair<std::string_view, std::string_view>;

struct SpoolContent {
  std::vector<SpoolVar> vars;  // in file order; views into the decoded bytes
  std::string_view body;       // empty when the file has none
};

// The whole file for these vars and body; InvalidArgument when a key or value is longer than
// 65535 bytes or the vars block as a whole is (uWSGI: "use the 'body' for bigger values").
absl::StatusOr<std::string> EncodeSpoolFile(const std::vector<SpoolVar>& vars,
                                            std::string_view body);

// Splits a spool file's bytes; InvalidArgument for a short header or a vars block whose
// lengths run past its end. The modifiers are not checked (uWSGI does not either).
absl::StatusOr<SpoolContent> DecodeSpoolFile(std::string_view file);

}  // namespace kiln::protocol

// Escaping of untrusted bytes (request values, plugin messages) before they join a log line,
// so that nothing a client sends can end a line early, forge a record, drive a terminal or
// make a JSON log line unparseable. Pure functions; the logger and the request log call them.
//
// What is escaped, as \xNN per byte (text forms) or per RFC 8259 (JSON form):
//   - C0 control bytes 0x00-0x1f (CR, LF, ESC, NUL, ...) and DEL 0x7f;
//   - bytes that are not part of well-formed UTF-8 (log shippers and terminals choke on them);
//   - the valid UTF-8 characters that act as controls: C1 controls U+0080-U+009F (8-bit
//     CSI and friends), the line and paragraph separators U+2028/U+2029 and the bidi
//     formatting characters U+200E/F, U+202A-U+202E, U+2066-U+2069 (they can make a line
//     display as something it is not).
// Any other UTF-8 text (non-ASCII paths, names) is kept as it is.
#pragma once

#include <string>
#include <string_view>

namespace kiln::log {

// A request value (URI, method, header, CONTENT_LENGTH) in a text log line. Besides the set
// above, TAB, '"' and '\' become \x09, \x22 and \x5c, so a value never breaks a quoted field
// ("%(uri)" in an Apache-style log-format) and every backslash in the output starts an escape
// (the line can be unescaped without ambiguity). The result is also safe inside a JSON
// string. ASCII values with none of these bytes are copied as they are.
void AppendLogSafe(std::string* out, std::string_view value);
std::string LogSafe(std::string_view value);
// True when AppendLogSafe would copy `value` as it is (ASCII with none of the bytes above):
// the request log's hot path copies such a value without building anything.
bool IsLogSafe(std::string_view value);

// Free text that may quote request data (a parser's message, a plugin's message line): the
// set above is escaped but TAB, '"' and '\' are kept, so tracebacks and quoted values stay
// readable. LF is escaped too: split a multi-line message before calling this.
void AppendLogSafeText(std::string* out, std::string_view text);
std::string LogSafeText(std::string_view text);

// The body of a JSON string (RFC 8259, without the surrounding quotes): '"' and '\' are
// backslash-escaped, control characters use \b \f \n \r \t or \u00XX, DEL and the control-like
// characters above use \uXXXX (the decoded value is the original text), and a byte that is
// not well-formed UTF-8 becomes the text \xNN (written \\xNN), so the output is always valid
// UTF-8 and always parses.
void AppendJsonEscaped(std::string* out, std::string_view value);
std::string JsonEscaped(std::string_view value);

}  // namespace kiln::log

// Every option name of uWSGI 2.0.21 (core and the plugins Debian ships), with the plugin that
// owns it: compiled from uwsgi_option_names*.tsv at build time. Resolve uses it to tell a uWSGI
// option kiln does not support (reported as such, with what to use instead) from a typo
// (reported with the nearest kiln option). Pure data.
#pragma once

#include <span>
#include <string>
#include <string_view>

namespace kiln::config {

struct UwsgiOption {
  std::string_view name;
  std::string_view owner;  // "core" or uWSGI's plugin name ("python311", "gevent", "http")
};

// Every uWSGI option name, sorted by name.
std::span<const UwsgiOption> UwsgiOptions();

// The uWSGI option with this name, or nullptr.
const UwsgiOption* FindUwsgiOption(std::string_view name);

// What kiln offers in place of a uWSGI option it does not support, as a clause ("use
// `http-socket`: ..." or "kiln has no ...: ..."), or "" when there is nothing to say.
std::string UwsgiReplacement(std::string_view name);

// The startup line for a uWSGI option kiln does not support: "`gevent` is a uWSGI option
// (gevent plugin) not supported by kiln; ignored (use `threads` ...)".
std::string NotSupportedMessage(const UwsgiOption& option);

}  // namespace kiln::config

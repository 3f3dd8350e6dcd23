// One loaded plugin as the core holds it: its validated descriptor, the callbacks it filled,
// the modifier1 numbers it serves, and the opaque handle the SDK knows as `kiln_plugin`.
// Shared by the plugin set and host_api.cc; code outside core/plugin/ has no use for it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kiln/kiln.h"

namespace kiln::plugin {
class LoadedPlugin;
}  // namespace kiln::plugin
namespace kiln::protocol {
class RequestContext;
}  // namespace kiln::protocol

// The SDK's opaque handles, defined on the host side only.
struct kiln_plugin {
  kiln::plugin::LoadedPlugin* plugin;
};
struct kiln_request {
  kiln::protocol::RequestContext* context;
  kiln::plugin::LoadedPlugin* plugin = nullptr;  // the plugin serving it (request_detach)
};

namespace kiln::plugin {

class LoadedPlugin {
 public:
  LoadedPlugin() { handle_.plugin = this; }
  LoadedPlugin(const LoadedPlugin&) = delete;
  LoadedPlugin& operator=(const LoadedPlugin&) = delete;

  std::string name;          // descriptor name
  std::string path;          // file loaded
  std::string realpath;      // canonical file
  std::string requested_as;  // the name the config used
  const kiln_plugin_desc* desc = nullptr;
  std::vector<uint8_t> modifier1;  // served (forced by N:name or from the descriptor)
  kiln_callbacks callbacks{};

  kiln_plugin* handle() { return &handle_; }

 private:
  kiln_plugin handle_;
};

}  // namespace kiln::plugin

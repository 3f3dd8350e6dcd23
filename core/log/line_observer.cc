// The server log's line hook (line_observer.h).
#include "core/log/line_observer.h"

#include <atomic>

namespace kiln::log {
namespace {

std::atomic<LineObserver> g_observer{nullptr};

}  // namespace

void SetLineObserver(LineObserver observer) {
  g_observer.store(observer, std::memory_order_release);
}

void ObserveLines(std::string_view lines) {
  LineObserver observer = g_observer.load(std::memory_order_acquire);
  if (observer == nullptr) return;
  while (!lines.empty()) {
    size_t nl = lines.find('\n');
    std::string_view line = lines.substr(0, nl);
    if (!line.empty()) observer(line);
    if (nl == std::string_view::npos) break;
    lines.remove_prefix(nl + 1);
  }
}

}  // namespace kiln::log
